"""The mailer: a loaded config plus a request in, an accepted message (or a domain error) out."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from typing import Any

from pydantic import SecretStr

from ..deadline import Deadline
from ..errors import FieldViolation, InvalidRequest, InvalidSender, Reason
from ..transport.base import ConnectionSettings, Envelope, TlsMode, Transport, TransportFactory
from ..transport.oauth import (
    DEFAULT_ASSERTION_LIFETIME,
    GMAIL_SCOPE,
    GOOGLE_TOKEN_URL,
    OAuth2Credentials,
)
from ..transport.pool import transport_factory
from ..transport.slots import waiting_on_the_network
from ..transport.tls import refuse_file_paths
from .config import (
    AuthConfig,
    SmtpConfig,
    check_address,
    parse_config,
    parse_mailbox,
    parse_mailbox_list,
    private_key_parts,
)
from .dkim import DkimSigner, KeyAccess, signer_for
from .jinja_budget import RenderBudget
from .message import MessageHeaders, build_message, headers_for
from .templates import CompiledTemplate, RenderedTemplate, TemplateSet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config with everything derived from it once: compiled templates, the
    headers every message carries, the connection settings and the DKIM signer, if any."""

    config: SmtpConfig
    templates: TemplateSet
    # The headers every message carries, or why fromEmail is not an address.
    headers: MessageHeaders | str
    connection: ConnectionSettings
    dkim: DkimSigner | None = None
    envelope_from: Address | None = None  # MAIL FROM when it differs from the From header

    def sender_headers(self) -> MessageHeaders:
        """The headers every message carries; InvalidSender while ``fromEmail`` is not an
        address (the config loads, and can be tested, but sends nothing)."""
        if isinstance(self.headers, str):
            raise InvalidSender(
                f"fromEmail: {self.headers}; set it to a sender your SMTP provider accepts "
                "(often a verified address); the message was not sent",
                violations=(FieldViolation("fromEmail", self.headers),),
            )
        return self.headers


def load_config(
    text: str, *, password: str | None = None, key_access: KeyAccess = KeyAccess.REFUSE
) -> LoadedConfig:
    """Parse, validate and compile a config; ``password`` replaces the one in the JSON (it
    comes from the server's environment or a file); ``key_access`` says whether a DKIM key
    may be read (only for the server's own configs). Raises InvalidConfig."""
    return compile_config(parse_config(text), password=password, key_access=key_access)


def compile_config(
    config: SmtpConfig, *, password: str | None = None, key_access: KeyAccess = KeyAccess.REFUSE
) -> LoadedConfig:
    """Everything a parsed config needs derived once (see ``load_config``)."""
    if password is not None:
        config = _with_password(config, password)
    reply_to = config.reply_to
    try:
        headers: MessageHeaders | str = MessageHeaders(
            sender=config.sender(),
            reply_to=() if reply_to is None else parse_mailbox_list(reply_to),
            custom=_header_lines(config.custom_headers),
        )
    except ValueError as exc:
        headers = str(exc)  # a placeholder fromEmail: sends say so (sender_headers)
    bounce_to = config.envelope_from
    if key_access is not KeyAccess.READ:
        refuse_file_paths(config.tls.ca, config.tls.cert, _secret(config.tls.key))
    return LoadedConfig(
        config=config,
        templates=TemplateSet(
            config.templates,
            config.default_locale,
            engine=config.template_engine,
            html_escape=config.html_escape,
        ),
        envelope_from=parse_mailbox(bounce_to) if bounce_to else None,
        headers=headers,
        connection=connection_settings(config),
        dkim=signer_for(config.dkim, key_access),
    )


def _header_lines(headers: Mapping[str, str | list[str]]) -> tuple[tuple[str, str], ...]:
    """customHeaders as header lines: a list value gives one line per item (nodemailer's).
    An empty value gives none: Logto stores configs through clean-deep, which drops ""."""
    return tuple(
        (name, item)
        for name, value in headers.items()
        for item in (value if isinstance(value, list) else [value])
        if item
    )


def _with_password(config: SmtpConfig, password: str) -> SmtpConfig:
    secret = SecretStr(password)
    if config.auth is not None and config.auth.type == "login":
        return config.model_copy(update={"auth": config.auth.model_copy(update={"pass_": secret})})
    return config.model_copy(update={"password": secret})


def connection_settings(config: SmtpConfig) -> ConnectionSettings:
    """The transport's view of a config."""
    if config.implicit_tls:
        mode = TlsMode.IMPLICIT
    elif config.ignore_tls:
        mode = TlsMode.NONE
    elif config.require_tls:
        mode = TlsMode.STARTTLS_REQUIRED
    else:
        mode = TlsMode.STARTTLS_OPPORTUNISTIC
    credentials = config.credentials()
    tls = config.tls
    oauth2 = _oauth2_credentials(config.auth)
    if oauth2 is not None:
        credentials = None
    return ConnectionSettings(
        host=config.host,
        port=config.server_port,
        tls_mode=mode,
        servername=tls.servername or config.servername,
        verify_certificate=tls.reject_unauthorized,
        ca=tls.ca,
        client_cert=tls.cert,
        client_key=_secret(tls.key),
        client_key_passphrase=_secret(tls.passphrase),
        min_tls_version=tls.min_version,
        allow_plaintext_auth=config.allow_plaintext_auth,
        oauth2=oauth2,
        user=credentials[0] if credentials else None,
        password=credentials[1] if credentials else None,
        local_hostname=config.name,
        connect_timeout=config.connection_timeout / 1000,
        greeting_timeout=config.greeting_timeout / 1000,
        socket_timeout=config.socket_timeout / 1000,
        pool=config.pool,
        max_connections=config.max_connections,
        max_messages=config.max_messages,
        pipelining=config.pipelining,
    )


def _oauth2_credentials(auth: AuthConfig | None) -> OAuth2Credentials | None:
    if auth is None or auth.type != "oauth2":
        return None
    key, passphrase = (
        (None, None) if auth.private_key is None else private_key_parts(auth.private_key)
    )
    # nodemailer: serviceRequestTimeout in seconds, clamped to 0..3600, 0 meaning 300.
    lifetime = min(max(int(auth.service_request_timeout or 0), 0), 3600)
    return OAuth2Credentials(
        user=auth.user,
        access_token=_secret(auth.access_token),
        # nodemailer's `expires` is a timestamp in milliseconds.
        expires=auth.expires / 1000 if auth.expires else None,
        client_id=auth.client_id,
        client_secret=_secret(auth.client_secret),
        refresh_token=_secret(auth.refresh_token),
        access_url=auth.access_url or GOOGLE_TOKEN_URL,  # nodemailer's default
        service_client=auth.service_client,
        private_key=key,
        private_key_passphrase=passphrase,
        scope=auth.scope or GMAIL_SCOPE,
        assertion_lifetime=lifetime or DEFAULT_ASSERTION_LIFETIME,
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


@dataclass(frozen=True)
class SendRequest:
    """One message to send: its recipient, its template's usage type and the payload."""

    to: str
    usage_type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class SendResult:
    """A message the SMTP server accepted (2xx to the end of DATA)."""

    message_id: str
    smtp_code: int
    smtp_reply: str
    accepted_recipients: tuple[str, ...]


@dataclass(frozen=True)
class PreparedMessage:
    """A rendered message with its envelope, ready for any transport."""

    usage_type: str
    message_id: str
    envelope: Envelope
    data: bytes
    # What the message was built from (PreviewMessage shows them).
    template: CompiledTemplate | None = None
    rendered: RenderedTemplate | None = None


def prepare_message(
    loaded: LoadedConfig,
    request: SendRequest,
    budget: RenderBudget = RenderBudget(),  # noqa: B008 (frozen, so shared safely)
    deadline: Deadline = Deadline(),  # noqa: B008
) -> PreparedMessage:
    """Check the request, render its template (within ``budget`` and ``deadline``) and
    build the message and envelope."""
    if not request.to:
        raise InvalidRequest.for_field("to", "a recipient address is required")
    if not request.usage_type:
        raise InvalidRequest.for_field("usage_type", "a usage type is required")
    try:
        recipient = check_address(request.to)
    except ValueError as exc:
        raise InvalidRequest.for_field("to", str(exc), reason=Reason.INVALID_RECIPIENT) from None
    locale = request.payload.get("locale")
    template = loaded.templates.find(
        request.usage_type, locale if isinstance(locale, str) else None
    )
    rendered = template.render(request.payload, budget, deadline)
    headers = headers_for(rendered, loaded.sender_headers())
    sender = headers.sender
    envelope_sender = loaded.envelope_from or sender
    # A non-ASCII local part can only travel with SMTPUTF8; IDN domains are already ASCII.
    utf8 = not all(a.username.isascii() for a in (recipient, sender, envelope_sender))
    message = build_message(rendered, headers=headers, recipient=recipient, utf8=utf8)
    data = message.data if loaded.dkim is None else loaded.dkim.sign(message.data)
    envelope = Envelope(envelope_sender.addr_spec, (recipient.addr_spec,), smtputf8=utf8)
    return PreparedMessage(
        rendered.usage_type, message.message_id, envelope, data, template, rendered
    )


# Distinct connection settings the Mailer keeps a transport (a pool) for; beyond this the
# least recently used idle one is closed. Inline configs could otherwise grow the map forever.
MAX_TRANSPORTS = 256


class _Entry:
    """A transport and the sends using it now (an entry in use is never evicted)."""

    __slots__ = ("in_flight", "transport")

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.in_flight = 0


class Mailer:
    """Renders and sends messages, keeping one transport per distinct connection settings
    (a connection pool unless the factory says otherwise), at most ``max_transports`` of
    them: the least recently used one that no send is using is closed to make room."""

    def __init__(
        self,
        factory: TransportFactory | None = None,
        *,
        max_transports: int = MAX_TRANSPORTS,
        render_budget: RenderBudget = RenderBudget(),  # noqa: B008 (frozen, so shared safely)
    ) -> None:
        self._factory = factory or transport_factory()
        self.render_budget = render_budget
        self._max = max_transports
        self._transports: OrderedDict[ConnectionSettings, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def transport_for(self, settings: ConnectionSettings) -> Transport:
        """The transport for these settings, created on first use."""
        entry = self._checkout(settings)
        self._checkin(entry)
        return entry.transport

    def _checkout(self, settings: ConnectionSettings) -> _Entry:
        evicted: list[Transport] = []
        with self._lock:
            entry = self._transports.get(settings)
            if entry is None:
                entry = self._transports[settings] = _Entry(self._factory(settings))
            else:
                self._transports.move_to_end(settings)
            entry.in_flight += 1
            if len(self._transports) > self._max:
                for key in [k for k, e in self._transports.items() if e.in_flight == 0]:
                    evicted.append(self._transports.pop(key).transport)
                    if len(self._transports) <= self._max:
                        break
        for transport in evicted:
            transport.close()
        return entry

    def _checkin(self, entry: _Entry) -> None:
        with self._lock:
            entry.in_flight -= 1

    def send(self, loaded: LoadedConfig, request: SendRequest, deadline: Deadline) -> SendResult:
        """Render the template and send it; returns only once the server accepted it."""
        prepared = prepare_message(loaded, request, self.render_budget, deadline)
        entry = self._checkout(loaded.connection)
        try:
            waits = getattr(entry.transport, "waits_long", None)
            with waiting_on_the_network(callable(waits) and bool(waits())):
                receipt = entry.transport.send(prepared.envelope, prepared.data, deadline)
        finally:
            self._checkin(entry)
        log.info(
            "sent %s message %s: %d %s",
            prepared.usage_type,
            prepared.message_id,
            receipt.code,
            receipt.reply,
        )
        return SendResult(
            prepared.message_id, receipt.code, receipt.reply, receipt.accepted_recipients
        )

    def retire(self, settings: ConnectionSettings) -> None:
        """Close and forget the transport of connection settings no config uses any more."""
        with self._lock:
            entry = self._transports.pop(settings, None)
        if entry is not None:
            entry.transport.close()

    def close(self) -> None:
        """Close every transport."""
        with self._lock:
            entries, self._transports = list(self._transports.values()), OrderedDict()
        for entry in entries:
            entry.transport.close()
