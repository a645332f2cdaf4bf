import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_ERROR: _ClassVar[Severity]
    SEVERITY_WARNING: _ClassVar[Severity]
SEVERITY_UNSPECIFIED: Severity
SEVERITY_ERROR: Severity
SEVERITY_WARNING: Severity

class SendMessageRequest(_message.Message):
    __slots__ = ("to", "usage_type", "payload", "config_json", "idempotency_key", "profile")
    TO_FIELD_NUMBER: _ClassVar[int]
    USAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    to: str
    usage_type: str
    payload: _struct_pb2.Struct
    config_json: str
    idempotency_key: str
    profile: str
    def __init__(self, to: _Optional[str] = ..., usage_type: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., config_json: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., profile: _Optional[str] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("message_id", "smtp_code", "smtp_reply", "accepted_recipients")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SMTP_CODE_FIELD_NUMBER: _ClassVar[int]
    SMTP_REPLY_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    smtp_code: int
    smtp_reply: str
    accepted_recipients: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, message_id: _Optional[str] = ..., smtp_code: _Optional[int] = ..., smtp_reply: _Optional[str] = ..., accepted_recipients: _Optional[_Iterable[str]] = ...) -> None: ...

class ValidateConfigRequest(_message.Message):
    __slots__ = ("config_json", "resolve")
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    RESOLVE_FIELD_NUMBER: _ClassVar[int]
    config_json: str
    resolve: TemplateLookup
    def __init__(self, config_json: _Optional[str] = ..., resolve: _Optional[_Union[TemplateLookup, _Mapping]] = ...) -> None: ...

class TemplateLookup(_message.Message):
    __slots__ = ("usage_type", "locale")
    USAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    usage_type: str
    locale: str
    def __init__(self, usage_type: _Optional[str] = ..., locale: _Optional[str] = ...) -> None: ...

class TemplateResolution(_message.Message):
    __slots__ = ("candidates", "template_path")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_PATH_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[TemplateCandidate]
    template_path: str
    def __init__(self, candidates: _Optional[_Iterable[_Union[TemplateCandidate, _Mapping]]] = ..., template_path: _Optional[str] = ...) -> None: ...

class TemplateCandidate(_message.Message):
    __slots__ = ("usage_type", "locale", "template_path")
    USAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_PATH_FIELD_NUMBER: _ClassVar[int]
    usage_type: str
    locale: str
    template_path: str
    def __init__(self, usage_type: _Optional[str] = ..., locale: _Optional[str] = ..., template_path: _Optional[str] = ...) -> None: ...

class ValidateConfigResponse(_message.Message):
    __slots__ = ("valid", "issues", "normalized_config_json", "resolution")
    VALID_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    valid: bool
    issues: _containers.RepeatedCompositeFieldContainer[ConfigIssue]
    normalized_config_json: str
    resolution: TemplateResolution
    def __init__(self, valid: _Optional[bool] = ..., issues: _Optional[_Iterable[_Union[ConfigIssue, _Mapping]]] = ..., normalized_config_json: _Optional[str] = ..., resolution: _Optional[_Union[TemplateResolution, _Mapping]] = ...) -> None: ...

class ConfigIssue(_message.Message):
    __slots__ = ("field_path", "message", "severity", "code", "line", "column")
    FIELD_PATH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    field_path: str
    message: str
    severity: Severity
    code: str
    line: int
    column: int
    def __init__(self, field_path: _Optional[str] = ..., message: _Optional[str] = ..., severity: _Optional[_Union[Severity, str]] = ..., code: _Optional[str] = ..., line: _Optional[int] = ..., column: _Optional[int] = ...) -> None: ...

class TestConnectionRequest(_message.Message):
    __slots__ = ("config_json", "test_recipient", "probe", "profile")
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    TEST_RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    config_json: str
    test_recipient: str
    probe: bool
    profile: str
    def __init__(self, config_json: _Optional[str] = ..., test_recipient: _Optional[str] = ..., probe: _Optional[bool] = ..., profile: _Optional[str] = ...) -> None: ...

class TestConnectionResponse(_message.Message):
    __slots__ = ("ok", "steps", "probe_attempts", "suggested_config_json")
    OK_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    PROBE_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    SUGGESTED_CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    steps: _containers.RepeatedCompositeFieldContainer[TestStep]
    probe_attempts: _containers.RepeatedCompositeFieldContainer[ProbeAttempt]
    suggested_config_json: str
    def __init__(self, ok: _Optional[bool] = ..., steps: _Optional[_Iterable[_Union[TestStep, _Mapping]]] = ..., probe_attempts: _Optional[_Iterable[_Union[ProbeAttempt, _Mapping]]] = ..., suggested_config_json: _Optional[str] = ...) -> None: ...

class TestStep(_message.Message):
    __slots__ = ("name", "ok", "detail", "elapsed", "smtp_code", "hint", "reason", "addresses", "capabilities", "tls", "auth_mechanism")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    SMTP_CODE_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    AUTH_MECHANISM_FIELD_NUMBER: _ClassVar[int]
    name: str
    ok: bool
    detail: str
    elapsed: _duration_pb2.Duration
    smtp_code: int
    hint: str
    reason: str
    addresses: _containers.RepeatedScalarFieldContainer[str]
    capabilities: SmtpCapabilities
    tls: TlsInfo
    auth_mechanism: str
    def __init__(self, name: _Optional[str] = ..., ok: _Optional[bool] = ..., detail: _Optional[str] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., smtp_code: _Optional[int] = ..., hint: _Optional[str] = ..., reason: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ..., capabilities: _Optional[_Union[SmtpCapabilities, _Mapping]] = ..., tls: _Optional[_Union[TlsInfo, _Mapping]] = ..., auth_mechanism: _Optional[str] = ...) -> None: ...

class SmtpCapabilities(_message.Message):
    __slots__ = ("extensions", "starttls", "size_advertised", "size_limit", "auth_mechanisms", "eight_bit_mime", "smtputf8", "pipelining")
    EXTENSIONS_FIELD_NUMBER: _ClassVar[int]
    STARTTLS_FIELD_NUMBER: _ClassVar[int]
    SIZE_ADVERTISED_FIELD_NUMBER: _ClassVar[int]
    SIZE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    AUTH_MECHANISMS_FIELD_NUMBER: _ClassVar[int]
    EIGHT_BIT_MIME_FIELD_NUMBER: _ClassVar[int]
    SMTPUTF8_FIELD_NUMBER: _ClassVar[int]
    PIPELINING_FIELD_NUMBER: _ClassVar[int]
    extensions: _containers.RepeatedScalarFieldContainer[str]
    starttls: bool
    size_advertised: bool
    size_limit: int
    auth_mechanisms: _containers.RepeatedScalarFieldContainer[str]
    eight_bit_mime: bool
    smtputf8: bool
    pipelining: bool
    def __init__(self, extensions: _Optional[_Iterable[str]] = ..., starttls: _Optional[bool] = ..., size_advertised: _Optional[bool] = ..., size_limit: _Optional[int] = ..., auth_mechanisms: _Optional[_Iterable[str]] = ..., eight_bit_mime: _Optional[bool] = ..., smtputf8: _Optional[bool] = ..., pipelining: _Optional[bool] = ...) -> None: ...

class TlsInfo(_message.Message):
    __slots__ = ("protocol", "cipher", "implicit", "peer_certificate")
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    CIPHER_FIELD_NUMBER: _ClassVar[int]
    IMPLICIT_FIELD_NUMBER: _ClassVar[int]
    PEER_CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    protocol: str
    cipher: str
    implicit: bool
    peer_certificate: PeerCertificate
    def __init__(self, protocol: _Optional[str] = ..., cipher: _Optional[str] = ..., implicit: _Optional[bool] = ..., peer_certificate: _Optional[_Union[PeerCertificate, _Mapping]] = ...) -> None: ...

class PeerCertificate(_message.Message):
    __slots__ = ("subject", "issuer", "subject_alt_names", "not_before", "not_after", "verified", "verification_error")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ALT_NAMES_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_ERROR_FIELD_NUMBER: _ClassVar[int]
    subject: str
    issuer: str
    subject_alt_names: _containers.RepeatedScalarFieldContainer[str]
    not_before: _timestamp_pb2.Timestamp
    not_after: _timestamp_pb2.Timestamp
    verified: bool
    verification_error: str
    def __init__(self, subject: _Optional[str] = ..., issuer: _Optional[str] = ..., subject_alt_names: _Optional[_Iterable[str]] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verified: _Optional[bool] = ..., verification_error: _Optional[str] = ...) -> None: ...

class ProbeAttempt(_message.Message):
    __slots__ = ("port", "tls_mode", "ok", "failed_step", "detail", "elapsed", "config_json")
    PORT_FIELD_NUMBER: _ClassVar[int]
    TLS_MODE_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    FAILED_STEP_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    port: int
    tls_mode: str
    ok: bool
    failed_step: str
    detail: str
    elapsed: _duration_pb2.Duration
    config_json: str
    def __init__(self, port: _Optional[int] = ..., tls_mode: _Optional[str] = ..., ok: _Optional[bool] = ..., failed_step: _Optional[str] = ..., detail: _Optional[str] = ..., elapsed: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., config_json: _Optional[str] = ...) -> None: ...

class PreviewMessageRequest(_message.Message):
    __slots__ = ("to", "usage_type", "payload", "config_json", "profile", "include_raw_message")
    TO_FIELD_NUMBER: _ClassVar[int]
    USAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RAW_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    to: str
    usage_type: str
    payload: _struct_pb2.Struct
    config_json: str
    profile: str
    include_raw_message: bool
    def __init__(self, to: _Optional[str] = ..., usage_type: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., config_json: _Optional[str] = ..., profile: _Optional[str] = ..., include_raw_message: _Optional[bool] = ...) -> None: ...

class PreviewMessageResponse(_message.Message):
    __slots__ = ("template", "usage_type", "locale", "subject", "text_body", "html_body", "headers", "size_bytes", "warnings", "raw_message", "envelope_from", "envelope_recipients")
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    USAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    TEXT_BODY_FIELD_NUMBER: _ClassVar[int]
    HTML_BODY_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    RAW_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FROM_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    template: TemplateResolution
    usage_type: str
    locale: str
    subject: str
    text_body: str
    html_body: str
    headers: _containers.RepeatedCompositeFieldContainer[MessageHeader]
    size_bytes: int
    warnings: _containers.RepeatedCompositeFieldContainer[PreviewWarning]
    raw_message: bytes
    envelope_from: str
    envelope_recipients: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, template: _Optional[_Union[TemplateResolution, _Mapping]] = ..., usage_type: _Optional[str] = ..., locale: _Optional[str] = ..., subject: _Optional[str] = ..., text_body: _Optional[str] = ..., html_body: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[MessageHeader, _Mapping]]] = ..., size_bytes: _Optional[int] = ..., warnings: _Optional[_Iterable[_Union[PreviewWarning, _Mapping]]] = ..., raw_message: _Optional[bytes] = ..., envelope_from: _Optional[str] = ..., envelope_recipients: _Optional[_Iterable[str]] = ...) -> None: ...

class MessageHeader(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class PreviewWarning(_message.Message):
    __slots__ = ("code", "message", "field_path")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_PATH_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field_path: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field_path: _Optional[str] = ...) -> None: ...
