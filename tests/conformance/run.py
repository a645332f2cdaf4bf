"""One run of the whole corpus through both sides, in batches: Logto's verdicts, ours, Logto's
sends, ours, and what differs, per case."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conformance.corpus import (
    OTHER_CA,
    SERVICE_KEY,
    SINK_CA,
    TOKEN_URL,
    Case,
    Send,
    all_cases,
    pointed_at,
)
from tests.conformance.normalize import mismatches, normalized
from tests.conformance.oracle import Oracle, running_oracle
from tests.conformance.ours import Outcome, Verdict, running_service, serve_verdict
from tests.conformance.sink import Capture, Sink, running_sink
from tests.conformance.tokens import running_token_endpoint

SINK_HOST = "127.0.0.1"


@dataclass
class SendReport:
    """One send on both sides."""

    send: Send
    logto: Outcome
    ours: Outcome | None = None
    differs: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class CaseReport:
    """One case on both sides: the verdicts, the sends and every aspect that differs."""

    case: Case
    logto: Verdict
    validate: Verdict | None = None
    serve: Verdict | None = None
    sends: list[SendReport] = field(default_factory=list)

    @property
    def differs(self) -> dict[str, tuple[Any, Any]]:
        """aspect -> (Logto's, ours); send aspects are named ``send.N.aspect``."""
        found: dict[str, tuple[Any, Any]] = {}
        assert self.validate is not None and self.serve is not None
        for name, verdict in (("validate", self.validate), ("serve", self.serve)):
            if verdict.accepted != self.logto.accepted:
                found[f"verdict.{name}"] = (self.logto, verdict)
        for n, report in enumerate(self.sends):
            for aspect, values in report.differs.items():
                found[f"send.{n}.{aspect}"] = values
        return found


def _logto_verdict(result: dict[str, Any]) -> Verdict:
    return Verdict(bool(result["accepted"]), "; ".join(result["issues"]))


def _outcome(result: dict[str, Any]) -> Outcome:
    return Outcome(bool(result["sent"]), result.get("error", result.get("response", "")))


def _service_account_key() -> str:
    """A fresh RSA key as PEM, the kind a Google service account's JSON key file holds."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode()


def _sink_port(config: dict[str, Any], sink: Sink) -> Any:
    """The sink's port for a config: implicit TLS when ``secure`` is true (Logto's schema makes it
    a boolean). A port no socket can use (negative, fractional, above 65535) is kept, so that
    such a config is shown failing in Logto too, before any connection."""
    port = config.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        return port
    return sink.implicit_tls_port if config.get("secure") is True else sink.starttls_port


def _sendable(report: CaseReport) -> bool:
    return report.case.sendable and report.logto.accepted


def _logto_sends(reports: list[CaseReport], oracle: Oracle, sink: Sink) -> None:
    items, targets = [], []
    for report in filter(_sendable, reports):
        config = report.case.config_for_logto
        pointed = pointed_at(config, SINK_HOST, _sink_port(config, sink))
        for send in report.case.sends:
            data = {"to": send.to, "type": send.usage_type, "payload": send.payload}
            item = {"op": "send", "config": pointed, "data": data}
            if report.case.i18n_template is not None:
                item["i18nTemplate"] = report.case.i18n_template
            items.append(item)
            targets.append(report)
    for report, result in zip(targets, oracle.run(items), strict=True):
        report.sends.append(SendReport(report.case.sends[len(report.sends)], _outcome(result)))


def _compare(
    report: SendReport, logto: Capture | None, ours: Capture | None, names_ehlo: bool
) -> None:
    if report.ours is None:
        return
    if report.logto.sent != report.ours.sent:
        report.differs["sent"] = (report.logto.detail or "sent", report.ours.detail or "sent")
    elif report.logto.sent:
        if logto is None or ours is None:
            report.differs["captured"] = (logto is not None, ours is not None)
            return
        report.differs.update(mismatches(normalized(logto), normalized(ours)))
        # The EHLO name when the config sets one (unset, each side names its own host).
        if names_ehlo and logto.ehlo != ours.ehlo:
            report.differs["ehlo"] = (logto.ehlo, ours.ehlo)


def _profiles(
    reports: list[CaseReport], sink: Sink, folder: Path
) -> tuple[dict[str, dict[str, Any]], dict[str, Outcome]]:
    """The configs our server sends with, pointed at the sink, by case id; and the cases whose
    config no longer loads once pointed at the sink (it should: only host and port change)."""
    profiles: dict[str, dict[str, Any]] = {}
    unloadable: dict[str, Outcome] = {}
    for report in reports:
        if not (_sendable(report) and report.serve is not None and report.serve.accepted):
            continue
        config = report.case.config
        pointed = pointed_at(config, SINK_HOST, _sink_port(config, sink))
        verdict = serve_verdict(pointed, folder, f"{report.case.case_id}.sink")
        if verdict.accepted:
            profiles[report.case.case_id] = pointed
        else:
            unloadable[report.case.case_id] = Outcome(
                False, f"pointed at the sink: {verdict.detail}"
            )
    return profiles, unloadable


def _our_sends(reports: list[CaseReport], sink: Sink, folder: Path, ca_file: str) -> None:
    """ValidateConfig on every config, then every send of the configs both sides accept,
    through one ``smtp-connector serve`` holding them as profiles."""
    profiles, unloadable = _profiles(reports, sink, folder / "configs")
    with running_service(folder, profiles, ca_file) as service:
        for report in reports:
            report.validate = service.validate(report.case.config)
            if report.case.case_id in unloadable:
                for send_report in report.sends:
                    send_report.ours = unloadable[report.case.case_id]
            elif report.case.case_id in profiles:
                for send_report in report.sends:
                    send = send_report.send
                    send_report.ours = service.send(
                        report.case.case_id, send.to, send.usage_type, send.payload
                    )
            # Otherwise refused here: the verdicts tell, and Logto's outcomes are kept.


def run_corpus(folder: Path) -> list[CaseReport]:
    """Every case of the corpus through Logto's connector and smtp-connector."""
    ca, other = trustme.CA(), trustme.CA()
    ca_file = folder / "sink-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    configs = folder / "configs"
    configs.mkdir()
    with (
        running_token_endpoint() as token_url,
        running_sink(ca, str(ca_file)) as sink,
        running_oracle(str(ca_file), folder / "logto-harness.log") as oracle,
    ):
        values = {
            SINK_CA: ca.cert_pem.bytes().decode(),
            OTHER_CA: other.cert_pem.bytes().decode(),
            TOKEN_URL: token_url,
            SERVICE_KEY: _service_account_key(),
        }
        cases = all_cases(values)
        verdicts = oracle.run([{"op": "verdict", "config": c.config_for_logto} for c in cases])
        reports = [CaseReport(c, _logto_verdict(v)) for c, v in zip(cases, verdicts, strict=True)]
        for report in reports:
            report.serve = serve_verdict(report.case.config, configs, report.case.case_id)
        _logto_sends(reports, oracle, sink)
        logto_captures = sink.take()
        _our_sends(reports, sink, folder, str(ca_file))
        our_captures = sink.take()
    for report in reports:
        for send_report in report.sends:
            to = send_report.send.to
            names_ehlo = "name" in report.case.config
            _compare(send_report, logto_captures.get(to), our_captures.get(to), names_ehlo)
    return reports
