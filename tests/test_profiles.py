"""Named sender profiles: one server config file with several connector configs, chosen per
request by `profile`, each with its own templates, SMTP server and pool, and listed with
their state for health."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.client.cli import main
from smtp_connector.client.errors import InvalidRequestError
from smtp_connector.server.domain.mailer import Mailer, load_config
from smtp_connector.server.domain.profiles import Profiles, load_profiles, profile_statuses
from smtp_connector.server.errors import InvalidConfig
from smtp_connector.server.rpc.servicer import SmtpConnectorServicer
from smtp_connector.server.transport import ConnectionSettings, SmtpTransport, Transport

from tests.support.probes import handshake_probe
from tests.support.service import ServerFactory, in_process_service, make_config
from tests.support.smtp import SmtpServer, free_port


@pytest.fixture
def marketing_server() -> Iterator[SmtpServer]:
    """A second SMTP server, for the second profile."""
    with SmtpServer() as server:
        yield server


def marketing_config(port: int) -> dict[str, Any]:
    return make_config(
        port,
        fromEmail="News <news@example.org>",
        templates=[
            {
                "usageType": "Generic",
                "contentType": "text/plain",
                "subject": "News",
                "content": "Hello {{name}}",
            },
            {
                "usageType": "Test",
                "contentType": "text/plain",
                "subject": "News test",
                "content": "Test {{code}}",
            },
        ],
    )


def profile_file(default_port: int, marketing_port: int, **extra: Any) -> dict[str, Any]:
    return {
        "profiles": {
            "transactional": make_config(default_port),
            "marketing": marketing_config(marketing_port),
        },
        "defaultProfile": "transactional",
        **extra,
    }


class CountingFactory:
    """Makes real transports and records the settings of each."""

    def __init__(self) -> None:
        self.created: list[ConnectionSettings] = []

    def __call__(self, settings: ConnectionSettings) -> Transport:
        self.created.append(settings)
        return SmtpTransport(settings)


def test_each_profile_sends_with_its_own_server_templates_and_transport(
    smtp_server: SmtpServer, marketing_server: SmtpServer, start_service: ServerFactory
) -> None:
    factory = CountingFactory()
    client = start_service(
        profile_file(smtp_server.port, marketing_server.port), mailer=Mailer(factory)
    )
    payload = {"code": "123456", "name": "Ada"}

    client.send_message("a@example.com", "Unknown", payload)  # the default profile
    client.send_message("b@example.com", "Unknown", payload, profile="marketing")
    client.send_message("c@example.com", "Unknown", payload, profile="transactional")

    default_messages = [r.message for r in smtp_server.received]
    [marketing] = [r.message for r in marketing_server.received]
    assert [(m["To"], m["Subject"]) for m in default_messages] == [
        ("a@example.com", "Your code"),
        ("c@example.com", "Your code"),
    ]
    assert default_messages[0]["From"] == "Logto <noreply@example.com>"
    assert (marketing["To"], marketing["From"]) == ("b@example.com", "News <news@example.org>")
    assert marketing.get_content().rstrip() == "Hello Ada"
    assert sorted(s.port for s in factory.created) == sorted(
        [smtp_server.port, marketing_server.port]
    )


def test_test_connection_tests_the_named_profile(
    smtp_server: SmtpServer, marketing_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(profile_file(smtp_server.port, marketing_server.port))

    report = client.test_connection(test_recipient="ops@example.com", profile="marketing")

    assert report.ok
    connect = next(step for step in report.steps if step.name == "connect")
    assert connect.detail == f"connected to 127.0.0.1:{marketing_server.port}"
    assert [r.message["Subject"] for r in marketing_server.received] == ["News test"]
    assert smtp_server.received == []


def test_an_unknown_profile_is_an_invalid_argument(
    smtp_server: SmtpServer, marketing_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(profile_file(smtp_server.port, marketing_server.port))

    with pytest.raises(InvalidRequestError) as caught:
        client.send_message("a@example.com", "SignIn", {"code": "1"}, profile="sales")

    assert caught.value.reason == "PROFILE_NOT_FOUND"
    assert [v.field for v in caught.value.field_violations] == ["profile"]
    assert "transactional, marketing" in caught.value.message


def test_a_profile_with_an_inline_config_is_an_invalid_argument(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port))

    with pytest.raises(InvalidRequestError) as caught:
        client.test_connection(json.dumps(make_config(smtp_server.port)), profile="default")

    assert [v.field for v in caught.value.field_violations] == ["profile"]


def test_a_plain_config_file_is_the_default_profile(
    smtp_server: SmtpServer, start_service: ServerFactory
) -> None:
    client = start_service(make_config(smtp_server.port))

    client.send_message("a@example.com", "Generic", {"code": "1"}, profile="default")

    assert len(smtp_server.received) == 1


def test_the_server_password_applies_to_the_default_profile_only() -> None:
    profiles = load_profiles(json.dumps(profile_file(1, 2)), password="from-env")

    assert profiles.get("").connection.password == "from-env"
    assert profiles.get("marketing").connection.password is None


@pytest.mark.parametrize(
    ("file", "field_path"),
    [
        ({"profiles": {"a": make_config(1, port="x")}}, "profiles.a.port"),
        (
            {"profiles": {"a": make_config(1), "b": {"host": "h"}}, "defaultProfile": "a"},
            "profiles.b.port",
        ),
        ({"profiles": {"a": make_config(1), "b": make_config(2)}}, "defaultProfile"),
        ({"profiles": {"a": make_config(1)}, "defaultProfile": "z"}, "defaultProfile"),
        ({"profiles": {"bad name": make_config(1)}}, "profiles.bad name"),
        ({"profiles": {}}, "profiles"),
        ({"profiles": [make_config(1)]}, "profiles"),
    ],
    ids=[
        "bad-field",
        "missing-field",
        "no-default",
        "unknown-default",
        "bad-name",
        "empty",
        "list",
    ],
)
def test_profile_file_errors_name_the_field(file: dict[str, Any], field_path: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        load_profiles(json.dumps(file))

    assert field_path in [v.field for v in caught.value.violations]


def test_the_default_profile_is_named_default_or_the_only_one() -> None:
    only = load_profiles(json.dumps({"profiles": {"main": make_config(1)}}))
    named = load_profiles(
        json.dumps({"profiles": {"x": make_config(1), "default": make_config(2)}})
    )

    assert (only.default, only.get().connection.port) == ("main", 1)
    assert (named.default, named.get().connection.port) == ("default", 2)


def test_a_servicer_built_with_one_config_still_works() -> None:
    servicer = SmtpConnectorServicer(Mailer(), load_config(json.dumps(make_config(1))))

    assert servicer.profiles is not None
    assert servicer.profiles.names == ("default",)


def test_profile_statuses_report_each_profile(smtp_server: SmtpServer) -> None:
    dead_port = free_port()
    profiles = load_profiles(json.dumps(profile_file(smtp_server.port, dead_port)))

    loaded = profile_statuses(profiles)
    live = profile_statuses(profiles, handshake_probe(timeout=5))

    assert [(s.name, s.default, s.serving) for s in loaded] == [
        ("transactional", True, True),
        ("marketing", False, True),
    ]
    assert [(s.name, s.serving, s.address) for s in live] == [
        ("transactional", True, f"127.0.0.1:{smtp_server.port}"),
        ("marketing", False, f"127.0.0.1:{dead_port}"),
    ]
    assert live[1].detail.startswith("connect: ")
    assert smtp_server.received == []


def test_profiles_single_is_the_default() -> None:
    profiles = Profiles.single(load_config(json.dumps(make_config(1))))

    assert profiles.get("") is profiles.get("default")


def test_the_cli_sends_with_a_profile_and_resolves_a_lookup(
    smtp_server: SmtpServer,
    marketing_server: SmtpServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profiles = profile_file(smtp_server.port, marketing_server.port)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(make_config(1)))
    with in_process_service(tmp_path, profiles) as service:
        target = ["--target", f"127.0.0.1:{service.port}"]
        to = ["--to", "a@example.com", "--payload", '{"name": "Ada"}']
        sent = main(["send", *target, *to, "--profile", "marketing"])
        tested = main(["test", *target, "--profile", "marketing"])
        resolved = main(["validate", *target, str(config), "--resolve", "SignIn", "--locale", "fr"])

    assert (sent, tested, resolved) == (0, 0, 0)
    assert [r.message["From"] for r in marketing_server.received] == ["News <news@example.org>"]
    out = capsys.readouterr().out
    assert "lookup SignIn [fr]: -" in out
    assert "lookup SignIn [no locale]: templates[1]" in out
