"""Every example in examples/ run as a user would, against the real server and a recording
SMTP server: Python sync and async, Node.js, and a generic tool through reflection."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.node import ROOT, run_node
from tests.support.service import make_config, running_service
from tests.support.smtp import SmtpServer

EXAMPLES = ROOT / "examples"
REFUSED = "550 5.1.1 no such user"


@pytest.fixture
def target(smtp_server: SmtpServer, tmp_path: Path) -> Iterator[str]:
    """The address of smtp-connector (with reflection) configured for ``smtp_server``."""
    with running_service(make_config(smtp_server.port), tmp_path, with_reflection=True) as address:
        yield address


def run_python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "python" / script), *args],
        capture_output=True,
        text=True,
        timeout=45,
    )


def test_python_sync_example(target: str, smtp_server: SmtpServer) -> None:
    done = run_python("send_sync.py", target, "ada@example.com", "314159")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sent <") and ": 250 " in done.stdout
    (message,) = smtp_server.received
    assert message.rcpt_tos == ["ada@example.com"]
    assert "314159" in message.body() and "Acme" in message.body()


def test_python_sync_example_handles_a_refused_recipient(
    target: str, smtp_server: SmtpServer
) -> None:
    smtp_server.handler.reply_for["RCPT"] = REFUSED
    done = run_python("send_sync.py", target, "nobody@example.com", "1")
    assert done.returncode == 1
    assert done.stdout.startswith("the provider refused nobody@example.com (550)")


def test_python_async_example(target: str, smtp_server: SmtpServer) -> None:
    done = run_python("send_async.py", target, "a@example.com", "b@example.com")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "SMTP server reachable"
    assert lines[1].startswith("a@example.com: sent <") and lines[2].startswith("b@example.com")
    assert sorted(m.rcpt_tos[0] for m in smtp_server.received) == ["a@example.com", "b@example.com"]


def test_node_example(target: str, smtp_server: SmtpServer) -> None:
    done = run_node(EXAMPLES / "node" / "send.js", target, "node@example.com", "271828")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sent <") and ": 250 " in done.stdout
    (message,) = smtp_server.received
    assert "271828" in message.body()


def test_node_example_handles_a_refused_recipient(target: str, smtp_server: SmtpServer) -> None:
    smtp_server.handler.reply_for["RCPT"] = REFUSED
    done = run_node(EXAMPLES / "node" / "send.js", target, "nobody@example.com", "1")
    assert done.returncode == 1
    assert done.stdout.startswith("bad address (550)")


def test_reflection_example(target: str, smtp_server: SmtpServer) -> None:
    done = subprocess.run(
        ["bash", str(EXAMPLES / "reflection" / "call.sh"), target, "curl@example.com"],
        capture_output=True,
        text=True,
        timeout=45,
    )
    assert done.returncode == 0, done.stderr
    service = "smtp_connector.v1.SmtpConnectorService"
    methods, _, responses = done.stdout.partition("{")
    assert {f"{service}/{m}" for m in ("SendMessage", "TestConnection", "ValidateConfig")} <= set(
        methods.split()
    )
    validated, sent = (json.loads("{" + part) for part in responses.split("\n{"))
    assert validated["issues"][0] == {
        "fieldPath": "host",
        "message": validated["issues"][0]["message"],
        "severity": "SEVERITY_ERROR",
        "code": "INVALID_VALUE",
    }
    assert sent["smtpCode"] == 250 and sent["acceptedRecipients"] == ["curl@example.com"]
    (message,) = smtp_server.received
    assert "777777 for Reflection" in message.body()
