"""ValidateConfig's engine: a config's problems, each with its JSON path, severity and code.

Errors make a config unusable (the schema's checks, each with its JSON path, and template
syntax errors with their line); warnings flag what is likely a mistake (the TLS flag against
the port, missing templates, typos in keys, an inline password...). JSON comments are
rejected, with the line and column of the first one: Logto's console stores plain JSON,
and the ``// your SMTP port`` of its README examples are annotations, not part of the config.

Any caller may validate, so a validation has a Budget: it stops with DeadlineExceeded once
its caller's deadline has passed or the caller has gone (checked between templates and
keys), a template over the size limit is reported instead of parsed, and the report holds
at most MAX_ISSUES issues (then one TOO_MANY_ISSUES), each message and path bounded.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import AliasChoices, BaseModel, ValidationError

from ..deadline import Deadline
from ..errors import DeadlineExceeded, InvalidConfig
from ..transport.session import create_ssl_context
from .config import (
    AuthConfig,
    DkimConfig,
    SmtpConfig,
    TemplateConfig,
    TlsConfig,
    has_line_break,
    json_path,
    normalize_locale,
    parse_mailbox,
)
from .dkim import KeyAccess
from .logto_payloads import placeholder_warning
from .logto_template import placeholders
from .mailer import LoadedConfig, load_config
from .templates import Candidate

# The usage types Logto requires a template for.
REQUIRED_USAGE_TYPES = ("Register", "SignIn", "ForgotPassword", "Generic")
# Usage types whose message carries a verification code.
CODE_USAGE_TYPES = frozenset(
    {
        *REQUIRED_USAGE_TYPES,
        "BindNewIdentifier",
        "MfaVerification",
        "BindMfa",
        "UserPermissionValidation",
        "Test",
    }
)
_STARTTLS_PORTS = frozenset({25, 587, 2525})
_IMPLICIT_TLS_PORT = 465
# Parsing only: a template's syntax is the same in every environment.
_PARSER = SandboxedEnvironment()
# The template keys that are Jinja2 sources, and those that carry the message's text.
_TEMPLATE_SOURCES = ("subject", "content", "htmlContent", "sendFrom", "replyTo")
_TEMPLATE_TEXTS = ("subject", "content", "htmlContent")
# The budgets of one validation (docs/security.md).
MAX_ISSUES = 200
MAX_MESSAGE_CHARS = 512
MAX_PATH_CHARS = 256
_MAX_KEY_CHARS = 64  # of a key named in a message
_CHECK_EVERY = 256  # keys between two looks at the deadline
# Without a deadline of its caller's, a validation gets this long.
VALIDATION_TIME_LIMIT = _LIMIT = 10.0


@dataclass
class Budget:
    """What one validation may spend: until ``deadline`` and while ``active()`` (the caller
    is still there), templates of at most ``max_template_bytes``."""

    deadline: Deadline = dataclasses.field(
        default_factory=lambda: Deadline.after(VALIDATION_TIME_LIMIT)
    )
    active: Callable[[], bool] = lambda: True
    max_template_bytes: int | None = None

    def check(self) -> None:
        """Raise DeadlineExceeded when the caller's time is up or the caller left."""
        if self.deadline.expired() or not self.active():
            raise DeadlineExceeded("the validation's deadline ran out (or its caller left)")


class _Issues:
    """The issues of a report: at most MAX_ISSUES, then a TOO_MANY_ISSUES one; an error
    beyond the cap still makes the report invalid."""

    def __init__(self) -> None:
        self.shown: list[ConfigIssue] = []
        self.hidden = 0
        self.hidden_error = False

    @property
    def full(self) -> bool:
        return len(self.shown) >= MAX_ISSUES

    def add(self, issues: Iterable[ConfigIssue]) -> None:
        """Take every issue (errors are counted even beyond the cap)."""
        for issue in issues:
            if not self.full:
                self.shown.append(_bounded_issue(issue))
            else:
                self.hidden += 1
                self.hidden_error |= issue.severity is Severity.ERROR

    def add_warnings(self, issues: Iterable[ConfigIssue]) -> None:
        """Take warnings until the cap, computing none beyond it."""
        for issue in issues:
            if self.full:
                self.hidden += 1
                return
            self.shown.append(_bounded_issue(issue))

    def has_errors(self) -> bool:
        return self.hidden_error or any(i.severity is Severity.ERROR for i in self.shown)

    def final(self) -> tuple[ConfigIssue, ...]:
        if not self.hidden:
            return tuple(self.shown)
        severity = Severity.ERROR if self.hidden_error else Severity.WARNING
        more = ConfigIssue(
            "",
            f"more than {MAX_ISSUES} issues: only the first {MAX_ISSUES} are shown; fix them "
            "and validate again",
            severity,
            "TOO_MANY_ISSUES",
        )
        return (*self.shown, more)


def _bounded_issue(issue: ConfigIssue) -> ConfigIssue:
    if len(issue.message) <= MAX_MESSAGE_CHARS and len(issue.field_path) <= MAX_PATH_CHARS:
        return issue
    return ConfigIssue(
        _cut(issue.field_path, MAX_PATH_CHARS),
        _cut(issue.message, MAX_MESSAGE_CHARS),
        issue.severity,
        issue.code,
        issue.line,
        issue.column,
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Severity(Enum):
    """Whether an issue prevents the config from being used."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config; ``code`` names the check, ``line``/``column`` (from 1) place
    it in the JSON text or, for a template syntax error, in the template (0 when unknown)."""

    field_path: str
    message: str
    severity: Severity
    code: str = "INVALID_VALUE"
    line: int = 0
    column: int = 0


@dataclass(frozen=True)
class TemplateLookup:
    """A send whose template lookup to show: its usage type and payload locale."""

    usage_type: str
    locale: str | None = None


@dataclass(frozen=True)
class Resolution:
    """A template lookup step by step; ``template_path`` is the template used, if any."""

    candidates: tuple[Candidate, ...]

    @property
    def template_path(self) -> str:
        """The JSON path of the first candidate that has a template; empty when none has."""
        return next((c.template.path for c in self.candidates if c.template is not None), "")


@dataclass(frozen=True)
class ValidationReport:
    """The result of checking a config."""

    issues: tuple[ConfigIssue, ...]
    normalized_json: str
    resolution: Resolution | None = None

    @property
    def valid(self) -> bool:
        """True when no issue is an error."""
        return not any(issue.severity is Severity.ERROR for issue in self.issues)


def _error(path: str, message: str, code: str, line: int = 0, column: int = 0) -> ConfigIssue:
    return ConfigIssue(path, message, Severity.ERROR, code, line, column)


def _warning(path: str, message: str, code: str) -> ConfigIssue:
    return ConfigIssue(path, message, Severity.WARNING, code)


def validate_config(
    text: str, lookup: TemplateLookup | None = None, budget: Budget | None = None
) -> ValidationReport:
    """Check a config the way a send would load it, and lint it, without contacting any
    server (nor reading a DKIM key); with a ``lookup``, also resolve its template. Raises
    DeadlineExceeded when the ``budget`` runs out."""
    budget = budget or Budget()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return ValidationReport((_json_error(text, exc),), "")
    if not isinstance(data, dict):
        return ValidationReport((_error("", "must be a JSON object", "INVALID_TYPE"),), "")
    issues = _Issues()
    oversized = _oversized_templates(data, budget.max_template_bytes)
    issues.add(oversized)
    budget.check()
    issues.add(_schema_errors(data))
    issues.add(_sender_errors(data))
    skipped = {issue.field_path for issue in oversized}
    issues.add(_template_syntax_errors(data, budget, skipped))
    issues.add_warnings(_lints(data, budget))
    if issues.has_errors():
        return ValidationReport(issues.final(), "")
    budget.check()
    try:
        loaded = load_config(text, key_access=KeyAccess.SKIP)
        create_ssl_context(loaded.connection)  # tls.ca, tls.cert and tls.key must load
    except InvalidConfig as exc:  # a check this module lacks; report it as it is
        issues.add(_error(v.field, v.description, "INVALID_VALUE") for v in exc.violations)
        return ValidationReport(issues.final(), "")
    issues.add(_security_warnings(loaded))
    resolution = None
    if lookup is not None:
        resolution = Resolution(loaded.templates.candidates(lookup.usage_type, lookup.locale))
    return ValidationReport(issues.final(), loaded.config.redacted_json(), resolution)


def _oversized_templates(data: dict[str, Any], max_bytes: int | None) -> list[ConfigIssue]:
    """A template whose sources weigh more than ``max_bytes`` UTF-8 bytes, as an error (a
    send refuses it too); it is not parsed."""
    if max_bytes is None:
        return []
    return [
        _error(
            f"templates[{index}]",
            f"is larger than {max_bytes} bytes (the server's max_template_bytes)",
            "TEMPLATE_TOO_LARGE",
        )
        for index, template in _templates(data)
        if sum(
            len(source.encode())
            for key in _TEMPLATE_SOURCES
            if isinstance(source := template.get(key), str)
        )
        > max_bytes
    ]


def _security_warnings(loaded: LoadedConfig) -> list[ConfigIssue]:
    """Settings that work but weaken the connection's security, said out loud."""
    config = loaded.config
    issues = []
    if not config.tls.reject_unauthorized:
        issues.append(
            _warning(
                "tls.rejectUnauthorized",
                "the server's certificate is not verified: anyone on the network path can "
                "read the mail and the credentials; prefer tls.ca for a private CA",
                "CERTIFICATE_NOT_VERIFIED",
            )
        )
    if config.allow_plaintext_auth:
        issues.append(
            _warning(
                "allowPlaintextAuth",
                "credentials may be sent over an unencrypted connection",
                "PLAINTEXT_AUTH_ALLOWED",
            )
        )
    return issues


# -- errors ----------------------------------------------------------------------------------


def _json_error(text: str, exc: json.JSONDecodeError) -> ConfigIssue:
    comment = find_comment(text)
    if comment is not None:
        line, column = comment
        return _error(
            "",
            f"JSON does not allow comments (line {line} column {column}): remove it; the "
            "'// ...' in Logto's README examples explain the fields and are not part of a config",
            "JSON_COMMENT",
            line,
            column,
        )
    return _error(
        "",
        f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        "JSON_SYNTAX",
        exc.lineno,
        exc.colno,
    )


def find_comment(text: str) -> tuple[int, int] | None:
    """The line and column (from 1) of the first ``//`` or ``/*`` outside a JSON string."""
    in_string = escaped = False
    line, column = 1, 0
    for index, char in enumerate(text):
        column += 1
        if char == "\n":
            line, column = line + 1, 0
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "/" and text[index + 1 : index + 2] in ("/", "*"):
            return line, column
    return None


def _sender_errors(data: dict[str, Any]) -> list[ConfigIssue]:
    """fromEmail loads as any one-line text (as in Logto); it must be an address to send."""
    sender = data.get("fromEmail")
    if not isinstance(sender, str) or not sender or has_line_break(sender):
        return []  # missing, ill-typed or multi-line: the schema reports it
    try:
        parse_mailbox(sender)
    except ValueError as exc:
        return [_error("fromEmail", f"{exc}; sends fail until it is fixed", "BAD_EMAIL")]
    return []


def _schema_errors(data: dict[str, Any]) -> list[ConfigIssue]:
    try:
        SmtpConfig.model_validate(data)
    except ValidationError as exc:
        return [_schema_issue(item) for item in exc.errors(include_url=False)]
    return []


def _schema_issue(item: Any) -> ConfigIssue:
    loc = tuple(p for p in item["loc"] if isinstance(p, int) or not str(p).startswith("function"))
    path, kind = json_path(loc), item["type"]
    message = str(item["msg"]).removeprefix("Value error, ")
    last = str(loc[-1]) if loc else ""
    if kind == "missing":
        return _error(path, "required field is missing", "MISSING_FIELD")
    if last == "port" and kind in ("greater_than_equal", "less_than_equal"):
        message = "port must be between 1 and 65535 (or 0: 587, or 465 with secure: true)"
        return _error(path, message, "PORT_OUT_OF_RANGE")
    if last == "contentType" and kind == "value_error":
        return _error(path, f"contentType is {message}", "MISSING_FIELD")
    if last == "contentType":
        message = "unknown contentType: use text/plain, text/html or multipart/alternative"
        return _error(path, message, "UNKNOWN_CONTENT_TYPE")
    if last in ("fromEmail", "replyTo") and kind == "value_error":
        return _error(path, message, "BAD_EMAIL")
    if kind.endswith(("_type", "_parsing")):
        return _error(path, message, "INVALID_TYPE")
    return _error(path, message, "INVALID_VALUE")


def _templates(data: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    templates = data.get("templates")
    if isinstance(templates, list):
        for index, template in enumerate(templates):
            if isinstance(template, dict):
                yield index, template


def _uses_jinja2(data: dict[str, Any], template: dict[str, Any]) -> bool:
    """Whether a template is read by Jinja2 (its own templateEngine, else the config's)."""
    engine = template.get("templateEngine") or data.get("templateEngine")
    return engine == "jinja2"


def _template_syntax_errors(
    data: dict[str, Any], budget: Budget, skipped: set[str]
) -> list[ConfigIssue]:
    """Jinja2 syntax errors; under Logto's rules every text is a valid template."""
    issues = []
    for index, template in _templates(data):
        if f"templates[{index}]" in skipped or not _uses_jinja2(data, template):
            continue
        budget.check()
        for key in _TEMPLATE_SOURCES:
            source = template.get(key)
            if not isinstance(source, str):
                continue
            try:
                _PARSER.parse(source)
            except jinja2.TemplateSyntaxError as exc:
                issues.append(
                    _error(
                        f"templates[{index}].{key}",
                        f"template syntax error on line {exc.lineno} of the {key}: {exc.message}",
                        "TEMPLATE_SYNTAX",
                        line=exc.lineno,
                    )
                )
    return issues


# -- warnings --------------------------------------------------------------------------------


def _lints(data: dict[str, Any], budget: Budget) -> Iterator[ConfigIssue]:
    """Every warning, computed as it is taken (the report stops taking them at its cap)."""
    yield from _port_tls(data)
    yield from _template_lints(data, budget)
    yield from _unknown_keys(data, SmtpConfig, "", budget)
    yield from _inline_password(data)
    yield from _oauth2_without_type(data)


_OAUTH2_KEYS = ("serviceClient", "privateKey", "accessToken", "refreshToken", "clientId")


def _oauth2_without_type(data: dict[str, Any]) -> list[ConfigIssue]:
    """OAuth2 keys in an ``auth`` without ``type: OAuth2``: nodemailer (so Logto too) then
    reads it as a password login, which fails without a password."""
    auth = data.get("auth")
    if not isinstance(auth, dict) or str(auth.get("type", "login")).lower() == "oauth2":
        return []
    keys = [key for key in _OAUTH2_KEYS if key in auth]
    if not keys:
        return []
    return [
        _warning(
            "auth.type",
            f'auth has {", ".join(keys)} but no "type": "OAuth2": as in nodemailer, it is '
            "read as a login with user and pass, so those keys are ignored; add "
            '"type": "OAuth2"',
            "OAUTH2_TYPE_MISSING",
        )
    ]


def _port_tls(data: dict[str, Any]) -> list[ConfigIssue]:
    port, secure = data.get("port"), data.get("secure") is True
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if data.get("ignoreTLS") is True and (secure or data.get("requireTLS") is True):
        return [_ignore_tls_warning(secure)]
    # Unset, secure follows the port (nodemailer: TLS from the first byte on 465 only).
    if port == _IMPLICIT_TLS_PORT and data.get("secure") is False:
        return [
            _warning(
                "secure",
                "port 465 expects TLS from the first byte: set secure to true (or the connection "
                "will wait for a greeting that never comes)",
                "PORT_TLS_MISMATCH",
            )
        ]
    if port in _STARTTLS_PORTS and secure:
        return [
            _warning(
                "secure",
                f"port {port} starts in plain text and upgrades with STARTTLS: set secure to "
                "false (and requireTLS to true); secure: true is for port 465",
                "PORT_TLS_MISMATCH",
            )
        ]
    if secure and data.get("requireTLS") is True:
        return [
            _warning(
                "requireTLS",
                "requireTLS has no effect with secure: true (TLS starts with the first byte)",
                "REDUNDANT_TLS_FLAG",
            )
        ]
    return []


def _ignore_tls_warning(secure: bool) -> ConfigIssue:
    if secure:
        message = (
            "ignoreTLS has no effect with secure: true (TLS starts with the first byte; "
            "ignoreTLS only skips STARTTLS)"
        )
    else:
        message = (
            "ignoreTLS wins over requireTLS, as in nodemailer: STARTTLS is never tried and "
            "the mail travels unencrypted; remove ignoreTLS to require TLS"
        )
    return _warning("ignoreTLS", message, "CONTRADICTORY_TLS_FLAGS")


def _template_lints(data: dict[str, Any], budget: Budget) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    first_of: dict[tuple[str, str], int] = {}
    for index, template in _templates(data):
        budget.check()
        usage, locale = template.get("usageType"), template.get("locale") or ""
        if not isinstance(usage, str) or not isinstance(locale, str):
            continue
        key = (usage, normalize_locale(locale))
        if key in first_of:
            which = f"'{usage}' template" + (f" for locale '{locale}'" if locale else "")
            issues.append(
                _warning(
                    f"templates[{index}].usageType",
                    f"a second {which}: only the first (templates[{first_of[key]}]) is used; "
                    "remove or rename this one",
                    "DUPLICATE_USAGE_TYPE",
                )
            )
            continue
        first_of[key] = index
        if template.get("subject") == "":
            issues.append(
                _warning(
                    f"templates[{index}].subject",
                    f"the '{usage}' template has an empty subject: the message goes out with "
                    "a blank Subject (Logto sends it so too), which spam filters score badly",
                    "EMPTY_SUBJECT",
                )
            )
        if not _uses_jinja2(data, template):
            issues += _placeholder_lints(index, usage, template)
        if usage in CODE_USAGE_TYPES and not _uses_code(data, template):
            issues.append(
                _warning(
                    f"templates[{index}].content",
                    f"the '{usage}' template never shows the verification code: add {{{{code}}}}",
                    "CODE_NOT_USED",
                )
            )
    if isinstance(data.get("templates"), list):
        issues += [
            _warning(
                "templates",
                f"no '{usage}' template: Logto requires one for each of "
                f"{', '.join(REQUIRED_USAGE_TYPES)}",
                "MISSING_TEMPLATE",
            )
            for usage in REQUIRED_USAGE_TYPES
            if usage not in {usage for usage, _ in first_of}
        ]
    return issues


def _placeholder_lints(index: int, usage: str, template: dict[str, Any]) -> list[ConfigIssue]:
    """Placeholders that no payload Logto sends for this usage type fills, and what goes
    out in their place."""
    issues = []
    for key in _TEMPLATE_SOURCES:
        source = template.get(key)
        if not isinstance(source, str):
            continue
        for path in dict.fromkeys(placeholders(source)):
            message = placeholder_warning(usage, path)
            if message is not None:
                issues.append(
                    _warning(f"templates[{index}].{key}", message, "PLACEHOLDER_NOT_FILLED")
                )
    return issues


def _uses_code(data: dict[str, Any], template: dict[str, Any]) -> bool:
    """Whether the subject or a body refers to ``code`` (or ``link``, for magic links)."""
    names: set[str] = set()
    for key in _TEMPLATE_TEXTS:
        source = template.get(key)
        if isinstance(source, str) and not _uses_jinja2(data, template):
            names |= {path.split(".", 1)[0] for path in placeholders(source)}
        elif isinstance(source, str):
            try:
                names |= meta.find_undeclared_variables(_PARSER.parse(source))
            except jinja2.TemplateSyntaxError:
                return True  # reported as an error already
    return bool(names & {"code", "link"})


_NESTED: dict[str, type[BaseModel]] = {"auth": AuthConfig, "tls": TlsConfig, "dkim": DkimConfig}


def _known_keys(model: type[BaseModel]) -> tuple[set[str], list[str]]:
    """Every key a model accepts, and the camelCase ones that Logto's JSON uses."""
    accepted, camel = set(), []
    for name, field in model.model_fields.items():
        if isinstance(field.validation_alias, AliasChoices):
            choices = [str(choice) for choice in field.validation_alias.choices]
        else:
            choices = [field.alias or name, name]
        accepted |= set(choices)
        camel.append(choices[0])
    return accepted, sorted(camel)


def _guess(key: str, names: list[str]) -> str:
    if len(key) > _MAX_KEY_CHARS:
        return ""
    same = [name for name in names if name.lower() == key.lower()]
    close = same or difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return f": did you mean '{close[0]}'?" if close else ""


def _unknown_keys(
    data: dict[str, Any], model: type[BaseModel], prefix: str, budget: Budget
) -> Iterator[ConfigIssue]:
    accepted, camel = _known_keys(model)
    for count, (key, value) in enumerate(data.items()):
        if count % _CHECK_EVERY == 0:
            budget.check()
        path = f"{prefix}.{key}" if prefix else key
        if key not in accepted:
            message = f"unknown key '{_cut(key, _MAX_KEY_CHARS)}' is ignored{_guess(key, camel)}"
            yield _warning(path, message, "UNKNOWN_KEY")
        elif model is SmtpConfig and key in _NESTED and isinstance(value, dict):
            yield from _unknown_keys(value, _NESTED[key], path, budget)
    if model is SmtpConfig:
        for index, template in _templates(data):
            yield from _unknown_keys(template, TemplateConfig, f"templates[{index}]", budget)


def _inline_password(data: dict[str, Any]) -> list[ConfigIssue]:
    auth = data.get("auth")
    candidates = [("password", data.get("password"))]
    if isinstance(auth, dict):
        candidates.append(("auth.pass", auth.get("pass")))
    return [
        _warning(
            path,
            "the password is kept inline in the config: start the server with "
            "SMTP_CONNECTOR_SMTP_PASSWORD or --smtp-password-file instead, and leave it empty",
            "INLINE_PASSWORD",
        )
        for path, value in candidates
        if isinstance(value, str) and value
    ]
