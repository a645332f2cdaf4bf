"""The guard on inline configs: off by default, then host patterns, ports, and no private
addresses, checked on the resolved address the connection then uses."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from smtp_connector.client.errors import InvalidRequestError, PermissionDeniedError
from smtp_connector.server.deadline import Deadline
from smtp_connector.server.domain.guard import InlineGuard, is_public
from smtp_connector.server.domain.mailer import Mailer, SendRequest, load_config
from smtp_connector.server.errors import PermissionDenied

from tests.support.service import ServerFactory, make_config
from tests.support.smtp import SmtpServer, free_port

LOOPBACK = "127.0.0.0/8"


def inline(smtp_port: int, **overrides: Any) -> str:
    return json.dumps(make_config(smtp_port, **overrides))


def test_inline_configs_are_refused_by_default(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port))
    config_json = inline(smtp_server.port)
    with pytest.raises(PermissionDeniedError) as sent:
        client.send_message("a@example.com", "Generic", {"code": 1}, config_json=config_json)
    with pytest.raises(PermissionDeniedError) as tested:
        client.test_connection(config_json)
    for raised in (sent, tested):
        assert raised.value.code is grpc.StatusCode.PERMISSION_DENIED
        assert raised.value.reason == "INLINE_CONFIG_DISABLED"
        # The message names the server setting that would allow it.
        assert "--allow-inline-config" in raised.value.message
        assert "SMTP_CONNECTOR_ALLOW_INLINE_CONFIG" in raised.value.message
    # Validation opens no connection, so it stays allowed.
    assert client.validate_config(config_json).valid
    assert smtp_server.received == []
    assert smtp_server.connections == 0


def test_enabled_inline_configs_reach_allowed_destinations(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(
        allow_inline_config=True,
        inline_allowed_hosts=["127.0.0.1"],
        inline_allowed_ports=[smtp_server.port],
        inline_allowed_networks=[LOOPBACK],
    )
    response = client.send_message(
        "a@example.com", "Generic", {"code": 1}, config_json=inline(smtp_server.port)
    )
    assert response.smtp_code == 250
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize(
    ("settings", "host", "why"),
    [
        ({}, "127.0.0.1", "non-public"),  # loopback, not allowed explicitly
        ({"inline_allowed_hosts": ["*.example.com"]}, "127.0.0.1", "not allowed"),
        ({"inline_allowed_hosts": ["*.example.com"]}, "localhost", "not allowed"),
        ({}, "169.254.169.254", "non-public"),  # cloud metadata
        ({}, "localhost", "non-public"),  # the check is on the resolved address
        ({}, "::ffff:127.0.0.1", "non-public"),
        ({}, "no-such-host.invalid", "does not resolve"),
    ],
)
def test_refused_destinations(
    smtp_server: SmtpServer,
    start_service: ServerFactory,
    settings: dict[str, Any],
    host: str,
    why: str,
) -> None:
    client = start_service(
        allow_inline_config=True, inline_allowed_ports=[smtp_server.port], **settings
    )
    with pytest.raises(PermissionDeniedError) as raised:
        client.test_connection(inline(smtp_server.port, host=host))
    assert raised.value.reason == "SMTP_HOST_NOT_ALLOWED"
    assert why in raised.value.message
    setting = {"non-public": "inline-allowed-networks", "not allowed": "inline-allowed-hosts"}
    if why in setting:  # the message names the flag and the variable that would allow it
        assert f"--{setting[why]}" in raised.value.message
        assert setting[why].replace("-", "_").upper() in raised.value.message
    assert smtp_server.connections == 0


def test_ports_outside_the_allowlist_are_refused(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(allow_inline_config=True, inline_allowed_networks=[LOOPBACK])
    with pytest.raises(PermissionDeniedError) as raised:
        client.send_message("a@example.com", "Generic", {"code": 1}, config_json=inline(22))
    assert raised.value.reason == "SMTP_HOST_NOT_ALLOWED"
    assert "port 22" in raised.value.message
    assert "--inline-allowed-ports (SMTP_CONNECTOR_INLINE_ALLOWED_PORTS)" in raised.value.message


def test_inline_templates_over_the_size_limit_are_refused(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(
        allow_inline_config=True,
        inline_allowed_ports=[smtp_server.port],
        inline_allowed_networks=[LOOPBACK],
        max_template_bytes=100,
    )
    big = [
        {"usageType": "Generic", "contentType": "text/plain", "subject": "s", "content": "x" * 200}
    ]
    with pytest.raises(InvalidRequestError) as raised:
        client.test_connection(inline(smtp_server.port, templates=big))
    assert raised.value.reason == "LIMIT_EXCEEDED"
    assert raised.value.field_violations[0].field == "templates[0]"


def test_the_connection_goes_to_the_checked_address(smtp_server: SmtpServer) -> None:
    """A name is resolved once, checked, and the connection is made to that very address (a
    second DNS answer is never asked for), so DNS rebinding cannot redirect it."""
    answers = {"mail.rebind.test": ["127.0.0.1"]}
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[host]

    guard = InlineGuard(
        enabled=True,
        host_patterns=["*.rebind.test"],
        ports=[smtp_server.port],
        allowed_networks=[LOOPBACK],
        resolver=resolver,
    )
    config_json = inline(smtp_server.port, host="mail.rebind.test")
    loaded = guard.admit(config_json, load_config)
    assert loaded.connection.host == "127.0.0.1"
    assert loaded.connection.servername == "mail.rebind.test"  # TLS still checks the name
    # The name does not exist in real DNS: this send works only because it uses the address.
    answers["mail.rebind.test"] = ["169.254.169.254"]
    mailer = Mailer()
    try:
        result = mailer.send(
            loaded, SendRequest("a@example.com", "Generic", {"code": 7}), Deadline.after(10)
        )
    finally:
        mailer.close()
    assert result.smtp_code == 250
    assert asked == ["mail.rebind.test"]
    # Each request is checked anew: the changed answer is now refused.
    with pytest.raises(PermissionDenied):
        guard.admit(config_json, load_config)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),  # AWS, GCP, Azure metadata
        ("100.100.100.200", False),  # Alibaba Cloud metadata (shared address space)
        ("fd00:ec2::254", False),  # AWS metadata over IPv6
        ("fe80::1", False),
        ("::1", False),
        ("::ffff:10.0.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    import ipaddress

    assert is_public(ipaddress.ip_address(address)) is public


def test_an_inline_probe_stays_within_the_allowed_ports(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    other = free_port()
    client = start_service(
        None,
        allow_inline_config=True,
        inline_allowed_networks=["127.0.0.0/8"],
        inline_allowed_ports=[smtp_server.port],
        probe_ports=(other,),
        probe_time_limit=2.0,
    )
    response = client.test_connection(inline(smtp_server.port), probe=True)
    tried = {attempt.port for attempt in response.probe_attempts}
    assert tried, "the probe tried nothing"
    assert tried == {smtp_server.port}, "a probe port outside the allowlist was tried"
