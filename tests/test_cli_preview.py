"""`smtp-connector preview`: the message a send would deliver, printed (or its raw bytes, or
its HTML opened in a browser), against a real server; nothing reaches the SMTP server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from smtp_connector.client import SmtpConnectorClient
from smtp_connector.client.cli import main

from tests.support.service import CHINESE_SUBJECT
from tests.support.smtp import SmtpServer, parse_message


def _preview_args(target: str, usage_type: str) -> list[str]:
    return ["preview", "--target", target, "--to", "u@example.org", "--usage-type", usage_type]


def test_preview_prints_template_headers_and_body(
    service: SmtpConnectorClient, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = json.dumps({"application": {"name": "Acme"}})
    status = main(
        [*_preview_args(service.target, "Register"), "--code", "246810", "--payload", payload]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("template templates[0] (Register)\n")
    assert "  lookup Register [no locale]: templates[0]\n" in out
    assert f"Subject: {CHINESE_SUBJECT}\n" in out
    assert "From: Logto <noreply@example.com>\n" in out
    assert "Your code is 246810 for Acme.\n" in out
    assert smtp_server.received == []


def test_preview_raw_is_the_rfc5322_message(
    service: SmtpConnectorClient,
    smtp_server: SmtpServer,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    status = main(
        ["preview", "--target", service.target, "--to", "u@example.org", "--code", "5", "--raw"]
    )
    raw = capsysbinary.readouterr().out
    assert status == 0
    assert b"\r\n\r\n" in raw and raw.endswith(b"\r\n")
    message = parse_message(raw)
    assert message["To"] == "u@example.org"
    assert message.get_content().startswith("Code 5")


def test_preview_error_is_the_send_error(
    service: SmtpConnectorClient, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["preview", "--target", service.target, "--to", "nobody"])
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("error: INVALID_RECIPIENT")
    assert "  to: " in err


def test_preview_open_hands_the_html_to_the_browser_with_scripts_blocked(
    service: SmtpConnectorClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # $BROWSER is what `webbrowser` runs: here, a script keeping a copy of the file it is given.
    opened = tmp_path / "opened.html"
    browser = tmp_path / "browser"
    browser.write_text(
        f"#!{sys.executable}\nimport shutil, sys\n"
        f"shutil.copy(sys.argv[1].removeprefix('file://'), {str(opened)!r})\n",
        encoding="utf-8",
    )
    browser.chmod(0o755)
    monkeypatch.setenv("BROWSER", f"{browser} %s")
    payload = '{"application": {"name": "A"}}'
    status = main(
        [*_preview_args(service.target, "SignIn"), "--code", "1", "--open", "--payload", payload]
    )
    assert status == 0
    assert "opened " in capsys.readouterr().err
    html = opened.read_text(encoding="utf-8")
    assert "<p>Code: <b>1</b> for A</p>" in html
    assert html.startswith('<meta http-equiv="Content-Security-Policy"')
    assert "default-src 'none'" in html.splitlines()[0]
