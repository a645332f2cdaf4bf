"""OAuth2 access tokens for SMTP's XOAUTH2: a given token, or one refreshed from a token
endpoint a margin before it expires, cached per set of credentials.

Only the refresh-token grant is spoken (RFC 6749 section 6), which is what Gmail, Office 365
and nodemailer's ``auth.type: "oauth2"`` configs use. Tokens and secrets never appear in a
message or a log line; a failed refresh names the endpoint's host and its error code only.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from ..deadline import Deadline
from ..errors import Reason, SmtpAuthFailed, SmtpUnavailable
from .base import Stage

# Refresh this long before the token's expiry, so a token never dies mid-handshake.
REFRESH_MARGIN = 60.0
# When an endpoint says nothing of the lifetime: Google's and Microsoft's tokens live an hour.
DEFAULT_LIFETIME = 3600.0
TOKEN_TIMEOUT = 10.0


@dataclass(frozen=True)
class OAuth2Credentials:
    """What XOAUTH2 needs: the user, and an access token or the means to get one."""

    user: str
    access_token: str | None = field(default=None, repr=False)
    expires: float | None = None  # when access_token expires, in seconds since the epoch
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    access_url: str | None = None

    @property
    def refreshable(self) -> bool:
        """Whether a new access token can be fetched."""
        return bool(self.refresh_token and self.access_url)


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
                    "and accessUrl to renew it; the message was not sent",
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


def _refresh(credentials: OAuth2Credentials, deadline: Deadline) -> _Token:
    """Trade the refresh token for a new access token (RFC 6749 section 6)."""
    url = credentials.access_url or ""
    host = urllib.parse.urlsplit(url).netloc
    form = {
        "grant_type": "refresh_token",
        "refresh_token": credentials.refresh_token or "",
        "client_id": credentials.client_id or "",
    }
    if credentials.client_secret:
        form["client_secret"] = credentials.client_secret
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
        message + ": check clientId, clientSecret and refreshToken; the message was not sent",
        stage=Stage.AUTH,
    )


TOKENS = TokenCache()
