"""``leadsync`` as a person sees it on a terminal, and as a program reads it from a pipe.

On a terminal: log lines print above the progress bars (never into one), no stale copies of
the bars are left behind, the demo's narration survives, info chatter stays out unless asked
for (``-v``), and a warning is one sentence, said once. Piped: no cell is cut to 80 columns.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from leadsync.sandboxes import Sandboxes, running_sandboxes
from tests.cli.terminal import CLI, LOG_LINE, assert_clean_bars, assert_quiet, on_terminal

pytestmark = pytest.mark.slow

NARRATION = "Live: 5 Salesforce leads submit HubSpot's 'Contact Us' form..."


@pytest.fixture(scope="module")
def world() -> Iterator[Sandboxes]:
    with running_sandboxes(leads=300, seed=3) as sandboxes:
        yield sandboxes


@pytest.fixture
def config(tmp_path: Path, world: Sandboxes) -> Path:
    path = tmp_path / "leadsync.toml"
    path.write_text(tomli_w.dumps(world.config_data(f"sqlite:///{tmp_path / 'state.db'}")))
    path.chmod(0o600)
    return path


def warnings_in(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith(("Warning: ", "Error: "))]


def test_the_demo_on_a_terminal_keeps_its_narration_and_one_set_of_bars(tmp_path: Path) -> None:
    seen = on_terminal(["demo", "--leads", "300", "--seed", "3"], cwd=tmp_path)
    assert seen.exit_code == 0, "\n".join(seen.lines)
    assert NARRATION in seen.lines, "\n".join(seen.lines)
    assert_clean_bars(seen)
    assert_quiet(seen)
    # Every warning a sentence of its own, each event said once.
    said = warnings_in(seen.lines)
    events = [re.match(r"\w+: ([a-z ]+)", line).group(1) for line in said]  # type: ignore[union-attr]
    assert len(events) == len(set(events)), said
    assert seen.lines[-1].startswith(("Done in", "(")), seen.lines[-3:]


def test_sync_on_a_terminal_prints_bars_once_and_info_only_when_asked(
    config: Path, tmp_path: Path
) -> None:
    quiet = on_terminal(["--config", str(config), "sync"], cwd=tmp_path)
    assert quiet.exit_code == 0, "\n".join(quiet.lines)
    assert_clean_bars(quiet)
    assert_quiet(quiet)
    assert any(line.startswith("pull salesforce people") for line in quiet.lines)

    # -v: info lines too, as sentences above the bars, still none inside one.
    verbose = on_terminal(["--config", str(config), "-v", "sync"], cwd=tmp_path)
    assert verbose.exit_code == 0, "\n".join(verbose.lines)
    assert_clean_bars(verbose)
    assert any(line.startswith("sync pulled (connector salesforce") for line in verbose.lines)
    first_bar = verbose.bar_lines[0]
    assert all(not line.startswith("sync pulled") for line in verbose.lines[first_bar:])


def test_piped_output_keeps_every_column_whole(config: Path, tmp_path: Path) -> None:
    demo = subprocess.run(
        [*CLI, "demo", "--leads", "300", "--seed", "3"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    # The list view of the five moved leads, each row whole, and the address to explain.
    rows = re.findall(r"^│ (\S.*?\S) +│ (?:Good|Poor) +│ \d+ +│ Hand-raiser", demo.stdout, re.M)
    assert len(rows) == 5, demo.stdout
    emails = re.findall(r" explain (\S+)$", demo.stdout, re.M)
    assert len(emails) == 1, demo.stdout
    assert all(re.fullmatch(r"[^@\s…]+@[\w.-]+\.[a-z]{2,}", email) for email in emails), emails
    assert "…" not in demo.stdout
    assert NARRATION in demo.stdout.splitlines()
    # Piped stderr stays JSON lines at info, as log pipelines expect.
    assert all(line.startswith("{") for line in demo.stderr.splitlines()), demo.stderr[:500]

    subprocess.run([*CLI, "--config", str(config), "sync", "--json"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    status = subprocess.run(
        [*CLI, "--config", str(config), "status"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert status.stdout.strip(), status.stderr
    assert "…" not in status.stdout
    assert not any(LOG_LINE.match(line) for line in status.stdout.splitlines())
