"""Fixing advice for the low-level causes of an SMTP failure, written once: the transport's
error messages and the connection test's hints (``diagnosis/hints.py``) take their words here."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Cause
from .base import TlsMode

# Ports providers offer for submission, in the order we suggest them.
SUBMISSION_PORTS = "587 (STARTTLS) or 465 (secure: true)"


def tls_advice(
    cause: Cause, port: int, tls_mode: TlsMode, host: str = "", names: Sequence[str] = ()
) -> str:
    """The fix for a failed TLS handshake or certificate check; '' when the cause has none."""
    if cause is Cause.WRONG_VERSION:
        return wrong_version(port, tls_mode)
    return certificate_advice(cause, host, names) or ""


def wrong_version(port: int, tls_mode: TlsMode) -> str:
    """TLS spoken to a plain SMTP port, or plain SMTP to a TLS port."""
    if tls_mode is TlsMode.IMPLICIT:
        return (
            f"port {port} speaks plain SMTP and upgrades with STARTTLS, but secure is true: "
            "set secure to false (port 587 and 25 work that way; secure: true is for 465)"
        )
    return (
        f"port {port} expects TLS from the first byte: set secure to true (usually with port 465)"
    )


def certificate_advice(cause: Cause, host: str, names: Sequence[str] = ()) -> str | None:
    """The fix for a certificate the client refused, by why it refused it (None for another
    cause); ``names`` are the certificate's names when they could be read."""
    on_cert = f" (it names {', '.join(names)})" if names else ""
    if cause is Cause.CERT_HOSTNAME:
        return (
            f"the server's certificate is not valid for '{host}'{on_cert}: set host, or "
            "tls.servername, to the name on the certificate"
        )
    if cause is Cause.CERT_UNTRUSTED:
        return (
            "the server's certificate is self-signed or issued by a CA this machine does not "
            "trust: set tls.ca to that CA's certificate (PEM), and tls.servername to the name "
            f"on the certificate{on_cert}; tls.rejectUnauthorized: false only for testing"
        )
    if cause is Cause.CERT_EXPIRED:
        return (
            "the server's certificate has expired or is not valid yet: the server's operator "
            "must renew it; check this machine's clock too"
        )
    return None


def silent_greeting(host: str, port: int, tls_mode: TlsMode) -> str:
    """A connection accepted, but no SMTP greeting came in time."""
    if tls_mode is TlsMode.IMPLICIT:
        return (
            f"TLS with {host}:{port} works but no SMTP greeting came over it: the port "
            f"is not SMTP; use the provider's SMTP port ({SUBMISSION_PORTS})"
        )
    return (
        f"{host}:{port} accepted the connection but never sent the SMTP greeting: the "
        "port speaks another protocol; set secure to true if the port is 465, or use the "
        f"provider's SMTP port ({SUBMISSION_PORTS})"
    )
