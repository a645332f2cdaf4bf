"""The service adapter: proto in, a domain call, proto or a google.rpc.Status out."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import struct_pb2
from google.protobuf.duration_pb2 import Duration
from smtp_connector.v1 import smtp_connector_pb2 as pb
from smtp_connector.v1 import smtp_connector_pb2_grpc as pb_grpc

from .deadline import Deadline
from .diagnosis import run_connection_test
from .errors import ConfigNotLoaded, InvalidRequest, SmtpConnectorError
from .mailer import LoadedConfig, Mailer, SendRequest, load_config
from .profiles import Profiles
from .status import internal_status, to_status
from .validation import Resolution, Severity, TemplateLookup, validate_config

log = logging.getLogger(__name__)

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Handler = Callable[[Any, _Request, grpc.ServicerContext], _Response]

_SEVERITIES = {Severity.ERROR: pb.SEVERITY_ERROR, Severity.WARNING: pb.SEVERITY_WARNING}
_INLINE_CACHE_SIZE = 64


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


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return duration


def _resolution(resolution: Resolution | None) -> pb.TemplateResolution | None:
    if resolution is None:
        return None
    return pb.TemplateResolution(
        candidates=[
            pb.TemplateCandidate(
                usage_type=c.usage_type,
                locale=c.locale or "",
                template_path="" if c.template is None else c.template.path,
            )
            for c in resolution.candidates
        ],
        template_path=resolution.template_path,
    )


class SmtpConnectorServicer(pb_grpc.SmtpConnectorServiceServicer):
    """SmtpConnectorService over a Mailer and the server's own config (one, or named
    profiles)."""

    def __init__(self, mailer: Mailer, server_config: LoadedConfig | Profiles | None) -> None:
        self._mailer = mailer
        if isinstance(server_config, LoadedConfig):
            server_config = Profiles.single(server_config)
        self.profiles = server_config
        self._load_inline = functools.lru_cache(maxsize=_INLINE_CACHE_SIZE)(load_config)

    def _config(self, config_json: str, profile: str = "") -> LoadedConfig:
        if config_json:
            if profile:
                raise InvalidRequest.for_field("profile", "set either profile or config_json")
            return self._load_inline(config_json)
        if self.profiles is None:
            raise ConfigNotLoaded(
                "the server has no config (start it with --config) and the request carries no "
                "config_json; the message was not sent"
            )
        return self.profiles.get(profile)

    @staticmethod
    def _deadline(context: grpc.ServicerContext) -> Deadline:
        return Deadline.after(context.time_remaining())

    @_reporting_errors
    def SendMessage(  # noqa: N802 (the generated base class names it)
        self, request: pb.SendMessageRequest, context: grpc.ServicerContext
    ) -> pb.SendMessageResponse:
        """Send one templated message."""
        loaded = self._config(request.config_json, request.profile)
        result = self._mailer.send(
            loaded,
            SendRequest(request.to, request.usage_type, payload_to_dict(request.payload)),
            self._deadline(context),
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
        """Check a config without contacting any server."""
        lookup = None
        if request.HasField("resolve"):
            lookup = TemplateLookup(request.resolve.usage_type, request.resolve.locale or None)
        report = validate_config(request.config_json, lookup)
        return pb.ValidateConfigResponse(
            valid=report.valid,
            issues=[
                pb.ConfigIssue(
                    field_path=issue.field_path,
                    message=issue.message,
                    severity=_SEVERITIES[issue.severity],
                )
                for issue in report.issues
            ],
            normalized_config_json=report.normalized_json,
            resolution=_resolution(report.resolution),
        )

    @_reporting_errors
    def TestConnection(  # noqa: N802
        self, request: pb.TestConnectionRequest, context: grpc.ServicerContext
    ) -> pb.TestConnectionResponse:
        """Try the config against its SMTP server and report every step."""
        loaded = self._config(request.config_json, request.profile)
        report = run_connection_test(loaded, self._deadline(context), request.test_recipient)
        return pb.TestConnectionResponse(
            ok=report.ok,
            steps=[
                pb.TestStep(
                    name=step.name,
                    ok=step.ok,
                    detail=step.detail,
                    elapsed=_duration(step.elapsed),
                    smtp_code=step.smtp_code,
                )
                for step in report.steps
            ],
        )
