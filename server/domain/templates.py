"""Templates: compiled once per config, looked up by usage type and locale, rendered.

Two engines. The default is Logto's own (server/logto_template.py): only ``{{ dotted.path }}``
is a placeholder, a missing value never fails a send. ``"templateEngine": "jinja2"`` (in the
config, or in one template) selects Jinja2 in its sandbox instead, with conditions, filters
and strict variables: a variable the payload lacks fails the send. Either way, payload values
are HTML-escaped in HTML bodies (``"htmlEscape": false`` turns it off), never in plain text,
subjects or mailboxes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from ..errors import (
    FieldViolation,
    InvalidConfig,
    InvalidRequest,
    Reason,
    TemplateNotFound,
    TemplateRenderFailed,
    TemplateVariableMissing,
)
from .config import ContentType, SmtpConfig, TemplateConfig, TemplateEngine, normalize_locale
from .logto_template import LogtoTemplate

GENERIC = "Generic"
# The lookup step "this usage type in whatever locale it has" (see TemplateSet).
ANY_LOCALE = "*"


class Renderable(Protocol):
    """A compiled template text of either engine."""

    def render(self, payload: Mapping[str, Any], /) -> str:
        """The text for one payload."""


class _Scope(dict[str, Any]):
    """A payload object that knows its own dotted path, to name a missing variable in full.
    (The attribute is private so the sandbox never shows it to a template.)"""

    _path: str = ""


class _MissingVariableError(jinja2.UndefinedError):
    """Raised by ``_Missing``; its message is the missing variable's dotted path."""


class _Missing(jinja2.StrictUndefined):
    """Fails on any use, naming the variable by its dotted path (``application.name``)."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = jinja2.utils.missing,
        name: str | None = None,
        exc: type[jinja2.TemplateRuntimeError] = jinja2.UndefinedError,
    ) -> None:
        # Keep the sandbox's SecurityError; plain "undefined" becomes our missing variable.
        if exc is jinja2.UndefinedError:
            exc = _MissingVariableError
        super().__init__(hint, obj, name, exc)

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name = str(self._undefined_name)
        owner = self._undefined_obj
        if isinstance(owner, _Scope) and owner._path:
            return f"{owner._path}.{name}"
        return name


# A template comes with the caller's config: `*` and `**` must not build values no message
# needs (`{{ code * 10**9 }}` would take gigabytes, `{{ 9**9**9 }}` minutes).
_MAX_PRODUCT_ITEMS = 1_000_000
_MAX_POWER_BITS = 4096


def _too_large(operator: str, left: Any, right: Any) -> bool:
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
                return len(seq) * times > _MAX_PRODUCT_ITEMS
        return False
    if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
        return right * abs(left).bit_length() > _MAX_POWER_BITS
    return False


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with payload keys winning over dict methods: ``{{ data.items }}`` is the
    payload's ``items``, not ``dict.items``; and with `*` and `**` bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, _Scope) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if _too_large(operator, left, right):
            raise SecurityError(f"'{operator}' would build a value too large for a message")
        return super().call_binop(context, operator, left, right)


def _environment(autoescape: bool) -> SandboxedEnvironment:
    return _Sandbox(
        undefined=_Missing,
        autoescape=autoescape,
        keep_trailing_newline=True,
        auto_reload=False,
    )


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


@dataclass(frozen=True)
class RenderedMailbox:
    """A templated ``sendFrom``/``replyTo`` as rendered: not yet checked (the message builder
    validates it, so a payload can never add a header or a second address)."""

    display_name: str
    address: str


@dataclass(frozen=True)
class RenderedTemplate:
    """A template's subject and body, rendered for one payload. A multipart template has
    ``body`` as its plain-text part and ``html_body`` as its HTML part."""

    usage_type: str
    subject: str
    body: str
    content_type: ContentType
    html_body: str | None = None
    locale: str | None = None
    send_from: RenderedMailbox | None = None
    reply_to: RenderedMailbox | None = None


@dataclass(frozen=True)
class MailboxTemplate:
    """A templated mailbox, ``Name <address>``, compiled as two parts: whatever a payload
    puts in the name stays in the name."""

    display_name: Renderable
    address: Renderable

    def render(self, scope: Mapping[str, Any]) -> RenderedMailbox:
        """Both parts rendered (and stripped of surrounding blanks)."""
        name = self.display_name.render(scope).strip()
        return RenderedMailbox(name, self.address.render(scope).strip())


@dataclass(frozen=True)
class CompiledTemplate:
    """A template ready to render; ``index`` is its position in the config's templates."""

    usage_type: str
    content_type: ContentType
    subject: Renderable
    content: Renderable
    index: int = 0
    locale: str | None = None
    html_content: Renderable | None = None
    send_from: MailboxTemplate | None = None
    reply_to: MailboxTemplate | None = None
    engine: TemplateEngine = TemplateEngine.LOGTO

    @property
    def path(self) -> str:
        """Its JSON path in the config, such as ``templates[2]``."""
        return f"templates[{self.index}]"

    def render(self, payload: Mapping[str, Any]) -> RenderedTemplate:
        """Render subject, bodies and mailboxes. Under Jinja2, a variable the payload lacks
        raises TemplateVariableMissing, anything the sandbox refuses TemplateRenderFailed;
        Logto's rules never fail."""
        scope = payload if self.engine is TemplateEngine.LOGTO else _as_scope(payload, "")
        try:
            return RenderedTemplate(
                usage_type=self.usage_type,
                subject=self.subject.render(scope),
                body=self.content.render(scope),
                content_type=self.content_type,
                html_body=None if self.html_content is None else self.html_content.render(scope),
                locale=self.locale,
                send_from=None if self.send_from is None else self.send_from.render(scope),
                reply_to=None if self.reply_to is None else self.reply_to.render(scope),
            )
        except _MissingVariableError as exc:
            raise TemplateVariableMissing(str(exc)) from None
        except jinja2.TemplateError as exc:
            raise TemplateRenderFailed(
                f"template '{self.usage_type}' failed to render: {exc}; the message was not sent"
            ) from None
        except (ArithmeticError, LookupError, TypeError, ValueError, RecursionError) as exc:
            # The template's own runtime error ({{ 1 / 0 }}, {% include %} without a
            # loader, a range too large): the config must change, it is not our bug.
            raise TemplateRenderFailed(
                f"template '{self.usage_type}' failed to render: {type(exc).__name__}: {exc}; "
                "the message was not sent"
            ) from None


def _as_scope(value: Mapping[str, Any], path: str) -> _Scope:
    scope = _Scope()
    scope._path = path
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        scope[key] = _as_scope(item, child) if isinstance(item, Mapping) else item
    return scope


@dataclass(frozen=True)
class _Compiler:
    """Compiles one template's texts with its engine; ``html`` says the text is an HTML body
    (escaped values), ``field`` names it in a syntax error (Jinja2 only)."""

    engine: TemplateEngine
    html_escape: bool

    def __call__(self, source: str, field: str, *, html: bool = False) -> Renderable:
        if self.engine is TemplateEngine.LOGTO:
            return LogtoTemplate(source, html_escape=html and self.html_escape)
        return _compile(_HTML if html and self.html_escape else _TEXT, source, field)


def compile_template(
    template: TemplateConfig,
    index: int,
    *,
    engine: TemplateEngine = TemplateEngine.LOGTO,
    html_escape: bool = True,
) -> CompiledTemplate:
    """Compile one template with its own engine and escaping, or else the config's (given
    here); a Jinja2 syntax error raises InvalidConfig naming the field and line."""
    path = f"templates[{index}]"
    engine = template.template_engine or engine
    compiler = _Compiler(
        engine, html_escape if template.html_escape is None else template.html_escape
    )
    html = template.html_content
    return CompiledTemplate(
        usage_type=template.usage_type,
        content_type=ContentType.MULTIPART if template.multipart else template.content_type,
        subject=compiler(template.subject, f"{path}.subject"),
        content=compiler(
            template.content, f"{path}.content", html=template.content_type is ContentType.HTML
        ),
        index=index,
        locale=template.locale,
        html_content=None if html is None else compiler(html, f"{path}.htmlContent", html=True),
        send_from=_compile_mailbox(compiler, template.send_from, f"{path}.sendFrom"),
        reply_to=_compile_mailbox(compiler, template.reply_to, f"{path}.replyTo"),
        engine=engine,
    )


# ``Name <address>``: the address is in the last pair of angle brackets.
_NAME_AND_ADDRESS = re.compile(r"(?P<name>.*?)\s*<(?P<address>[^<>]*)>\s*", re.DOTALL)


def _compile_mailbox(compiler: _Compiler, source: str | None, field: str) -> MailboxTemplate | None:
    if source is None:
        return None
    match = _NAME_AND_ADDRESS.fullmatch(source.strip())
    name, address = (match["name"], match["address"]) if match else ("", source)
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1]  # the quotes belong to the syntax; the builder re-quotes as needed
    return MailboxTemplate(compiler(name, field), compiler(address, field))


def _compile(env: SandboxedEnvironment, source: str, field: str) -> jinja2.Template:
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        description = f"template syntax error on line {exc.lineno}: {exc.message}"
        raise InvalidConfig(
            f"{field}: {description}", violations=(FieldViolation(field, description),)
        ) from None


def locale_chain(locale: str | None, default_locale: str | None = None) -> tuple[str | None, ...]:
    """The locales to try, in order: the requested one, then its shorter forms (``zh-Hant-TW``,
    ``zh-Hant``, ``zh``), then the default locale and its shorter forms, then None (the
    template without a locale). Locales come back normalized (``zh-cn``)."""
    chain: list[str | None] = []
    for tag in (locale, default_locale):
        if not tag:
            continue
        parts = normalize_locale(tag).split("-")
        for end in range(len(parts), 0, -1):
            candidate = "-".join(parts[:end])
            if candidate not in chain:
                chain.append(candidate)
    chain.append(None)
    return tuple(chain)


@dataclass(frozen=True)
class Candidate:
    """One step of a template lookup: a usage type and locale, and the template found there."""

    usage_type: str
    locale: str | None
    template: CompiledTemplate | None


class TemplateSet:
    """A config's templates, compiled once, looked up by usage type and locale."""

    def __init__(
        self,
        templates: Iterable[TemplateConfig],
        default_locale: str | None = None,
        *,
        engine: TemplateEngine = TemplateEngine.LOGTO,
        html_escape: bool = True,
    ) -> None:
        self.default_locale = default_locale
        self._by_key: dict[tuple[str, str | None], CompiledTemplate] = {}
        for index, template in enumerate(templates):
            locale = None if template.locale is None else normalize_locale(template.locale)
            # Like Logto, the first template of a usage type (and locale) wins.
            if (template.usage_type, locale) not in self._by_key:
                self._by_key[template.usage_type, locale] = compile_template(
                    template, index, engine=engine, html_escape=html_escape
                )
        self._usage_types = frozenset(usage for usage, _ in self._by_key)
        # A usage type whose templates all have a locale still has a first one (_keys).
        for usage in self._usage_types:
            if (usage, None) not in self._by_key:
                first = min(
                    (t for (u, _), t in self._by_key.items() if u == usage), key=lambda t: t.index
                )
                self._by_key[usage, ANY_LOCALE] = first

    def _keys(self, usage_type: str, locale: str | None) -> Iterator[tuple[str, str | None]]:
        # The usage type through the locale chain, then Generic through the same chain.
        chain = locale_chain(locale, self.default_locale)
        usages = (usage_type,) if usage_type == GENERIC else (usage_type, GENERIC)
        for usage in usages:
            for tag in chain:
                yield usage, tag
        # Last, rather than fail: the usage type's (then Generic's) first template in another
        # locale, as Logto, which reads no `locale` key, would send it.
        for usage in usages:
            if (usage, ANY_LOCALE) in self._by_key:
                yield usage, ANY_LOCALE

    def candidates(self, usage_type: str, locale: str | None = None) -> tuple[Candidate, ...]:
        """Every step of the lookup in order, with the template found there (if any)."""
        return tuple(
            Candidate(usage, tag, self._by_key.get((usage, tag)))
            for usage, tag in self._keys(usage_type, locale)
        )

    def find(self, usage_type: str, locale: str | None = None) -> CompiledTemplate:
        """The first template along the lookup chain; TemplateNotFound when there is none."""
        for key in self._keys(usage_type, locale):
            template = self._by_key.get(key)
            if template is not None:
                return template
        raise TemplateNotFound(
            f"no template for usage type '{usage_type}' and no '{GENERIC}' template; "
            "add one to the config's templates; the message was not sent",
            metadata={"usage_type": usage_type},
        )

    def __contains__(self, usage_type: object) -> bool:
        return usage_type in self._usage_types


def check_template_sizes(config: SmtpConfig, max_bytes: int) -> None:
    """Refuse a config with a template (subject + content) over ``max_bytes`` UTF-8 bytes."""
    violations = tuple(
        FieldViolation(f"templates[{index}]", f"is larger than {max_bytes} bytes")
        for index, template in enumerate(config.templates)
        if len(template.subject.encode()) + len(template.content.encode()) > max_bytes
    )
    if violations:
        raise InvalidRequest(
            f"a template is larger than {max_bytes} bytes ({violations[0].field}); "
            "the message was not sent",
            reason=Reason.LIMIT_EXCEEDED,
            violations=violations,
        )
