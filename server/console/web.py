"""The console's web application (Starlette): server-rendered pages, a few JSON endpoints the
pages' plain JavaScript calls, the mailbox's live updates (server-sent events), and the
guards: bearer-token login, same-origin writes, a Host check and a strict CSP."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from google.protobuf import json_format
from google.protobuf.message import Message as ProtoMessage
from smtp_connector.client import SmtpConnectorClient, SmtpConnectorError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..domain.profiles import Profiles
from .catalog import find_template, sample_payload, template_entries
from .mailbox import Mailbox

# The real folder: an editable install links each file from elsewhere, StaticFiles follows no link.
_HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "smtp_connector_console"
_MAX_SESSIONS = 64
_POLL_SECONDS = 0.5
_STREAM_SECONDS = 300.0  # an event stream ends after this; the browser reconnects by itself
_PREVIEW_TIMEOUT = 10.0
_TEST_TIMEOUT = 60.0
_MAX_BODY = 1 << 20  # a preview's payload is small; the service's own limit is the same

# The console's own pages: scripts from the console alone, nothing remote. A template preview
# (an iframe's srcdoc) inherits this: its inline styles work, remote images do not load.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# A message's HTML: no scripts at all (CSP sandbox without allow-scripts), no remote
# resources unless asked for images, shown only inside the console.
_MESSAGE_POLICY = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "style-src 'unsafe-inline'; font-src data:; img-src data:{remote}; frame-ancestors 'self'"
)


class TokenCheck(Protocol):
    """What the console asks of the server's bearer-token interceptor."""

    def accepts(self, token: str) -> bool: ...


@dataclass
class ConsoleBackend:
    """Where the console's pages get what they show: the mailbox folder, the server's
    configs (read anew per request: a reload replaces them), the gRPC service on loopback,
    and the bearer-token check when tokens are set."""

    mailbox: Mailbox | None
    profiles: Callable[[], Profiles | None]
    target: str
    tokens: TokenCheck | None = None  # None: the server has no bearer tokens
    stopping: threading.Event = field(default_factory=threading.Event)


class _Sessions:
    """Logged-in browsers: a random cookie value for the token it logged in with (the token
    itself never goes into a cookie or a page)."""

    def __init__(self) -> None:
        self._tokens: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, token: str) -> str:
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[session] = token
            while len(self._tokens) > _MAX_SESSIONS:
                self._tokens.popitem(last=False)
        return session

    def token(self, session: str) -> str | None:
        with self._lock:
            return self._tokens.get(session)


def create_app(backend: ConsoleBackend, *, allowed_hosts: list[str]) -> Starlette:
    """The console as an ASGI application."""
    pages = Jinja2Templates(directory=str(_HERE / "templates"))
    sessions = _Sessions()
    console = _Console(backend, pages, sessions)
    routes = [
        Route("/", lambda request: RedirectResponse("/mailbox", status_code=303)),
        Route("/login", console.login_page, methods=["GET"]),
        Route("/login", console.login, methods=["POST"]),
        Route("/mailbox", console.mailbox_page),
        Route("/mailbox/list", console.mailbox_list),
        Route("/mailbox/events", console.mailbox_events),
        Route("/mailbox/{message_id}/html", console.message_html),
        Route("/mailbox/{message_id}/download", console.message_download),
        Route("/templates", console.templates_page),
        Route("/api/preview", console.preview, methods=["POST"]),
        Route("/test", console.test_page),
        Route("/api/test", console.test_send, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts),
        Middleware(BaseHTTPMiddleware, dispatch=console.guard),
    ]
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={_TooLarge: _too_large}
    )


class _Console:
    """The console's handlers, over one backend."""

    def __init__(self, backend: ConsoleBackend, pages: Jinja2Templates, sessions: _Sessions):
        self.backend = backend
        self.pages = pages
        self.sessions = sessions

    # -- guards ------------------------------------------------------------------------------

    def _token(self, request: Request) -> str | None:
        """The bearer token this request carries (header or session), if the server takes it."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else None
        if token is None:
            token = self.sessions.token(request.cookies.get(SESSION_COOKIE, ""))
        if token is None or self.backend.tokens is None:
            return None
        return token if self.backend.tokens.accepts(token) else None

    async def guard(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Writes only from the console's own pages; a token first when the server has tokens;
        the security headers on every answer."""
        if request.method == "POST" and not _same_origin(request):
            return JSONResponse({"error": {"message": "cross-origin request refused"}}, 403)
        path = request.url.path
        open_paths = path.startswith("/static/") or path == "/login"
        if self.backend.tokens is not None and not open_paths:
            token = self._token(request)
            if token is None:
                if request.method == "GET" and not path.startswith(("/api/", "/mailbox/")):
                    return RedirectResponse("/login", status_code=303)
                return JSONResponse({"error": {"message": "a bearer token is required"}}, 401)
            request.state.token = token
        else:
            request.state.token = None
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    async def login_page(self, request: Request) -> Response:
        return self.pages.TemplateResponse(request, "login.html", {"page": "login"})

    async def login(self, request: Request) -> Response:
        body = await _json_body(request)
        token = str(body.get("token", "")).strip()
        tokens = self.backend.tokens
        # Without tokens there is nothing to log in to; a wrong token gets no hint why.
        if tokens is None or not token or not tokens.accepts(token):
            return JSONResponse({"error": {"message": "that token is not accepted"}}, 401)
        response = JSONResponse({"ok": True})
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.open(token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    # -- mailbox -----------------------------------------------------------------------------

    async def mailbox_page(self, request: Request) -> Response:
        mailbox = self.backend.mailbox
        selected = request.query_params.get("id", "")
        view = request.query_params.get("view", "html")
        message = await run_in_threadpool(mailbox.read, selected) if mailbox and selected else None
        if message is not None and view == "html" and message.html_body is None:
            view = "text"
        entries = await run_in_threadpool(mailbox.entries) if mailbox else []
        context = {
            "page": "mailbox",
            "mailbox": mailbox,
            "entries": entries,
            "selected": selected,
            "message": message,
            "view": view,
            "remote": request.query_params.get("remote") == "1",
        }
        return self.pages.TemplateResponse(request, "mailbox.html", context)

    async def mailbox_list(self, request: Request) -> Response:
        mailbox = self.backend.mailbox
        entries = await run_in_threadpool(mailbox.entries) if mailbox else []
        context = {"entries": entries, "selected": request.query_params.get("id", "")}
        return self.pages.TemplateResponse(request, "_message_list.html", context)

    async def mailbox_events(self, request: Request) -> Response:
        mailbox = self.backend.mailbox
        stopping = self.backend.stopping

        async def stream() -> AsyncIterator[str]:
            last = None
            loop = asyncio.get_running_loop()
            ends = loop.time() + _STREAM_SECONDS
            yield "retry: 1000\n\n"
            while mailbox is not None and not stopping.is_set() and loop.time() < ends:
                version = await run_in_threadpool(mailbox.version)
                if version != last:
                    last = version
                    yield f"event: mailbox\ndata: {json.dumps(version)}\n\n"
                await asyncio.sleep(_POLL_SECONDS)

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def message_html(self, request: Request) -> Response:
        mailbox = self.backend.mailbox
        message_id = request.path_params["message_id"]
        message = await run_in_threadpool(mailbox.read, message_id) if mailbox else None
        if message is None or message.html_body is None:
            return PlainTextResponse("no such message", 404)
        remote = " https: http:" if request.query_params.get("remote") == "1" else ""
        # Links open outside the frame (a new tab), never inside the console.
        html = '<base target="_blank">' + message.html_body
        response = Response(html, media_type="text/html; charset=utf-8")
        response.headers["Content-Security-Policy"] = _MESSAGE_POLICY.format(remote=remote)
        return response

    async def message_download(self, request: Request) -> Response:
        mailbox = self.backend.mailbox
        message_id = request.path_params["message_id"]
        path = mailbox.path(message_id) if mailbox else None
        if path is None:
            return PlainTextResponse("no such message", 404)
        data = await run_in_threadpool(path.read_bytes)
        return Response(
            data,
            media_type="message/rfc822",
            headers={"Content-Disposition": f'attachment; filename="{message_id}"'},
        )

    # -- templates ---------------------------------------------------------------------------

    async def templates_page(self, request: Request) -> Response:
        profiles = self.backend.profiles()
        entries = list(template_entries(profiles))
        key = request.query_params.get("key") or (entries[0].key if entries else "")
        context: dict[str, Any] = {"page": "templates", "entries": entries, "key": key}
        try:
            entry, template = find_template(profiles, key)
        except LookupError:
            return self.pages.TemplateResponse(request, "templates.html", context)
        payload = sample_payload(template)
        request_fields = {
            "profile": entry.profile,
            "usage_type": entry.usage_type,
            "to": "user@example.com",
        }
        result = await run_in_threadpool(
            self._preview, request.state.token, {**request_fields, "payload": payload}
        )
        context.update(
            entry=entry,
            template=template,
            payload_json=json.dumps(payload, indent=2, ensure_ascii=False),
            request_json=json.dumps(request_fields),
            preview=result.get("preview"),
            error=result.get("error"),
        )
        return self.pages.TemplateResponse(request, "templates.html", context)

    def _preview(self, token: str | None, body: dict[str, Any]) -> dict[str, Any]:
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return {"error": {"message": "the payload must be a JSON object", "reason": ""}}
        with self._client(token, _PREVIEW_TIMEOUT) as client:
            try:
                response = client.preview_message(
                    str(body.get("to", "")),
                    str(body.get("usage_type", "")),
                    payload,
                    profile=str(body.get("profile", "")),
                )
            except SmtpConnectorError as exc:
                return {"error": _error(exc)}
        return {"preview": _as_dict(response)}

    async def preview(self, request: Request) -> Response:
        body = await _json_body(request)
        result = await run_in_threadpool(self._preview, request.state.token, body)
        return JSONResponse(result, 200 if "preview" in result else 400)

    # -- test send ---------------------------------------------------------------------------

    async def test_page(self, request: Request) -> Response:
        profiles = self.backend.profiles()
        context = {
            "page": "test",
            "profiles": profiles.names if profiles is not None else (),
            "default_profile": profiles.default if profiles is not None else "",
        }
        return self.pages.TemplateResponse(request, "test.html", context)

    def _test(self, token: str | None, body: dict[str, Any]) -> dict[str, Any]:
        with self._client(token, _TEST_TIMEOUT) as client:
            try:
                response = client.test_connection(
                    test_recipient=str(body.get("to", "")), profile=str(body.get("profile", ""))
                )
            except SmtpConnectorError as exc:
                return {"error": _error(exc)}
        return {"result": _as_dict(response)}

    async def test_send(self, request: Request) -> Response:
        body = await _json_body(request)
        if not str(body.get("to", "")).strip():
            error = {"message": "type the address to send the test message to", "reason": ""}
            return JSONResponse({"error": error}, 400)
        result = await run_in_threadpool(self._test, request.state.token, body)
        return JSONResponse(result, 200 if "result" in result else 400)

    def _client(self, token: str | None, timeout: float) -> SmtpConnectorClient:
        return SmtpConnectorClient(self.backend.target, timeout=timeout, token=token, retry=None)


def _same_origin(request: Request) -> bool:
    """Whether a write comes from the console's own pages: the browser's Origin is this
    console's, and the body is JSON (which no cross-site form can send)."""
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None and not hmac.compare_digest(origin, f"{request.url.scheme}://{host}"):
        return False
    return request.headers.get("content-type", "").split(";")[0].strip() == "application/json"


class _TooLarge(Exception):
    """A request body over _MAX_BODY."""


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object ({} when it is none); _TooLarge past _MAX_BODY bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _too_large(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": {"message": "the request is too large", "reason": ""}}, 413)


def _as_dict(message: ProtoMessage) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _error(exc: SmtpConnectorError) -> dict[str, Any]:
    return {
        "reason": exc.reason or exc.code.name,
        "message": exc.message,
        "fields": [{"field": v.field, "description": v.description} for v in exc.field_violations],
    }
