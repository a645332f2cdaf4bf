"""A live health probe for profile statuses: the connection test's handshake, sending nothing."""

from __future__ import annotations

from smtp_connector.server.deadline import Deadline
from smtp_connector.server.diagnosis.connection_test import run_connection_test
from smtp_connector.server.domain.mailer import LoadedConfig
from smtp_connector.server.domain.profiles import Probe


def handshake_probe(timeout: float) -> Probe:
    """A live check: connect, EHLO, TLS and AUTH against the profile's SMTP server (as
    TestConnection does, sending nothing) within ``timeout`` seconds."""

    def probe(loaded: LoadedConfig) -> tuple[bool, str]:
        report = run_connection_test(loaded, Deadline.after(timeout))
        last = report.steps[-1]
        return report.ok, "SMTP handshake succeeded" if report.ok else f"{last.name}: {last.detail}"

    return probe
