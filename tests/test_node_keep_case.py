"""The README's note on `keepCase: true` for Node.js callers, shown against a real server:
with @grpc/proto-loader's default (keepCase: false) a request written with the proto's field
names loses `usage_type` on the way and is refused naming it; with keepCase: true it sends."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.node import ROOT, run_node
from tests.support.service import make_config, running_service
from tests.support.smtp import SmtpServer


def test_proto_loader_needs_keep_case(smtp_server: SmtpServer, tmp_path: Path) -> None:
    with running_service(make_config(smtp_server.port), tmp_path) as target:
        done = run_node(ROOT / "tests" / "node" / "keep_case.js", target, "node@example.com")
    assert done.returncode == 0, done.stderr
    default, kept = (json.loads(line) for line in done.stdout.splitlines())
    assert default == {
        "keepCase": False,
        "ok": False,
        "reason": "INVALID_REQUEST",
        "violations": [{"field": "usage_type", "description": "a usage type is required"}],
    }
    assert kept == {"keepCase": True, "ok": True}
    assert len(smtp_server.received) == 1
