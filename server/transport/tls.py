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
    passphrase: str | None = None,
    verify: bool = True,
    min_version: str | None = None,
) -> ssl.SSLContext:
    """The context for connections to ``address``; ``ca``, ``cert`` and ``key`` are PEM text
    or file paths, ``passphrase`` opens an encrypted ``key`` (Node's tls.passphrase).
    Unusable material raises InvalidConfig naming the tls.* field."""
    context = _with_ca(ca)
    # TLS 1.2 is the floor; a config may raise it (nodemailer's tls.minVersion), never lower it.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if min_version and min_version.lower() in _VERSIONS:
        context.minimum_version = _VERSIONS[min_version.lower()]
    if cert or key:
        _load_client_certificate(context, cert, key, passphrase)
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


def _load_client_certificate(
    context: ssl.SSLContext, cert: str | None, key: str | None, passphrase: str | None
) -> None:
    if not cert:
        raise _invalid("tls.cert", "tls.key is set, so tls.cert (the client certificate) is needed")
    # A password callback, so that OpenSSL never prompts on the server's terminal for an
    # encrypted key's pass phrase (which hung the worker for good): it answers with
    # tls.passphrase, or refuses when there is none.
    password = _PassPhrase(passphrase)
    try:
        with _as_file(cert) as cert_file, _as_file(key) as key_file:
            context.load_cert_chain(cert_file or cert, key_file, password=password)
    except _EncryptedKey:
        raise _invalid(
            "tls.passphrase",
            "tls.key is encrypted with a pass phrase: set tls.passphrase to it",
        ) from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        if password.asked and not _is_mismatch(exc):
            raise _invalid(
                "tls.passphrase", "does not open the encrypted tls.key (a wrong pass phrase?)"
            ) from None
        # The message names the fields, never the key's content.
        raise _invalid(
            "tls.cert", f"cannot load the client certificate and key: {_describe(exc)}"
        ) from None


class _EncryptedKey(Exception):
    """Raised by the password callback: the key needs a pass phrase and none is set."""


class _PassPhrase:
    """ssl's password callback: tls.passphrase, or _EncryptedKey when there is none (an
    empty one is none: Logto's stored configs drop empty strings)."""

    def __init__(self, passphrase: str | None) -> None:
        self._passphrase = passphrase or None
        self.asked = False

    def __call__(self) -> bytes:
        self.asked = True
        if self._passphrase is None:
            raise _EncryptedKey
        return self._passphrase.encode()


def _is_mismatch(exc: BaseException) -> bool:
    """Whether the key opened but is not the certificate's: OpenSSL reports a key that its
    pass phrase does not open only as a "PEM lib" error, so this is what tells them apart."""
    return isinstance(exc, ssl.SSLError) and exc.reason == "KEY_VALUES_MISMATCH"


def refuse_file_paths(ca: str | None, cert: str | None, key: str | None) -> None:
    """Refuse tls.ca, tls.cert and tls.key values that name files rather than hold PEM text:
    only the server's own config file may name files of the server (a caller's config
    could otherwise probe the file system or present the server's own key)."""
    for field, value in (("tls.ca", ca), ("tls.cert", cert), ("tls.key", key)):
        if value and not is_pem(value):
            raise _invalid(
                field,
                "must be PEM text (-----BEGIN ...): file paths are only read from the "
                "server's own config file",
            )


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
