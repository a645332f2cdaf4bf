"""A non-Python caller: the Node.js program in tests/node/ (@grpc/grpc-js, protos/ loaded by
@grpc/proto-loader) calls all three RPCs against the real server; we check what it prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.flaky import flaky_server
from tests.support.node import ROOT, run_node
from tests.support.service import make_config, running_service
from tests.support.smtp import SmtpServer


def test_node_calls_all_three_rpcs(smtp_server: SmtpServer, tmp_path: Path) -> None:
    # Jinja2's strict variables: the payload without `code` fails (Logto's rules would send it).
    config = make_config(smtp_server.port, templateEngine="jinja2")
    with running_service(config, tmp_path) as target:
        done = run_node(ROOT / "tests" / "node" / "all_rpcs.js", target, "node@example.com")
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = [json.loads(line) for line in done.stdout.splitlines()]
    validate, connection, sent, failed = results

    assert validate["rpc"] == "ValidateConfig"
    assert validate["response"]["valid"] is False
    assert any(issue["severity"] == "SEVERITY_ERROR" for issue in validate["response"]["issues"])

    assert connection["response"]["ok"] is True
    names = [step["name"] for step in connection["response"]["steps"]]
    assert names[:3] == ["resolve", "connect", "greeting"]

    assert sent["response"]["smtp_code"] == 250
    assert sent["response"]["accepted_recipients"] == ["node@example.com"]
    (message,) = smtp_server.received
    assert message.message["Message-ID"] == sent["response"]["message_id"]
    assert "Your code is 424242 for Node." in message.body()

    error = failed["error"]
    assert error["code"] == 3  # INVALID_ARGUMENT
    assert error["reason"] == "TEMPLATE_VARIABLE_MISSING"
    assert error["metadata"]["delivery"] == "not_sent"
    assert error["fieldViolations"] == [{"field": "payload.code", "description": "missing"}]


def test_node_follows_the_retry_rules() -> None:
    # Each method fails twice. ValidateConfig succeeds at its third attempt; the unkeyed send
    # fails at its only attempt (#1); the keyed send fails once (#2) and succeeds (#3).
    with flaky_server(failures=2) as (servicer, target):
        done = run_node(ROOT / "tests" / "node" / "retries.js", target)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert results == [
        {"call": "validate", "ok": True},
        {"call": "send without key", "ok": False, "reason": "SMTP_TEMPORARY_FAILURE"},
        {"call": "send with key", "ok": True},
    ]
    assert servicer.attempts == {"ValidateConfig": 3, "SendMessage": 3}
