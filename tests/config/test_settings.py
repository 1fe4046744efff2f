from __future__ import annotations

import os
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from leadsync.config import load_settings, settings_from_dict
from leadsync.errors import ConfigError
from leadsync.model import DEFAULT_RULES, Person, score

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ENV = {
    "SF_CLIENT_ID": "client-id",
    "SF_CLIENT_SECRET": "s3cret",
    "HUBSPOT_TOKEN": "pat-na1-xyz",
    "LEADSYNC_TOKEN": "token-" * 6,
}


def write(tmp_path: Path, text: str, name: str = "leadsync.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def problems(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ or {})
    return info.value.problems


def test_example_config_loads_and_scores() -> None:
    settings = load_settings(ROOT / "config.example.toml", environ=EXAMPLE_ENV)
    assert settings.connectors.configured() == ["salesforce", "hubspot"]
    sf = settings.connectors.salesforce
    assert sf is not None and sf.client_secret is not None
    assert sf.client_secret.get_secret_value() == "s3cret"
    assert settings.service.access_token is not None
    spec = settings.model_spec()
    assert settings.model_spec() is spec  # compiled once
    assert {r.name: r.points for r in spec.rules} == {r.name: r.points for r in DEFAULT_RULES}
    assert [c.name for c in spec.criteria][:4] == [
        "Manufacturing",
        "Under 1,000 employees",
        "UK or France",
        "Not publicly traded",
    ]
    person = Person(
        "p",
        {"industry": "mfg", "employees": 200, "country": "Royaume-Uni", "ownership": "Private",
         "title": "Plant Director", "company": "Acme Engineering Ltd"},
    )  # fmt: skip
    from datetime import UTC, datetime

    result = score(person, [], spec, datetime(2024, 1, 1, tzinfo=UTC))
    assert result.fit == "good" and len(result.checked) == 6


def test_missing_env_var_names_the_key(tmp_path: Path) -> None:
    env = {k: v for k, v in EXAMPLE_ENV.items() if k != "SF_CLIENT_SECRET"}
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    (line,) = problems(tmp_path, text, env)
    assert "connectors.salesforce.client_secret" in line
    assert "SF_CLIENT_SECRET is not set" in line


def test_unknown_keys_get_did_you_mean(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [icp]
        good_fit_mn = 1
        [sync]
        interval_secs = 60
        """,
    )
    assert len(found) == 2
    assert any("icp.good_fit_mn: unknown key (did you mean 'good_fit_min'?)" in p for p in found)
    assert any(
        "sync.interval_secs: unknown key (did you mean 'interval_seconds'?)" in p for p in found
    )
    assert all(p.startswith(str(tmp_path / "leadsync.toml")) for p in found)


def test_unknown_keys_inside_a_list_of_tables_get_did_you_mean(tmp_path: Path) -> None:
    # A list of tables is a tuple[Model, ...]: the suggestion must look inside the item type.
    found = problems(
        tmp_path,
        """
        [[icp.criteria]]
        name = "Size"
        atribute = "employees"
        operator = "at_least"
        min = 50
        """,
    )
    assert any(
        "icp.criteria[0].atribute: unknown key (did you mean 'attribute'?)" in p for p in found
    ), found


def test_one_message_per_problem_naming_key_value_and_allowed(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        [[icp.criteria]]
        name = "Industry"
        attribute = "industry"
        operator = "one_off"
        values = ["Manufacturing"]

        [[icp.criteria]]
        name = "Size"
        attribute = "employees"
        operator = "below"

        [[icp.criteria]]
        name = "Title"
        attribute = "title"
        operator = "matches"
        pattern = "(vp"

        [[engagement.rules]]
        name = "Demo"
        kind = "form_submision"
        points = 75
        interest = "hand_raiser"

        [matrix]
        good = { hand_raiser = "sale", sales_ready = "sales", unready = "marketing" }

        [service]
        port = 70000
        """,
    )
    assert len(found) == 6, found
    text = "\n".join(found)
    assert "icp.criteria[0].operator: 'one_off' is not allowed" in text
    assert "(did you mean 'one_of'?)" in text
    assert "icp.criteria[1]: operator 'below' needs max" in text
    assert "icp.criteria[2].pattern: not a valid regular expression" in text and "'(vp'" in text
    assert "engagement.rules[0].kind[0]: 'form_submision' is not allowed" in text
    assert "did you mean 'form_submission'?" in text
    assert "matrix.good.hand_raiser: 'sale' is not allowed; allowed: 'sales' or 'marketing'" in text
    assert "service.port:" in text and "70000" in text


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "targets.csv").write_text("Company,Domain\nAcme Ltd,acme.com\n,globex.io\n")
    path = write(
        folder,
        """
        [store]
        url = "sqlite:///state/leadsync.db"
        [connectors.hubspot]
        access_token = "${HS}"
        mapping = "maps/hubspot.toml"
        [[icp.criteria]]
        name = "Target"
        attribute = "company"
        operator = "in_list"
        list_file = "targets.csv"
        """,
    )
    settings = load_settings(path, environ={"HS": "tok"})
    assert settings.store.url == f"sqlite:///{folder.resolve()}/state/leadsync.db"
    hubspot = settings.connectors.hubspot
    assert hubspot is not None and hubspot.mapping == folder.resolve() / "maps/hubspot.toml"
    criterion = settings.model_spec().criteria[0]
    assert criterion.domains == {"acme.com", "globex.io"}
    assert "acme" in criterion.companies


def test_default_mapping_is_the_shipped_one(tmp_path: Path) -> None:
    settings = settings_from_dict(
        {"connectors": {"hubspot": {"access_token": "t"}}}, "mem", base_dir=tmp_path
    )
    hubspot = settings.connectors.hubspot
    assert hubspot is not None and hubspot.mapping == ROOT / "mappings" / "hubspot.toml"


def test_missing_list_file_names_the_key(tmp_path: Path) -> None:
    (line,) = problems(
        tmp_path,
        """
        [[icp.criteria]]
        name = "Target"
        attribute = "company"
        operator = "in_list"
        list_file = "nope.csv"
        """,
    )
    assert "icp.criteria[0].list_file: file not found" in line and "nope.csv" in line


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[sync]\ninterval_seconds = 60\n", name="custom.toml")
    settings = load_settings(environ={"LEADSYNC_CONFIG": str(path)})
    assert settings.sync.interval_seconds == 60
    assert settings.source == str(path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_identity_must_name_a_configured_connector(tmp_path: Path) -> None:
    (line,) = problems(
        tmp_path,
        """
        [connectors.hubspot]
        access_token = "${HS}"
        [identity]
        fit_source = "salesforce"
        """,
        {"HS": "x"},
    )
    assert "identity.fit_source: 'salesforce' is not a configured connector" in line


def test_exposed_service_needs_a_token(tmp_path: Path) -> None:
    (line,) = problems(tmp_path, '[service]\nhost = "0.0.0.0"\n')
    assert line.endswith(
        "set access_token (e.g. access_token = '${LEADSYNC_TOKEN}') or bind 127.0.0.1"
    )


def test_literal_secret_in_readable_file_warns(tmp_path: Path) -> None:
    path = write(tmp_path, '[connectors.hubspot]\naccess_token = "pat-literal"\n')
    path.chmod(0o644)
    with capture_logs() as logs:
        load_settings(path, environ={})
    (event,) = [e for e in logs if e["event"] == "config.secrets_readable"]
    assert event["keys"] == ["connectors.hubspot.access_token"]
    assert "pat-literal" not in repr(event)
    path.chmod(0o600)
    with capture_logs() as logs:
        load_settings(path, environ={})
    assert not [e for e in logs if e["event"] == "config.secrets_readable"]


def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), environ={})
    assert settings.connectors.configured() == []
    with pytest.raises(ConfigError, match="no CRM connection configured"):
        settings.require_connectors()
    assert settings.sync.interval_seconds == 300 and settings.service.host == "127.0.0.1"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(path, environ={})
