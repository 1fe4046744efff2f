"""OAuth 2.0 token endpoint and session checks, as ``/services/oauth2/token`` behaves.

Flows: client_credentials, password (the password may have the security token appended),
refresh_token, and the JWT bearer flow (RS256 assertion with iss = client id, sub = username,
aud = the login URL, and an ``exp`` in the future).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


@dataclass(frozen=True, slots=True)
class Credentials:
    """The connected app and integration user the sandbox accepts."""

    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str
    refresh_token: str
    jwt_private_key_pem: str
    jwt_certificate_pem: str

    @classmethod
    def generate(cls, username: str = "integration@leadsync.sandbox") -> Credentials:
        """Fresh random credentials and an RSA key pair whose certificate is registered."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leadsync-jwt")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        return cls(
            client_id="3MVG9" + secrets.token_urlsafe(60).replace("-", "A").replace("_", "b"),
            client_secret=secrets.token_hex(32).upper(),
            username=username,
            password="Sandbox-" + secrets.token_urlsafe(12),
            security_token=secrets.token_urlsafe(18)[:24],
            refresh_token="5Aep861" + secrets.token_urlsafe(60),
            jwt_private_key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
            jwt_certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        )


@dataclass(slots=True)
class SessionStore:
    """Issued access tokens and when they expire."""

    ttl_seconds: float = 7200.0
    _expires: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, org_id: str) -> str:
        """A new access token in the ``00D...!AQ...`` shape."""
        token = f"{org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        with self._lock:
            self._expires[token] = time.monotonic() + self.ttl_seconds
        return token

    def valid(self, token: str) -> bool:
        """Whether ``token`` was issued here and has not expired."""
        with self._lock:
            expires = self._expires.get(token)
            return expires is not None and expires > time.monotonic()

    def expire_all(self) -> int:
        """Expire every session (the ``expire_sessions`` fault); returns how many."""
        with self._lock:
            count = len(self._expires)
            self._expires.clear()
            return count


def _oauth_error(error: str, description: str) -> tuple[int, dict[str, Any]]:
    return 400, {"error": error, "error_description": description}


def token_endpoint(
    form: dict[str, str],
    basic: tuple[str, str] | None,
    creds: Credentials,
    sessions: SessionStore,
    base_url: str,
    org_id: str,
    user_id: str,
) -> tuple[int, dict[str, Any]]:
    """Answer one token request: ``(status, json body)``."""
    grant = form.get("grant_type", "")
    client_id = form.get("client_id") or (basic[0] if basic else "")
    client_secret = form.get("client_secret") or (basic[1] if basic else "")
    if grant not in (
        "client_credentials",
        "password",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ):
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        problem = _check_assertion(form.get("assertion", ""), creds, base_url)
        if problem:
            return problem
    else:
        if not hmac.compare_digest(client_id, creds.client_id):
            return _oauth_error("invalid_client_id", "client identifier invalid")
        secret_ok = hmac.compare_digest(client_secret, creds.client_secret)
        if grant == "client_credentials" and not secret_ok:
            return _oauth_error("invalid_client", "invalid client credentials")
        if grant == "password":
            if not secret_ok:
                return _oauth_error("invalid_client", "invalid client credentials")
            password = form.get("password", "")
            accepted = (creds.password, creds.password + creds.security_token)
            if form.get("username") != creds.username or password not in accepted:
                return _oauth_error("invalid_grant", "authentication failure")
        if grant == "refresh_token":
            if client_secret and not secret_ok:
                return _oauth_error("invalid_client", "invalid client credentials")
            if not hmac.compare_digest(form.get("refresh_token", ""), creds.refresh_token):
                return _oauth_error("invalid_grant", "expired access/refresh token")
    token = sessions.issue(org_id)
    issued_at = str(int(time.time() * 1000))
    identity = f"{base_url}/id/{org_id}/{user_id}"
    signature = base64.b64encode(
        hmac.new(
            creds.client_secret.encode(),
            (identity + issued_at).encode(),
            hashlib.sha256,
        ).digest()
    ).decode()
    body: dict[str, Any] = {
        "access_token": token,
        "instance_url": base_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
        "scope": "api",
    }
    return 200, body


def _check_assertion(
    assertion: str, creds: Credentials, base_url: str
) -> tuple[int, dict[str, Any]] | None:
    if not assertion:
        return _oauth_error("invalid_request", "assertion is missing")
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "invalid assertion")
    if unverified.get("iss") != creds.client_id:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    if unverified.get("aud") not in (base_url, base_url + "/"):
        return _oauth_error("invalid_grant", "audience is invalid")
    if unverified.get("sub") != creds.username:
        return _oauth_error("invalid_grant", "user hasn't approved this consumer")
    public_key = x509.load_pem_x509_certificate(creds.jwt_certificate_pem.encode()).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return _oauth_error("invalid_grant", "invalid assertion")
    try:
        jwt.decode(
            assertion,
            public_key,
            algorithms=["RS256"],
            audience=unverified.get("aud"),
            options={"require": ["exp"]},
        )
    except jwt.ExpiredSignatureError:
        return _oauth_error("invalid_grant", "expired authorization code")
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "invalid assertion")
    return None


def bearer_token(headers: dict[str, str]) -> str | None:
    """The access token of an ``Authorization: Bearer`` (or ``OAuth``) header."""
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None
