"""The gRPC listener's TLS: credentials from PEM files, picked up again when they change (so
a certificate rotated by cert-manager or certbot needs no restart)."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import grpc

from ..settings import Settings

log = logging.getLogger(__name__)

_Stamp = tuple[tuple[int, int], ...]


class CertificateFiles:
    """The listener's certificate chain, key and optional client CA, as files."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None) -> None:
        self.cert, self.key, self.client_ca = cert, key, client_ca
        self._stamp = self._read_stamp()

    def _paths(self) -> tuple[Path, ...]:
        return (
            (self.cert, self.key)
            if self.client_ca is None
            else (self.cert, self.key, self.client_ca)
        )

    def _read_stamp(self) -> _Stamp:
        return tuple((p.stat().st_mtime_ns, p.stat().st_size) for p in self._paths())

    def configuration(self) -> grpc.ServerCertificateConfiguration:
        """The files as they are now; ssl.SSLError or OSError when the pair does not load
        (a key that does not match its certificate, a file half written)."""
        # The standard library checks that the key matches the certificate; gRPC would only
        # fail the handshakes later.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self.cert, self.key)
        return grpc.ssl_server_certificate_configuration(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.client_ca.read_bytes() if self.client_ca else None,
        )

    def changed(self) -> grpc.ServerCertificateConfiguration | None:
        """A new configuration when the files changed and load; None to keep the current one.
        gRPC calls this before each new connection's handshake."""
        try:
            stamp = self._read_stamp()
            if stamp == self._stamp:
                return None
            configuration = self.configuration()
        except (OSError, ssl.SSLError) as exc:
            log.error("new TLS certificate files not used, the current ones stay: %s", exc)
            return None
        self._stamp = stamp
        log.info("TLS certificate files changed: new connections use the new certificate")
        return configuration


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS (mTLS with a client CA) for the listener; None for a plain listener."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    files = CertificateFiles(
        settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    )
    return grpc.dynamic_ssl_server_credentials(
        files.configuration(),
        # gRPC documents None as "keep the current certificate"; its type stubs omit it.
        files.changed,  # type: ignore[arg-type]
        require_client_authentication=settings.tls_client_ca_file is not None,
    )
