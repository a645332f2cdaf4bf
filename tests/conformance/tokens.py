"""An OAuth2 token endpoint on loopback for the corpus's ``@TOKEN_URL@``: it answers the refresh
grant and the JWT bearer grant (RFC 7523, Google's service accounts) with a token that names
the grant and what it was given, so the XOAUTH2 login the sink records shows which flow ran."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _claims(assertion: str) -> dict[str, object]:
    """The claims of a JWT, unverified (the token names them; trust is not the point here)."""
    payload = assertion.split(".")[1]
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * -len(payload)))
    return claims


def token_for(form: dict[str, str]) -> str:
    """The access token this endpoint hands out for a token request's form."""
    grant = form.get("grant_type", "")
    if grant == "refresh_token":
        return f"tok:refresh:{form.get('client_id', '')}:{form.get('refresh_token', '')}"
    if grant == JWT_GRANT:
        claims = _claims(form.get("assertion", "..."))
        return f"tok:jwt:{claims.get('iss')}:{claims.get('sub')}:{claims.get('scope')}"
    return f"tok:unknown-grant:{grant}"


class _TokenHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(body).items()}
        answer = {"access_token": token_for(form), "token_type": "Bearer", "expires_in": 3600}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the test output is for differences


@contextmanager
def running_token_endpoint() -> Iterator[str]:
    """The endpoint on a free loopback port; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()
