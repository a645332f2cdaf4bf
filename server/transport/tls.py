"""The client TLS context for SMTP: system CAs or a private CA, TLS 1.2 at least, an optional
client certificate, and certificate checks that are only ever turned off on purpose."""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import FieldViolation, InvalidConfig

log = logging.getLogger(__name__)

_PEM_MARKER = "-----BEGIN"
_VERSIONS = {
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}


def is_pem(value: str) -> bool:
    """Whether a config value is PEM text rather than a file path."""
    return _PEM_MARKER in value


def client_context(
    *,
    address: str,
    ca: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    verify: bool = True,
    min_version: str | None = None,
) -> ssl.SSLContext:
    """The context for connections to ``address``; ``ca``, ``cert`` and ``key`` are PEM text
    or file paths. Unusable material raises InvalidConfig naming the tls.* field."""
    context = _with_ca(ca)
    # TLS 1.2 is the floor; a config may raise it (nodemailer's tls.minVersion), never lower it.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if min_version and min_version.lower() in _VERSIONS:
        context.minimum_version = _VERSIONS[min_version.lower()]
    if cert or key:
        _load_client_certificate(context, cert, key)
    if not verify:
        log.warning(
            "tls.rejectUnauthorized is false: the certificate of %s is NOT verified, so "
            "anyone on the network path can read the mail and the credentials",
            address,
        )
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _with_ca(ca: str | None) -> ssl.SSLContext:
    try:
        if ca and is_pem(ca):
            return ssl.create_default_context(cadata=ca)
        return ssl.create_default_context(cafile=ca or None)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise _invalid("tls.ca", f"cannot load the CA certificate: {_describe(exc)}") from None


def _load_client_certificate(context: ssl.SSLContext, cert: str | None, key: str | None) -> None:
    if not cert:
        raise _invalid("tls.cert", "tls.key is set, so tls.cert (the client certificate) is needed")
    try:
        with _as_file(cert) as cert_file, _as_file(key) as key_file:
            context.load_cert_chain(cert_file or cert, key_file)
    except (ssl.SSLError, OSError, ValueError) as exc:
        # The message names the fields, never the key's content.
        raise _invalid(
            "tls.cert", f"cannot load the client certificate and key: {_describe(exc)}"
        ) from None


@contextmanager
def _as_file(value: str | None) -> Iterator[str | None]:
    """A path for ssl, which reads certificates and keys only from files: PEM text goes
    into a private temporary file that is removed right after loading."""
    if value is None or not is_pem(value):
        yield value
        return
    handle, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(handle, "w", encoding="ascii") as file:
            file.write(value)
        yield path
    finally:
        os.unlink(path)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc.__class__.__name__).lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() + (f" ({exc.filename})" if exc.filename else "")
    return str(exc)


def _invalid(field: str, description: str) -> InvalidConfig:
    return InvalidConfig(
        f"config is invalid: {field}: {description}",
        violations=(FieldViolation(field, description),),
    )
