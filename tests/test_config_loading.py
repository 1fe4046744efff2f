from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict

from leadsync.config.loading import expand_env, load, read_toml, validate
from leadsync.errors import ConfigError


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    operator: Literal["one_of", "none_of", "between"]
    points: int = 0


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    criteria: list[_Inner] = []
    token: str = ""


def test_unknown_key_names_path_and_suggests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        validate(_Outer, {"name": "x", "criteria": [{"operator": "one_of", "pionts": 3}]}, "c.toml")
    (line,) = info.value.problems
    assert line.startswith("c.toml: criteria[0].pionts: unknown key (did you mean 'points'?)")
    assert "allowed keys here: operator, points" in line


def test_bad_literal_lists_allowed_values_and_suggests() -> None:
    with pytest.raises(ConfigError) as info:
        validate(_Outer, {"name": "x", "criteria": [{"operator": "one_off"}]}, "c.toml")
    (line,) = info.value.problems
    assert "c.toml: criteria[0].operator: 'one_off' is not allowed" in line
    assert "'between'" in line and "(did you mean 'one_of'?)" in line


def test_every_problem_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        validate(_Outer, {"criteria": [{"operator": "x", "points": "many"}], "bogus": 1}, "c.toml")
    text = "\n".join(info.value.problems)
    assert "c.toml: name: required key is missing" in text
    assert "criteria[0].points" in text and "'many'" in text
    assert "c.toml: bogus: unknown key" in text
    assert len(info.value.problems) == 4


def test_env_references_expand_and_missing_ones_name_the_key() -> None:
    data = {"sf": {"secret": "${SF_SECRET}", "url": "https://${HOST}/x"}}
    assert expand_env(data, "c.toml", {"SF_SECRET": "s3", "HOST": "h"}) == {
        "sf": {"secret": "s3", "url": "https://h/x"}
    }
    with pytest.raises(ConfigError, match=r"c.toml: sf.secret: environment variable SF_SECRET"):
        expand_env(data, "c.toml", {"HOST": "h"})


def test_toml_syntax_error_and_missing_file_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML"):
        read_toml(bad)
    with pytest.raises(ConfigError, match=r"nope.toml: file not found"):
        read_toml(tmp_path / "nope.toml")


def test_load_reads_expands_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text('name = "acme"\ntoken = "${TOK}"\n[[criteria]]\noperator = "between"\n')
    loaded = load(_Outer, path, {"TOK": "t"})
    assert loaded.token == "t" and loaded.criteria[0].operator == "between"
