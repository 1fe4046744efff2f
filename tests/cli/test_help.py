"""``leadsync --help``: commands in the order an admin uses them, one line each, every option
explained, flags shown as flags, and config section names such as ``[sync]`` printed as typed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
import typer.main
from typer.core import TyperCommand, TyperGroup, TyperOption
from typer.testing import CliRunner

import leadsync.cli.admin_cmds
import leadsync.cli.demo_cmds
import leadsync.cli.install_cmds
import leadsync.cli.preview_cmds
import leadsync.cli.report_cmds
import leadsync.cli.service_cmds
import leadsync.cli.sync_cmds  # noqa: F401  (registering the commands on ``app``)
from leadsync.cli.app import ADMIN_ORDER, app

#: Type names typer prints for a parameter with no readable metavar (``<bool>`` for a flag,
#: ``<list[str]>``, ``<int range>``, ``<path>``), as if each took a value of that type.
TYPE_METAVAR = re.compile(r"<(bool|list\[\w+\]|%.*|\w+ range|path)>")


def root() -> TyperGroup:
    command = typer.main.get_command(app)
    assert isinstance(command, TyperGroup)
    return command


def walk(group: TyperGroup, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = typer.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield (*path, name)
        if isinstance(command, TyperGroup):
            yield from walk(command, (*path, name))


def command_at(path: tuple[str, ...]) -> TyperCommand | TyperGroup:
    command: TyperCommand | TyperGroup | None = root()
    for name in path:
        assert isinstance(command, TyperGroup)
        command = command.get_command(typer.Context(command), name)
    assert command is not None
    return command


def help_of(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


ALL = [(), *sorted(walk(root()))]  # () is `leadsync` itself


def test_commands_are_listed_in_the_order_an_admin_uses_them_one_line_each() -> None:
    registered = root().list_commands(typer.Context(root()))
    assert set(registered) == set(ADMIN_ORDER), "add new commands to ADMIN_ORDER"
    listing = help_of(()).split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listing if line.strip()] == list(ADMIN_ORDER)
    for line in listing:
        # one line per command, not cut short with "..."
        assert line.startswith("  ") and not line.startswith("   "), line
        assert not line.rstrip().endswith("..."), line


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "leadsync")
def test_every_parameter_has_help_and_no_type_name_for_a_value(path: tuple[str, ...]) -> None:
    command = command_at(path)
    ctx = typer.Context(command, info_name=path[-1] if path else "leadsync")
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx) if isinstance(param, TyperOption) else None
        help_text = getattr(param, "help", None)
        assert help_text, f"{' '.join(path)} {param.name}: no help text"
        if record is not None:
            assert not TYPE_METAVAR.search(record[0]), f"{' '.join(path)}: {record[0]}"
    rendered = help_of(path)
    assert not TYPE_METAVAR.search(rendered), rendered


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "leadsync")
def test_help_prints_section_names_and_brackets_as_written(path: tuple[str, ...]) -> None:
    command = command_at(path)
    ctx = typer.Context(command, info_name=path[-1] if path else "leadsync")
    written = " ".join(
        [command.help or ""] + [getattr(p, "help", None) or "" for p in command.get_params(ctx)]
    )
    rendered = " ".join(help_of(path).split())
    for bracketed in re.findall(r"\[[a-z_.]+\]", written):
        assert bracketed in rendered, f"{' '.join(path)}: {bracketed} lost in --help"


def test_a_flag_takes_no_value_and_a_list_option_names_its_value() -> None:
    rendered = help_of(("sync",))
    assert re.search(r"^  --dry-run +Pull", rendered, re.M), rendered
    assert re.search(r"^  --connector NAME +Only", rendered, re.M), rendered
    assert "moved by [sync] score_change_threshold" in " ".join(rendered.split())
