"""Templates: compiled once per config in Jinja2's sandbox, looked up by usage type, rendered.

Jinja2 understands Logto's placeholders as they are (``{{code}}``, ``{{ code }}``,
``{{application.name}}``) and its sandbox keeps a template from reaching Python internals.
Variables are HTML-escaped in ``text/html`` bodies, never in plain text or in subjects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from .config import ContentType, TemplateConfig
from .errors import (
    FieldViolation,
    InvalidConfig,
    TemplateNotFound,
    TemplateRenderFailed,
    TemplateVariableMissing,
)

GENERIC = "Generic"


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


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with payload keys winning over dict methods: ``{{ data.items }}`` is the
    payload's ``items``, not ``dict.items``."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, _Scope) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


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
class RenderedTemplate:
    """A template's subject and body, rendered for one payload."""

    usage_type: str
    subject: str
    body: str
    content_type: ContentType


@dataclass(frozen=True)
class CompiledTemplate:
    """A template ready to render."""

    usage_type: str
    content_type: ContentType
    subject: jinja2.Template
    content: jinja2.Template

    def render(self, payload: Mapping[str, Any]) -> RenderedTemplate:
        """Render subject and body; a variable the payload lacks raises
        TemplateVariableMissing, anything the sandbox refuses TemplateRenderFailed."""
        scope = _as_scope(payload, "")
        try:
            subject = self.subject.render(scope)
            body = self.content.render(scope)
        except _MissingVariableError as exc:
            raise TemplateVariableMissing(str(exc)) from None
        except jinja2.TemplateError as exc:
            raise TemplateRenderFailed(
                f"template '{self.usage_type}' failed to render: {exc}; the message was not sent"
            ) from None
        return RenderedTemplate(self.usage_type, subject, body, self.content_type)


def _as_scope(value: Mapping[str, Any], path: str) -> _Scope:
    scope = _Scope()
    scope._path = path
    for key, item in value.items():
        child = f"{path}.{key}" if path else key
        scope[key] = _as_scope(item, child) if isinstance(item, Mapping) else item
    return scope


def compile_template(template: TemplateConfig, index: int) -> CompiledTemplate:
    """Compile one template; a syntax error raises InvalidConfig naming the field and line."""
    body_env = _HTML if template.content_type is ContentType.HTML else _TEXT
    return CompiledTemplate(
        usage_type=template.usage_type,
        content_type=template.content_type,
        subject=_compile(_TEXT, template.subject, f"templates[{index}].subject"),
        content=_compile(body_env, template.content, f"templates[{index}].content"),
    )


def _compile(env: SandboxedEnvironment, source: str, field: str) -> jinja2.Template:
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        description = f"template syntax error on line {exc.lineno}: {exc.message}"
        raise InvalidConfig(
            f"{field}: {description}", violations=(FieldViolation(field, description),)
        ) from None


class TemplateSet:
    """A config's templates, compiled once, looked up by usage type."""

    def __init__(self, templates: Iterable[TemplateConfig]) -> None:
        self._by_usage: dict[str, CompiledTemplate] = {}
        for index, template in enumerate(templates):
            # Like Logto, the first template of a usage type wins.
            self._by_usage.setdefault(template.usage_type, compile_template(template, index))

    def find(self, usage_type: str) -> CompiledTemplate:
        """The template for ``usage_type``, else ``Generic``; TemplateNotFound when neither."""
        template = self._by_usage.get(usage_type) or self._by_usage.get(GENERIC)
        if template is None:
            raise TemplateNotFound(
                f"no template for usage type '{usage_type}' and no '{GENERIC}' template; "
                "add one to the config's templates; the message was not sent",
                metadata={"usage_type": usage_type},
            )
        return template

    def __contains__(self, usage_type: object) -> bool:
        return usage_type in self._by_usage
