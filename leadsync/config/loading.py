"""Reading admin-written TOML into validated pydantic models, with errors an admin can act on.

Every problem becomes one line naming the file, the key path, the bad value and what is
allowed, e.g.::

    leadsync.toml: icp.criteria[2].operator: 'one_off' is not allowed; allowed: one_of,
    none_of, between (did you mean 'one_of'?)

All problems in a file are reported together, so one edit fixes them all.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from leadsync.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: Keys whose values are secrets wherever they appear: never empty, never echoed in a message.
SECRET_KEYS = frozenset(
    {"client_secret", "password", "security_token", "refresh_token", "access_token"}
)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse ``path`` as TOML; a file that is missing, unreadable, not UTF-8 or not TOML is a
    ``ConfigError`` naming it. A byte-order mark (Windows editors write one) is skipped."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a file; name the .toml file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # utf-8-sig counts offsets after a skipped mark; report them in the file's own bytes.
        offset = exc.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw.count(b"\n", 0, offset) + 1
        raise ConfigError(
            f"{path}: not UTF-8 text: byte offset {offset} (line {line}) is 0x{raw[offset]:02x}; "
            "save the file as UTF-8"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def expand_env(data: Any, file: str, environ: typing.Mapping[str, str] | None = None) -> Any:
    """Replace ``${VAR}`` in every string with the environment's value.

    A reference to an unset variable is a problem naming the key that holds it, and so is a
    secret key whose variable is set but empty: ``LEADSYNC_TOKEN=""`` must not turn into a
    "set" token that is empty (an open service, or webhooks verified with an empty key).
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []

    def walk(value: Any, loc: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, f"{loc}.{k}" if loc else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{loc}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:

            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in env:
                    problems.append(
                        f"{file}: {loc}: environment variable {name} is not set "
                        f"(export it, or write the value in the file)"
                    )
                    return ""
                if _key_of(loc) in SECRET_KEYS and not env[name].strip():
                    problems.append(
                        f"{file}: {loc}: environment variable {name} is set but empty; a "
                        f"secret cannot be empty (export its value, or remove the key)"
                    )
                return env[name]

            return _ENV_REF.sub(substitute, value)
        return value

    expanded = walk(data, "")
    if problems:
        raise ConfigError(problems)
    return expanded


def is_reference(value: str) -> bool:
    """Whether ``value`` is still a ``${VAR}`` reference: data validated without expanding
    (``settings_from_dict`` over a raw file, as ``leadsync tune`` reads the example). Checks of
    a secret's strength wait for the value ``load_settings`` expands it to."""
    return _ENV_REF.fullmatch(value) is not None


def _key_of(loc: str) -> str:
    return loc.rsplit(".", 1)[-1]


def validate(model: type[M], data: Any, file: str) -> M:
    """Validate ``data`` as ``model``; turn every pydantic error into an actionable line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_describe(model, err, file) for err in exc.errors()]) from None


def load(model: type[M], path: Path, environ: typing.Mapping[str, str] | None = None) -> M:
    """Read, expand and validate one TOML file."""
    return validate(model, expand_env(read_toml(path), str(path), environ), str(path))


def format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(model: type[BaseModel], err: Any, file: str) -> str:
    loc = tuple(p for p in err["loc"] if not _is_union_tag(p)) or tuple(err["loc"])
    where = format_loc(loc)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = _did_you_mean(str(loc[-1]), allowed)
        listed = f"; allowed keys here: {', '.join(sorted(allowed))}" if allowed else ""
        return f"{file}: {where}: unknown key{hint}{listed}"
    if kind == "missing":
        return f"{file}: {where}: required key is missing"
    if kind in ("literal_error", "enum"):
        expected = err.get("ctx", {}).get("expected", "")
        options = re.findall(r"'([^']*)'", expected)
        hint = _did_you_mean(str(value), options) if options else ""
        return f"{file}: {where}: {value!r} is not allowed; allowed: {expected}{hint}"
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    secret = any(str(part) in SECRET_KEYS for part in loc[-1:])
    shown = "" if secret or isinstance(value, (dict, list)) else f" (got {value!r})"
    return f"{file}: {where}: {message}{shown}"


def _is_union_tag(part: int | str) -> bool:
    # pydantic puts the tried union member's name in the location ("function-after[...]",
    # "int", "str"); it means nothing to an admin.
    return isinstance(part, str) and (
        _VALIDATOR_TAG.fullmatch(part) is not None or part in _UNION_MEMBER_TAGS
    )


#: pydantic's name for a validator-wrapped union member: ``function-after[_check(), str]``.
_VALIDATOR_TAG = re.compile(r"[a-z-]+\[.*\]", re.DOTALL)
_UNION_MEMBER_TAGS = {"int", "float", "str", "bool", "list[str]", "list[float]", "list[int]"}


def _did_you_mean(word: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names (aliases when set) of the model found at ``loc``, for "did you mean"."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            current = _item_type(current)
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            current = _item_type(current)  # a dict of models: the key is a name, not a field
            continue
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        if field is None:
            return []
        current = field.annotation
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or name for name, f in current.model_fields.items()]
    return []


def _unwrap(tp: Any) -> Any:
    """Strip Optional / Annotated / unions down to the first model type, if any."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            inner = _unwrap(arg)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
        return tp
    return tp


def _item_type(tp: Any) -> Any:
    # tuple[Model, ...] ends in Ellipsis: the item type is the last real argument.
    args = [arg for arg in typing.get_args(tp) if arg is not Ellipsis]
    return _unwrap(args[-1]) if args else tp
