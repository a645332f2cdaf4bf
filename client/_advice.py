"""What the command line says when a call could not be made, so that each message names the
fix: no server at the target (how to start one), a flag whose value does not parse."""

from __future__ import annotations

import json
from typing import Any

import grpc

from .errors import SmtpConnectorError

# gRPC's own words when no connection could be made (refused, no such host, unreachable).
_NO_CONNECTION = ("failed to connect", "errors resolving", "dns resolution failed")

START_A_SERVER = (
    "  start one: `make run` in a checkout of smtp-connector (a development server with a\n"
    "  local mailbox), or `smtp-connector serve --config FILE`;\n"
    "  or point --target (SMTP_CONNECTOR_TARGET) at one that runs"
)


class CommandError(ValueError):
    """A command cannot run as asked; the message names the flag or the step that fixes it."""


def no_server(error: SmtpConnectorError) -> bool:
    """Whether the call failed because no server could be reached at all (gRPC's own
    UNAVAILABLE, without the service's ErrorInfo, from a connection that was never made)."""
    message = error.message.lower()
    return (
        error.code is grpc.StatusCode.UNAVAILABLE
        and not error.reason
        and any(words in message for words in _NO_CONNECTION)
    )


def unreachable(target: str, error: SmtpConnectorError) -> str:
    """The first line for ``no_server`` errors: the address tried and gRPC's reason."""
    cause = error.message.rsplit(": ", 1)[-1].strip(" []")
    return f"no smtp-connector answers at {target} ({cause})"


def json_object_flag(flag: str, text: str) -> dict[str, Any]:
    """A flag's value parsed as a JSON object; CommandError, naming the flag, when it is not."""
    example = '\'{"code": "123456", "application": {"name": "Acme"}}\''
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{flag} is not valid JSON ({exc}); e.g. {flag} {example}") from exc
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise CommandError(f"{flag} must be a JSON object, not {kind}; e.g. {flag} {example}")
    return value


def read_flag_file(flag: str, path: str | None) -> str:
    """The text of the file a flag names ("" without the flag); CommandError when unreadable."""
    if not path:
        return ""
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as exc:
        raise CommandError(f"{flag} {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CommandError(f"{flag} {path}: not UTF-8 text ({exc.reason})") from exc
