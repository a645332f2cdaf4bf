"""ValidateConfig: schema errors with their JSON path, lint warnings, JSON comments."""

from __future__ import annotations

import json
from typing import Any

import pytest
from smtp_connector.server.domain.validation import Severity, ValidationReport, validate_config
from smtp_connector.v1 import smtp_connector_pb2 as pb

from tests.support.service import ServerFactory, make_config

FORGOT = {
    "usageType": "ForgotPassword",
    "contentType": "text/plain",
    "subject": "Reset",
    "content": "Code {{ code }}",
}


def good(**overrides: Any) -> dict[str, Any]:
    config = make_config(587, **{"requireTLS": True, **overrides})
    config["templates"] = [*config["templates"], FORGOT]
    return config


def check(config: dict[str, Any] | str) -> ValidationReport:
    return validate_config(config if isinstance(config, str) else json.dumps(config))


def codes(report: ValidationReport) -> set[tuple[str, str, Severity]]:
    return {(i.code, i.field_path, i.severity) for i in report.issues}


def test_a_good_config_has_no_issue_and_a_redacted_normal_form() -> None:
    report = check(good(username="user"))
    assert report.valid and report.issues == ()
    assert json.loads(report.normalized_json)["requireTLS"] is True


def test_missing_and_ill_typed_fields_name_their_path() -> None:
    config = good(port="abc")
    del config["fromEmail"]
    config["templates"][1]["subject"] = 5
    found = codes(check(config))
    assert ("MISSING_FIELD", "fromEmail", Severity.ERROR) in found
    assert ("INVALID_TYPE", "port", Severity.ERROR) in found
    assert ("INVALID_TYPE", "templates[1].subject", Severity.ERROR) in found


@pytest.mark.parametrize(
    ("overrides", "code", "path"),
    [
        ({"fromEmail": "not-an-address"}, "BAD_EMAIL", "fromEmail"),
        ({"replyTo": "a@@b"}, "BAD_EMAIL", "replyTo"),
        ({"port": 70000}, "PORT_OUT_OF_RANGE", "port"),
        ({"port": -1}, "PORT_OUT_OF_RANGE", "port"),
    ],
)
def test_errors(overrides: dict[str, Any], code: str, path: str) -> None:
    report = check(good(**overrides))
    assert not report.valid
    assert (code, path, Severity.ERROR) in codes(report)
    assert report.normalized_json == ""


def test_an_unknown_content_type_is_an_error() -> None:
    config = good()
    config["templates"][0]["contentType"] = "text/markdown"
    assert ("UNKNOWN_CONTENT_TYPE", "templates[0].contentType", Severity.ERROR) in codes(
        check(config)
    )


def test_a_template_syntax_error_names_the_template_and_line() -> None:
    config = good(templateEngine="jinja2")
    config["templates"][2]["content"] = "Hello\nyour code:\n{{ code }\n"
    report = check(config)
    (issue,) = report.issues
    assert (issue.code, issue.field_path, issue.line) == (
        "TEMPLATE_SYNTAX",
        "templates[2].content",
        3,
    )
    assert "line 3" in issue.message


@pytest.mark.parametrize(
    ("port", "secure"), [(465, False), (587, True), ("465", False), (2525, True)]
)
def test_the_port_against_secure_is_a_warning(port: int | str, secure: bool) -> None:
    report = check(good(port=port, secure=secure, requireTLS=False))
    assert report.valid
    assert codes(report) == {("PORT_TLS_MISMATCH", "secure", Severity.WARNING)}


def test_missing_templates_duplicates_and_codeless_templates_are_warnings() -> None:
    config = good()
    config["templates"] = [
        {"usageType": "Register", "subject": "Welcome", "content": "Hello {{ name }}"},
        {"usageType": "Register", "subject": "Again", "content": "{{code}}"},
        {"usageType": "SignIn", "subject": "Sign in", "content": "<a href='{{link}}'>go</a>"},
        {"usageType": "OrganizationInvitation", "subject": "Join", "content": "{{link}}"},
    ]
    for template in config["templates"]:
        template["contentType"] = "text/html"
    report = check(config)
    assert report.valid
    assert codes(report) == {
        ("CODE_NOT_USED", "templates[0].content", Severity.WARNING),
        ("DUPLICATE_USAGE_TYPE", "templates[1].usageType", Severity.WARNING),
        ("MISSING_TEMPLATE", "templates", Severity.WARNING),
        # Logto sends neither a name nor a link with a verification code.
        ("PLACEHOLDER_NOT_FILLED", "templates[0].content", Severity.WARNING),
        ("PLACEHOLDER_NOT_FILLED", "templates[2].content", Severity.WARNING),
    }
    missing = [i.message for i in report.issues if i.code == "MISSING_TEMPLATE"]
    assert len(missing) == 2
    assert any("'ForgotPassword'" in m for m in missing)
    assert any("'Generic'" in m for m in missing)


def test_unknown_keys_are_warnings_with_a_guess() -> None:
    config = good(requireTls=True, fromEmial="x", tls={"servername": "a", "rejectUnauthorised": 0})
    config["templates"][0]["contenType"] = "text/html"
    report = check(config)
    assert report.valid
    messages = {i.field_path: i.message for i in report.issues if i.code == "UNKNOWN_KEY"}
    assert "did you mean 'requireTLS'?" in messages["requireTls"]
    assert "did you mean 'fromEmail'?" in messages["fromEmial"]
    assert "did you mean 'rejectUnauthorized'?" in messages["tls.rejectUnauthorised"]
    assert "did you mean 'contentType'?" in messages["templates[0].contenType"]


def test_an_inline_password_is_a_warning_and_never_echoed() -> None:
    report = check(good(password="hunter2", auth={"type": "login", "user": "u", "pass": "pw99"}))
    assert codes(report) == {
        ("INLINE_PASSWORD", "password", Severity.WARNING),
        ("INLINE_PASSWORD", "auth.pass", Severity.WARNING),
    }
    text = report.normalized_json + " ".join(i.message for i in report.issues)
    assert "hunter2" not in text and "pw99" not in text


SEED_STYLE = """{
  "host": "smtp.example.com",
  "port": 587, // your SMTP port
  "fromEmail": "noreply@example.com",
  "templates": []
}"""


def test_json_comments_are_rejected_with_line_and_column() -> None:
    (issue,) = check(SEED_STYLE).issues
    assert (issue.code, issue.line, issue.column) == ("JSON_COMMENT", 3, 16)
    assert "comments" in issue.message and "line 3 column 16" in issue.message


def test_slashes_inside_strings_are_not_comments() -> None:
    text = SEED_STYLE.replace(" // your SMTP port", "").replace("smtp.", "http://smtp.")
    report = check(text.replace('"port": 587,', '"port": 587,,'))
    assert [i.code for i in report.issues] == ["JSON_SYNTAX"]
    assert report.issues[0].line == 3


def test_the_rpc_carries_codes_and_positions(start_service: ServerFactory) -> None:
    client = start_service()
    response = client.validate_config(SEED_STYLE)
    assert not response.valid
    (issue,) = response.issues
    assert issue.severity == pb.SEVERITY_ERROR
    assert (issue.code, issue.line, issue.column) == ("JSON_COMMENT", 3, 16)
