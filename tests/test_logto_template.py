"""Logto's template semantics, the default engine: grammar, missing values, JavaScript's
String().

The expected outputs of the first group are the cases of Logto's own unit test of
``replaceSendMessageHandlebars`` (logto-io/logto, packages/toolkit/connector-kit/src/
index.test.ts at 1fbc55441f); value formatting is checked against Node's own ``String()``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from smtp_connector.server.domain.config import ContentType, TemplateConfig, TemplateEngine
from smtp_connector.server.domain.logto_template import js_string, placeholders, render
from smtp_connector.server.domain.templates import TemplateSet

# Logto's unit test cases: (template, payload, expected).
LOGTO_CASES = [
    ("Your verification code is {{code}}", {"code": "123456"}, "Your verification code is 123456"),
    ("Your verification code is {{code}}", {}, "Your verification code is {{code}}"),
    (
        "Your verification code is {{code}} and {{foo}}",
        {"code": "123456", "foo": "bar"},
        "Your verification code is 123456 and bar",
    ),
    (
        "Your verification code is {{code}} and {{foo}}",
        {"code": "123456"},
        "Your verification code is 123456 and {{foo}}",
    ),
    (
        "Your verification code is {{     code }}",
        {"code": "123456"},
        "Your verification code is 123456",
    ),
    (
        "Your application name is {{application.name}}, {{ application.customData.foo }}, "
        "{{ application.customData.bar }}, {{ application.customData.baz.1 }}",
        {"application": {"name": "Logto", "customData": {"foo": "foo", "baz": [1, "2", None]}}},
        "Your application name is Logto, foo, , 2",
    ),
    (
        "Your {{ application.name }} sign in verification code is {{ code }}",
        {"code": "123456"},
        "Your {{ application.name }} sign in verification code is 123456",
    ),
]


@pytest.mark.parametrize(("template", "payload", "expected"), LOGTO_CASES)
def test_logto_unit_cases(template: str, payload: dict[str, Any], expected: str) -> None:
    assert render(template, payload) == expected


# Text Jinja2 read as syntax (the list): under Logto's rules all of it is text.
TEXT_AS_WRITTEN = [
    "@media screen{#outlook a{padding:0}}",
    "{% if code %}x{% endif %}",
    "{{#if code}}yes{{/if}}",
    "{{ .Code }}",
    "unclosed {{ code",
    "{# a comment #}",
    "{{code|upper}}",
    "{{名字}}",
    "{{ code + 1 }}",
    "{{}}",
    "{{ }}",
]


@pytest.mark.parametrize("text", TEXT_AS_WRITTEN)
def test_everything_but_a_dotted_path_is_text(text: str) -> None:
    payload = {"code": "123", "名字": "x", "Code": "y"}
    assert render(text, payload) == text


def test_white_space_is_javascripts() -> None:
    payload = {"code": "1"}
    # U+FEFF and U+3000 are JavaScript white space; U+001C and U+0085 are Python's only.
    assert render("{{\ufeffcode\u3000}}", payload) == "1"
    assert render("{{\tcode\n}}", payload) == "1"
    assert render("{{\x1ccode}}", payload) == "{{\x1ccode}}"
    assert render("{{code\x85}}", payload) == "{{code\x85}}"


def test_missing_root_stays_missing_nested_is_empty() -> None:
    payload = {"user": {"name": "Ada"}, "code": "42", "nothing": None}
    assert render("{{ inviter.name }}|{{ user.email }}", payload) == "{{ inviter.name }}|"
    # A step into a string, a number or null gives '' (strings have no properties here).
    assert render("{{code.length}}|{{nothing.x}}|{{user.name.x}}", payload) == "||"
    # An empty root ('.code') is never a payload key; a trailing dot is an absent key.
    assert render("{{.code}}|{{code.}}", payload) == "{{.code}}|"


def test_adjacent_braces_match_leftmost() -> None:
    assert render("{{{code}}}", {"code": "7"}) == "{7}"
    assert render("{{code}}{{code}}", {"code": "7"}) == "77"


def test_arrays_index_and_length() -> None:
    payload = {"items": ["a", None, ["b", "c"], {"k": 1}]}
    assert render("{{items.0}}{{items.length}}{{items.01}}{{items.9}}", payload) == "a4"
    assert render("{{items}}", payload) == "a,,b,c,[object Object]"


def test_placeholders_lists_paths() -> None:
    assert placeholders("{{ a.b }} {% x %} {{c}} {{d|e}}") == ("a.b", "c")


# Values and what JavaScript's String() makes of them (checked against Node below).
JS_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -0.0,
    42.0,
    42,
    1.5,
    -2.25,
    0.1,
    1e-7,
    1.5e-7,
    0.000001,
    123456789012345680000.0,
    1e21,
    1.2345e22,
    -1e-10,
    2**53,
    "",
    "text",
    [],
    [1, None, "x", [2, [3]], True],
    {},
    {"a": 1},
]


def _node_strings(values: list[Any]) -> list[str]:
    script = (
        "const v = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "process.stdout.write(JSON.stringify(v.map((x) => String(x ?? ''))));"
    )
    node = shutil.which("node")
    assert node is not None, "node is installed by scripts/system-deps.d"
    done = subprocess.run(
        [node, "-e", script], input=json.dumps(values), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    result: list[str] = json.loads(done.stdout)
    return result


def test_values_formatted_as_javascripts_string() -> None:
    # JSON writes -0.0 as -0.0 and Node reads it as -0: the same value on both sides.
    assert [js_string(value) for value in JS_VALUES] == _node_strings(JS_VALUES)


def _template(content: str, content_type: ContentType, **extra: Any) -> TemplateConfig:
    return TemplateConfig(
        usage_type="Generic",
        subject="{{ code }}",
        content=content,
        content_type=content_type,
        **extra,
    )


def test_html_bodies_escape_values_unless_switched_off() -> None:
    payload = {"code": "<b>&'\"", "name": "Ada"}
    html = _template("<p>{{code}} {{missing}}</p>", ContentType.HTML)
    rendered = TemplateSet([html]).find("Generic").render(payload)
    assert rendered.body == "<p>&lt;b&gt;&amp;&#39;&#34; {{missing}}</p>"
    assert rendered.subject == "<b>&'\""  # subjects are never escaped
    raw = _template("<p>{{code}}</p>", ContentType.HTML, html_escape=False)
    assert TemplateSet([raw]).find("Generic").render(payload).body == "<p><b>&'\"</p>"
    config_wide = TemplateSet([html], html_escape=False).find("Generic").render(payload)
    assert config_wide.body == "<p><b>&'\" {{missing}}</p>"
    text = _template("{{code}}", ContentType.TEXT)
    assert TemplateSet([text]).find("Generic").render(payload).body == "<b>&'\""


def test_jinja2_is_opt_in_per_config_or_template() -> None:
    source = "{% if code %}yes{% endif %}"
    logto = TemplateSet([_template(source, ContentType.TEXT)]).find("Generic")
    assert logto.render({"code": "1"}).body == source
    per_template = _template(source, ContentType.TEXT, template_engine=TemplateEngine.JINJA2)
    assert TemplateSet([per_template]).find("Generic").render({"code": "1"}).body == "yes"
    per_config = TemplateSet([_template(source, ContentType.TEXT)], engine=TemplateEngine.JINJA2)
    assert per_config.find("Generic").render({"code": "1"}).body == "yes"


def test_a_usage_type_with_only_locale_templates_still_finds_its_first() -> None:
    # Logto reads no `locale` key and sends a usage type's first template (connector-kit
    # getConfigTemplateByType); here the locale chains of the usage type and of Generic come
    # first, and that first template only when both fail.
    def text(usage: str, content: str, locale: str | None = None) -> TemplateConfig:
        return TemplateConfig(
            usage_type=usage,
            subject="s",
            content=content,
            content_type=ContentType.TEXT,
            locale=locale,
        )

    templates = TemplateSet(
        [text("Register", "de", "de"), text("Register", "en", "en"), text("Generic", "g", "fr")]
    )
    assert templates.find("Register").render({}).body == "de"
    assert templates.find("Register", "en-US").render({}).body == "en"
    assert templates.find("Register", "fr").render({}).body == "g"
    assert templates.find("SignIn").render({}).body == "g"
    steps = [(c.usage_type, c.locale) for c in templates.candidates("Register")]
    assert steps == [("Register", None), ("Generic", None), ("Register", "*"), ("Generic", "*")]
