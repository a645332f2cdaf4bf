"""The ``smtp-connector`` command: ``serve`` runs the server; ``send``, ``preview``,
``validate`` and ``test`` call one and print readable results (``--json`` for machines)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import webbrowser
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from smtp_connector.v1 import smtp_connector_pb2 as pb

from ._advice import (
    START_A_SERVER,
    json_object_flag,
    no_server,
    read_flag_file,
    unreachable,
)
from ._channel import Tls
from ._client import DEFAULT_TIMEOUT, SmtpConnectorClient
from ._offline import validate_in_process
from .errors import SmtpConnectorError

DEFAULT_ADDRESS = "127.0.0.1:50051"
_SEVERITY = {1: "error", 2: "warning"}
_WIDTH = 100


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smtp-connector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    # The server's own command: its flags live with the server (smtp_connector.server.serve).
    commands.add_parser("serve", help="run the gRPC server (smtp-connector serve --help)")

    def client_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--target",
            default=os.environ.get("SMTP_CONNECTOR_TARGET")
            or os.environ.get("SMTP_CONNECTOR_ADDRESS", DEFAULT_ADDRESS),
            help="the server's host:port [SMTP_CONNECTOR_TARGET]",
        )
        command.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds")
        command.add_argument("--ca", help="TLS: PEM file of the CA to trust (implies TLS)")
        command.add_argument("--cert", help="mutual TLS: PEM file of our certificate chain")
        command.add_argument("--key", help="mutual TLS: PEM file of our private key")
        command.add_argument("--tls", action="store_true", help="TLS with the system's CAs")
        command.add_argument(
            "--token-file",
            help="file holding a bearer token [or SMTP_CONNECTOR_TOKEN]; sent only over TLS "
            "or to a loopback address",
        )
        command.add_argument("--json", action="store_true", help="print the response as JSON")
        return command

    send = client_command("send", "send a templated message")
    _message_arguments(send)
    send.add_argument("--idempotency-key", default="")

    preview = client_command("preview", "show the message a send would deliver, sending nothing")
    _message_arguments(preview)
    preview.add_argument("--raw", action="store_true", help="print the RFC 5322 message")
    preview.add_argument(
        "--open", action="store_true", help="open the HTML body in a browser (scripts blocked)"
    )

    validate = client_command(
        "validate",
        "check a config file (no SMTP server is contacted; without a running smtp-connector, "
        "the same checks run in this process)",
    )
    validate.add_argument("config_file", help="connector config JSON file")
    validate.add_argument(
        "--offline",
        action="store_true",
        help="run the checks in this process, without asking a server",
    )
    validate.add_argument("--resolve", metavar="USAGE_TYPE", help="show this template lookup")
    validate.add_argument("--locale", default="", help="the payload locale for --resolve")

    test = client_command("test", "test the connection to the SMTP server")
    test.add_argument("--config-file", help="test this config instead of the server's")
    test.add_argument("--to", default="", help="also send the Test template to this address")
    test.add_argument("--profile", default="", help="the server's sender profile [default]")
    test.add_argument(
        "--probe",
        action="store_true",
        help="also try the other common port and TLS combinations on the same host",
    )
    return parser


def _message_arguments(command: argparse.ArgumentParser) -> None:
    """The arguments ``send`` and ``preview`` share: what a SendMessage request holds."""
    command.add_argument("--to", required=True, help="recipient address")
    command.add_argument("--usage-type", default="Generic", help="template usage type [Generic]")
    command.add_argument("--code", help="shortcut for --payload '{\"code\": CODE}'")
    command.add_argument("--payload", default="{}", help="payload as a JSON object")
    command.add_argument("--config-file", help="use this inline config instead of the server's")
    command.add_argument("--profile", default="", help="the server's sender profile [default]")


def _serve(argv: Sequence[str]) -> int:
    try:
        from smtp_connector.server.serve import main as serve_main
    except ImportError as exc:
        print(
            f"the server needs its extra: pip install 'smtp-connector[server]' ({exc})",
            file=sys.stderr,
        )
        return 2
    return serve_main(argv)


def _channel_security(args: argparse.Namespace) -> tuple[Tls | None, str | None]:
    """The TLS settings and bearer token the flags and environment ask for."""
    tls = None
    if args.tls or args.ca or args.cert or args.key:
        tls = Tls.from_files(args.ca, args.cert, args.key)
    token = os.environ.get("SMTP_CONNECTOR_TOKEN") or None
    if args.token_file:
        token = Path(args.token_file).read_text(encoding="utf-8").strip()
    return tls, token


def _print_json(message: Any) -> None:
    print(json.dumps(json_format.MessageToDict(message), indent=2, ensure_ascii=False))


def _payload(args: argparse.Namespace) -> dict[str, Any]:
    payload = json_object_flag("--payload", args.payload)
    if args.code is not None:
        payload["code"] = args.code
    return payload


def _send(client: SmtpConnectorClient, args: argparse.Namespace) -> int:
    response = client.send_message(
        args.to,
        args.usage_type,
        _payload(args),
        config_json=read_flag_file("--config-file", args.config_file),
        idempotency_key=args.idempotency_key,
        profile=args.profile,
    )
    if args.json:
        _print_json(response)
    else:
        print(f"sent {response.message_id} to {', '.join(response.accepted_recipients)}")
        print(f"  server answered: {response.smtp_code} {response.smtp_reply}")
    return 0


def _preview(client: SmtpConnectorClient, args: argparse.Namespace) -> int:
    response = client.preview_message(
        args.to,
        args.usage_type,
        _payload(args),
        config_json=read_flag_file("--config-file", args.config_file),
        profile=args.profile,
        include_raw_message=args.raw,
    )
    if args.json:
        _print_json(response)
    elif args.raw:
        sys.stdout.buffer.write(response.raw_message)
    else:
        print(format_preview(response), end="")
    if args.open:
        print(f"opened {open_html(response.html_body or response.text_body)}", file=sys.stderr)
    return 0


# Opened from a file, a message's HTML would run its scripts and load remote images: the
# policy forbids both, as the web console's HTML view does.
_HTML_POLICY = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "img-src data: cid:; style-src 'unsafe-inline'\">\n"
)


def open_html(html: str) -> str:
    """Write the HTML (scripts and remote content blocked) to a temporary file and open it
    in the default browser ($BROWSER when set); returns the file's path."""
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", suffix=".html", prefix="smtp-connector-preview-", delete=False
    ) as file:
        file.write(_HTML_POLICY + html)
    webbrowser.open(Path(file.name).as_uri())
    return file.name


def format_preview(response: pb.PreviewMessageResponse) -> str:
    """A preview for people: the template and its lookup, the headers, the bodies, the size
    and every warning."""
    lines = [f"template {response.template.template_path} ({response.usage_type}"]
    lines[0] += f", {response.locale})" if response.locale else ")"
    for step in response.template.candidates:
        found = step.template_path or "-"
        lines.append(f"  lookup {step.usage_type} [{step.locale or 'no locale'}]: {found}")
    lines.append(f"envelope {response.envelope_from} -> {', '.join(response.envelope_recipients)}")
    lines += [f"{header.name}: {header.value}" for header in response.headers]
    for label, body in (("text", response.text_body), ("html", response.html_body)):
        if body:
            lines.append(f"--- {label} body ---")
            lines += body.rstrip("\n").split("\n")
    lines.append(f"--- {response.size_bytes} bytes ---")
    for warning in response.warnings:
        where = f"{warning.field_path}: " if warning.field_path else ""
        lines.append(f"! {warning.code} {where}{warning.message}")
    return "\n".join(lines) + "\n"


def _validate(client: SmtpConnectorClient, args: argparse.Namespace) -> int:
    resolve = None
    if args.resolve:
        resolve = pb.TemplateLookup(usage_type=args.resolve, locale=args.locale)
    config_json = read_flag_file("config file", args.config_file)
    if args.offline:
        response = validate_in_process(config_json, resolve)
    else:
        try:
            response = client.validate_config(config_json, resolve=resolve)
        except SmtpConnectorError as exc:
            if not no_server(exc):
                raise
            response = validate_in_process(config_json, resolve)
            print(
                f"note: {unreachable(client.target, exc)}, so the same checks ran in this "
                "process (--offline skips the server)",
                file=sys.stderr,
            )
    if args.json:
        _print_json(response)
    else:
        print(format_validation(response), end="")
    return 0 if response.valid else 1


def format_validation(response: pb.ValidateConfigResponse) -> str:
    """A validation report for people: errors first, one issue per line."""
    lines = []
    issues = sorted(response.issues, key=lambda issue: issue.severity != pb.SEVERITY_ERROR)
    for issue in issues:
        mark = "✗" if issue.severity == pb.SEVERITY_ERROR else "!"
        severity = _SEVERITY.get(issue.severity, "?")
        where = issue.field_path or "(config)"
        code = f" [{issue.code}]" if issue.code else ""
        lines.append(f"{mark} {severity:<7} {where}: {issue.message}{code}")
    lines += _resolution(response.resolution)
    errors = sum(issue.severity == pb.SEVERITY_ERROR for issue in issues)
    counts = f"{_plural(errors, 'error')}, {_plural(len(issues) - errors, 'warning')}"
    lines.append(f"config is {'valid' if response.valid else 'invalid'} ({counts})")
    return "\n".join(lines) + "\n"


def _resolution(resolution: pb.TemplateResolution) -> list[str]:
    """A template lookup, a step per line, the step whose template is used marked; then the
    verdict: the template a send uses, or that it would fail."""
    lines = []
    chosen = None
    for step in resolution.candidates:
        found = step.template_path or "-"
        mark = ""
        if chosen is None and resolution.template_path and found == resolution.template_path:
            chosen, mark = step, "  <- used"
        lines.append(f"  lookup {_lookup(step)}: {found}{mark}")
    if resolution.candidates:
        usage_type = resolution.candidates[0].usage_type
        if chosen is not None:
            lines.append(
                f"  a send for {usage_type} uses {chosen.template_path} ({_lookup(chosen)})"
            )
        else:
            lines.append(
                f"  no template matches {usage_type}: a send fails with TEMPLATE_NOT_FOUND"
            )
    return lines


def _lookup(step: pb.TemplateCandidate) -> str:
    where = "any locale" if step.locale == "*" else step.locale or "no locale"
    return f"{step.usage_type} [{where}]"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _test(client: SmtpConnectorClient, args: argparse.Namespace) -> int:
    response = client.test_connection(
        read_flag_file("--config-file", args.config_file),
        args.to,
        profile=args.profile,
        probe=args.probe,
    )
    if args.json:
        _print_json(response)
    else:
        print(format_test(response), end="")
    return 0 if response.ok else 1


def _wrapped(label: str, text: str) -> list[str]:
    # Break only at spaces: names, addresses and serials stay whole.
    return textwrap.wrap(
        text,
        width=_WIDTH,
        initial_indent=f"    {label}: ",
        subsequent_indent=" " * 10,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _certificate(cert: pb.PeerCertificate) -> str:
    names = ", ".join(cert.subject_alt_names) or "none"
    expires = cert.not_after.ToDatetime().date().isoformat()
    return f"{cert.subject}, issued by {cert.issuer}; names: {names}; expires {expires}"


def format_test(response: pb.TestConnectionResponse) -> str:
    """A connection test for people: a step per line with a tick or cross, its time, its
    SMTP code and detail, and under a failed step the hint; then the probe, if one ran."""
    lines = []
    for step in response.steps:
        millis = step.elapsed.ToMilliseconds()
        code = f"{step.smtp_code} " if step.smtp_code else ""
        lines.append(f"{_mark(step)} {step.name:<9} {millis:>5} ms  {code}{step.detail}")
        if step.tls.HasField("peer_certificate"):
            lines += _wrapped("certificate", _certificate(step.tls.peer_certificate))
        if step.hint:
            lines += _wrapped("hint", step.hint)
    if response.probe_attempts:
        lines.append("probe: the other port and TLS combinations")
        for attempt in response.probe_attempts:
            mark = "✓" if attempt.ok else "✗"
            millis = attempt.elapsed.ToMilliseconds()
            combo = f"{attempt.port} {_probe_mode(attempt)}"
            lines.append(f"  {mark} {combo:<15} {millis:>5} ms  {attempt.detail}")
        suggested = response.suggested_config_json
        if suggested:
            lines.append(f"  suggested config: {suggested}")
            if any(a.config_json == suggested and not a.ok for a in response.probe_attempts):
                lines.append("  (it connects, but AUTH failed there too: check the credentials)")
        else:
            lines.append("  no other combination works")
    if response.ok:
        lines.append("connection test passed")
    else:
        failed = next((s.name for s in response.steps if not s.ok), "?")
        lines.append(f"connection test failed at {failed}")
    return "\n".join(lines) + "\n"


def _mark(step: pb.TestStep) -> str:
    """✓ or ✗, and ! for a tls step that passed without encryption: the test goes on, but
    mail (and any password) would travel in plain text."""
    if not step.ok:
        return "✗"
    return "!" if step.name == "tls" and not step.HasField("tls") else "✓"


def _probe_mode(attempt: pb.ProbeAttempt) -> str:
    """The TLS mode an attempt used: `plain` for a STARTTLS attempt that worked on a server
    offering no STARTTLS (its fragment then asks for no TLS)."""
    if attempt.ok and attempt.tls_mode == "starttls" and attempt.config_json:
        fragment = json.loads(attempt.config_json)
        if not fragment.get("secure") and not fragment.get("requireTLS"):
            return "plain"
    return attempt.tls_mode


_CLIENT_COMMANDS = {"send": _send, "preview": _preview, "validate": _validate, "test": _test}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["serve"]:
        return _serve(words[1:])
    args = _parser().parse_args(words)
    try:
        tls, token = _channel_security(args)
        with SmtpConnectorClient(args.target, timeout=args.timeout, tls=tls, token=token) as client:
            return _CLIENT_COMMANDS[args.command](client, args)
    except SmtpConnectorError as exc:
        if no_server(exc):
            unsent = "; the message was not sent" if args.command == "send" else ""
            print(f"error: {unreachable(args.target, exc)}{unsent}", file=sys.stderr)
            print(START_A_SERVER, file=sys.stderr)
            return 1
        print(f"error: {exc.reason or exc.code.name}: {exc.message}", file=sys.stderr)
        for violation in exc.field_violations:
            print(f"  {violation.field}: {violation.description}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # CommandError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
