"""Finding 14: IPv6 forms that embed an IPv4 address passed the inline-config guard:
``::127.0.0.1`` (IPv4-compatible), ``::ffff:0:7f00:1`` (IPv4-translated), NAT64
``64:ff9b::7f00:1`` and 6to4 ``2002:7f00:1::1``, each of which a gateway or the host's own
stack may carry to loopback. Real inline sends through the real server (no address in
them is ever connected to: the guard refuses first)."""

from __future__ import annotations

import ipaddress

import pytest
from smtp_connector.client.errors import SmtpConnectorError
from smtp_connector.server.domain.guard import is_public

from tests.adversarial.conftest import TargetFactory, assert_responsive

EMBEDDING_LOOPBACK = [
    "::127.0.0.1",
    "::ffff:0:7f00:1",
    "64:ff9b::7f00:1",
    "64:ff9b:1::7f00:1",
    "2002:7f00:1::1",
    "::ffff:0:a9fe:a9fe",  # 169.254.169.254, the cloud metadata address
    "64:ff9b::a00:1",  # 10.0.0.1
]


@pytest.mark.parametrize("host", EMBEDDING_LOOPBACK)
def test_an_ipv6_form_of_a_private_ipv4_address_is_refused(
    start_target: TargetFactory, host: str
) -> None:
    target = start_target(inline_allowed_networks=[])
    config = target.inline(host=host, port=2525)
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message(
            "user@example.com", "Register", {"code": "1"}, config_json=config, timeout=5
        )
    assert caught.value.reason == "SMTP_HOST_NOT_ALLOWED", str(caught.value)
    assert_responsive(target)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"])
def test_an_ipv6_form_of_a_public_address_stays_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
