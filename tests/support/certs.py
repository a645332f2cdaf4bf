"""Throwaway certificates (trustme) and the TLS contexts the test SMTP servers use."""

from __future__ import annotations

import ssl
import warnings
from datetime import datetime

import trustme

SERVER_NAME = "smtp.example.test"


def server_context(
    ca: trustme.CA,
    *identities: str,
    client_ca: trustme.CA | None = None,
    maximum_version: ssl.TLSVersion | None = None,
    not_after: datetime | None = None,
) -> ssl.SSLContext:
    """A server context with a certificate from ``ca`` for ``identities`` (127.0.0.1 and
    the test server name by default), expiring at ``not_after`` when given; with
    ``client_ca``, client certificates are required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert = ca.issue_cert(*(identities or ("127.0.0.1", SERVER_NAME)), not_after=not_after)
    cert.configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    if maximum_version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is, on purpose
            context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            context.maximum_version = maximum_version
        # OpenSSL's default security level refuses TLS below 1.2 even on a server that is
        # told to speak it; level 0 lets the test server offer it, so the client must refuse.
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def ca_pem(ca: trustme.CA) -> str:
    """The CA certificate as PEM text, as a config's tls.ca carries it."""
    return ca.cert_pem.bytes().decode()
