"""The web console's guards over real HTTP (uvicorn on a free loopback port, next to a real
gRPC server): the bearer-token login, the Host check against DNS rebinding, same-origin
writes, no secret in any answer, no file outside the mailbox, the message view's policy."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from smtp_connector.server.app import Service
from smtp_connector.server.console.runner import ConsoleServer, build_console
from smtp_connector.server.serve import parser as serve_parser
from smtp_connector.server.settings import Settings

from tests.support.service import in_process_service, make_config

TOKEN = "console-token-0123456789"
PASSWORD = "smtp-password-never-shown"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def fetch(
    url: str,
    *,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> Answer:
    """One HTTP request; any status comes back as an Answer (redirects are not followed)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with _OPENER.open(request, timeout=30) as response:
            raw = response.read()
            return Answer(response.status, dict(response.headers), raw.decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read().decode("utf-8", "replace"))


@dataclass
class Console:
    url: str
    service: Service
    server: ConsoleServer
    mailbox: Path


@contextmanager
def running_console(tmp_path: Path, **settings: Any) -> Iterator[Console]:
    """The gRPC server and its console, both on free loopback ports, with a mailbox folder
    holding one message."""
    config = make_config(1, username="user", password=PASSWORD)
    config["templates"].append({**config["templates"][0], "subject": "A second Register"})
    mailbox = tmp_path / "mailbox"
    mailbox.mkdir()
    (mailbox / "20261201-120000-1-000001.eml").write_bytes(_html_message())
    options: dict[str, Any] = {"dev_mailbox": mailbox, "console": True}
    options["console_address"] = "127.0.0.1:0"
    with in_process_service(tmp_path, config, **options, **settings) as service:
        console = build_console(
            Settings(**options, **settings),
            port=service.port,
            profiles=lambda: service.servicer.profiles,
            tokens=service.auth,
        )
        console.start()
        try:
            yield Console(console.url.rstrip("/"), service, console, mailbox)
        finally:
            console.stop()


def _html_message() -> bytes:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["To"] = "b@example.com"
    message["Subject"] = "Hello"
    message.set_content("plain")
    message.add_alternative(
        '<p>Hi</p><img src="https://tracker.example/p.gif"><script>alert(1)</script>',
        subtype="html",
    )
    return message.as_bytes()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path) as started:
        yield started


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Console]:
    with running_console(tmp_path, auth_tokens=TOKEN) as started:
        yield started


MESSAGE_ID = "20261201-120000-1-000001.eml"
PREVIEW = {"profile": "", "usage_type": "Register", "to": "u@example.org"}
PREVIEW_PAYLOAD = {"code": "777", "application": {"name": "Acme"}}


def test_pages_answer_without_tokens_when_the_server_has_none(console: Console) -> None:
    for page in ("/mailbox", "/templates", "/test", f"/mailbox?id={MESSAGE_ID}&view=raw"):
        answer = fetch(console.url + page)
        assert answer.status == 200, page
        assert "script-src 'self'" in answer.headers["content-security-policy"]
    preview = fetch(console.url + "/api/preview", body={**PREVIEW, "payload": PREVIEW_PAYLOAD})
    assert preview.status == 200
    assert "never sent" not in fetch(console.url + "/templates?key=default/0").body
    shadowed = fetch(console.url + "/templates?key=default/3").body
    assert "uses templates[0]: the first template of a usage type and locale wins" in shadowed
    assert json.loads(preview.body)["preview"]["text_body"].startswith("Your code is 777 for Acme")


def test_no_secret_in_any_answer(console: Console) -> None:
    answers = [
        fetch(console.url + page)
        for page in ("/mailbox", "/templates", "/templates?key=default/1", "/test")
    ]
    answers.append(fetch(console.url + "/api/preview", body={**PREVIEW, "payload": {}}))
    answers.append(fetch(console.url + "/api/test", body={"to": "u@example.org"}))
    assert answers[-1].status == 200, answers[-1].body  # a failed connection test, reported
    assert json.loads(answers[-1].body)["result"]["ok"] is False
    for answer in answers:
        assert PASSWORD not in answer.body


def test_a_token_is_needed_when_the_server_has_tokens(guarded: Console) -> None:
    assert fetch(guarded.url + "/mailbox").status == 303
    assert fetch(guarded.url + "/login").status == 200
    assert fetch(guarded.url + f"/mailbox/{MESSAGE_ID}/download").status == 401
    denied = fetch(guarded.url + "/api/preview", body={**PREVIEW, "payload": PREVIEW_PAYLOAD})
    assert denied.status == 401
    assert fetch(guarded.url + "/login", body={"token": "wrong"}).status == 401

    login = fetch(guarded.url + "/login", body={"token": TOKEN})
    assert login.status == 200
    cookie = login.headers["set-cookie"]
    assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    session = {"Cookie": cookie.split(";")[0]}
    page = fetch(guarded.url + "/mailbox", headers=session)
    assert page.status == 200 and TOKEN not in page.body
    # The console calls the service with the token it was given: the service's own check.
    preview = fetch(
        guarded.url + "/api/preview", body={**PREVIEW, "payload": PREVIEW_PAYLOAD}, headers=session
    )
    assert preview.status == 200, preview.body
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert fetch(guarded.url + f"/mailbox/{MESSAGE_ID}/download", headers=bearer).status == 200


def test_another_site_cannot_write_or_rebind(console: Console) -> None:
    body = {"to": "victim@example.org"}
    # A page elsewhere posting to the console: refused by its Origin, or by its content type.
    evil = fetch(console.url + "/api/test", body=body, headers={"Origin": "http://evil.example"})
    assert evil.status == 403
    assert fetch(console.url + "/api/test", body=body, content_type="text/plain").status == 403
    huge = {"to": "u@example.org", "payload": {"x": "y" * (2 << 20)}}
    assert fetch(console.url + "/api/preview", body=huge).status == 413
    # DNS rebinding: the browser sends the attacker's name as Host.
    assert fetch(console.url + "/mailbox", headers={"Host": "evil.example"}).status == 400


def test_only_mailbox_messages_are_served(console: Console) -> None:
    (console.mailbox.parent / "secret.eml").write_text("outside")
    for name in ("..%2Fsecret.eml", "..%2Fconfig.json", "secret.eml", "x.txt"):
        assert fetch(console.url + f"/mailbox/{name}/download").status == 404, name
        assert fetch(console.url + f"/mailbox/{name}/html").status == 404, name
    download = fetch(console.url + f"/mailbox/{MESSAGE_ID}/download")
    assert download.status == 200
    assert download.headers["content-disposition"] == f'attachment; filename="{MESSAGE_ID}"'


def test_message_html_is_sandboxed_and_remote_images_wait(console: Console) -> None:
    blocked = fetch(console.url + f"/mailbox/{MESSAGE_ID}/html")
    policy = blocked.headers["content-security-policy"]
    assert policy.startswith("sandbox ") and "allow-scripts" not in policy
    assert "img-src data:;" in policy and "default-src 'none'" in policy
    allowed = fetch(console.url + f"/mailbox/{MESSAGE_ID}/html?remote=1")
    assert "img-src data: https: http:;" in allowed.headers["content-security-policy"]
    assert "allow-scripts" not in allowed.headers["content-security-policy"]
    page = fetch(console.url + f"/mailbox?id={MESSAGE_ID}")
    assert "Remote images are blocked (1 reference)" in page.body


def test_console_settings_refuse_exposure(tmp_path: Path) -> None:
    wide = Settings(console=True, console_address="0.0.0.0:0")
    with pytest.raises(ValueError, match="without a bearer token"):
        build_console(wide, port=1, profiles=lambda: None, tokens=None)
    assert Settings().console is False, "the console is off unless asked for"
    assert Settings().console_address.startswith("127.0.0.1:")


def test_serve_has_console_flags() -> None:
    args = serve_parser().parse_args(["--console", "--console-address", "127.0.0.1:9"])
    assert (args.console, args.console_address) == (True, "127.0.0.1:9")
    assert serve_parser().parse_args([]).console is None, "unset: the environment decides"
