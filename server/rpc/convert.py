"""Connection-test, validation and preview reports as proto messages (the servicer's
translation)."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from smtp_connector.v1 import smtp_connector_pb2 as pb

from ..diagnosis.connection_test import StepResult, TestReport
from ..diagnosis.facts import Capabilities, CertificateInfo, TlsInfo
from ..diagnosis.probe import ProbeReport
from ..domain.config import ContentType
from ..domain.preview import Preview
from ..domain.templates import RenderedTemplate
from ..domain.validation import Resolution, Severity, ValidationReport
from ..transport.base import TlsMode

_SEVERITIES = {Severity.ERROR: pb.SEVERITY_ERROR, Severity.WARNING: pb.SEVERITY_WARNING}
_PROBE_MODES = {
    TlsMode.IMPLICIT: "implicit",
    TlsMode.STARTTLS_OPPORTUNISTIC: "starttls",
    TlsMode.STARTTLS_REQUIRED: "starttls_required",
    TlsMode.NONE: "none",
}


def duration(seconds: float) -> Duration:
    """Seconds as a Duration."""
    value = Duration()
    value.FromNanoseconds(round(seconds * 1e9))
    return value


def test_connection_response(
    report: TestReport, probe: ProbeReport | None = None
) -> pb.TestConnectionResponse:
    """A connection test (and its probe, if one ran) as the RPC's response."""
    response = pb.TestConnectionResponse(ok=report.ok, steps=[_step(s) for s in report.steps])
    if probe is not None:
        response.suggested_config_json = probe.suggestion
        response.probe_attempts.extend(
            pb.ProbeAttempt(
                port=a.port,
                tls_mode=_PROBE_MODES[a.tls_mode],
                ok=a.ok,
                failed_step=a.failed_step,
                detail=a.detail,
                elapsed=duration(a.elapsed),
                config_json=a.fragment,
            )
            for a in probe.attempts
        )
    return response


def _step(step: StepResult) -> pb.TestStep:
    message = pb.TestStep(
        name=step.name,
        ok=step.ok,
        detail=step.detail,
        elapsed=duration(step.elapsed),
        smtp_code=step.smtp_code,
        hint=step.hint,
        reason=step.reason,
        addresses=step.addresses,
        auth_mechanism=step.auth_mechanism,
    )
    if step.capabilities is not None:
        message.capabilities.CopyFrom(_capabilities(step.capabilities))
    if step.tls is not None:
        message.tls.CopyFrom(_tls(step.tls))
    return message


def _capabilities(caps: Capabilities) -> pb.SmtpCapabilities:
    return pb.SmtpCapabilities(
        extensions=caps.extensions,
        starttls=caps.starttls,
        size_advertised=caps.size_advertised,
        size_limit=caps.size_limit,
        auth_mechanisms=caps.auth_mechanisms,
        eight_bit_mime=caps.eight_bit_mime,
        smtputf8=caps.smtputf8,
        pipelining=caps.pipelining,
    )


def _tls(info: TlsInfo) -> pb.TlsInfo:
    message = pb.TlsInfo(protocol=info.protocol, cipher=info.cipher, implicit=info.implicit)
    if info.certificate is not None:
        message.peer_certificate.CopyFrom(_certificate(info.certificate))
    return message


def _certificate(cert: CertificateInfo) -> pb.PeerCertificate:
    not_before, not_after = Timestamp(), Timestamp()
    not_before.FromDatetime(cert.not_before)
    not_after.FromDatetime(cert.not_after)
    return pb.PeerCertificate(
        subject=cert.subject,
        issuer=cert.issuer,
        subject_alt_names=cert.subject_alt_names,
        not_before=not_before,
        not_after=not_after,
        verified=cert.verified,
        verification_error=cert.verification_error,
    )


def validate_config_response(report: ValidationReport) -> pb.ValidateConfigResponse:
    """A validation report as the RPC's response."""
    return pb.ValidateConfigResponse(
        valid=report.valid,
        issues=[
            pb.ConfigIssue(
                field_path=issue.field_path,
                message=issue.message,
                severity=_SEVERITIES[issue.severity],
                code=issue.code,
                line=issue.line,
                column=issue.column,
            )
            for issue in report.issues
        ],
        normalized_config_json=report.normalized_json,
        resolution=_resolution(report.resolution),
    )


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


def preview_message_response(
    preview: Preview, *, include_raw_message: bool
) -> pb.PreviewMessageResponse:
    """A preview as its response; the raw bytes only when asked for."""
    prepared = preview.prepared
    template, rendered = prepared.template, prepared.rendered
    assert template is not None and rendered is not None
    text_body, html_body = _bodies(rendered)
    return pb.PreviewMessageResponse(
        template=_resolution(preview.resolution),
        usage_type=rendered.usage_type,
        locale=preview.locale,
        subject=rendered.subject,
        text_body=text_body,
        html_body=html_body,
        headers=[pb.MessageHeader(name=name, value=value) for name, value in preview.headers],
        size_bytes=len(prepared.data),
        warnings=[
            pb.PreviewWarning(code=w.code, message=w.message, field_path=w.field_path)
            for w in preview.warnings
        ],
        raw_message=prepared.data if include_raw_message else b"",
        envelope_from=prepared.envelope.sender,
        envelope_recipients=prepared.envelope.recipients,
    )


def _bodies(rendered: RenderedTemplate) -> tuple[str, str]:
    """The plain-text and HTML bodies; an HTML-only message has no plain-text body."""
    if rendered.html_body is not None:
        return rendered.body, rendered.html_body
    if rendered.content_type is ContentType.HTML:
        return "", rendered.body
    return rendered.body, ""
