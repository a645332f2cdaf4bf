"""Finding 18: deep nesting reached Python's recursion limit and answered INTERNAL: a
``config_json`` of ``"[" * 100000``, and a ``fromEmail``/``replyTo`` of ``"(" * 5000 +
"a@example.com"`` (``email.utils.parseaddr`` recurses per comment level). Each is now
INVALID_ARGUMENT (INVALID_CONFIG) or, for fromEmail, FAILED_PRECONDITION (INVALID_SENDER),
naming the field."""

from __future__ import annotations

import json

import pytest
from smtp_connector.client.errors import SmtpConnectorError

from tests.adversarial.conftest import Target, assert_responsive
from tests.support.service import make_config

PAYLOAD = {"code": "123456", "application": {"name": "A"}}
DEEP_JSON = {
    "brackets": "[" * 100_000,
    "closed-brackets": "[" * 5_000 + "]" * 5_000,
    "deep-key": json.dumps({**make_config(25), "extra": json.loads("[" * 500 + "]" * 500)}),
}
NESTED_COMMENTS = "(" * 5000 + "a@example.com"
NESTED_SHORT = "(" * 900 + "a@example.com"


@pytest.mark.parametrize("config_json", list(DEEP_JSON.values()), ids=list(DEEP_JSON))
def test_deeply_nested_config_json_is_invalid_argument(target: Target, config_json: str) -> None:
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message("user@example.com", "Register", PAYLOAD, config_json=config_json)
    assert caught.value.code.name == "INVALID_ARGUMENT", str(caught.value)
    assert caught.value.reason == "INVALID_CONFIG"
    response = target.client.validate_config(config_json)
    assert not response.valid
    assert response.issues[0].code in ("TOO_DEEP", "INVALID_JSON"), response.issues[0]
    assert_responsive(target)


@pytest.mark.parametrize("field", ["fromEmail", "replyTo"])
@pytest.mark.parametrize("value", [NESTED_COMMENTS, NESTED_SHORT], ids=["5000", "900"])
def test_nested_comments_in_a_mailbox_are_invalid_argument(
    target: Target, field: str, value: str
) -> None:
    config = target.inline(**{field: value})
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message("user@example.com", "Register", PAYLOAD, config_json=config)
    # fromEmail is only checked at send time (Logto takes any string there): INVALID_SENDER.
    assert caught.value.reason in ("INVALID_CONFIG", "INVALID_SENDER"), str(caught.value)
    assert field in str(caught.value)
    response = target.client.validate_config(config)
    assert not response.valid
    assert field in [issue.field_path for issue in response.issues]
    assert not target.smtp.received
    assert_responsive(target)
