"""Running ``leadsync`` on a pseudo-terminal and reading back the screen a person saw.

The child's output is fed through pyte (a VT100 emulator): cursor moves, line erases and
rich's redraws of its live display are applied as a terminal applies them, so what is left
(scrollback plus screen) is what a user scrolls back through.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pyte

COLUMNS, ROWS = 100, 30
CLI = [sys.executable, "-c", "from leadsync.cli import main; main()"]

#: A finished or running bar as RichProgress draws it, and nothing else on its line.
BAR = re.compile(
    r"^[a-z][a-z ()]* +[━╸╺]+ +\d+/(\d+|\?)"  # what, the bar, done/total
    r" +([\d,]+/s)? +\d+:\d\d:\d\d( +(\d+:\d\d:\d\d|-:--:--))?$"  # rate, elapsed, ETA
)
#: Anything that draws a bar glyph in a line that is not a table border.
BAR_GLYPH = re.compile(r"^[^┏┡└┃│].*━")
#: A log line as structlog's console or JSON renderer wrote it, or an info sentence of a cycle.
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d|\{\"|sync pulled|store migrated)")


@dataclass(frozen=True)
class Seen:
    """What is left on a terminal once a command has finished."""

    exit_code: int
    lines: list[str]

    @property
    def bar_lines(self) -> list[int]:
        return [i for i, line in enumerate(self.lines) if BAR_GLYPH.match(line)]


def on_terminal(
    args: list[str], cwd: Path, timeout: float = 240, stop_at: bytes | None = None
) -> Seen:
    """``leadsync ARGS`` with stdin, stdout and stderr on one pty of COLUMNS x ROWS.

    A command that runs until stopped (``run``) gets SIGTERM once ``stop_at`` was printed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes leadsync
        os.chdir(cwd)
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "", "LINES": ""}
        for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR"):
            env.pop(name, None)
        os.execve(sys.executable, [*CLI, *args], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    received = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        received += chunk
        if stop_at is not None and stop_at in received:
            os.kill(pid, signal.SIGTERM)
            stop_at = None
    else:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return Seen(os.waitstatus_to_exitcode(status), scrollback(bytes(received)))


def scrollback(received: bytes) -> list[str]:
    """The lines a terminal shows for ``received``: its history, then its screen."""
    screen = pyte.HistoryScreen(COLUMNS, ROWS, history=100_000)
    pyte.ByteStream(screen).feed(received)
    history = [
        "".join(line[column].data for column in range(COLUMNS)).rstrip()
        for line in screen.history.top
    ]
    lines = history + [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def assert_clean_bars(seen: Seen) -> None:
    """Every bar whole and alone on its line, and all of them in one block.

    A line printed past rich's live display pushes a copy of the bars up the scrollback, so
    stale copies are bars with other lines between them and the final ones. (Two cycles'
    bars may read alike: the demo runs two, and each draws its own.)"""
    bars = seen.bar_lines
    assert bars, "no progress bar was drawn:\n" + "\n".join(seen.lines)
    torn = [seen.lines[i] for i in bars if not BAR.match(seen.lines[i])]
    assert not torn, "text written into a bar:\n" + "\n".join(torn)
    assert bars == list(range(bars[0], bars[0] + len(bars))), (
        "stale copies of bars, with other lines between them:\n" + "\n".join(seen.lines)
    )


def assert_quiet(seen: Seen) -> None:
    """No info-level log line: none of structlog's renderings, nor an info sentence."""
    chatter = [line for line in seen.lines if LOG_LINE.match(line)]
    assert not chatter, "info log lines on a terminal without -v:\n" + "\n".join(chatter)
