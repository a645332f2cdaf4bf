"""Finding 11: TestConnection's probe tries ports the admin did not configure, and never
sends a password over a plain connection there; an OAuth2 config's bearer token, though,
went out in XOAUTH2 to a plaintext port. A hostile peer on the probed port offers AUTH
XOAUTH2 without STARTTLS and records every line; the token must never reach it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from smtp_connector.client import SmtpConnectorClient

from tests.support.attack import assert_absent, assert_responsive
from tests.support.hostile import Tally, hostile_server, replies_with
from tests.support.raw import closed_port
from tests.support.service import in_process_service, make_config
from tests.support.smtp import SmtpServer

TOKEN = "ya29.bearer-1b9f0c2e7d"
MAILBOX = "sender@example.com"


@pytest.fixture
def recording_peer() -> Iterator[tuple[int, Tally]]:
    """A plaintext SMTP server offering AUTH XOAUTH2 (and no STARTTLS) that accepts it."""
    tally = Tally()
    with hostile_server(replies_with(tally, lambda line: None)) as peer:
        yield peer.port, tally


def test_the_probe_never_sends_an_oauth2_token_in_plain_text(
    smtp_server: SmtpServer, tmp_path: Path, recording_peer: tuple[int, Tally]
) -> None:
    probed_port, tally = recording_peer
    # The admin configured implicit TLS on a port that does not answer; the probe tries
    # the hostile peer's port as one of "the other common ports".
    oauth2 = make_config(
        closed_port(),
        secure=True,
        auth={"type": "OAuth2", "user": MAILBOX, "accessToken": TOKEN},
    )
    profiles = {"profiles": {"default": make_config(smtp_server.port), "oauth": oauth2}}
    with in_process_service(tmp_path, profiles, probe_ports=[probed_port]) as service:
        address = f"127.0.0.1:{service.port}"
        with SmtpConnectorClient(address, timeout=20, retry=None) as client:
            response = client.test_connection(profile="oauth", probe=True)
            assert_responsive(address, client, smtp_server)
    plain = [a for a in response.probe_attempts if a.port == probed_port]
    assert plain, response
    heard = b"\n".join(tally.heard).decode("utf-8", "replace")
    assert "EHLO" in heard.upper()  # the probe did reach the peer
    assert "AUTH" not in heard.upper()
    blob = base64.b64encode(f"user={MAILBOX}\x01auth=Bearer {TOKEN}\x01\x01".encode()).decode()
    assert_absent(TOKEN, heard)
    assert_absent(blob, heard)
    assert "not tried" in plain[0].detail or "AUTH not tried" in plain[0].detail
