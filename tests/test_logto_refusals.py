"""What Logto's guard refuses because accepting it would hide a failure (issue 18, item 6),
refused here too, as INVALID_ARGUMENT naming the field; what it accepts (an empty subject)
loads, with a warning. Logto's guard: logto-io/logto packages/connectors/connector-smtp/src/
types.ts at 1fbc55441f (``contentType: z.nativeEnum(ContextType)``, required usage types)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from smtp_connector.client import InvalidRequestError
from smtp_connector.server.domain.validation import Severity, validate_config

from tests.support.service import ServerFactory, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer

DOCS_SNIPPET = {  # "type" where Logto's schema says contentType (a snippet in Logto's docs)
    "usageType": "Generic",
    "type": "text/html",
    "subject": "Your code",
    "content": "<p>{{code}}</p>",
}


@pytest.mark.parametrize(
    ("templates", "field", "words"),
    [
        ([DOCS_SNIPPET], "templates[0].contentType", "rename it to contentType"),
        (
            [{"usageType": "Generic", "subject": "s", "content": "c"}],
            "templates[0].contentType",
            "required",
        ),
        ([], "templates", "at least one template"),
    ],
    ids=["type-instead-of-content-type", "no-content-type", "no-templates"],
)
def test_refused_by_validate_config_and_by_a_send(
    smtp_server: SmtpServer,
    start_service: ServerFactory,
    templates: list[dict[str, Any]],
    field: str,
    words: str,
) -> None:
    config = make_config(smtp_server.port, templates=templates)
    report = validate_config(json.dumps(config))
    errors = [i for i in report.issues if i.severity is Severity.ERROR]
    assert [i.field_path for i in errors] == [field]
    assert words in errors[0].message

    client = start_service(None, **inline_on_loopback(smtp_server.port))
    with pytest.raises(InvalidRequestError) as caught:
        client.send_message(
            "u@example.com", "Generic", {"code": "1"}, config_json=json.dumps(config)
        )
    assert caught.value.code.name == "INVALID_ARGUMENT"
    assert field in [v.field for v in caught.value.field_violations]
    assert smtp_server.received == []


def test_html_content_alone_means_multipart() -> None:
    template = {"usageType": "Generic", "subject": "s", "content": "t", "htmlContent": "<p>h</p>"}
    assert validate_config(json.dumps(make_config(25, templates=[template]))).valid


def test_an_empty_subject_loads_with_a_warning(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    config = make_config(smtp_server.port)
    config["templates"][2]["subject"] = ""  # Logto's z.string() takes it
    report = validate_config(json.dumps(config))
    assert report.valid
    assert ("EMPTY_SUBJECT", "templates[2].subject") in {
        (i.code, i.field_path) for i in report.issues
    }
    start_service(config).send_message("u@example.com", "Generic", {"code": "1"})
    assert smtp_server.received[0].message["Subject"] == ""


def test_oauth2_keys_without_the_type_are_a_warning() -> None:
    # The shape of Logto's own mockedOauth2AuthWithKey (connector-smtp src/mock.ts).
    auth = {"user": "u@example.com", "serviceClient": "sa@x.example", "privateKey": "<key>"}
    report = validate_config(json.dumps(make_config(25, auth=auth)))
    (issue,) = [i for i in report.issues if i.code == "OAUTH2_TYPE_MISSING"]
    assert issue.field_path == "auth.type" and "serviceClient, privateKey" in issue.message
