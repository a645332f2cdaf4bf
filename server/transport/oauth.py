"""OAuth2 access tokens for SMTP's XOAUTH2: a given token, or one refreshed from a token
endpoint a margin before it expires, cached per set of credentials.

Two grants are spoken, those of nodemailer's ``auth.type: "oauth2"`` (nodemailer/nodemailer
lib/xoauth2/index.js): the refresh-token grant (RFC 6749 section 6), which Gmail and Office
365 configs use, and, for a Google service account (``serviceClient`` + ``privateKey``), the
JWT bearer grant (RFC 7523 section 2.1) with an RS256 assertion ``{iss: serviceClient,
scope, sub: user, aud: accessUrl, iat, exp}``, as Google documents it
(developers.google.com/identity/protocols/oauth2/service-account). Without ``accessUrl`` both
go to Google's token endpoint, nodemailer's default. Tokens, secrets and keys never appear
in a message or a log line; a failed refresh names the endpoint's host and its error code.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..deadline import Deadline
from ..errors import Reason, SmtpAuthFailed, SmtpUnavailable
from .base import Stage

# Refresh this long before the token's expiry, so a token never dies mid-handshake.
REFRESH_MARGIN = 60.0
# When an endpoint says nothing of the lifetime: Google's and Microsoft's tokens live an hour.
DEFAULT_LIFETIME = 3600.0
TOKEN_TIMEOUT = 10.0
# nodemailer's default accessUrl, and a service account's default scope and JWT lifetime.
GOOGLE_TOKEN_URL = "https://accounts.google.com/o/oauth2/token"  # noqa: S105 (a URL)
GMAIL_SCOPE = "https://mail.google.com/"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_ASSERTION_LIFETIME = 300  # seconds; nodemailer's serviceRequestTimeout, at most 3600


@dataclass(frozen=True)
class OAuth2Credentials:
    """What XOAUTH2 needs: the user, and an access token or the means to get one."""

    user: str
    access_token: str | None = field(default=None, repr=False)
    expires: float | None = None  # when access_token expires, in seconds since the epoch
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    access_url: str | None = GOOGLE_TOKEN_URL
    # A Google service account: its client email, RSA key (PEM) and the token's scope.
    service_client: str | None = None
    private_key: str | None = field(default=None, repr=False)
    private_key_passphrase: str | None = field(default=None, repr=False)
    scope: str = GMAIL_SCOPE
    assertion_lifetime: int = DEFAULT_ASSERTION_LIFETIME

    @property
    def refreshable(self) -> bool:
        """Whether a new access token can be fetched."""
        renewable = self.refresh_token or (self.service_client and self.private_key)
        return bool(renewable and self.access_url)


def xoauth2_response(user: str, token: str) -> str:
    """The XOAUTH2 initial client response (before base64), as Google documents it."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


@dataclass
class _Token:
    value: str
    expires_at: float | None  # seconds since the epoch; None: unknown, used until refused


class TokenCache:
    """Access tokens by credentials. One refresh at a time per credentials, so that many
    connections opening at once ask the endpoint once."""

    def __init__(self, margin: float = REFRESH_MARGIN) -> None:
        self.margin = margin
        self._tokens: dict[OAuth2Credentials, _Token] = {}
        self._locks: dict[OAuth2Credentials, threading.Lock] = {}
        self._lock = threading.Lock()
        self.refreshes = 0  # tokens fetched from endpoints (for tests and stats)

    def token(self, credentials: OAuth2Credentials, deadline: Deadline) -> tuple[str, bool]:
        """A usable access token and whether it was fetched just now."""
        with self._lock:
            lock = self._locks.setdefault(credentials, threading.Lock())
        if not lock.acquire(timeout=deadline.timeout(TOKEN_TIMEOUT)):
            raise SmtpUnavailable(
                "another request is still refreshing the OAuth2 access token; "
                "the message was not sent",
                stage=Stage.AUTH,
                reason=Reason.SMTP_TIMEOUT,
            )
        try:
            cached = self._tokens.get(credentials) or _given_token(credentials)
            if cached is not None and not self._expiring(cached, credentials):
                return cached.value, False
            if not credentials.refreshable:
                raise SmtpAuthFailed(
                    "the OAuth2 access token has expired and the config has no refreshToken "
                    "or service account to renew it; the message was not sent",
                    stage=Stage.AUTH,
                )
            fresh = _refresh(credentials, deadline)
            self._tokens[credentials] = fresh
            self.refreshes += 1
            return fresh.value, True
        finally:
            lock.release()

    def invalidate(self, credentials: OAuth2Credentials, token: str) -> None:
        """Forget a token the server refused, so that the next call refreshes it."""
        with self._lock:
            lock = self._locks.setdefault(credentials, threading.Lock())
        with lock:
            cached = self._tokens.get(credentials)
            if cached is None or cached.value == token:  # not already replaced by another
                self._tokens[credentials] = _Token(token, 0.0)  # expired: refreshed next

    def _expiring(self, token: _Token, credentials: OAuth2Credentials) -> bool:
        if token.expires_at is None:
            return False
        # A token that cannot be renewed is used to its last second.
        margin = self.margin if credentials.refreshable else 0.0
        return time.time() >= token.expires_at - margin


def _given_token(credentials: OAuth2Credentials) -> _Token | None:
    if not credentials.access_token:
        return None
    return _Token(credentials.access_token, credentials.expires)


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_assertion(credentials: OAuth2Credentials, now: float) -> str:
    """The service account's signed JWT (RS256) for the JWT bearer grant (RFC 7523)."""
    issued = int(now)
    claims = {
        "iss": credentials.service_client,
        "scope": credentials.scope,
        "sub": credentials.user,
        "aud": credentials.access_url,
        "iat": issued,
        "exp": issued + credentials.assertion_lifetime,
    }
    header = {"alg": "RS256", "typ": "JWT"}
    signing_input = ".".join(
        _base64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    passphrase = credentials.private_key_passphrase
    pem = (credentials.private_key or "").encode()
    key = serialization.load_pem_private_key(
        pem, None if passphrase is None else passphrase.encode()
    )
    if not isinstance(key, rsa.RSAPrivateKey):  # the config checked it on load
        raise TypeError("a service account's privateKey must be an RSA key")
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_base64url(signature)}"


def _grant(credentials: OAuth2Credentials) -> dict[str, str]:
    """The token request's form: the JWT bearer grant for a service account, else the
    refresh-token grant."""
    if credentials.service_client and credentials.private_key:
        return {"grant_type": JWT_BEARER, "assertion": jwt_assertion(credentials, time.time())}
    form = {
        "grant_type": "refresh_token",
        "refresh_token": credentials.refresh_token or "",
        "client_id": credentials.client_id or "",
    }
    if credentials.client_secret:
        form["client_secret"] = credentials.client_secret
    return form


def _refresh(credentials: OAuth2Credentials, deadline: Deadline) -> _Token:
    """Trade the refresh token (or the service account's signed assertion) for a new access
    token."""
    url = credentials.access_url or ""
    host = urllib.parse.urlsplit(url).netloc
    form = _grant(credentials)
    request = urllib.request.Request(  # noqa: S310 (the config only accepts http(s) URLs)
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Accept": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=deadline.timeout(TOKEN_TIMEOUT)
        ) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise _refused(host, exc) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = Reason.SMTP_TIMEOUT if isinstance(exc, TimeoutError) else None
        raise SmtpUnavailable(
            f"cannot refresh the OAuth2 access token at {host}: {type(exc).__name__}; "
            "the message was not sent",
            stage=Stage.AUTH,
            reason=reason,
        ) from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise SmtpUnavailable(
            f"the OAuth2 token endpoint {host} answered without an access_token; "
            "the message was not sent",
            stage=Stage.AUTH,
        )
    lifetime = body.get("expires_in", DEFAULT_LIFETIME)
    seconds = float(lifetime) if isinstance(lifetime, int | float | str) else DEFAULT_LIFETIME
    return _Token(token, time.time() + seconds)


def _refused(host: str, exc: urllib.error.HTTPError) -> SmtpAuthFailed | SmtpUnavailable:
    """A 4xx from the endpoint means the grant is bad (fix the config); 5xx is transient."""
    try:
        error = json.loads(exc.read().decode("utf-8")).get("error", "")
    except (ValueError, AttributeError, OSError):
        error = ""
    detail = f"{exc.code}" + (f" {error}" if isinstance(error, str) and error else "")
    message = f"the OAuth2 token endpoint {host} refused the refresh ({detail})"
    if exc.code >= 500:
        return SmtpUnavailable(message + "; the message was not sent", stage=Stage.AUTH)
    return SmtpAuthFailed(
        message + ": check clientId, clientSecret and refreshToken (or the service account's "
        "serviceClient and privateKey); the message was not sent",
        stage=Stage.AUTH,
    )


TOKENS = TokenCache()
