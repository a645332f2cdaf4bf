"""SMTP AUTH with UTF-8 credentials, as nodemailer sends them.

smtplib encodes every AUTH response as ASCII (``SMTP.auth``: ``.encode('ascii')``, and
``auth_cram_md5`` keys its HMAC with ``password.encode('ascii')``), so a password such as
``pässwörd-中`` never logs in and fails with a UnicodeEncodeError. nodemailer writes the
same responses as UTF-8 (lib/smtp-connection/index.js: ``Buffer.from(..., 'utf-8')
.toString('base64')`` for AUTH PLAIN and LOGIN, ``crypto.createHmac('md5', pass)`` for
CRAM-MD5), which RFC 4616 (PLAIN: UTF-8 authcid and passwd) prescribes. This client does
the same; the rest of smtplib's AUTH exchange (RFC 4954) is unchanged.
"""

from __future__ import annotations

import base64
import hmac
import smtplib
from collections.abc import Callable
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:  # typeshed's name for bytes-like (collections.abc.Buffer from 3.12)
    from typing_extensions import Buffer

__all__ = ["Utf8AuthSMTP"]

# smtplib's bound on challenges in one exchange (smtplib._MAXCHALLENGE).
_MAX_CHALLENGES = 5


def _encoded(response: str) -> str:
    return base64.b64encode(response.encode("utf-8")).decode("ascii")


class Utf8AuthSMTP(smtplib.SMTP):
    """smtplib's client whose AUTH responses and CRAM-MD5 key are UTF-8."""

    def auth(
        self,
        mechanism: str,
        authobject: Callable[..., str | None],
        *,
        initial_response_ok: bool = True,
    ) -> tuple[int, bytes]:
        """smtplib's ``auth``, encoding each response as UTF-8 instead of ASCII."""
        mechanism = mechanism.upper()
        initial = authobject() if initial_response_ok else None
        if initial is not None:
            code, reply = self.docmd("AUTH", f"{mechanism} {_encoded(initial)}")
            self._auth_challenge_count = 1
        else:
            code, reply = self.docmd("AUTH", mechanism)
            self._auth_challenge_count = 0
        while code == 334:
            self._auth_challenge_count += 1
            answer = authobject(base64.decodebytes(reply))
            code, reply = self.docmd(_encoded(answer or ""))
            if self._auth_challenge_count > _MAX_CHALLENGES:
                raise smtplib.SMTPException(
                    f"the server's AUTH {mechanism} kept sending challenges (last: {code})"
                )
        if code in (235, 503):
            return code, reply
        raise smtplib.SMTPAuthenticationError(code, reply)

    @overload
    def auth_cram_md5(self, challenge: None = None) -> None: ...
    @overload
    def auth_cram_md5(self, challenge: Buffer) -> str: ...
    def auth_cram_md5(self, challenge: Buffer | None = None) -> str | None:
        """CRAM-MD5 (RFC 2195) keyed with the UTF-8 password."""
        if challenge is None:
            return None
        digest = hmac.new(self.password.encode("utf-8"), bytes(challenge), "md5").hexdigest()
        return f"{self.user} {digest}"
