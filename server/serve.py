"""The ``smtp-connector serve`` command: its flags, each with the setting's default in its help
(settings.py holds them), and the server's start. ``client/cli.py`` hands ``serve`` here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from .app import serve
from .errors import InvalidRequest
from .settings import Settings, setting_default

# The serve flags: (setting, type, help, what the default means). Each flag is --setting-name
# and defaults to the environment variable SMTP_CONNECTOR_SETTING_NAME (the README's table),
# then to the setting's default, which the help shows unless the meaning is None.
# Bearer tokens have no flag: a command line is visible to every user of the machine.
_FLAGS: tuple[tuple[str, Any, str, str | None], ...] = (
    ("config", str, "connector config JSON file", None),
    ("address", str, "listen on host:port", ""),
    ("workers", int, "RPCs running Python code at once", ""),
    ("send_threads", int, "threads carrying RPCs, sends waiting on the network included", ""),
    ("processes", int, "server processes on one port", ""),
    ("log_level", str, "DEBUG, INFO, WARNING or ERROR", None),
    ("grace_period", float, "seconds to drain on SIGTERM", ""),
    ("smtp_password_file", str, "file holding the SMTP password", None),
    ("dev_mailbox", str, "start a local mailbox storing .eml files here", None),
    ("dev_mailbox_address", str, "host:port of the mailbox", ""),
    ("pool_max_connections", int, "SMTP connections per config at most", ""),
    ("pool_max_messages", int, "messages per SMTP connection at most", ""),
    ("pool_idle_timeout", float, "seconds an idle SMTP connection stays open", ""),
    ("pool_keep_warm", bool, "keep one SMTP connection per config open and checked", ""),
    ("pool_noop_interval", float, "seconds between NOOPs on the warm connection", ""),
    ("tls_cert_file", str, "PEM certificate chain: serve TLS", None),
    ("tls_key_file", str, "PEM private key of the certificate", None),
    ("tls_client_ca_file", str, "PEM CA bundle: require client certificates (mTLS)", None),
    ("auth_tokens_file", str, "file of accepted bearer tokens, one a line", None),
    ("reflection", bool, "serve gRPC reflection", ""),
    ("allow_inline_config", bool, "accept config_json in requests", ""),
    ("inline_allowed_hosts", str, "comma-separated host patterns for inline configs", ""),
    ("inline_allowed_ports", str, "comma-separated ports for inline configs", ""),
    ("inline_allowed_networks", str, "comma-separated CIDRs inline configs may reach anyway", None),
    ("max_request_bytes", int, "largest request", ""),
    ("max_template_bytes", int, "largest template", ""),
    ("max_payload_depth", int, "deepest payload nesting", ""),
    ("max_concurrent_rpcs", int, "service RPCs running or waiting at once", "= 64 x workers"),
    ("rate_limit", float, "RPCs per second per caller", "= off"),
    ("rate_limit_burst", int, "rate-limit bucket size", ""),
    ("keepalive_time", float, "seconds before pinging an idle client", ""),
    ("keepalive_timeout", float, "seconds to wait for a ping answer", ""),
    ("keepalive_min_ping_interval", float, "shortest client ping interval tolerated", ""),
    ("max_connection_age", float, "seconds before asking clients to reconnect", "= never"),
    ("metrics_address", str, "host:port of the Prometheus endpoint", "off"),
    ("console", bool, "serve the local web console (mailbox, templates, test send)", ""),
    ("console_address", str, "host:port of the web console", ""),
    ("log_format", str, "text or json", ""),
)


def _shown(value: Any) -> str:
    """A default as the help shows it: 10 for 10.0, on/off for booleans, lists comma-joined."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def _help(name: str, words: str, meaning: str | None) -> str:
    env = f"SMTP_CONNECTOR_{name.upper()}"
    if meaning is None:
        return f"{words} [{env}]"
    value = setting_default(name)
    if value is None:
        return f"{words} [{env}, {meaning}]"
    shown = f"{_shown(value)} {meaning}".strip()
    return f"{words} [{env}, {shown}]"


def parser() -> argparse.ArgumentParser:
    """The serve command's flags."""
    serve_parser = argparse.ArgumentParser(
        prog="smtp-connector serve", description="run the gRPC server"
    )
    for name, kind, words, meaning in _FLAGS:
        flag = "--" + name.replace("_", "-")
        text = _help(name, words, meaning)
        if kind is bool:
            serve_parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
        else:
            serve_parser.add_argument(flag, type=kind, help=text)
    serve_parser.add_argument(
        "--no-pool",
        dest="pool",
        action="store_const",
        const=False,
        help="one SMTP connection per message [SMTP_CONNECTOR_POOL=false]",
    )
    return serve_parser


def main(argv: Sequence[str]) -> int:
    """Run ``smtp-connector serve`` with ``argv`` (the words after ``serve``); the exit status."""
    args = parser().parse_args(argv)
    flags = {name: getattr(args, name) for name, _kind, _words, _meaning in _FLAGS}
    flags["pool"] = args.pool
    try:
        settings = Settings(**{k: v for k, v in flags.items() if v is not None})
        serve(settings)
    except InvalidRequest as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for violation in exc.violations:
            print(f"  {violation.field or '(config)'}: {violation.description}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
