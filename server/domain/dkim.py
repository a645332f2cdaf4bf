"""DKIM signing of outgoing messages with dkimpy; the private key never leaves this module.

The key is read from a file or an environment variable of the server, named by the config's
``dkim`` block, and only for configs the server's operator wrote (its config file and its
profiles): an inline config from a caller could otherwise make the server read any file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import dkim
from dkim import crypto as dkim_crypto

from ..errors import FieldViolation, InvalidConfig, Reason, SmtpConnectorError
from .config import DkimConfig

# relaxed/relaxed survives the header re-folding and blank-line changes relays make.
_CANONICALIZE = (b"relaxed", b"relaxed")


class KeyAccess(Enum):
    """Whether a config may have its DKIM key read."""

    REFUSE = "refuse"  # a caller's inline config: a dkim block is an error
    SKIP = "skip"  # ValidateConfig: the block's shape is checked, no key is read
    READ = "read"  # the server's own config: the key is read and checked


@dataclass(frozen=True)
class DkimSigner:
    """Signs messages for one domain and selector."""

    domain: str
    selector: str
    headers: tuple[str, ...]
    private_key: bytes = field(repr=False)

    def sign(self, data: bytes) -> bytes:
        """The message with its DKIM-Signature header prepended."""
        try:
            signature = dkim.sign(
                data,
                self.selector.encode("ascii"),
                self.domain.encode("ascii"),
                self.private_key,
                canonicalize=_CANONICALIZE,
                include_headers=[name.encode("ascii") for name in self.headers],
                linesep=b"\r\n",
            )
        except dkim.DKIMException as exc:
            # The exception's text is dkimpy's about the message; the key is not in it, but
            # the type name is all a caller needs.
            raise SmtpConnectorError(
                f"DKIM signing failed ({type(exc).__name__}); the message was not sent",
                reason=Reason.INTERNAL,
            ) from None
        return bytes(signature) + data


def signer_for(
    config: DkimConfig | None,
    access: KeyAccess,
    environ: Mapping[str, str] = os.environ,
) -> DkimSigner | None:
    """The signer a config asks for (None without a ``dkim`` block); raises InvalidConfig
    when the key cannot be read or parsed, without ever quoting the key."""
    if config is None or access is KeyAccess.SKIP:
        return None
    if access is KeyAccess.REFUSE:
        raise _invalid(
            "dkim",
            "DKIM keys are read from the server's own files and environment, so only the "
            "server's config file (or one of its profiles) may set dkim",
        )
    return DkimSigner(
        domain=config.domain,
        selector=config.selector,
        headers=config.headers,
        private_key=_read_key(config, environ),
    )


def _read_key(config: DkimConfig, environ: Mapping[str, str]) -> bytes:
    if config.private_key_file is not None:
        where = "dkim.privateKeyFile"
        try:
            key = Path(config.private_key_file).read_bytes()
        except OSError as exc:
            raise _invalid(where, f"cannot read the key file ({exc.strerror})") from None
    else:
        where = "dkim.privateKeyEnv"
        value = environ.get(str(config.private_key_env))
        if not value:
            raise _invalid(where, f"the environment variable {config.private_key_env} is not set")
        key = value.encode("utf-8")
    # A key pasted into an environment variable often has CRLF or literal "\n" line breaks.
    key = key.replace(b"\r\n", b"\n").replace(b"\\n", b"\n").strip() + b"\n"
    try:
        dkim_crypto.parse_pem_private_key(key)
    except Exception:  # any parse failure means the same thing; its text could quote the key
        raise _invalid(where, "is not a PEM RSA private key (PKCS#1 or PKCS#8)") from None
    return key


def _invalid(field_path: str, description: str) -> InvalidConfig:
    return InvalidConfig(
        f"{field_path}: {description}", violations=(FieldViolation(field_path, description),)
    )
