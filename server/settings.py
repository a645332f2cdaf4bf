"""The server's settings: CLI flags over environment variables (SMTP_CONNECTOR_*) over
defaults. The README's settings table documents each one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# A list setting is written as comma-separated words, in a flag or an environment variable.
CommaList = Annotated[list[str], NoDecode]


# The default admission limit per worker thread: at about 1 ms a send, 256 calls waiting for
# 4 workers are served within tens of milliseconds; a caller's deadline bounds the wait with a
# slow provider. Enough for 128 calls in flight from one client without refusals.
_RPCS_PER_WORKER = 64


class Settings(BaseSettings):
    """Everything the server is told at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="SMTP_CONNECTOR_", frozen=True, extra="forbid", hide_input_in_errors=True
    )

    address: str = Field(
        default="127.0.0.1:50051", description="host:port the gRPC server listens on"
    )
    config: Path | None = Field(default=None, description="the connector config JSON file")
    workers: int = Field(
        default=4,
        ge=1,
        le=256,
        description="service RPCs running Python code at once (a send waiting on a distant "
        "SMTP server lends its place); 2 more threads answer health checks and refusals",
    )
    send_threads: int = Field(
        default=128,
        ge=1,
        le=1024,
        description="threads carrying service RPCs, sends waiting on the SMTP server included; "
        "`workers` of them run Python code at once",
    )
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
        default=64,
        ge=1,
        le=100,
        description="SMTP connections per destination at most: the pool starts with 4 and "
        "opens more while sends queue on a distant server; a config's maxConnections is a "
        "hard cap below it",
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
    pool_keep_warm: bool = Field(
        default=False,
        description="keep one authenticated SMTP connection per config open (NOOP every "
        "pool_noop_interval, re-opened in the background) so the next code skips the set-up",
    )
    pool_noop_interval: float = Field(
        default=60.0,
        gt=0,
        description="seconds between NOOPs on the warm connection (below providers' idle limits)",
    )
    dev_mailbox_address: str = Field(
        default="127.0.0.1:2525", description="host:port of the development mailbox"
    )
    probe_ports: tuple[int, ...] = Field(
        default=(465, 587, 2525, 25),
        description="ports TestConnection's probe tries besides the configured one",
    )
    probe_time_limit: float = Field(
        default=10.0, gt=0, le=60, description="seconds a TestConnection probe may take in all"
    )
    # -- the mesh: listener TLS, callers, reflection ---------------------------------------
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate chain of the gRPC listener (turns TLS on)"
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of that chain")
    tls_client_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle; when set, callers need a client cert (mTLS)"
    )
    auth_tokens: SecretStr | None = Field(
        default=None, description="comma-separated bearer tokens callers must send (rotation)"
    )
    auth_tokens_file: Path | None = Field(
        default=None, description="file of bearer tokens, one a line ('#' starts a comment)"
    )
    reflection: bool = Field(default=True, description="serve gRPC server reflection")
    # -- the guard on inline configs -------------------------------------------------------
    allow_inline_config: bool = Field(
        default=False, description="accept config_json in SendMessage and TestConnection"
    )
    inline_allowed_hosts: CommaList = Field(
        default=["*"], description="host patterns (fnmatch, e.g. *.example.com) inline configs"
    )
    inline_allowed_ports: Annotated[list[int], NoDecode] = Field(
        default=[25, 465, 587, 2525], description="SMTP ports inline configs may use"
    )
    inline_allowed_networks: CommaList = Field(
        default=[], description="CIDRs allowed although private/loopback/link-local/metadata"
    )
    # -- limits ----------------------------------------------------------------------------
    max_request_bytes: int = Field(
        default=1 << 20, ge=1024, description="largest request accepted (RESOURCE_EXHAUSTED)"
    )
    max_template_bytes: int = Field(
        default=64 << 10, ge=1, description="largest template (subject + content, UTF-8 bytes)"
    )
    max_payload_depth: int = Field(
        default=8, ge=1, le=64, description="deepest nesting of a SendMessage payload"
    )
    max_concurrent_rpcs: int = Field(
        default=0,
        ge=0,
        description="service RPCs running or waiting for a worker at once, beyond: "
        "RESOURCE_EXHAUSTED; 0 = 64 x workers",
    )
    rate_limit: float = Field(
        default=0.0, ge=0, description="RPCs per second per caller (token bucket); 0 = off"
    )
    rate_limit_burst: int = Field(default=10, ge=1, description="token bucket size per caller")
    # -- keepalive -------------------------------------------------------------------------
    keepalive_time: float = Field(
        default=60.0, gt=0, description="seconds of silence before the server pings a client"
    )
    keepalive_timeout: float = Field(
        default=20.0, gt=0, description="seconds to wait for a ping's answer before closing"
    )
    keepalive_min_ping_interval: float = Field(
        default=10.0, gt=0, description="shortest client ping interval tolerated (seconds)"
    )
    max_connection_age: float = Field(
        default=0.0,
        ge=0,
        description="seconds before a connection is asked to reconnect; 0 = never",
    )
    # -- observability ---------------------------------------------------------------------
    metrics_address: str | None = Field(
        default=None, description="host:port of the Prometheus /metrics endpoint; unset = off"
    )
    log_format: Literal["text", "json"] = Field(default="text", description="text or json")

    @field_validator(
        "inline_allowed_hosts", "inline_allowed_ports", "inline_allowed_networks", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [word.strip() for word in value.split(",") if word.strip()]
        return value

    @model_validator(mode="after")
    def _check_tls_files(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be set together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mTLS) needs tls_cert_file and tls_key_file")
        return self

    def concurrency(self) -> int:
        """How many service RPCs may run or wait for a worker at once."""
        return self.max_concurrent_rpcs or _RPCS_PER_WORKER * self.workers

    def auth_token_list(self) -> list[str]:
        """Every accepted bearer token, from the variable and the file; empty = no auth."""
        tokens: list[str] = []
        if self.auth_tokens is not None:
            tokens += self.auth_tokens.get_secret_value().split(",")
        if self.auth_tokens_file is not None:
            for line in self.auth_tokens_file.read_text(encoding="utf-8").splitlines():
                tokens.append(line.split("#", 1)[0])
        return [token.strip() for token in tokens if token.strip()]

    idempotency_store: Literal["memory", "sqlite", "redis"] = Field(
        default="memory",
        description="where idempotency keys live: this process (memory), a SQLite file that "
        "survives restarts, or Redis shared by replicas",
    )
    idempotency_ttl: float = Field(
        default=86_400.0, gt=0, description="seconds a key's first outcome is replayed"
    )
    idempotency_lease: float = Field(
        default=300.0,
        gt=0,
        description="seconds a call may hold a key while sending; a claim older than this "
        "belongs to a call that died, and its outcome is reported unknown",
    )
    idempotency_max_keys: int = Field(
        default=100_000, ge=1, description="keys the memory store holds (least recent go)"
    )
    idempotency_sqlite_path: Path = Field(
        default=Path("var/idempotency.sqlite3"), description="the SQLite store's file"
    )
    idempotency_redis_url: SecretStr | None = Field(
        default=None, description="redis://[:password@]host:port/db of the Redis store"
    )

    # -- the local web console (server/console/) -------------------------------------------
    console: bool = Field(
        default=False,
        description="serve the local web console: the dev mailbox, template previews, a test send",
    )
    console_address: str = Field(
        default="127.0.0.1:8025",
        description="host:port of the web console; beyond loopback it needs bearer tokens",
    )

    def password_override(self) -> str | None:
        """The SMTP password from the environment or a file, if either is set."""
        if self.smtp_password is not None:
            return self.smtp_password.get_secret_value()
        if self.smtp_password_file is not None:
            return self.smtp_password_file.read_text(encoding="utf-8").rstrip("\r\n")
        return None


def setting_default(name: str) -> Any:
    """The default of the setting ``name``: modules that need one (the pool, the probe, the
    inline guard, the serve command's help) read it here, so each is written once."""
    return Settings.model_fields[name].default


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) into its parts."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"'{address}' is not host:port")
    return host.strip("[]"), int(port)
