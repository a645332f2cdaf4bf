"""Finding 20: with ``--log-level DEBUG`` and the development mailbox, aiosmtpd logged every
line of every message it received, verification codes included. A real `smtp-connector
serve --dev-mailbox --log-level DEBUG` gets sends on a real channel; the messages are
stored, and no line of their content reaches the log."""

from __future__ import annotations

import json
from pathlib import Path

from smtp_connector.client import SmtpConnectorClient

from tests.support.attack import assert_absent, health_status
from tests.support.process import ServerProcess
from tests.support.service import make_config
from tests.support.smtp import free_port

CODES = ("739201", "418552")
BODY_LINE = "unique-body-line-5f0c3a"


def test_debug_logs_with_the_dev_mailbox_show_no_message_content(tmp_path: Path) -> None:
    mailbox_port = free_port()
    config = make_config(mailbox_port, fromEmail="dev <noreply@example.test>")
    signin = {
        "usageType": "SignIn",
        "contentType": "text/plain",
        "subject": "Sign in",
        "content": f"{BODY_LINE}\nYour sign-in code is {{{{code}}}}.",
    }
    config["templates"] = [t for t in config["templates"] if t["usageType"] != "SignIn"]
    config["templates"].append(signin)
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    mailbox = tmp_path / "mailbox"
    args = ["--config", str(path), "--log-level", "DEBUG", "--dev-mailbox", str(mailbox)]
    args += ["--dev-mailbox-address", f"127.0.0.1:{mailbox_port}"]
    with (
        ServerProcess(tmp_path, *args) as server,
        SmtpConnectorClient(server.address, timeout=10, retry=None) as client,
    ):
        for code in CODES:
            client.send_message("user@example.test", "SignIn", {"code": code})
        assert health_status(server.address) == "SERVING"
        server.wait_for_log("dev mailbox: stored")
        log = server.logs()
    stored = "".join(eml.read_text() for eml in mailbox.glob("*.eml"))
    for code in CODES:
        assert code in stored  # sent and kept, where a developer reads it
        assert_absent(code, log)
    assert_absent(BODY_LINE, log)
    assert "DEBUG" in log  # the debug log is on, not silenced
