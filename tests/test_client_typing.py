"""The client is typed for its callers: a consumer's module passes ``mypy --strict`` with no
project config (so no overrides of ours help), and wrong uses are rejected."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CONSUMER = Path(__file__).parent / "consumer" / "caller.py"

MISUSE = """
from smtp_connector.client import AsyncSmtpConnectorClient, SmtpConnectorClient


def wrong(client: SmtpConnectorClient, aclient: AsyncSmtpConnectorClient) -> None:
    client.send_message(42, "SignIn")  # expect: arg-type
    client.validate_config("{}").no_such_field  # expect: attr-defined
    aclient.send_message("a@example.com", "SignIn").message_id  # expect: attr-defined
    client.send_message("a@example.com", "SignIn", idempotency_key=None)  # expect: arg-type
    client.test_connection().steps[0].elapsed.no_such_field  # expect: attr-defined
"""


def test_consumer_passes_mypy_strict_and_misuse_fails(tmp_path: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n", encoding="utf-8")
    misuse = tmp_path / "misuse.py"
    misuse.write_text(MISUSE, encoding="utf-8")
    mypy = [sys.executable, "-m", "mypy", "--config-file", str(config)]
    done = subprocess.run(
        [*mypy, "--cache-dir", str(tmp_path / "cache"), str(CONSUMER), str(misuse)],
        capture_output=True,
        text=True,
        timeout=50,
    )
    errors = {
        (int(line), code)
        for line, code in re.findall(r"misuse\.py:(\d+): error: .*\[([a-z-]+)\]", done.stdout)
    }
    expected = {
        (number, code)
        for number, text in enumerate(MISUSE.splitlines(), start=1)
        for code in re.findall(r"# expect: ([a-z-]+)", text)
    }
    assert errors == expected, done.stdout
    assert "caller.py" not in done.stdout, done.stdout
