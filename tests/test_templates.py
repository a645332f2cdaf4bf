"""Templates: lookup, placeholders in every spelling Logto users write, and Jinja2's mode
(``"templateEngine": "jinja2"``): strict variables, the sandbox."""

from __future__ import annotations

import pytest
from smtp_connector.server.domain.config import ContentType, TemplateConfig, TemplateEngine
from smtp_connector.server.domain.templates import TemplateSet
from smtp_connector.server.errors import (
    TemplateNotFound,
    TemplateRenderFailed,
    TemplateVariableMissing,
)


def _set(*templates: tuple[str, str], engine: TemplateEngine = TemplateEngine.LOGTO) -> TemplateSet:
    return TemplateSet(
        (
            TemplateConfig(
                usage_type=usage, subject="s", content=content, content_type=ContentType.TEXT
            )
            for usage, content in templates
        ),
        engine=engine,
    )


def _jinja2(*templates: tuple[str, str]) -> TemplateSet:
    return _set(*templates, engine=TemplateEngine.JINJA2)


@pytest.mark.parametrize("engine", list(TemplateEngine))
@pytest.mark.parametrize("placeholder", ["{{code}}", "{{ code }}", "{{  code}}"])
def test_placeholder_spellings(placeholder: str, engine: TemplateEngine) -> None:
    templates = _set(("Register", f"code={placeholder}"), engine=engine)
    rendered = templates.find("Register").render({"code": "42"})
    assert rendered.body == "code=42"


@pytest.mark.parametrize("engine", list(TemplateEngine))
def test_dotted_paths(engine: TemplateEngine) -> None:
    templates = _set(
        ("Generic", "{{application.name}}/{{ organization.owner.email }}"), engine=engine
    )
    payload = {"application": {"name": "Acme"}, "organization": {"owner": {"email": "o@x.org"}}}
    assert templates.find("Generic").render(payload).body == "Acme/o@x.org"


def test_payload_keys_win_over_dict_methods() -> None:
    template = _jinja2(("Generic", "{{ data.items }}")).find("Generic")
    assert template.render({"data": {"items": "three"}}).body == "three"


def test_exact_usage_type_then_generic() -> None:
    templates = _set(("Register", "r"), ("Generic", "g"))
    assert templates.find("Register").render({}).body == "r"
    assert templates.find("SignIn").render({}).body == "g"


def test_first_template_of_a_usage_type_wins() -> None:
    assert (
        _set(("Generic", "first"), ("Generic", "second")).find("Generic").render({}).body == "first"
    )


def test_not_found_without_generic() -> None:
    with pytest.raises(TemplateNotFound):
        _set(("Register", "r")).find("SignIn")


def test_nested_missing_variable_is_named_in_full() -> None:
    template = _jinja2(("Generic", "{{ a.b.c }}")).find("Generic")
    with pytest.raises(TemplateVariableMissing) as caught:
        template.render({"a": {"b": {}}})
    assert caught.value.variable == "a.b.c"


def test_sandbox_refuses_python_internals() -> None:
    template = _jinja2(("Generic", "{{ code.__class__.__mro__ }}")).find("Generic")
    with pytest.raises(TemplateRenderFailed):
        template.render({"code": "1"})


def test_compiled_once_per_set() -> None:
    templates = _set(("Generic", "{{code}}"))
    assert templates.find("Generic") is templates.find("Other")
