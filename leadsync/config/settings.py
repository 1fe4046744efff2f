"""The whole config file as one frozen ``Settings``, loaded and checked at the edge.

``load_settings`` finds the file (argument, ``$LEADSYNC_CONFIG``, ``./leadsync.toml``),
expands ``${ENV_VAR}`` secrets, resolves relative paths against the file's folder, validates
every section and compiles the model, so a bad file fails at start-up with one line per
problem, never halfway through a sync.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import Field, PrivateAttr, create_model

from connectors.registry import connector_types
from leadsync.config.loading import SECRET_KEYS, expand_env, read_toml, validate
from leadsync.config.model_settings import (
    AccountsSettings,
    EngagementSettings,
    IcpSettings,
    MatrixSettings,
    Section,
    TitlesSettings,
    compile_model,
)
from leadsync.config.operations import (
    HandoffSettings,
    HealthSettings,
    IdentitySettings,
    NurtureSettings,
    RecycleSettings,
    ServiceSettings,
    StoreSettings,
    SyncSettings,
)
from leadsync.errors import ConfigError
from leadsync.model import ModelSpec

log = structlog.get_logger(__name__)

CONFIG_ENV = "LEADSYNC_CONFIG"
DEFAULT_CONFIG = Path("leadsync.toml")

#: Path-valued keys per connector, resolved against the config file's folder.
_CONNECTOR_PATH_KEYS = ("mapping", "ca_bundle", "private_key_file")


class _Connections(Section):
    """``[connectors.*]``: the CRM connections. Loading needs none; syncing needs one."""

    def configured(self) -> list[str]:
        """Names of the configured connections, in the registered CRMs' rank order."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]

    def section(self, name: str) -> Any:
        """The settings of the connection ``name`` (``None`` when it is not configured)."""
        return getattr(self, name, None)


if TYPE_CHECKING:
    ConnectorsSettings = _Connections
else:
    #: One optional ``[connectors.<name>]`` section per registered CRM
    #: (``connectors.registry``), each validated by that CRM's own settings model: errors
    #: name the exact key.
    ConnectorsSettings = create_model(
        "ConnectorsSettings",
        __base__=_Connections,
        **{name: (kind.settings | None, None) for name, kind in connector_types().items()},
    )


class Settings(Section):
    """Everything in the config file. Build with ``load_settings`` or ``settings_from_dict``."""

    store: StoreSettings = StoreSettings()
    sync: SyncSettings = SyncSettings()
    connectors: ConnectorsSettings = ConnectorsSettings()
    identity: IdentitySettings = IdentitySettings()
    icp: IcpSettings = IcpSettings()
    titles: TitlesSettings = TitlesSettings()
    #: Value aliases per attribute: ``[aliases.country] "United Kingdom" = ["UK", "GB"]``.
    aliases: dict[str, dict[str, tuple[str, ...]]] = Field(default_factory=dict)
    engagement: EngagementSettings = EngagementSettings()
    matrix: MatrixSettings = MatrixSettings()
    accounts: AccountsSettings = AccountsSettings()
    handoff: HandoffSettings = HandoffSettings()
    recycle: RecycleSettings = RecycleSettings()
    nurture: NurtureSettings = NurtureSettings()
    service: ServiceSettings = ServiceSettings()
    health: HealthSettings = HealthSettings()

    _source: str = PrivateAttr(default="<memory>")
    _spec: ModelSpec | None = PrivateAttr(default=None)

    @property
    def source(self) -> str:
        """Where these settings came from (the file path), for messages."""
        return self._source

    def model_spec(self) -> ModelSpec:
        """The compiled qualification model (compiled once, then cached)."""
        if self._spec is None:
            aliases = {attr: {k: list(v) for k, v in t.items()} for attr, t in self.aliases.items()}
            self._spec = compile_model(
                self.icp,
                self.titles,
                aliases,
                self.engagement,
                self.matrix,
                self.accounts,
                self._source,
            )
        return self._spec

    def require_connectors(self) -> list[str]:
        """The configured connectors; a ``ConfigError`` when there are none (sync commands)."""
        names = self.connectors.configured()
        if not names:
            raise ConfigError(
                f"{self._source}: connectors: no CRM connection configured; add one of "
                + " or ".join(f"[connectors.{name}]" for name in connector_types())
            )
        return names


def resolve_config_path(path: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """``path``, else ``$LEADSYNC_CONFIG``, else ``./leadsync.toml``."""
    env = os.environ if environ is None else environ
    if path is not None:
        return path
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    return DEFAULT_CONFIG


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, expand, validate and compile the config file. Raises ``ConfigError``."""
    file = resolve_config_path(path, environ)
    raw = read_toml(file)
    _warn_if_secrets_exposed(file, raw)
    expanded = expand_env(raw, str(file), environ)
    return settings_from_dict(expanded, str(file), base_dir=file.resolve().parent)


def settings_from_dict(data: dict[str, Any], source: str, base_dir: Path | None = None) -> Settings:
    """Validate an in-memory config (already env-expanded) as if read from ``source``.

    Relative paths resolve against ``base_dir`` (default: the current folder); connectors
    without a ``mapping`` get the shipped default mapping.
    """
    base = (base_dir or Path.cwd()).resolve()
    prepared = _prepare(data, base)
    settings = validate(Settings, prepared, source)
    settings._source = source
    _check_identity(settings)
    settings.model_spec()  # compile now: a bad list file or pattern fails at start-up
    return settings


def _prepare(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Resolve relative paths and fill default mappings in a copy of the raw data."""
    prepared = dict(data)
    connectors = prepared.get("connectors")
    if isinstance(connectors, dict):
        connectors = dict(connectors)
        for crm, section in connectors.items():
            if not isinstance(section, dict):
                continue
            section = dict(section)
            for key in _CONNECTOR_PATH_KEYS:
                section[key] = _resolved(section.get(key), base)
            default = connector_types().get(crm)
            if section.get("mapping") is None and default and default.default_mapping:
                section["mapping"] = str(default.default_mapping)
            connectors[crm] = {k: v for k, v in section.items() if v is not None}
        prepared["connectors"] = connectors
    icp = prepared.get("icp")
    if isinstance(icp, dict) and isinstance(icp.get("criteria"), list):
        criteria = [
            {**c, "list_file": _resolved(c["list_file"], base)}
            if isinstance(c, dict) and "list_file" in c
            else c
            for c in icp["criteria"]
        ]
        prepared["icp"] = {**icp, "criteria": criteria}
    store = prepared.setdefault("store", {})
    if isinstance(store, dict):
        url = store.get("url", StoreSettings().url)
        if isinstance(url, str):
            prepared["store"] = {**store, "url": _resolved_sqlite(url, base)}
    return prepared


def _resolved(value: object, base: Path) -> object:
    if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
        return str(base / value)
    if isinstance(value, str) and value:
        return str(Path(value).expanduser())
    return value


def _resolved_sqlite(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path = url[len(prefix) :]
    if not path or path == ":memory:" or path.startswith("/"):
        return url
    return prefix + str(base / path)


def _check_identity(settings: Settings) -> None:
    configured = settings.connectors.configured()
    if not configured:
        return
    problems = [
        f"{settings.source}: identity.{key}: {value!r} is not a configured connector; "
        f"allowed: {', '.join(configured)}"
        for key, value in (
            ("fit_source", settings.identity.fit_source),
            ("sales_crm", settings.identity.sales_crm),
        )
        if value is not None and value not in configured
    ]
    if problems:
        raise ConfigError(problems)


def literal_secrets(data: Any, loc: str = "") -> list[str]:
    """Key paths holding a secret written in the file rather than as ``${ENV_VAR}``."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{loc}.{key}" if loc else str(key)
            if _is_literal_secret(str(key), value):
                found.append(where)
            else:
                found.extend(literal_secrets(value, where))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.extend(literal_secrets(item, f"{loc}[{index}]"))
    return found


def _is_literal_secret(key: str, value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    if key in SECRET_KEYS:
        return "${" not in value
    return key == "url" and _url_has_password(value)


def _url_has_password(url: str) -> bool:
    credentials = url.partition("://")[2].partition("@")
    if not credentials[1]:
        return False
    password = credentials[0].partition(":")[2]
    return bool(password) and "${" not in password


def _warn_if_secrets_exposed(file: Path, raw: dict[str, Any]) -> None:
    try:
        mode = file.stat().st_mode
    except OSError:
        return
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    keys = literal_secrets(raw)
    if keys:
        log.warning(
            "config.secrets_readable",
            file=str(file),
            mode=oct(stat.S_IMODE(mode)),
            keys=keys,
            fix=f"chmod 600 {file}, or write the secrets as ${{ENV_VAR}}",
        )
