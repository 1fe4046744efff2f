"""OAuth 2.0 token acquisition against a configurable ``login_url``.

simple-salesforce's own logins only know ``*.salesforce.com`` hosts, so LeadSync fetches the
token itself (``POST {login_url}/services/oauth2/token``) and hands ``instance_url`` plus the
access token to the client. Supported flows: client credentials, JWT bearer, refresh token,
username-password, and a given access token (which cannot be renewed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
import requests
import structlog

from connectors.salesforce.http import translate
from connectors.salesforce.settings import SalesforceSettings
from leadsync.errors import AuthError, RetriableSyncError

log = structlog.get_logger(__name__)

TOKEN_PATH = "/services/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce accepts JWT assertions that expire at most 3 minutes out.
JWT_LIFETIME_SECONDS = 180

_SETTINGS_TO_CHECK = {
    "client_credentials": "client_id and client_secret (and that the connected app has a "
    "'Run As' user for the client credentials flow)",
    "jwt_bearer": "client_id, username and private_key_file (and that the certificate is "
    "uploaded to the connected app and the user is pre-authorized)",
    "refresh_token": "client_id, client_secret and refresh_token (the refresh token may have "
    "been revoked; authorize the connected app again)",
    "password": "username, password, security_token, client_id and client_secret",
    "access_token": "access_token (it has expired or was revoked; supply a fresh one or switch "
    "auth to a method LeadSync can renew)",
}


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and the org instance it is valid for."""

    access_token: str
    instance_url: str
    #: The user the token acts as (from the identity URL ``.../id/<org>/<user>`` of the
    #: token answer); ``None`` for a given access token.
    user_id: str | None = None

    def __repr__(self) -> str:
        return f"Token(instance_url={self.instance_url!r}, access_token=***)"


def can_renew(settings: SalesforceSettings) -> bool:
    """Whether a refused session can be renewed (every flow but a given access token)."""
    return settings.auth != "access_token"


def auth_error(settings: SalesforceSettings, detail: str, connector: str) -> AuthError:
    """An ``AuthError`` naming the settings to check for the configured flow."""
    return AuthError(
        f"Salesforce refused the credentials ({detail}); check "
        f"[connectors.{connector}] {_SETTINGS_TO_CHECK[settings.auth]}, auth = "
        f"'{settings.auth}', login_url = {settings.login_url}",
        connector=connector,
        status=401,
    )


def fetch_token(
    settings: SalesforceSettings, session: requests.Session, *, connector: str
) -> Token:
    """Obtain an access token for the configured flow; ``AuthError`` when refused."""
    if settings.auth == "access_token":
        assert settings.access_token is not None and settings.instance_url is not None
        return Token(settings.access_token.get_secret_value(), settings.instance_url)
    form = _grant_form(settings)
    url = settings.login_url + TOKEN_PATH
    try:
        # The session's connect and read timeouts apply; the caller's loop retries.
        response = session.post(url, data=form, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise translate(exc, connector=connector) from None
    body = _json(response)
    if response.status_code >= 500 or response.status_code == 429:
        raise RetriableSyncError(
            f"token endpoint {url} answered {response.status_code}",
            connector=connector,
            status=response.status_code,
            retry_after=_seconds(response.headers.get("Retry-After", "")),
        )
    if response.status_code != 200 or "access_token" not in body:
        detail = f"{body.get('error', response.status_code)}: {body.get('error_description', '')}"
        log.warning("salesforce.auth.refused", auth=settings.auth, error=body.get("error"))
        raise auth_error(settings, detail.strip().rstrip(":"), connector)
    instance_url = str(body.get("instance_url") or settings.instance_url or "").rstrip("/")
    if not instance_url:
        raise auth_error(settings, "the token answer named no instance_url", connector)
    if settings.instance_url and instance_url != settings.instance_url:
        raise AuthError(
            f"the token endpoint issued a token for {instance_url}, but instance_url is "
            f"{settings.instance_url}; set [connectors.{connector}] instance_url to the org's "
            f"My Domain URL or remove it",
            connector=connector,
        )
    log.info("salesforce.auth.token", auth=settings.auth, instance_url=instance_url)
    return Token(str(body["access_token"]), instance_url, user_of(body.get("id")))


def user_of(identity: object) -> str | None:
    """The user id at the end of an identity URL (``https://login.../id/00D.../005...``),
    or a bare user id."""
    if not isinstance(identity, str):
        return None
    user = identity.rstrip("/").rsplit("/", 1)[-1]
    return user if user.isalnum() and len(user) in (15, 18) else None


def _grant_form(settings: SalesforceSettings) -> dict[str, str]:
    secret = settings.client_secret.get_secret_value() if settings.client_secret else None
    if settings.auth == "client_credentials":
        assert settings.client_id and secret
        return {
            "grant_type": "client_credentials",
            "client_id": settings.client_id,
            "client_secret": secret,
        }
    if settings.auth == "refresh_token":
        assert settings.client_id and settings.refresh_token
        form = {
            "grant_type": "refresh_token",
            "client_id": settings.client_id,
            "refresh_token": settings.refresh_token.get_secret_value(),
        }
        if secret:
            form["client_secret"] = secret
        return form
    if settings.auth == "password":
        assert settings.client_id and secret and settings.username and settings.password
        token = settings.security_token.get_secret_value() if settings.security_token else ""
        return {
            "grant_type": "password",
            "client_id": settings.client_id,
            "client_secret": secret,
            "username": settings.username,
            "password": settings.password.get_secret_value() + token,
        }
    return {"grant_type": JWT_GRANT, "assertion": jwt_assertion(settings)}


def jwt_assertion(settings: SalesforceSettings, now: float | None = None) -> str:
    """The signed RS256 assertion of the JWT bearer flow (iss, sub, aud, exp)."""
    assert settings.private_key_file is not None and settings.client_id and settings.username
    try:
        key = settings.private_key_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthError(
            f"cannot read private_key_file {settings.private_key_file}: {exc.strerror}"
        ) from None
    issued = time.time() if now is None else now
    claims = {
        "iss": settings.client_id,
        "sub": settings.username,
        "aud": settings.login_url,
        "exp": int(issued) + JWT_LIFETIME_SECONDS,
    }
    return jwt.encode(claims, key, algorithm="RS256")


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
