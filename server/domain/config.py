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

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ..errors import FieldViolation, InvalidConfig

REDACTED = "********"

# Timeouts in milliseconds, as in nodemailer; ours are short enough for an interactive sign-in.
DEFAULT_CONNECTION_TIMEOUT_MS = 10_000
DEFAULT_GREETING_TIMEOUT_MS = 10_000
DEFAULT_SOCKET_TIMEOUT_MS = 20_000

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


def parse_mailbox(value: str) -> Address:
    """``Name <addr>`` or a bare address, checked for syntax. IDN domains come back in their
    ASCII (punycode) form, which every server takes; a non-ASCII local part is kept and needs
    SMTPUTF8."""
    _no_line_break(value)
    name, addr = parseaddr(value)
    if not addr or not _is_whole(value, addr):
        raise ValueError(
            f"'{value}' is not an email address: write it as name@example.com or "
            "Name <name@example.com>"
        )
    return check_address(addr, display_name=name, written=value)


def _is_whole(value: str, addr: str) -> bool:
    """Whether the address parseaddr found is all there is besides a display name in front of
    ``<addr>`` (or a ``(comment)``): of ``not an address`` it keeps ``not``, of ``a@b.c x``
    ``a@b.c``, and the rest would be dropped unseen."""
    bare = re.sub(r"\([^()]*\)", "", value).strip()
    return bare == addr or bare.endswith(f"<{addr}>")


def check_address(addr: str, display_name: str = "", written: str = "") -> Address:
    """The address with its domain in ASCII form; ValueError, quoting the address as
    ``written`` (with its name and brackets), when its syntax is wrong."""
    if has_line_break(addr):
        raise ValueError("must not contain a line break (CR or LF)")
    try:
        # Syntax only: no DNS. `test_environment` lets the reserved .test names through, for
        # development mailboxes; the other special-use names (localhost, .local, .invalid)
        # are refused because no provider delivers to them.
        checked = validate_email(
            addr, check_deliverability=False, allow_smtputf8=True, test_environment=True
        )
    except EmailNotValidError as exc:
        # email-validator's sentences end in a period; ours go on after this one.
        why = str(exc).rstrip(".")
        raise ValueError(f"'{written or addr}' is not a valid email address: {why}") from None
    return Address(display_name, username=checked.local_part, domain=checked.ascii_domain)


def _mailbox(value: str) -> str:
    parse_mailbox(value)
    return value


Mailbox = Annotated[str, AfterValidator(_mailbox)]
HeaderText = Annotated[str, AfterValidator(_no_line_break)]

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


class TemplateConfig(_Model):
    """One template: the message sent for a usage type (and, optionally, a locale).

    Logto's four fields work as they are. ``htmlContent`` adds an HTML part to a plain-text
    ``content``, sent together as ``multipart/alternative``. ``sendFrom`` and ``replyTo``
    replace the config's ``fromEmail`` and ``replyTo`` and may use payload variables."""

    usage_type: str = Field(min_length=1)
    subject: str
    content: str
    content_type: ContentType = ContentType.TEXT
    html_content: str | None = None
    locale: Locale | None = None
    send_from: HeaderText | None = None
    reply_to: HeaderText | None = None

    @property
    def multipart(self) -> bool:
        """Whether the message has a text and an HTML part."""
        return self.html_content is not None

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


class AuthConfig(_Model):
    """Logto's ``auth`` object: ``{type: "login", user, pass}`` or OAuth2 (nodemailer's)."""

    type: Literal["login", "oauth2"] = "login"
    user: str = ""
    pass_: SecretStr = Field(default=SecretStr(""), alias="pass")
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    access_url: str | None = None
    expires: int | None = None

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
        refreshable = self.refresh_token is not None and self.access_url
        if self.access_token is None and not (refreshable and self.client_id):
            raise ValueError(
                "oauth2 needs accessToken, or clientId, refreshToken and accessUrl to get one"
            )
        return self


class TlsConfig(_Model):
    """Node's TLS options, as Logto passes them to nodemailer; the ones we honour."""

    servername: str | None = None
    reject_unauthorized: bool = True
    ca: str | None = None
    cert: str | None = None
    key: SecretStr | None = None
    min_version: str | None = None


class SmtpConfig(_Model):
    """The whole connector config."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    auth: AuthConfig | None = None
    # Only its line breaks are refused on load: Logto takes any string here (its README's
    # examples carry placeholders), so a bad address fails the send, not the load.
    from_email: Annotated[str, Field(min_length=1), AfterValidator(_no_line_break)]
    reply_to: Mailbox | None = None
    templates: list[TemplateConfig]
    custom_headers: dict[str, HeaderText] = Field(default_factory=dict)
    secure: bool = False
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
    name: str | None = None
    # Our own keys: send credentials over an unencrypted connection (default: only to a
    # loopback peer), and the MAIL FROM address when bounces should go elsewhere than From.
    allow_plaintext_auth: bool | None = None
    envelope_from: Mailbox | None = None
    connection_timeout: int = Field(default=DEFAULT_CONNECTION_TIMEOUT_MS, gt=0)
    greeting_timeout: int = Field(default=DEFAULT_GREETING_TIMEOUT_MS, gt=0)
    socket_timeout: int = Field(default=DEFAULT_SOCKET_TIMEOUT_MS, gt=0)
    # nodemailer's pool keys: `pool: false` sends each message on its own connection; the
    # others narrow the server's pool limits for this config.
    pool: bool | None = None
    max_connections: int | None = Field(default=None, ge=1, le=100)
    max_messages: int | None = Field(default=None, ge=1)
    # Ours: `pipelining: false` sends a command at a time to a server that offers PIPELINING
    # (RFC 2920) but mishandles it.
    pipelining: bool = True
    # Accepted because Logto passes them to nodemailer; they change nothing here.
    dns_timeout: int | None = None
    local_address: str | None = None
    logger: bool | None = None
    debug: bool | None = None
    transaction_log: bool | None = None
    disable_file_access: bool | None = None
    disable_url_access: bool | None = None
    # Beyond Logto: the locale used when a payload's own has no template, and DKIM signing.
    default_locale: Locale | None = None
    dkim: DkimConfig | None = None

    @field_validator("custom_headers")
    @classmethod
    def _check_header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        for header in headers:
            if not header or not set(header) <= _HEADER_NAME_CHARS:
                raise ValueError(f"'{header}' is not a valid header name")
            if header.lower() in RESERVED_HEADERS:
                raise ValueError(f"'{header}' is set by the service and cannot be a custom header")
        return headers

    @model_validator(mode="after")
    def _check_tls_flags(self) -> SmtpConfig:
        if self.ignore_tls and (self.require_tls or self.secure):
            raise ValueError("ignoreTLS contradicts requireTLS and secure: set only one of them")
        return self

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
        """The config with defaults filled in and every secret replaced by ``********``."""
        data = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return json.dumps(_redact(data), ensure_ascii=False, indent=2, sort_keys=True)


_SECRET_KEYS = frozenset({"password", "pass", "accessToken", "clientSecret", "refreshToken", "key"})


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: REDACTED if k in _SECRET_KEYS and v else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


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


def parse_json(text: str) -> Any:
    """JSON text as Python values; raises InvalidConfig saying where the syntax is wrong."""
    try:
        return json.loads(text)
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
