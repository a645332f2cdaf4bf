"""The service adapter: proto in, a domain call, proto or a google.rpc.Status out."""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf import struct_pb2
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from ..deadline import Deadline
from ..diagnosis.connection_test import run_connection_test
from ..diagnosis.probe import DEFAULT_PORTS, DEFAULT_TIME_LIMIT, run_probe
from ..domain.mailer import LoadedConfig, Mailer, SendRequest, load_config
from ..domain.preview import preview_message
from ..domain.profiles import Profiles
from ..domain.validation import VALIDATION_TIME_LIMIT, Budget, TemplateLookup, validate_config
from ..errors import ConfigNotLoaded, InvalidRequest, SmtpConnectorError
from ..idempotency.engine import Idempotency, open_idempotency
from ..idempotency.keys import check_key, fingerprint
from ..settings import Settings
from .convert import (
    preview_message_response,
    test_connection_response,
    validate_config_response,
)
from .status import internal_status, to_status

log = logging.getLogger(__name__)

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Handler = Callable[[Any, _Request, grpc.ServicerContext], _Response]

_INLINE_CACHE_SIZE = 64

# Who a call comes from, for what belongs to one caller ("" for an unauthenticated one).
Identify = Callable[[grpc.ServicerContext], str]


class InlineConfigGuard(Protocol):
    """Decides whether (and how) an inline ``config_json`` may be used (see guard.py)."""

    def admit(self, config_json: str, load: Callable[[str], LoadedConfig]) -> LoadedConfig: ...

    def allowed_ports(self, ports: Sequence[int]) -> tuple[int, ...]: ...


def _reporting_errors(handler: _Handler[_Request, _Response]) -> _Handler[_Request, _Response]:
    """Domain errors become their status; anything else is our bug: logged, INTERNAL."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: _Request, context: grpc.ServicerContext) -> _Response:
        try:
            return handler(self, request, context)
        except SmtpConnectorError as exc:
            log.info("%s failed: %s %s", handler.__name__, exc.reason.value, exc.message)
            context.abort_with_status(to_status(exc))
        except Exception:
            log.exception("%s: internal error", handler.__name__)
            context.abort_with_status(internal_status())
        raise AssertionError("abort_with_status returned")  # pragma: no cover

    return wrapper


def payload_to_dict(payload: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain Python values; whole numbers become ints, so a code sent as
    123456 renders as ``123456``, not ``123456.0``."""
    return {key: _plain(value) for key, value in payload.fields.items()}


def _plain(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return payload_to_dict(value.struct_value)
    if kind == "list_value":
        return [_plain(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() else number
    if kind == "null_value" or kind is None:
        return None
    return getattr(value, kind)


class SmtpConnectorServicer(pb_grpc.SmtpConnectorServiceServicer):
    """SmtpConnectorService over a Mailer and the server's own config (one, or named
    profiles)."""

    def __init__(
        self,
        mailer: Mailer,
        server_config: LoadedConfig | Profiles | None,
        *,
        probe_ports: tuple[int, ...] = DEFAULT_PORTS,
        probe_time_limit: float = DEFAULT_TIME_LIMIT,
        inline_guard: InlineConfigGuard | None = None,
        idempotency: Idempotency | None = None,
        max_template_bytes: int | None = None,
        identify: Identify = lambda context: "",
    ) -> None:
        self._mailer = mailer
        self._identify = identify
        self._max_template_bytes = max_template_bytes
        self._probe_ports = probe_ports
        self._probe_time_limit = probe_time_limit
        if isinstance(server_config, LoadedConfig):
            server_config = Profiles.single(server_config)
        # Replaced whole by a config reload (SIGHUP); readers take it once per request.
        self.profiles = server_config
        self._inline_guard = inline_guard
        self._idempotency = idempotency or open_idempotency(Settings.model_construct())
        self._load_inline = functools.lru_cache(maxsize=_INLINE_CACHE_SIZE)(load_config)

    def _config(self, config_json: str, profile: str = "") -> LoadedConfig:
        if config_json:
            if profile:
                raise InvalidRequest.for_field("profile", "set either profile or config_json")
            if self._inline_guard is not None:
                return self._inline_guard.admit(config_json, self._load_inline)
            return self._load_inline(config_json)
        profiles = self.profiles
        if profiles is None:
            raise ConfigNotLoaded(
                "the server has no config (start it with --config) and the request carries no "
                "config_json; the message was not sent"
            )
        return profiles.get(profile)

    @staticmethod
    def _deadline(context: grpc.ServicerContext) -> Deadline:
        return Deadline.after(context.time_remaining())

    @_reporting_errors
    def SendMessage(  # noqa: N802 (the generated base class names it)
        self, request: pb.SendMessageRequest, context: grpc.ServicerContext
    ) -> pb.SendMessageResponse:
        """Send one templated message; with an idempotency key, at most once per key."""
        deadline = self._deadline(context)
        if not request.idempotency_key:
            return self._send(request, deadline)
        # The key's fingerprint covers the whole request except the key itself.
        unkeyed = pb.SendMessageRequest()
        unkeyed.CopyFrom(request)
        unkeyed.ClearField("idempotency_key")
        body = self._idempotency.run(
            self._caller_key(request.idempotency_key, context),
            fingerprint(unkeyed.SerializeToString(deterministic=True)),
            deadline,
            lambda: self._send(request, deadline).SerializeToString(),
        )
        return pb.SendMessageResponse.FromString(body)

    def _caller_key(self, key: str, context: grpc.ServicerContext) -> str:
        """The idempotency key in its caller's own space: another caller's same key is
        another key, so it can neither block this one nor read its outcome."""
        check_key(key)
        identity = self._identify(context)
        if not identity:
            return key
        return hashlib.sha256(f"{identity}\n{key}".encode()).hexdigest()

    def _send(self, request: pb.SendMessageRequest, deadline: Deadline) -> pb.SendMessageResponse:
        loaded = self._config(request.config_json, request.profile)
        result = self._mailer.send(
            loaded,
            SendRequest(request.to, request.usage_type, payload_to_dict(request.payload)),
            deadline,
        )
        return pb.SendMessageResponse(
            message_id=result.message_id,
            smtp_code=result.smtp_code,
            smtp_reply=result.smtp_reply,
            accepted_recipients=result.accepted_recipients,
        )

    @_reporting_errors
    def ValidateConfig(  # noqa: N802
        self, request: pb.ValidateConfigRequest, context: grpc.ServicerContext
    ) -> pb.ValidateConfigResponse:
        """Check a config without contacting any server, within the caller's deadline (or
        the server's own limit) and only while the caller waits."""
        lookup = None
        if request.HasField("resolve"):
            lookup = TemplateLookup(request.resolve.usage_type, request.resolve.locale or None)
        remaining = context.time_remaining()
        limit = (
            VALIDATION_TIME_LIMIT if remaining is None else min(remaining, VALIDATION_TIME_LIMIT)
        )
        budget = Budget(
            Deadline.after(limit),
            context.is_active,
            self._max_template_bytes,
        )
        return validate_config_response(validate_config(request.config_json, lookup, budget))

    @_reporting_errors
    def TestConnection(  # noqa: N802
        self, request: pb.TestConnectionRequest, context: grpc.ServicerContext
    ) -> pb.TestConnectionResponse:
        """Try the config against its SMTP server and report every step."""
        loaded = self._config(request.config_json, request.profile)
        deadline = self._deadline(context)
        report = run_connection_test(loaded, deadline, request.test_recipient)
        probe = None
        if request.probe:
            ports = self._probe_ports
            if request.config_json and self._inline_guard is not None:
                # An inline config's probe stays within the ports inline configs may reach.
                ports = self._inline_guard.allowed_ports(ports)
            probe = run_probe(
                loaded.connection, deadline, ports=ports, time_limit=self._probe_time_limit
            )
        return test_connection_response(report, probe)

    @_reporting_errors
    def PreviewMessage(  # noqa: N802
        self, request: pb.PreviewMessageRequest, context: grpc.ServicerContext
    ) -> pb.PreviewMessageResponse:
        """Build the message SendMessage would send for the same request; send nothing."""
        loaded = self._config(request.config_json, request.profile)
        preview = preview_message(
            loaded, SendRequest(request.to, request.usage_type, payload_to_dict(request.payload))
        )
        return preview_message_response(preview, include_raw_message=request.include_raw_message)
