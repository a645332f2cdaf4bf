"""Per-locale templates: the lookup chain (exact, language, default locale, no locale, then
`Generic` the same way), real sends picking the right one, and ValidateConfig showing it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from smtp_connector.server.domain.config import TemplateConfig
from smtp_connector.server.domain.templates import TemplateSet, locale_chain
from smtp_connector.v1 import smtp_connector_pb2 as pb

from tests.support.issues import errors
from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer


def template(usage_type: str, locale: str | None, subject: str) -> dict[str, Any]:
    fields = {
        "usageType": usage_type,
        "contentType": "text/plain",
        "subject": subject,
        "content": "{{code}}",
    }
    if locale is not None:
        fields["locale"] = locale
    return fields


# The subject of each template says which one it is.
TEMPLATES = [
    template("SignIn", "zh-CN", "SignIn zh-CN"),
    template("SignIn", "zh", "SignIn zh"),
    template("SignIn", "en", "SignIn en"),
    template("SignIn", None, "SignIn"),
    template("Register", "de", "Register de"),
    template("Generic", "fr", "Generic fr"),
    template("Generic", "en", "Generic en"),
    template("Generic", None, "Generic"),
]


def template_set(default_locale: str | None = None) -> TemplateSet:
    return TemplateSet(
        [TemplateConfig.model_validate(t) for t in TEMPLATES], default_locale=default_locale
    )


@pytest.mark.parametrize(
    ("locale", "default", "chain"),
    [
        ("zh-CN", None, ("zh-cn", "zh", None)),
        ("zh_CN", "en", ("zh-cn", "zh", "en", None)),
        ("zh-Hant-TW", "en-US", ("zh-hant-tw", "zh-hant", "zh", "en-us", "en", None)),
        (None, "pt-BR", ("pt-br", "pt", None)),
        ("en-GB", "en", ("en-gb", "en", None)),
        (None, None, (None,)),
    ],
)
def test_locale_chain(locale: str | None, default: str | None, chain: tuple[str | None]) -> None:
    assert locale_chain(locale, default) == chain


@pytest.mark.parametrize(
    ("usage_type", "locale", "default", "subject"),
    [
        ("SignIn", "zh-CN", None, "SignIn zh-CN"),  # 1. exact
        ("SignIn", "ZH_cn", None, "SignIn zh-CN"),  # 1. exact, however spelled
        ("SignIn", "zh-TW", None, "SignIn zh"),  # 2. the language
        ("SignIn", "ja", "en", "SignIn en"),  # 3. the default locale
        ("SignIn", "ja", None, "SignIn"),  # 4. the template without a locale
        ("SignIn", None, None, "SignIn"),
        ("Register", "fr-CA", None, "Generic fr"),  # 5. Generic: its language
        ("Register", "de-AT", None, "Register de"),
        ("Register", "ja", "en", "Generic en"),  # 5. Generic: the default locale
        ("Register", "ja", None, "Generic"),  # 5. Generic without a locale
        ("BindMfa", None, "fr", "Generic fr"),
    ],
)
def test_lookup_order(
    usage_type: str, locale: str | None, default: str | None, subject: str
) -> None:
    found = template_set(default).find(usage_type, locale)

    assert found.render({"code": "1"}).subject == subject


def test_first_template_of_a_usage_type_and_locale_wins() -> None:
    templates = TemplateSet(
        [
            TemplateConfig.model_validate(template("SignIn", "en", "first")),
            TemplateConfig.model_validate(template("SignIn", "EN", "second")),
        ]
    )

    found = templates.find("SignIn", "en")
    assert found.render({"code": "1"}).subject == "first"
    assert found.path == "templates[0]"


@pytest.mark.parametrize(
    ("locale", "default_locale", "subject"),
    [("zh-TW", None, "SignIn zh"), ("es", "fr", "SignIn"), (None, "en", "SignIn en")],
)
def test_a_send_uses_the_payloads_locale(
    smtp_server: SmtpServer,
    start_service: ServerFactory,
    locale: str | None,
    default_locale: str | None,
    subject: str,
) -> None:
    config = make_config(smtp_server.port, templates=TEMPLATES)
    if default_locale is not None:
        config["defaultLocale"] = default_locale
    client = start_service(config)
    payload: dict[str, Any] = {"code": "123456"}
    if locale is not None:
        payload["locale"] = locale

    client.send_message("user@example.com", "SignIn", payload)

    [received] = smtp_server.received
    assert f"Subject: {subject}\r\n".encode() in received.data


def test_a_non_string_locale_in_the_payload_is_ignored(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port, templates=TEMPLATES))

    client.send_message("user@example.com", "SignIn", {"code": "1", "locale": 42})

    assert smtp_server.received[0].message["Subject"] == "SignIn"


def test_configs_without_locales_look_up_as_before(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port))

    client.send_message("user@example.com", "Unknown", {"code": "1", "locale": "zh-CN"})

    assert smtp_server.received[0].message["Subject"] == "Your code"


def test_validate_config_shows_the_resolved_chain(start_service: ServerFactory) -> None:
    config = json.dumps(make_config(25, templates=TEMPLATES, defaultLocale="en"))
    client = start_service()

    response = client.validate_config(
        config, resolve=pb.TemplateLookup(usage_type="Register", locale="fr-CA")
    )

    assert response.valid
    steps = [(c.usage_type, c.locale, c.template_path) for c in response.resolution.candidates]
    assert steps == [
        ("Register", "fr-ca", ""),
        ("Register", "fr", ""),
        ("Register", "en", ""),
        ("Register", "", ""),
        ("Generic", "fr-ca", ""),
        ("Generic", "fr", "templates[5]"),
        ("Generic", "en", "templates[6]"),
        ("Generic", "", "templates[7]"),
        # Last resort: Register's first template, in whatever locale (as Logto would send it).
        ("Register", "*", "templates[4]"),
    ]
    assert response.resolution.template_path == "templates[5]"


def test_validate_config_without_resolve_has_no_resolution(start_service: ServerFactory) -> None:
    response = start_service().validate_config(json.dumps(make_config(25)))

    assert response.valid
    assert not response.HasField("resolution")


def test_a_malformed_locale_is_a_config_error(start_service: ServerFactory) -> None:
    config = make_config(25, templates=[template("SignIn", "zh CN!", "x")], defaultLocale="")

    response = start_service().validate_config(json.dumps(config))

    assert not response.valid
    assert sorted(i.field_path for i in errors(response.issues)) == [
        "defaultLocale",
        "templates[0].locale",
    ]
