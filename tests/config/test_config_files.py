"""A config or mapping file LeadSync cannot read is a config error (exit 2), never a traceback.

Not UTF-8 (the message gives the byte offset), a directory, unreadable, empty, or saved with a
byte-order mark: each either loads or says which file and what to do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsync.config import load_settings
from leadsync.config.loading import read_toml
from leadsync.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD = '[sync]\ninterval_seconds = 60\n# Café, naïve, 日本\n[store]\nurl = "sqlite:///x.db"\n'
#: Bytes no UTF-8 text contains at that place: stray continuation bytes, a lead byte cut
#: short, an over-long encoding, a surrogate, and bytes UTF-8 never uses.
INVALID = st.sampled_from(
    [b"\x80", b"\xbf", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xff", b"\xfe"]
)
#: Each example writes its own file over the last one in ``tmp_path``.
FIXTURE = HealthCheck.function_scoped_fixture


def leadsync(
    *args: str, cwd: Path, env: dict[str, str] | None = None, unprivileged: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from leadsync.cli import main; main()", *args]
    if unprivileged and os.geteuid() == 0:
        # Root reads any file; without the capabilities that let it, it reads like a user.
        caps = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", *command]
    return subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[FIXTURE])
@given(cut=st.integers(min_value=0, max_value=len(GOOD.encode())), bad=INVALID)
def test_a_file_that_is_not_utf8_names_the_file_and_byte_offset(
    tmp_path: Path, cut: int, bad: bytes
) -> None:
    raw = GOOD.encode()
    # Cut only between characters, so the first undecodable byte is the inserted one.
    while cut < len(raw) and (raw[cut] & 0xC0) == 0x80:
        cut += 1
    data = raw[:cut] + bad + raw[cut:]
    path = tmp_path / "latin.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        read_toml(path)
    (line,) = info.value.problems
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start
    assert offset == cut
    assert line.startswith(f"{path}: ") and "UTF-8" in line
    assert f"byte offset {offset} " in line


def test_a_latin1_config_exits_2_naming_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "leadsync.toml"
    path.write_bytes('[handoff]\nowner_status = "Qualifié"\n'.encode("latin-1"))
    result = leadsync("--config", str(path), "check", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line and "byte offset 33" in line and "UTF-8" in line


def test_a_latin1_mapping_exits_2_naming_the_mapping(tmp_path: Path) -> None:
    mapping = tmp_path / "hubspot-map.toml"
    mapping.write_bytes("# Propriétés\n".encode("latin-1"))
    config = tmp_path / "leadsync.toml"
    config.write_text(
        '[connectors.hubspot]\nbase_url = "http://127.0.0.1:9"\naccess_token = "${HS}"\n'
        f'mapping = "{mapping.name}"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    result = leadsync("--config", str(config), "check", cwd=tmp_path, env={"HS": "pat-x"})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert str(mapping) in result.stderr and "byte offset 8" in result.stderr


def test_a_directory_is_named_as_one(tmp_path: Path) -> None:
    folder = tmp_path / "leadsync.toml"
    folder.mkdir()
    with pytest.raises(ConfigError) as info:
        load_settings(folder, environ={})
    (line,) = info.value.problems
    assert line.startswith(f"{folder}: ") and "directory" in line


@pytest.mark.parametrize("which", ["config", "mapping"])
def test_an_unreadable_file_exits_2_naming_it(tmp_path: Path, which: str) -> None:
    mapping = tmp_path / "hubspot-map.toml"
    mapping.write_text("group = 'leadsync'\n", encoding="utf-8")
    config = tmp_path / "leadsync.toml"
    config.write_text(
        '[connectors.hubspot]\nbase_url = "http://127.0.0.1:9"\naccess_token = "${HS}"\n'
        f'mapping = "{mapping.name}"\n',
        encoding="utf-8",
    )
    unreadable = config if which == "config" else mapping
    unreadable.chmod(0)
    result = leadsync(
        "--config", str(config), "check", cwd=tmp_path, env={"HS": "pat-x"}, unprivileged=True
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    if which == "config":
        # The command line refuses an unreadable --config itself (in a box that may wrap).
        assert "is not readable" in " ".join(result.stderr.split())
    else:
        assert f"{mapping}: cannot read (Permission denied)" in result.stderr


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "leadsync.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    path.chmod(0o600)
    assert load_settings(path, environ={}).sync.interval_seconds == 60


def test_an_empty_mapping_file_names_what_it_lacks(tmp_path: Path) -> None:
    from connectors.salesforce.mapping import load_mapping

    path = tmp_path / "empty.toml"
    path.write_bytes(b"")
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    (line,) = info.value.problems
    assert line == f"{path}: objects: required key is missing"
