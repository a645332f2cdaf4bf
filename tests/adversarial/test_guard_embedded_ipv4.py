"""Finding 14: IPv6 forms that embed an IPv4 address passed the inline-config guard:
``::127.0.0.1`` (IPv4-compatible), ``::ffff:0:7f00:1`` (IPv4-translated), NAT64
``64:ff9b::7f00:1`` and 6to4 ``2002:7f00:1::1``, each of which a gateway or the host's own
stack may carry to loopback.

Tests may only reach loopback, even when the guard regresses: these forms route to the
default gateway on an ordinary host (a regressed guard once made this test connect to NAT64
addresses), so they are judged by the guard itself, loading a real config with a resolver
that looks nothing up, and never sent to. The one form the host's own stack carries to
loopback, the IPv4-mapped ``::ffff:127.0.0.1``, is also sent end to end through the real
server: a regression there reaches only the test's own SMTP server on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import json

import pytest
from smtp_connector.client.errors import SmtpConnectorError
from smtp_connector.server.domain.guard import InlineGuard, is_public
from smtp_connector.server.domain.mailer import load_config
from smtp_connector.server.errors import PermissionDenied

from tests.adversarial.conftest import TargetFactory, assert_responsive
from tests.support.service import make_config

EMBEDDING_PRIVATE = [
    "::127.0.0.1",
    "::ffff:0:7f00:1",
    "64:ff9b::7f00:1",
    "64:ff9b:1::7f00:1",
    "2002:7f00:1::1",
    "::ffff:0:a9fe:a9fe",  # 169.254.169.254, the cloud metadata address
    "64:ff9b::a00:1",  # 10.0.0.1
]
PORT = 2525
# Carried to 127.0.0.1 by the host's own IPv6 stack: the only form a test may send to.
MAPPED_LOOPBACK = "::ffff:127.0.0.1"


def _guard(looked_up: list[str]) -> InlineGuard:
    """The server's guard with no allowed network; its resolver answers an address literal
    with itself (no lookup, no packet) and records what it was asked."""

    def literal(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return [str(ipaddress.ip_address(host))]

    return InlineGuard(
        enabled=True, host_patterns=["*"], ports=[PORT], allowed_networks=[], resolver=literal
    )


@pytest.mark.parametrize("host", EMBEDDING_PRIVATE)
def test_an_ipv6_form_of_a_private_ipv4_address_is_refused_by_the_guard(host: str) -> None:
    looked_up: list[str] = []
    config = json.dumps(make_config(PORT, host=host))
    with pytest.raises(PermissionDenied) as caught:
        _guard(looked_up).admit(config, load_config)
    assert caught.value.reason == "SMTP_HOST_NOT_ALLOWED", str(caught.value)
    assert "non-public address" in str(caught.value)
    assert looked_up == [host]  # refused for its address, not for its name or port


def test_the_guard_admits_a_public_ipv6_form_of_a_public_address() -> None:
    # The same path lets a public address through, so the refusals above are the address's.
    looked_up: list[str] = []
    config = json.dumps(make_config(PORT, host="64:ff9b::808:808"))  # 8.8.8.8, never sent to
    loaded = _guard(looked_up).admit(config, load_config)
    assert loaded.connection.host == "64:ff9b::808:808"


def test_the_mapped_form_of_loopback_is_refused_end_to_end(start_target: TargetFactory) -> None:
    target = start_target(inline_allowed_networks=[])
    config = target.inline(host=MAPPED_LOOPBACK, port=target.smtp.port)
    with pytest.raises(SmtpConnectorError) as caught:
        target.client.send_message(
            "user@example.com", "Register", {"code": "1"}, config_json=config, timeout=5
        )
    assert caught.value.reason == "SMTP_HOST_NOT_ALLOWED", str(caught.value)
    assert not target.smtp.received
    assert_responsive(target)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"])
def test_an_ipv6_form_of_a_public_address_stays_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))
