"""What a connection test learns about a server: its EHLO capabilities and its certificate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509


@dataclass(frozen=True)
class Capabilities:
    """The EHLO extensions, parsed into the facts a sender cares about."""

    extensions: tuple[str, ...]
    starttls: bool
    size_advertised: bool
    size_limit: int
    auth_mechanisms: tuple[str, ...]
    eight_bit_mime: bool
    smtputf8: bool
    pipelining: bool

    def summary(self) -> str:
        """One line for people, such as ``STARTTLS, AUTH PLAIN LOGIN, SIZE 10240000``."""
        parts = []
        for name in self.extensions:
            if name == "AUTH":
                parts.append("AUTH " + " ".join(self.auth_mechanisms))
            elif name == "SIZE" and self.size_limit:
                parts.append(f"SIZE {self.size_limit}")
            else:
                parts.append(name)
        return ", ".join(parts) or "no extensions (HELO only)"


def parse_capabilities(extensions: dict[str, str]) -> Capabilities:
    """Capabilities from smtplib's ``esmtp_features`` (lower-case names to parameters)."""
    names = tuple(sorted(name.upper() for name in extensions))
    size = extensions.get("size", "").strip()
    return Capabilities(
        extensions=names,
        starttls="STARTTLS" in names,
        size_advertised="SIZE" in names,
        size_limit=int(size) if size.isdigit() else 0,
        auth_mechanisms=tuple(extensions.get("auth", "").upper().split()),
        eight_bit_mime="8BITMIME" in names,
        smtputf8="SMTPUTF8" in names,
        pipelining="PIPELINING" in names,
    )


@dataclass(frozen=True)
class CertificateInfo:
    """A server certificate and whether it passed verification."""

    subject: str
    issuer: str
    subject_alt_names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    verified: bool
    verification_error: str = ""


def parse_certificate(der: bytes, *, verified: bool, error: str = "") -> CertificateInfo:
    """The facts of a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        subject_alt_names=tuple(names),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        verified=verified,
        verification_error=error,
    )


@dataclass(frozen=True)
class TlsInfo:
    """An encrypted connection: protocol, cipher, how it started, the server's certificate."""

    protocol: str
    cipher: str
    implicit: bool
    certificate: CertificateInfo | None
