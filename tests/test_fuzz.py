"""Property tests: whatever ``config_json``, ``usage_type``, ``payload``, ``to`` (and
``idempotency_key``) a caller sends through a real server to a real SMTP server, the answer
is OK or a documented status with an ErrorInfo, never UNKNOWN or INTERNAL, always well within
the deadline, and never more than one message delivered.

Generated configs only ever point at loopback (the test SMTP server or a closed port)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import SmtpConnectorError
from smtp_connector.server.errors import Reason

from tests.support.service import in_process_service, inline_on_loopback, make_config
from tests.support.smtp import SmtpServer, free_port

# Every status a send may end with, besides OK (the README's error table).
DOCUMENTED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
REASONS = {reason.value for reason in Reason} - {Reason.INTERNAL.value}
CALL_TIMEOUT = 5.0
# No example database: nothing is written under .hypothesis/ (and nothing lands in git).
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Target:
    """The SMTP server and the service under fuzz, shared by every example of the module."""

    def __init__(self, smtp: SmtpServer, client: SmtpConnectorClient) -> None:
        self.smtp = smtp
        self.client = client
        self.closed_port = free_port()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("fuzz")
    with SmtpServer() as smtp:
        config = make_config(smtp.port)
        with (
            in_process_service(folder, config, workers=8, **inline_on_loopback()) as service,
            SmtpConnectorClient(f"127.0.0.1:{service.port}", timeout=CALL_TIMEOUT) as client,
        ):
            yield Target(smtp, client)


def check_answer(
    target: Target, config_json: str, usage_type: str, payload: Any, to: str, key: str = ""
) -> None:
    """Send and check the answer is OK or a documented status with an ErrorInfo reason, and
    that the SMTP server got at most the one message (none for a replayed key)."""
    before = len(target.smtp.received)
    started = time.monotonic()
    try:
        response = target.client.send_message(
            to,
            usage_type,
            payload,
            config_json=config_json,
            idempotency_key=key,
            timeout=CALL_TIMEOUT,
        )
    except SmtpConnectorError as error:
        event(error.reason or error.code.name)
        assert error.code in DOCUMENTED, f"{error.code.name}: {error}"
        assert error.reason in REASONS, f"no documented ErrorInfo reason: {error}"
        assert error.metadata.get("delivery") in ("not_sent", "unknown"), error.metadata
        if error.metadata["delivery"] == "not_sent":
            assert len(target.smtp.received) == before, "not_sent, yet the server got it"
    else:
        event("OK")
        assert response.smtp_code // 100 == 2
        delivered = len(target.smtp.received) - before
        assert delivered == 1 or (key and delivered == 0), delivered
    # The server's own timeouts fire first: a fuzzed call never runs into the deadline.
    assert time.monotonic() - started < CALL_TIMEOUT


# -- strategies ---------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
TEMPLATE_TEXT = st.text(max_size=60) | st.sampled_from(
    [
        "{{ code }}",
        "{{ code",
        "{% for x in code %}{{ x }}{% endfor %}",
        "{{ application.name.upper() }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ code * 100000000 }}",
        "{{ missing.deep.value }}",
        "{% include 'other' %}",
        "{{ code | safe }}\r\nBcc: victim@example.com",
        "{{ 1 / 0 }}",
        "{{ range(10**9) | list }}",
    ]
)
ADDRESSES = (
    st.emails()
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "user@example.com",
            "用户@例子.广告",
            "user@例子.广告",
            "Name <user@example.com>",
            "user@example.com\r\nBcc: victim@example.com",
            "a" * 65 + "@example.com",
            "user@localhost",
            "user@[127.0.0.1]",
            '"quoted local"@example.com',
            "\x00@example.com",
            "",
        ]
    )
)
NAMES = st.text(max_size=20) | st.sampled_from(
    ["", ".", ".leading.dot", "host\r\nRSET", "bad host", "ünïcode.example", "a" * 300, "\x00"]
)
USAGE_TYPES = st.sampled_from(["Register", "SignIn", "Generic", "Test", "Unknown"]) | st.text(
    max_size=20
)
# Mostly payloads the templates can use (so that sends reach the SMTP server), some not.
PAYLOADS = st.fixed_dictionaries(
    {"code": JSON, "application": st.fixed_dictionaries({"name": JSON})},
    optional={"link": JSON, "locale": JSON, "extra": JSON},
) | st.dictionaries(
    st.sampled_from(["code", "link", "locale", "application"]) | st.text(max_size=10),
    JSON,
    max_size=5,
)


@st.composite
def configs(draw: st.DrawFn, smtp_port: int, closed_port: int) -> str:
    """A config JSON: mostly a valid one with some fields replaced, sometimes garbage. Hosts
    stay on loopback whatever happens."""
    kind = draw(st.sampled_from(["server", "mutated", "mutated", "mutated", "json", "text"]))
    if kind == "server":
        return ""
    if kind == "text":
        return draw(st.text(max_size=80))
    if kind == "json":
        return json.dumps(draw(JSON))
    config = make_config(draw(st.sampled_from([smtp_port, smtp_port, closed_port])))
    fields = {
        "port": st.sampled_from([smtp_port, closed_port, 0, -1, 70000, "25", None]),
        "host": st.sampled_from(["127.0.0.1", "localhost", "", 5]),
        "username": st.text(max_size=10) | JSON,
        "password": st.text(max_size=10) | JSON,
        "auth": JSON | st.fixed_dictionaries({"type": st.text(max_size=8), "user": JSON}),
        "fromEmail": ADDRESSES,
        "replyTo": ADDRESSES,
        "customHeaders": st.dictionaries(st.text(max_size=12), JSON, max_size=3),
        "secure": st.booleans() | JSON,
        "requireTLS": st.booleans() | JSON,
        "ignoreTLS": st.booleans() | JSON,
        "tls": JSON
        | st.fixed_dictionaries({"servername": NAMES, "rejectUnauthorized": st.booleans()}),
        "servername": NAMES,
        "name": NAMES,
        "connectionTimeout": JSON,
        "greetingTimeout": st.integers(-5, 3000),
        "socketTimeout": st.integers(-5, 3000),
        "templates": JSON
        | st.lists(
            st.fixed_dictionaries(
                {
                    "usageType": USAGE_TYPES,
                    "subject": TEMPLATE_TEXT,
                    "content": TEMPLATE_TEXT,
                    "contentType": st.sampled_from(["text/plain", "text/html", "image/png"]),
                }
            ),
            max_size=3,
        ),
    }
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True)):
        config[name] = draw(fields[name])
    return json.dumps(config)


# -- the properties -----------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_every_answer_is_ok_or_documented(target: Target, data: st.DataObject) -> None:
    check_answer(
        target,
        data.draw(configs(target.smtp.port, target.closed_port), label="config_json"),
        data.draw(st.sampled_from(["Register", "SignIn"]) | USAGE_TYPES, label="usage_type"),
        data.draw(PAYLOADS, label="payload"),
        data.draw(st.emails() | ADDRESSES, label="to"),
        # Short keys repeat across examples: replays, and reuse with other requests.
        data.draw(st.just("") | st.text(max_size=2) | st.text(min_size=250, max_size=260)),
    )


@FUZZ
@given(
    subject=TEMPLATE_TEXT,
    content=TEMPLATE_TEXT,
    content_type=st.sampled_from(["text/plain", "text/html"]),
    payload=PAYLOADS,
    to=ADDRESSES,
)
def test_templates_and_payloads_on_a_working_server(
    target: Target, subject: str, content: str, content_type: str, payload: Any, to: str
) -> None:
    # A valid config whose only template is fuzzed: most examples reach the SMTP server.
    template = {
        "usageType": "Generic",
        "subject": subject,
        "content": content,
        "contentType": content_type,
    }
    config = make_config(target.smtp.port, templates=[template])
    check_answer(target, json.dumps(config), "Register", payload, to)


def test_hypothesis_keeps_no_example_database(tmp_path: Path) -> None:
    assert FUZZ.database is None


def generic(subject: str, content: str) -> dict[str, Any]:
    template = {
        "usageType": "Generic",
        "contentType": "text/plain",
        "subject": subject,
        "content": content,
    }
    return {"templateEngine": "jinja2", "templates": [template]}


CODE = {"code": "123456", "application": {"name": "Fuzz"}}


@pytest.mark.parametrize(
    ("overrides", "payload", "reason"),
    [
        ({"name": "\r"}, CODE, "INVALID_CONFIG"),
        (generic("s", "{% include 'x' %}"), {}, "TEMPLATE_RENDER_FAILED"),
        (generic("s", "{{ 1 / 0 }}"), {}, "TEMPLATE_RENDER_FAILED"),
        (generic("s", "{{ range(10**9) | list }}"), {}, "TEMPLATE_RENDER_FAILED"),
        (generic("s", "{{ code * 100000000 }}"), CODE, "TEMPLATE_RENDER_FAILED"),
        (generic("s", "{{ 9 ** 999999 }}"), {}, "TEMPLATE_RENDER_FAILED"),
        (generic("{{ code }}", "c"), {"code": "a\u2028Bcc: x@example.com"}, "HEADER_INJECTION"),
        (generic("{{ code }}", "c"), {"code": "a\x0bb"}, "HEADER_INJECTION"),
    ],
    ids=["ehlo-cr", "include", "division", "range", "product", "power", "u2028", "vt"],
)
def test_what_fuzzing_found(
    target: Target, overrides: dict[str, Any], payload: dict[str, Any], reason: str
) -> None:
    # Each of these used to end in INTERNAL (or, for the product, in gigabytes of memory).
    config = json.dumps(make_config(target.smtp.port, **overrides))
    started = time.monotonic()
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message("user@example.com", "Register", payload, config_json=config)
    assert caught.value.reason == reason, str(caught.value)
    assert time.monotonic() - started < 2
