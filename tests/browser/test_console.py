"""The web console in Debian's chromium (Playwright), against a real `smtp-connector serve`
process with its development mailbox: a message sent over gRPC appears without a reload, a
message's script never runs and its remote images wait until asked, a template preview follows
an edited payload, and a test send shows every step with its hint."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from smtp_connector.client import SmtpConnectorClient

from tests.support.browser import DOCS, ImageHost, chromium
from tests.support.process import ServerProcess
from tests.support.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 10_000
SCRIPT = (
    "<script>document.body.setAttribute('data-script-ran', 'yes');"
    "fetch('/script-ran').catch(function () {});</script>"
)


def newsletter(image_port: int) -> dict[str, Any]:
    """An HTML template with everything the HTML view must tame: a script, a remote image."""
    return {
        "usageType": "Newsletter",
        "contentType": "text/html",
        "subject": "News for {{ name }}",
        "content": f'<h1 id="greeting">Hello {{{{ name }}}}</h1>'
        f'<p><img id="logo" alt="logo" src="http://127.0.0.1:{image_port}/logo.gif"></p>' + SCRIPT,
    }


def invitation() -> dict[str, Any]:
    return {
        "usageType": "OrganizationInvitation",
        "contentType": "multipart/alternative",
        "subject": "Join {{ organization.name }}",
        "content": "You are invited to {{ organization.name }}: {{ link }}",
        "htmlContent": '<div style="font-family:sans-serif;padding:16px;border:1px solid #ddd">'
        '<h2 style="color:#5d34f2">Join {{ organization.name }}</h2>'
        '<p><a href="{{ link }}" style="background:#5d34f2;color:#fff;padding:8px 14px;'
        'border-radius:6px;text-decoration:none">Accept the invitation</a></p></div>',
    }


@pytest.fixture(scope="module")
def images() -> Iterator[ImageHost]:
    with ImageHost() as host:
        yield host


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, images: ImageHost
) -> Iterator[tuple[ServerProcess, str, Path]]:
    """`smtp-connector serve` with the dev mailbox and the console, as `make run` starts it,
    with two profiles: the dev mailbox, and one whose SMTP server is not there."""
    folder = tmp_path_factory.mktemp("console")
    mailbox_port, console_port = free_port(), free_port()
    config = json.loads((ROOT / "examples" / "dev-config.json").read_text(encoding="utf-8"))
    config["port"] = mailbox_port
    config["templates"] += [newsletter(images.port), invitation()]
    broken = {**config, "port": free_port()}
    path = folder / "profiles.json"
    path.write_text(
        json.dumps({"defaultProfile": "dev", "profiles": {"dev": config, "broken": broken}}),
        encoding="utf-8",
    )
    mailbox = folder / "mailbox"
    env = {"SMTP_CONNECTOR_CONSOLE": "true"}
    env["SMTP_CONNECTOR_CONSOLE_ADDRESS"] = f"127.0.0.1:{console_port}"
    args = ["--config", str(path), "--dev-mailbox", str(mailbox)]
    args += ["--dev-mailbox-address", f"127.0.0.1:{mailbox_port}"]
    with ServerProcess(folder, *args, env=env) as server:
        url = f"http://127.0.0.1:{console_port}/"
        server.wait_for_log(f"web console on {url}")
        yield server, url, mailbox


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    page.close()


@pytest.fixture
def client(served: tuple[ServerProcess, str, Path]) -> Iterator[SmtpConnectorClient]:
    with SmtpConnectorClient(served[0].address, timeout=10) as client:
        yield client


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    """A screenshot of the page; copied into docs/console/ with UPDATE_SCREENSHOTS=1."""
    path = tmp_path / name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, "a blank page makes a tiny PNG"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / name)


def test_mailbox_shows_a_sent_message_without_a_reload(
    page: Page, served: tuple[ServerProcess, str, Path], client: SmtpConnectorClient, tmp_path: Path
) -> None:
    _server, url, _mailbox = served
    page.goto(url)
    expect(page).to_have_url(re.compile(r"/mailbox$"))
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))
    page.evaluate("window.stillTheSamePage = true")

    client.send_message("ada@example.com", "Register", {"code": "314159"})
    client.send_message("grace@example.com", "SignIn", {"code": "271828"})

    items = page.locator("#message-list li")
    expect(items.first).to_contain_text("Your sign-in code")
    expect(items.first).to_contain_text("grace@example.com")
    expect(items.nth(1)).to_contain_text("ada@example.com")
    assert page.evaluate("window.stillTheSamePage") is True, "the page was reloaded"

    items.nth(1).locator("a").click()
    expect(page.locator("#message-text")).to_contain_text("Your verification code is 314159.")
    expect(page.locator(".tabs a", has_text="HTML")).to_have_count(0)  # a text-only message
    page.locator(".tabs a", has_text="Headers").click()
    expect(page.locator("#message-headers")).to_contain_text("您的注册验证码")
    screenshot(page, "mailbox.png", tmp_path)
    page.locator(".tabs a", has_text="MIME").click()
    expect(page.locator("#message-mime")).to_contain_text("text/plain")
    page.locator(".tabs a", has_text="Raw").click()
    expect(page.locator("#message-raw")).to_contain_text("Subject: =?utf-8?")
    with page.expect_download() as download:
        page.locator(".tabs .download").click()
    saved = tmp_path / "message.eml"
    download.value.save_as(saved)
    assert b"314159" in saved.read_bytes() or b"MzE0MTU5" in saved.read_bytes()


def test_html_view_runs_no_script_and_loads_remote_images_only_when_asked(
    page: Page,
    served: tuple[ServerProcess, str, Path],
    client: SmtpConnectorClient,
    images: ImageHost,
    tmp_path: Path,
) -> None:
    _server, url, _mailbox = served
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    client.send_message("lin@example.com", "Newsletter", {"name": "Lin"})
    page.goto(url + "mailbox")
    page.locator("#message-list li", has_text="News for Lin").locator("a").click()

    frame = page.frame_locator("#message-html")
    expect(frame.locator("#greeting")).to_have_text("Hello Lin")
    expect(page.locator(".notice")).to_contain_text("Remote images are blocked")
    screenshot(page, "message-html.png", tmp_path)
    page.wait_for_timeout(300)  # time for a script to run, were it allowed to
    assert frame.locator("body").get_attribute("data-script-ran") is None
    assert images.paths == [], "a remote image loaded before it was asked for"

    page.locator("#load-remote").click()
    expect(page).to_have_url(re.compile(r"remote=1"))
    expect(frame.locator("#greeting")).to_have_text("Hello Lin")
    for _ in range(WAIT_MS // 100):  # bounded: the image request may lag the frame's text
        if images.paths:
            break
        page.wait_for_timeout(100)
    assert images.paths == ["/logo.gif"]
    assert frame.locator("body").get_attribute("data-script-ran") is None
    assert not any("script-ran" in request for request in requests)


def test_template_preview_follows_an_edited_payload(
    page: Page, served: tuple[ServerProcess, str, Path], tmp_path: Path
) -> None:
    _server, url, mailbox = served
    before = set(mailbox.glob("*.eml"))
    page.goto(url + "templates")
    entries = page.locator("#template-list li")
    expect(entries.first).to_contain_text("Register")
    expect(entries.filter(has_text="broken")).not_to_have_count(0)
    page.locator("#template-list li", has_text="OrganizationInvitation").first.locator("a").click()
    # The page opens rendered with a sample payload filling every placeholder.
    expect(page.locator("#preview-text")).to_contain_text(
        "You are invited to Example Organization: https://example.com/verify"
    )
    payload = {"organization": {"name": "Acme Robotics"}, "link": "https://example.com/join/42"}
    page.locator("#payload").fill(json.dumps(payload))
    page.locator("#preview-button").click()
    expect(page.locator("#preview-text")).to_have_text(
        "You are invited to Acme Robotics: https://example.com/join/42"
    )
    html = page.frame_locator("#preview-html")
    expect(html.locator("h2")).to_have_text("Join Acme Robotics")
    expect(page.locator("#preview-headers")).to_contain_text("Join Acme Robotics")
    page.locator("[data-width=phone]").click()
    # An iPhone-sized viewport for the HTML: 375 CSS pixels inside the frame's border.
    assert page.evaluate("document.querySelector('#preview-html').clientWidth") == 375
    screenshot(page, "templates.png", tmp_path)

    page.locator("#payload").fill('{"organization": ')
    page.locator("#preview-button").click()
    expect(page.locator("#preview-error")).to_contain_text("not JSON")
    page.locator("#payload").fill("{}")
    page.locator("#preview-button").click()
    # Logto's engine keeps an unfilled placeholder (and the preview warns); Jinja2 refuses it.
    told = page.locator("#preview-warnings li, #preview-error:not([hidden])")
    expect(told.filter(has_text="organization").first).to_be_visible()
    assert set(mailbox.glob("*.eml")) == before, "a preview must send nothing"


def test_send_a_test_shows_each_step_and_its_hint(
    page: Page, served: tuple[ServerProcess, str, Path], tmp_path: Path
) -> None:
    _server, url, mailbox = served
    page.goto(url + "test")
    page.locator("#test-to").fill("tester@example.com")
    page.locator("#test-button").click()
    expect(page.locator("#test-summary")).to_have_text(
        "The settings work: the test message was accepted."
    )
    steps = page.locator("#test-steps li")
    names = [name.strip() for name in steps.locator("strong").all_inner_texts()]
    assert names[:2] == ["resolve", "connect"] and "data" in names, names
    expect(steps.filter(has_text="✗")).to_have_count(0)
    screenshot(page, "send-a-test.png", tmp_path)
    assert any(b"tester@example.com" in eml.read_bytes() for eml in mailbox.glob("*.eml"))

    page.locator("#test-profile").select_option("broken")
    page.locator("#test-button").click()
    expect(page.locator("#test-summary")).to_have_text("The test failed at connect.")
    failed = page.locator("#test-steps li.failed")
    expect(failed).to_contain_text("connect")
    expect(failed.locator(".hint")).to_contain_text("Hint:")
    screenshot(page, "send-a-test-failed.png", tmp_path)
