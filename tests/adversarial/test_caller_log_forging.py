"""Finding 17: a profile name with a line break was written into the text-format log as it
came, so a caller could add a line of its choosing (a fake "bearer tokens reloaded", a fake
delivery). A real `smtp-connector serve` with text logs gets such names, and other fields
a caller controls, on a real channel; every line of its log must still be one record."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.errors import SmtpConnectorError
from smtp_connector.server.logs import RequestIdFilter, make_formatter

from tests.support.attack import assert_responsive
from tests.support.process import ServerProcess
from tests.support.service import make_config
from tests.support.smtp import SmtpServer

FORGED = "2026-01-01 00:00:00,000 WARNING smtp_connector.server.app [-]: FORGED-LINE"
# What starts every record of the text format: its time and level.
RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
BREAKS = ["\n", "\r\n", "\r", "\u2028", "\x85", "\x0b"]


def test_a_caller_cannot_add_a_line_to_the_text_log(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = tmp_path / "profiles.json"
    profiles = {"profiles": {"default": make_config(smtp_server.port)}}
    config.write_text(json.dumps(profiles), encoding="utf-8")
    with (
        ServerProcess(tmp_path, "--config", str(config), "--log-format", "text") as server,
        SmtpConnectorClient(server.address, timeout=10, retry=None) as client,
    ):
        for brk in BREAKS:
            with pytest.raises(SmtpConnectorError) as raised:
                client.send_message("user@example.com", "Register", profile=f"x{brk}{FORGED}")
            assert raised.value.reason == "PROFILE_NOT_FOUND"
            assert [v.field for v in raised.value.field_violations] == ["profile"]
            assert FORGED not in raised.value.message  # a name that is none is not echoed
            # An unknown usage type falls back to Generic; the address is refused.
            client.send_message("user@example.com", f"Nope{brk}{FORGED}", {"code": "1"})
            with pytest.raises(SmtpConnectorError):
                client.send_message(f"a{brk}{FORGED}@example.com", "Register", {"code": "1"})
        assert_responsive(server.address, client, smtp_server)
        server.wait_for_log("SendMessage failed")
        log = server.logs()
    lines = log.splitlines()
    assert lines
    for line in lines:
        assert RECORD.match(line), f"a line that is no record: {line!r}"
    assert not any(line.startswith(FORGED) for line in lines)


@pytest.mark.parametrize("brk", BREAKS)
def test_the_text_format_writes_one_line_a_record(brk: str) -> None:
    """Whatever value a future message interpolates, and whatever an exception says."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter("text"))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tests.adversarial.forging")
    logger.addHandler(handler)
    try:
        logger.warning("value %s", f"x{brk}{FORGED}")
        try:
            raise ValueError(f"bad{brk}{FORGED}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert RECORD.match(lines[0]) and FORGED in lines[0]
    assert not any(line.startswith(FORGED) for line in lines)
    assert all(RECORD.match(line) or line.startswith("    ") for line in lines)
