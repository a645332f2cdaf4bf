"""The probe: the other common port and TLS combinations on the same host, tried at once
within a bounded total time; the best one that works comes back as a config fragment."""

from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..deadline import Deadline
from ..errors import Cause, SmtpConnectorError
from ..settings import setting_default
from ..transport.base import ConnectionSettings, Stage, TlsMode
from ..transport.session import SmtpSession, create_ssl_context
from .connection_test import Diagnostician, StepResult, Steps, handshake

# The port whose convention is TLS from the first byte; every other port starts plain.
IMPLICIT_TLS_PORT = 465
DEFAULT_PORTS: tuple[int, ...] = setting_default("probe_ports")
DEFAULT_TIME_LIMIT: float = setting_default("probe_time_limit")


@dataclass(frozen=True)
class ProbeAttempt:
    """One combination tried."""

    port: int
    tls_mode: TlsMode
    ok: bool
    encrypted: bool
    failed_step: str
    detail: str
    elapsed: float
    fragment: str


@dataclass(frozen=True)
class ProbeReport:
    """Every combination tried, in order of preference, and the fragment of the best one that
    worked ("" when none did)."""

    attempts: tuple[ProbeAttempt, ...]
    suggestion: str


def candidates(settings: ConnectionSettings, ports: tuple[int, ...]) -> list[tuple[int, TlsMode]]:
    """The combinations to try: the configured port with the other TLS mode first (the most
    common mistake), then each common port with its usual mode; never the configured one."""
    configured = (settings.port, _family(settings.tls_mode))
    other = (
        TlsMode.STARTTLS_OPPORTUNISTIC if configured[1] is TlsMode.IMPLICIT else (TlsMode.IMPLICIT)
    )
    combos = [(settings.port, other)]
    combos += [
        (port, TlsMode.IMPLICIT if port == IMPLICIT_TLS_PORT else TlsMode.STARTTLS_OPPORTUNISTIC)
        for port in ports
    ]
    return [combo for combo in dict.fromkeys(combos) if combo != configured]


def _family(mode: TlsMode) -> TlsMode:
    return TlsMode.IMPLICIT if mode is TlsMode.IMPLICIT else TlsMode.STARTTLS_OPPORTUNISTIC


def run_probe(
    settings: ConnectionSettings,
    deadline: Deadline,
    *,
    ports: tuple[int, ...] = DEFAULT_PORTS,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> ProbeReport:
    """Try every candidate in parallel, each bounded by ``time_limit`` and the deadline."""
    left = deadline.remaining()
    budget = Deadline.after(time_limit if left is None else min(time_limit, left))
    combos = candidates(settings, ports)
    if not combos:
        return ProbeReport((), "")
    with ThreadPoolExecutor(max_workers=len(combos), thread_name_prefix="probe") as pool:
        attempts = tuple(
            pool.map(lambda combo: _attempt(settings, combo[0], combo[1], budget), combos)
        )
    # Best: everything worked, encrypted; then plain; then a connection whose only failure
    # was AUTH (the combination is right; the credentials need fixing too).
    working = (
        [a for a in attempts if a.ok and a.encrypted]
        or [a for a in attempts if a.ok]
        or [a for a in attempts if a.failed_step == Stage.AUTH and a.encrypted]
    )
    return ProbeReport(attempts, working[0].fragment if working else "")


def _attempt(base: ConnectionSettings, port: int, mode: TlsMode, budget: Deadline) -> ProbeAttempt:
    settings = dataclasses.replace(base, port=port, tls_mode=mode)
    session = SmtpSession(settings, create_ssl_context(settings), budget)
    # The probe's budget is short: an attempt's failure gets no second look at the server.
    diagnostician = Diagnostician(session, budget, look_again=False)

    def explain(name: str, exc: SmtpConnectorError) -> StepResult:
        # The session's advice speaks of the settings it was given, which are the probe's
        # here, not the config's ("secure is true: set secure to false" to a config whose
        # secure is false): an attempt says what it found, the suggestion what to change.
        result = diagnostician.explain(name, exc)
        if exc.cause is Cause.WRONG_VERSION:
            return dataclasses.replace(result, detail=_mismatch(port, mode), hint="")
        return result

    steps = Steps(explain)
    started = time.monotonic()
    with session:
        # The probe tries ports the admin did not choose: no credential (a password, an
        # OAuth2 token) travels unencrypted.
        ok = handshake(session, steps, plain_auth=False)
        if ok:
            session.quit()
    last = steps.results[-1]
    encrypted = session.encrypted
    return ProbeAttempt(
        port=port,
        tls_mode=mode,
        ok=ok,
        encrypted=encrypted,
        failed_step="" if ok else last.name,
        detail=_detail(steps, ok, encrypted, base.has_credentials),
        elapsed=time.monotonic() - started,
        fragment=_fragment(base, port, mode, encrypted),
    )


def _mismatch(port: int, mode: TlsMode) -> str:
    if mode is TlsMode.IMPLICIT:
        return f"port {port} speaks plain SMTP, not TLS from the first byte"
    return f"port {port} speaks TLS from the first byte, not plain SMTP"


def _detail(steps: Steps, ok: bool, encrypted: bool, credentials: bool) -> str:
    last = steps.results[-1]
    if not ok:
        return f"{last.name} failed: {last.detail}"
    if not encrypted:
        untried = "; AUTH not tried without TLS" if credentials else ""
        return f"works (NOT encrypted{untried})"
    tls = next(s for s in steps.results if s.name == Stage.TLS)
    return f"works ({tls.detail.split(';')[0]})"


def _fragment(base: ConnectionSettings, port: int, mode: TlsMode, encrypted: bool) -> str:
    fragment: dict[str, object] = {"port": port, "secure": mode is TlsMode.IMPLICIT}
    if mode is not TlsMode.IMPLICIT and encrypted:
        fragment["requireTLS"] = True
    if base.tls_mode is TlsMode.NONE:
        fragment["ignoreTLS"] = False
    return json.dumps(fragment)
