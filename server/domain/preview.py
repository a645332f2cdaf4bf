"""Previews: the message a send would deliver, built by the send's own code (``prepare_message``)
and looked at, never sent; with warnings about what is likely to surprise its author."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from .config import ContentType, TemplateConfig, normalize_locale
from .mailer import LoadedConfig, PreparedMessage, SendRequest, prepare_message
from .mime import MAX_LINE
from .validation import Resolution

__all__ = ["Preview", "PreviewWarning", "placeholders", "preview_message"]

# A plain placeholder, as Logto writes them: `{{code}}`, `{{ application.name }}`.
_PLACEHOLDER = re.compile(r"{{\s*([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*)\s*}}")
# Names a template binds itself (`{% for item in items %}`, `{% set name = ... %}`).
_BOUND = re.compile(r"{%-?\s*(?:for\s+([\w\s,]+?)\s+in|set\s+(\w+))\b")
_TEMPLATE_FIELDS = (
    ("subject", "subject"),
    ("content", "content"),
    ("html_content", "htmlContent"),
    ("send_from", "sendFrom"),
    ("reply_to", "replyTo"),
)
_ENCODED_TRANSFERS = frozenset({"quoted-printable", "base64"})


@dataclass(frozen=True)
class PreviewWarning:
    """Something in a previewed message that is likely a mistake or a surprise."""

    code: str
    message: str
    field_path: str = ""


@dataclass(frozen=True)
class Preview:
    """A message as a send would deliver it (its own Message-ID and Date aside), the template
    lookup that chose its template, and the warnings about it."""

    prepared: PreparedMessage
    resolution: Resolution
    warnings: tuple[PreviewWarning, ...]

    @property
    def locale(self) -> str:
        """The normalized locale of the template used; empty for one without a locale."""
        template = self.prepared.template
        return normalize_locale(template.locale) if template and template.locale else ""

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The message's header fields in order, unfolded and decoded."""
        message = BytesParser(policy=policy.default).parsebytes(self.prepared.data)
        return [(name, str(value)) for name, value in message.items()]


def preview_message(loaded: LoadedConfig, request: SendRequest) -> Preview:
    """Build the message ``request`` would send with ``loaded`` (raising what a send would
    raise for the same request) and report on it; nothing connects anywhere."""
    prepared = prepare_message(loaded, request)
    locale = request.payload.get("locale")
    candidates = loaded.templates.candidates(
        request.usage_type, locale if isinstance(locale, str) else None
    )
    warnings: list[PreviewWarning] = []
    template = prepared.template
    if template is not None and template.index < len(loaded.config.templates):
        source = loaded.config.templates[template.index]
        warnings += unfilled_placeholders(source, request.payload, template.path)
        warnings += encoded_lines(prepared.data, source, template.path)
    return Preview(prepared, Resolution(candidates), tuple(warnings))


def unfilled_placeholders(
    template: TemplateConfig, payload: Mapping[str, Any], path: str
) -> Iterator[PreviewWarning]:
    """A warning per placeholder of the template that the payload has no value for."""
    for attribute, name in _TEMPLATE_FIELDS:
        source = getattr(template, attribute)
        if not source:
            continue
        bound = _bound_names(source)
        missing: list[str] = []
        for match in _PLACEHOLDER.finditer(source):
            variable = match[1]
            if variable.split(".")[0] in bound or variable in missing:
                continue
            if _lookup(payload, variable) is None:
                missing.append(variable)
        for variable in missing:
            yield PreviewWarning(
                "UNFILLED_PLACEHOLDER",
                f"the payload has no value for {{{{ {variable} }}}}: the message will not "
                "show what the template means to put there",
                f"{path}.{name}",
            )


def placeholders(template: TemplateConfig) -> list[str]:
    """The dotted names of every plain placeholder in the template's fields, in order of
    first use, without those the template binds itself."""
    names: list[str] = []
    for attribute, _name in _TEMPLATE_FIELDS:
        source = getattr(template, attribute) or ""
        bound = _bound_names(source)
        for match in _PLACEHOLDER.finditer(source):
            if match[1] not in names and match[1].split(".")[0] not in bound:
                names.append(match[1])
    return names


def _bound_names(source: str) -> set[str]:
    names: set[str] = set()
    for match in _BOUND.finditer(source):
        words = match[1] or match[2] or ""
        names.update(word.strip() for word in words.split(",") if word.strip())
    return names


def _lookup(payload: Mapping[str, Any], dotted: str) -> Any:
    value: Any = payload
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def encoded_lines(data: bytes, template: TemplateConfig, path: str) -> Iterator[PreviewWarning]:
    """A warning per body part sent quoted-printable or base64 (naming the lines that made it
    so) and per header sent as RFC 2047 encoded words."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    for name in message.keys():  # noqa: SIM118 (a message is no dict: keys() repeats)
        if _raw_encoded(data, name):
            yield PreviewWarning(
                "HEADER_ENCODED",
                f"the {name} header has non-ASCII or unusual text and is sent as RFC 2047 "
                "encoded words; mail readers show it decoded",
                f"{path}.subject" if name.lower() == "subject" else "",
            )
    for part in message.walk():
        if part.is_multipart():
            continue
        transfer = str(part.get("Content-Transfer-Encoding", "7bit")).lower()
        if transfer not in _ENCODED_TRANSFERS:
            continue
        assert isinstance(part, EmailMessage)
        body = part.get_content()
        lines = [
            number
            for number, line in enumerate(str(body).splitlines(), start=1)
            if not line.isascii() or len(line.encode()) > MAX_LINE
        ]
        html_part = part.get_content_subtype() == "html" and template.multipart
        field = "htmlContent" if html_part else "content"
        kind = _part_kind(part.get_content_subtype(), template)
        shown = ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")
        counted = f"{len(lines)} of its lines (lines {shown}) have"
        if len(lines) == 1:
            counted = f"its line {shown} has"
        yield PreviewWarning(
            "LINES_ENCODED",
            f"the {kind} part is sent {transfer} because {counted} non-ASCII characters or "
            f"more than {MAX_LINE} characters; mail readers decode it, but the raw source "
            "shows encoded text",
            f"{path}.{field}",
        )


def _raw_encoded(data: bytes, name: str) -> bool:
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ").split(b"\r\n"):
        field, _, value = line.partition(b":")
        if field.decode("ascii", "replace").lower() == name.lower():
            return b"=?" in value
    return False


def _part_kind(subtype: str, template: TemplateConfig) -> str:
    if subtype == "html" or template.content_type is ContentType.HTML:
        return "HTML"
    return "plain-text"
