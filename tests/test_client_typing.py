"""The client is typed for its callers: a consumer's module passes ``mypy --strict`` with no
project config (so no overrides of ours help), and wrong uses are rejected."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

from smtp_connector.client import AsyncSmtpConnectorClient, SmtpConnectorClient

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


def test_sync_and_async_clients_have_the_same_methods() -> None:
    # aio.py mirrors _client.py line for line; this keeps the two in step.
    public = {
        name for name in vars(SmtpConnectorClient) if not name.startswith("_") or name == "__init__"
    }
    assert public == {
        "__init__",
        "send_message",
        "preview_message",
        "validate_config",
        "test_connection",
        "close",
    }
    for name in public:
        sync, async_ = getattr(SmtpConnectorClient, name), getattr(AsyncSmtpConnectorClient, name)
        assert inspect.iscoroutinefunction(async_) == (name != "__init__")
        sync_signature, async_signature = inspect.signature(sync), inspect.signature(async_)
        assert list(sync_signature.parameters) == list(async_signature.parameters), name
        for parameter, twin in zip(
            sync_signature.parameters.values(), async_signature.parameters.values(), strict=True
        ):
            same = parameter.default == twin.default and parameter.kind == twin.kind
            # Only the channel differs: grpc.Channel against grpc.aio.Channel.
            assert same and (parameter.annotation == twin.annotation or parameter.name == "channel")
        assert sync_signature.return_annotation == async_signature.return_annotation, name
