"""The server's settings: CLI flags over environment variables (SMTP_CONNECTOR_*) over
defaults. The README's settings table documents each one."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the server is told at start-up."""

    model_config = SettingsConfigDict(env_prefix="SMTP_CONNECTOR_", frozen=True, extra="forbid")

    address: str = Field(
        default="127.0.0.1:50051", description="host:port the gRPC server listens on"
    )
    config: Path | None = Field(default=None, description="the connector config JSON file")
    workers: int = Field(default=4, ge=1, le=256, description="threads serving RPCs")
    processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="server processes sharing the port (SO_REUSEPORT), each with its own "
        "threads and SMTP connections; one per core uses every core",
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    grace_period: float = Field(
        default=10.0, ge=0, description="seconds in-flight RPCs get on shutdown"
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="SMTP password, replacing the one in the config file"
    )
    smtp_password_file: Path | None = Field(
        default=None, description="file holding the SMTP password (trailing newline ignored)"
    )
    dev_mailbox: Path | None = Field(
        default=None, description="folder of a local development mailbox to start (.eml files)"
    )
    pool: bool = Field(
        default=True,
        description="keep SMTP connections open and reuse them (false: one connection per message)",
    )
    pool_max_connections: int = Field(
        default=5, ge=1, le=100, description="open SMTP connections per config at most"
    )
    pool_max_messages: int = Field(
        default=100, ge=1, description="messages sent on one SMTP connection before it is renewed"
    )
    pool_idle_timeout: float = Field(
        default=30.0, gt=0, description="seconds an unused pooled SMTP connection stays open"
    )
    pool_acquire_timeout: float = Field(
        default=10.0,
        gt=0,
        description="seconds a send waits for a busy pool before failing UNAVAILABLE",
    )
    dev_mailbox_address: str = Field(
        default="127.0.0.1:2525", description="host:port of the development mailbox"
    )

    def password_override(self) -> str | None:
        """The SMTP password from the environment or a file, if either is set."""
        if self.smtp_password is not None:
            return self.smtp_password.get_secret_value()
        if self.smtp_password_file is not None:
            return self.smtp_password_file.read_text(encoding="utf-8").rstrip("\r\n")
        return None


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) into its parts."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"'{address}' is not host:port")
    return host.strip("[]"), int(port)
