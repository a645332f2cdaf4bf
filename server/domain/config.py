"""The connector config: Logto's SMTP connector JSON, parsed and validated with pydantic.

Every config that Logto's SMTP connector accepts is accepted here unchanged: the first
format (``username``/``password``, port as a number or numeric string) and the later one
(``auth``, ``secure``, ``requireTLS``, ``tls``, ``customHeaders``, nodemailer's timeouts...).
Keys Logto passes to nodemailer that have no meaning here are accepted and ignored.
"""

from __future__ import annotations

import json
import re
from email.headerregistry import Address
from email.utils import parseaddr
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import idna
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ..errors import FieldViolation, InvalidConfig

REDACTED = "********"


class Secret:
    """Field metadata: the value (each value, for a mapping) is a secret, as a SecretStr is:
    a custom header may carry an API key."""


class UrlSecrets:
    """Field metadata: a URL whose user-info and query values are secrets (``user:pass@``,
    a token endpoint's ``?client_secret=``), its scheme, host and path not."""


# Timeouts in milliseconds, as in nodemailer; ours are short enough for an interactive sign-in.
DEFAULT_CONNECTION_TIMEOUT_MS = 10_000
DEFAULT_GREETING_TIMEOUT_MS = 10_000
DEFAULT_SOCKET_TIMEOUT_MS = 20_000
_DEFAULT_TIMEOUTS_MS = {
    "connection_timeout": DEFAULT_CONNECTION_TIMEOUT_MS,
    "greeting_timeout": DEFAULT_GREETING_TIMEOUT_MS,
    "socket_timeout": DEFAULT_SOCKET_TIMEOUT_MS,
}
# nodemailer's ports: TLS from the first byte, and submission (STARTTLS).
_IMPLICIT_TLS_PORT = 465
_SUBMISSION_PORT = 587

# Headers the service writes itself; a custom header may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
_HEADER_NAME_CHARS = frozenset(chr(c) for c in range(33, 127)) - {":"}


def has_line_break(value: str) -> bool:
    """Whether a header value would let a caller start a new header. Besides CR and LF,
    the email package refuses every line boundary of ``str.splitlines`` (VT, FF, U+2028...)."""
    return "\r" in value or "\n" in value or len(value.splitlines()) > 1


def _no_line_break(value: str) -> str:
    if has_line_break(value):
        raise ValueError("must not contain a line break (CR or LF)")
    return value


# A mailbox (display name and address) fits on one header line (RFC 5322 section 2.1.1).
MAX_MAILBOX_CHARS = 998


def split_angle_addr(source: str) -> tuple[str, str] | None:
    """``Name <address>`` as its name (unquoted quotes kept) and address: the address is in
    the last pair of angle brackets, at the end (nodemailer's addressparser reads an unquoted
    comma in the name, ``Acme, Inc <a@b>``, the same way); None when ``source`` has no such
    pair. Linear in the length: the regex this replaces took quadratic time on a long run of
    blanks (issue 14, finding 2)."""
    text = source.strip()
    start = text.rfind("<")
    if start < 0 or not text.endswith(">") or ">" in text[start + 1 : -1]:
        return None
    return text[:start].rstrip(), text[start + 1 : -1]


def _name_and_addr(value: str) -> tuple[str, str] | None:
    """``Name <addr>`` whose name has no angle brackets (else the parser reads it)."""
    parts = split_angle_addr(value)
    if parts is None or "<" in parts[0] or ">" in parts[0]:
        return None
    return parts


def parse_mailbox(value: str) -> Address:
    """``Name <addr>`` or a bare address, checked for syntax. IDN domains come back in their
    ASCII (punycode) form, which every server takes; a non-ASCII local part is kept and needs
    SMTPUTF8."""
    _no_line_break(value)
    if len(value) > MAX_MAILBOX_CHARS:
        raise ValueError(f"is longer than {MAX_MAILBOX_CHARS} characters")
    parts = _name_and_addr(value)
    if parts:
        name, addr = _unquote(parts[0]), parts[1].strip()
    else:
        try:
            name, addr = parseaddr(value)
        except RecursionError:  # nested comments, "((((...": the parser recurses per level
            raise ValueError("nests its comments too deeply to be an email address") from None
    if not addr:
        raise ValueError(
            f"'{value}' is not an email address: write it as name@example.com or "
            "Name <name@example.com>"
        )
    return check_address(addr, display_name=name, written=value)


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def _split_list(value: str) -> list[str]:
    """An address list split at the commas outside quotes, angle brackets and comments."""
    parts, current, closing = [], "", ""
    for char in value:
        if closing:
            closing = "" if char == closing and not current.endswith("\\") else closing
        elif char in '"<(':
            closing = {'"': '"', "<": ">", "(": ")"}[char]
        elif char == ",":
            parts.append(current)
            current = ""
            continue
        current += char
    return [part.strip() for part in [*parts, current] if part.strip()]


def _named(part: str) -> bool:
    """Whether a list part is ``Name <address>`` with a name."""
    parts = _name_and_addr(part)
    return bool(parts and parts[0])


def parse_mailbox_list(value: str) -> tuple[Address, ...]:
    """One or more mailboxes separated by commas, read as nodemailer's addressparser reads
    them: a part that is only a name (``Acme``) belongs to the next part's display name when
    that one has both (``Acme, Inc <a@b.example>`` is one mailbox)."""
    _no_line_break(value)
    merged: list[str] = []
    for part in reversed(_split_list(value)):
        if merged and "@" not in part and _named(merged[-1]):
            merged[-1] = f"{part}, {merged[-1]}"
        else:
            merged.append(part)
    if not merged:
        raise ValueError(f"'{value}' is not an email address")
    return tuple(parse_mailbox(part) for part in reversed(merged))


def _is_special_use(domain: str) -> bool:
    name = domain.lower().rstrip(".")
    return any(name == d or name.endswith("." + d) for d in SPECIAL_USE_DOMAIN_NAMES)


def check_address(addr: str, display_name: str = "", written: str = "") -> Address:
    """The address with its domain in ASCII form; ValueError, quoting the address as
    ``written`` (with its name and brackets), when its syntax is wrong."""
    if has_line_break(addr):
        raise ValueError("must not contain a line break (CR or LF)")
    local, at, domain = addr.rpartition("@")
    # nodemailer sends from and to any host name: localhost, .local, single-label hosts and
    # IP literals ([127.0.0.1]) are what development mailboxes and internal relays use.
    # email_validator checks the syntax (no DNS); it refuses special-use names, so those are
    # checked under .test (the one it allows), which keeps every other rule.
    probe = f"{local}{at}{domain}.test" if at and _is_special_use(domain) else addr
    try:
        checked = validate_email(
            probe,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_domain_literal=True,
            test_environment=True,
            globally_deliverable=False,
        )
    except EmailNotValidError as exc:
        # email-validator's sentences end in a period; ours go on after this one.
        why = str(exc).rstrip(".")
        raise ValueError(f"'{written or addr}' is not a valid email address: {why}") from None
    ascii_domain = checked.ascii_domain
    if probe is not addr:
        ascii_domain = ascii_domain.removesuffix(".test")
    return Address(display_name, username=checked.local_part, domain=ascii_domain)


def _mailbox(value: str) -> str:
    parse_mailbox(value)
    return value


def _mailbox_list(value: str) -> str | None:
    if not value.strip():
        return None  # nodemailer sends no Reply-To for "" (Logto's console default)
    parse_mailbox_list(value)
    return value


Mailbox = Annotated[str, AfterValidator(_mailbox)]
MailboxList = Annotated[str, AfterValidator(_mailbox_list)]
HeaderText = Annotated[str, AfterValidator(_no_line_break)]


def _ehlo_name(value: str) -> str:
    """nodemailer's ``name``, as it can go in EHLO: a non-ASCII host name in its punycode
    form (servers refuse raw UTF-8 there); anything else non-ASCII is refused."""
    _no_line_break(value)
    if value.isascii():
        return value
    try:
        return idna.encode(value, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise ValueError(
            f"'{value}' is not a host name: EHLO takes an ASCII host name (or an IDN one, "
            "sent as punycode); use the host's ASCII name"
        ) from None


EhloName = Annotated[str, AfterValidator(_ehlo_name)]
# Node's tls.rejectUnauthorized: certificates are checked unless it is the boolean false
# ("false", 0 and null all leave checking on, as in Node's tls.connect).
RejectUnauthorized = Annotated[bool, BeforeValidator(lambda value: value is not False)]


def _join_pems(value: Any) -> Any:
    # Node's tls.ca takes one PEM or a list of them; one bundle of PEMs means the same here.
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "\n".join(item.strip() for item in value) or None
    return value


PemList = Annotated[str, BeforeValidator(_join_pems)]

# A BCP 47 language tag as Logto sends it (``en``, ``zh-CN``, ``pt_BR``, ``zh-Hant-TW``).
_LOCALE = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")


def normalize_locale(value: str) -> str:
    """The form locales are compared in: ``zh_CN`` and ``ZH-cn`` are both ``zh-cn``."""
    return value.strip().replace("_", "-").lower()


def _locale(value: str) -> str:
    if not _LOCALE.fullmatch(value):
        raise ValueError(f"'{value}' is not a locale such as 'en' or 'zh-CN'")
    return value


Locale = Annotated[str, AfterValidator(_locale)]


def is_template_source(value: str) -> bool:
    """Whether a config value uses Jinja syntax, so it can only be checked once rendered."""
    return "{{" in value or "{%" in value


class _Model(BaseModel):
    """camelCase keys as in Logto's JSON; unknown keys are kept (and linted), never fatal."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
        hide_input_in_errors=True,
    )


class ContentType(StrEnum):
    """The body types a template may have."""

    TEXT = "text/plain"
    HTML = "text/html"
    MULTIPART = "multipart/alternative"  # ``content`` as text plus ``htmlContent``


class TemplateEngine(StrEnum):
    """How a template's placeholders are read: Logto's rules (the default) or Jinja2's."""

    LOGTO = "logto"  # only {{ dotted.path }}; a missing value never fails (as in Logto)
    JINJA2 = "jinja2"  # conditions, filters; a missing variable fails the send


class TemplateConfig(_Model):
    """One template: the message sent for a usage type (and, optionally, a locale).

    Logto's four fields work as they are. ``htmlContent`` adds an HTML part to a plain-text
    ``content``, sent together as ``multipart/alternative``. ``sendFrom`` and ``replyTo``
    replace the config's ``fromEmail`` and ``replyTo`` and may use payload variables."""

    usage_type: str = Field(min_length=1)
    subject: str
    content: str
    # Required, as in Logto's guard (a template without it would go out in the wrong type);
    # with htmlContent it defaults to multipart/alternative.
    content_type: ContentType = ContentType.TEXT
    html_content: str | None = None
    locale: Locale | None = None
    send_from: HeaderText | None = None
    reply_to: HeaderText | None = None
    # This template's engine and HTML escaping, when they differ from the config's.
    template_engine: TemplateEngine | None = None
    html_escape: bool | None = None

    @property
    def multipart(self) -> bool:
        """Whether the message has a text and an HTML part."""
        return self.html_content is not None

    @model_validator(mode="before")
    @classmethod
    def _multipart_by_default(cls, data: Any) -> Any:
        # A config's JSON (camelCase keys) must say its contentType; code may rely on text.
        if not isinstance(data, dict) or "contentType" in data or "usageType" not in data:
            return data
        if data.get("htmlContent") is not None:
            return {**data, "contentType": ContentType.MULTIPART.value}
        return {**data, "contentType": None}  # refused below, naming the field

    @field_validator("content_type", mode="before")
    @classmethod
    def _content_type_required(cls, value: Any) -> Any:
        if value is None:
            raise ValueError(
                "required: text/plain or text/html, as in Logto (a 'type' key is not read: "
                "rename it to contentType)"
            )
        return value

    @model_validator(mode="after")
    def _check_parts(self) -> TemplateConfig:
        if self.content_type is ContentType.MULTIPART and self.html_content is None:
            raise ValueError(
                "contentType multipart/alternative needs htmlContent (the HTML part); "
                "content is the plain-text part"
            )
        if self.content_type is ContentType.HTML and self.html_content is not None:
            raise ValueError(
                "with htmlContent, content is the plain-text part: set contentType to "
                "multipart/alternative (or text/plain)"
            )
        return self

    @field_validator("send_from", "reply_to")
    @classmethod
    def _check_static_mailbox(cls, value: str | None) -> str | None:
        # A value without placeholders can be checked now; one with them after rendering.
        if value is not None and not is_template_source(value):
            parse_mailbox(value)
        return value


# Signed unless the config names its own list: what a receiver shows and what identifies it.
DEFAULT_DKIM_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "MIME-Version",
    "Content-Type",
)


class DkimConfig(_Model):
    """DKIM signing: the signing domain, the selector and where the private key is read
    from (a file or an environment variable of the server; never the config itself)."""

    domain: HeaderText = Field(min_length=1)
    selector: HeaderText = Field(min_length=1)
    private_key_file: str | None = None
    private_key_env: str | None = None
    headers: tuple[HeaderText, ...] = DEFAULT_DKIM_HEADERS

    @model_validator(mode="after")
    def _check_key_source(self) -> DkimConfig:
        if (self.private_key_file is None) == (self.private_key_env is None):
            raise ValueError("set exactly one of privateKeyFile and privateKeyEnv")
        if "from" not in {h.lower() for h in self.headers}:
            raise ValueError("headers must include From (RFC 6376 requires it)")
        return self


class PrivateKeyWithPassphrase(_Model):
    """nodemailer's ``privateKey`` as ``{key, passphrase}`` (an encrypted PEM key)."""

    key: SecretStr
    passphrase: SecretStr


class AuthConfig(_Model):
    """Logto's ``auth`` object: ``{type: "login", user, pass}`` or OAuth2 (nodemailer's):
    an access token, a refresh token (``accessUrl`` defaults to Google's token endpoint, as in
    nodemailer), or a Google service account (``serviceClient`` + ``privateKey``)."""

    type: Literal["login", "oauth2"] = "login"
    user: str = ""
    pass_: SecretStr = Field(default=SecretStr(""), alias="pass")
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    access_url: Annotated[str | None, UrlSecrets()] = None
    expires: int | float | None = None
    service_client: str | None = None
    private_key: SecretStr | PrivateKeyWithPassphrase | None = None
    scope: str | None = None
    service_request_timeout: int | float | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _lowercase_type(cls, value: Any) -> Any:
        # Logto accepts 'login' | 'Login' | 'LOGIN' and 'oauth2' | 'OAuth2' | 'OAUTH2'.
        return value.lower() if isinstance(value, str) else value

    @field_validator("access_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL of the OAuth2 token endpoint")
        return value

    @model_validator(mode="after")
    def _check_oauth2(self) -> AuthConfig:
        if self.type != "oauth2":
            return self
        if not self.user:
            raise ValueError("oauth2 needs user (the mailbox the token is for)")
        if self.service_client is not None and self.private_key is None:
            raise ValueError("a service account (serviceClient) needs privateKey")
        if self.private_key is not None:
            check_private_key(self.private_key)
        renewable = self.refresh_token is not None or self.service_client is not None
        if self.access_token is None and not renewable:
            raise ValueError(
                "oauth2 needs accessToken, a refreshToken (with clientId and clientSecret), "
                "or a service account's serviceClient and privateKey"
            )
        return self


def private_key_parts(key: SecretStr | PrivateKeyWithPassphrase) -> tuple[str, str | None]:
    """The PEM text of a ``privateKey`` and its passphrase, if any."""
    if isinstance(key, PrivateKeyWithPassphrase):
        return key.key.get_secret_value(), key.passphrase.get_secret_value()
    return key.get_secret_value(), None


def check_private_key(key: SecretStr | PrivateKeyWithPassphrase) -> None:
    """ValueError (never showing the key) unless it is an RSA private key in PEM that its
    passphrase opens: the JWT bearer grant signs with RS256."""
    pem, passphrase = private_key_parts(key)
    try:
        loaded = serialization.load_pem_private_key(
            pem.encode(), None if passphrase is None else passphrase.encode()
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError(
            "privateKey is not a PEM private key (or its passphrase does not open it): use "
            "the private_key of the service account's JSON key file"
        ) from None
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError("privateKey must be an RSA key: Google signs service-account JWTs RS256")


class TlsConfig(_Model):
    """Node's TLS options, as Logto passes them to nodemailer; the ones we honour."""

    servername: str | None = None
    reject_unauthorized: RejectUnauthorized = True
    ca: PemList | None = None
    cert: str | None = None
    key: SecretStr | None = None
    # Node's tls.passphrase: the pass phrase of an encrypted tls.key.
    passphrase: SecretStr | None = None
    min_version: str | None = None


class SmtpConfig(_Model):
    """The whole connector config."""

    host: str = Field(min_length=1)
    # 0 is nodemailer's "unset": 465 with secure, else 587.
    port: int = Field(ge=0, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    auth: AuthConfig | None = None
    # Only its line breaks are refused on load: Logto takes any string here (its README's
    # examples carry placeholders), so a bad address fails the send, not the load.
    from_email: Annotated[str, Field(min_length=1), AfterValidator(_no_line_break)]
    # One or more addresses, as nodemailer reads them; "" is none.
    reply_to: MailboxList | None = None
    templates: list[TemplateConfig]
    # A list value writes the header once per item, as nodemailer does.
    custom_headers: Annotated[dict[str, HeaderText | list[HeaderText]], Secret()] = Field(
        default_factory=dict
    )
    # Unset: TLS from the first byte on port 465 only (nodemailer's rule).
    secure: bool | None = None
    require_tls: bool = Field(
        default=False,
        validation_alias=AliasChoices("requireTLS", "require_tls"),
        serialization_alias="requireTLS",
    )
    ignore_tls: bool = Field(
        default=False,
        validation_alias=AliasChoices("ignoreTLS", "ignore_tls"),
        serialization_alias="ignoreTLS",
    )
    tls: TlsConfig = Field(default_factory=TlsConfig)
    servername: str | None = None
    name: EhloName | None = None
    # Our own keys: send credentials over an unencrypted connection (default: only to a
    # loopback peer), and the MAIL FROM address when bounces should go elsewhere than From.
    allow_plaintext_auth: bool | None = None
    envelope_from: Mailbox | None = None
    # Milliseconds, fractions allowed; 0 means the default, as nodemailer's `||` reads it.
    connection_timeout: int | float = Field(default=DEFAULT_CONNECTION_TIMEOUT_MS, ge=0)
    greeting_timeout: int | float = Field(default=DEFAULT_GREETING_TIMEOUT_MS, ge=0)
    socket_timeout: int | float = Field(default=DEFAULT_SOCKET_TIMEOUT_MS, ge=0)
    # nodemailer's pool keys: `pool: false` sends each message on its own connection; the
    # others ask for pool limits, which the server's own limits cap (0: the server's).
    pool: bool | None = None
    max_connections: int | None = Field(default=None, ge=0)
    max_messages: int | None = Field(default=None, ge=0)
    # Ours: `pipelining: false` sends a command at a time to a server that offers PIPELINING
    # (RFC 2920) but mishandles it.
    pipelining: bool = True
    # Accepted because Logto passes them to nodemailer; they change nothing here.
    dns_timeout: int | float | None = None
    local_address: str | None = None
    logger: bool | None = None
    debug: bool | None = None
    transaction_log: bool | None = None
    disable_file_access: bool | None = None
    disable_url_access: bool | None = None
    # Beyond Logto: the locale used when a payload's own has no template, and DKIM signing.
    default_locale: Locale | None = None
    dkim: DkimConfig | None = None
    # How templates read placeholders (Logto's rules unless "jinja2"), and whether payload
    # values are HTML-escaped in HTML bodies (Logto sends them raw: "htmlEscape": false).
    template_engine: TemplateEngine = TemplateEngine.LOGTO
    html_escape: bool = True

    @field_validator("templates")
    @classmethod
    def _some_template(cls, templates: list[TemplateConfig]) -> list[TemplateConfig]:
        if not templates:  # Logto's guard refuses it too: every send would fail
            raise ValueError(
                "at least one template is needed (Logto requires Register, SignIn, "
                "ForgotPassword and Generic); with none, every send fails"
            )
        return templates

    @field_validator("custom_headers")
    @classmethod
    def _check_header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        for header in headers:
            if not header or not set(header) <= _HEADER_NAME_CHARS:
                raise ValueError(f"'{header}' is not a valid header name")
            if header.lower() in RESERVED_HEADERS:
                raise ValueError(f"'{header}' is set by the service and cannot be a custom header")
        return headers

    @field_validator("connection_timeout", "greeting_timeout", "socket_timeout")
    @classmethod
    def _zero_is_the_default(cls, value: float, info: ValidationInfo) -> float:
        if value == 0:  # nodemailer: `options.connectionTimeout || CONNECTION_TIMEOUT`
            return _DEFAULT_TIMEOUTS_MS[str(info.field_name)]
        return value

    @field_validator("max_connections", "max_messages")
    @classmethod
    def _zero_is_unset(cls, value: int | None) -> int | None:
        return value or None  # nodemailer: `options.maxConnections || 5`

    @property
    def implicit_tls(self) -> bool:
        """TLS from the first byte: ``secure``, or port 465 when ``secure`` is unset (as in
        nodemailer, where ``secure`` also outranks ``ignoreTLS``, which only skips STARTTLS)."""
        return self.secure if self.secure is not None else self.port == _IMPLICIT_TLS_PORT

    @property
    def server_port(self) -> int:
        """The port connected to: ``port``, or nodemailer's default for 0 (465 or 587)."""
        if self.port:
            return self.port
        return _IMPLICIT_TLS_PORT if self.secure else _SUBMISSION_PORT

    def credentials(self) -> tuple[str, str] | None:
        """The login user and password, from ``auth`` or the older ``username``/``password``;
        None when both are empty (a relay that needs no auth)."""
        if self.auth is not None and self.auth.type == "login":
            user, password = self.auth.user, self.auth.pass_.get_secret_value()
        else:
            user = self.username or ""
            password = self.password.get_secret_value() if self.password else ""
        return (user, password) if user or password else None

    def sender(self) -> Address:
        """The From mailbox."""
        return parse_mailbox(self.from_email)

    def redacted_json(self) -> str:
        """The config with defaults filled in, as ValidateConfig shows it (``_shown``)."""
        return json.dumps(_shown(self), ensure_ascii=False, indent=2, sort_keys=True)


def _shown(value: Any) -> Any:
    """A config value as it may leave the server: the schema's secret types (SecretStr, and
    fields marked Secret or UrlSecrets) redacted, None left out, and keys outside the schema
    dropped: whether they hold a secret is unknown (they are reported by name, never by
    value)."""
    if isinstance(value, BaseModel):
        shown = {}
        for name, field in type(value).model_fields.items():
            item = getattr(value, name)
            if item is not None:
                key = field.serialization_alias or field.alias or name
                shown[key] = _shown_field(item, field.metadata)
        return shown
    if isinstance(value, SecretStr):
        return REDACTED if value.get_secret_value() else ""
    if isinstance(value, dict):
        return {key: _shown(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shown(item) for item in value]
    if isinstance(value, StrEnum):
        return value.value
    return value


def _shown_field(value: Any, metadata: list[Any]) -> Any:
    if any(isinstance(marker, Secret) for marker in metadata):
        if isinstance(value, dict):
            return {key: REDACTED for key in value}
        return REDACTED if value else ""
    if any(isinstance(marker, UrlSecrets) for marker in metadata) and isinstance(value, str):
        return redacted_url(value)
    return _shown(value)


def redacted_url(url: str) -> str:
    """``url`` with its user-info and every query value redacted."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = urlencode(
        [(key, REDACTED) for key, _ in parse_qsl(parts.query, keep_blank_values=True)],
        safe="*",
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def json_path(loc: tuple[int | str, ...]) -> str:
    """``('templates', 1, 'usageType')`` -> ``templates[1].usageType``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _violations(error: ValidationError) -> tuple[FieldViolation, ...]:
    violations = []
    for item in error.errors(include_url=False, include_input=False):
        # Drop pydantic's internal location parts (e.g. union branch or validator names).
        loc = tuple(
            p for p in item["loc"] if isinstance(p, int) or not str(p).startswith("function-")
        )
        message = item["msg"].removeprefix("Value error, ")
        violations.append(FieldViolation(json_path(loc), message))
    return tuple(violations)


# How deeply a config's JSON may nest (Logto's own nests 3 levels: templates[0].subject).
MAX_CONFIG_DEPTH = 16


def json_document(text: str) -> Any:
    """JSON text as Python values, nesting at most MAX_CONFIG_DEPTH levels; raises
    json.JSONDecodeError for bad syntax and InvalidConfig (naming where) for deeper nesting,
    which the JSON parser would otherwise answer with RecursionError."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise _too_deep("") from None
    too_deep = _deeper_than(data, MAX_CONFIG_DEPTH)
    if too_deep is not None:
        raise _too_deep(too_deep)
    return data


def _deeper_than(data: Any, limit: int) -> str | None:
    """The JSON path of a value nested deeper than ``limit`` levels, if any (iteratively:
    the check must not recurse itself)."""
    stack: list[tuple[Any, tuple[int | str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list) and len(path) >= limit:
            return json_path(path)
        if isinstance(value, dict):
            stack.extend((item, (*path, str(key))) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
    return None


def _too_deep(path: str) -> InvalidConfig:
    description = f"nests deeper than {MAX_CONFIG_DEPTH} levels"
    return InvalidConfig(
        f"config is invalid: {path or '(config)'} {description}",
        violations=(FieldViolation(path, description),),
    )


def parse_json(text: str) -> Any:
    """JSON text as Python values; raises InvalidConfig saying where the syntax is wrong
    or where it nests too deeply."""
    try:
        return json_document(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InvalidConfig(
            f"config is not valid JSON ({exc.msg} at {where})",
            violations=(FieldViolation("", f"{exc.msg} at {where}"),),
        ) from None


def parse_config(text: str) -> SmtpConfig:
    """Parse and validate a config; raises InvalidConfig naming every bad field."""
    return config_from_data(parse_json(text))


def config_from_data(data: Any) -> SmtpConfig:
    """Validate a config already parsed from JSON; raises InvalidConfig naming every bad
    field."""
    if not isinstance(data, dict):
        raise InvalidConfig(
            "config must be a JSON object",
            violations=(FieldViolation("", "must be a JSON object"),),
        )
    try:
        return SmtpConfig.model_validate(data)
    except ValidationError as exc:
        violations = _violations(exc)
        summary = "; ".join(f"{v.field or '(config)'}: {v.description}" for v in violations)
        raise InvalidConfig(f"config is invalid: {summary}", violations=violations) from None
