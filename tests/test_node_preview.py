"""examples/node/preview.js run as a user would: PreviewMessage from Node.js, against a real
server; the SMTP server receives nothing."""

from __future__ import annotations

from pathlib import Path

from tests.support.node import ROOT, run_node
from tests.support.service import make_config, running_service
from tests.support.smtp import SmtpServer

SCRIPT = ROOT / "examples" / "node" / "preview.js"


def test_node_preview_example(smtp_server: SmtpServer, tmp_path: Path) -> None:
    with running_service(make_config(smtp_server.port), tmp_path) as target:
        done = run_node(SCRIPT, target, "node@example.com", "161803")
        failed = run_node(SCRIPT, target, "not an address", "1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "template templates[1] (SignIn)"
    assert "Subject: Sign in to Acme" in lines and "To: node@example.com" in lines
    assert "<p>Code: <b>161803</b> for Acme</p>" in lines
    size, raw = lines[-1].removesuffix(")").split(" bytes (raw: ")
    assert int(size) == int(raw) > 200
    assert failed.returncode == 1
    assert failed.stdout.startswith("would not send: INVALID_RECIPIENT: ")
    assert smtp_server.received == []
