"""The differential suite: every config of the corpus judged by Logto's published SMTP connector
and by smtp-connector (ValidateConfig and ``serve --config``), and every message sent through
both into one capture sink and compared. A case either matches Logto or differs exactly as its
entry in differences.json says (each difference explained in docs/logto-compatibility.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.corpus import CORPUS
from tests.conformance.oracle import HERE, installed_version
from tests.conformance.run import CaseReport, run_corpus

pytestmark = pytest.mark.timeout(240)

ROOT = HERE.parent.parent
DIFFERENCES = json.loads((HERE / "differences.json").read_text(encoding="utf-8"))
COMPATIBILITY_DOC = ROOT / "docs" / "logto-compatibility.md"


def _ids(name: str) -> list[str]:
    cases = json.loads((CORPUS / name).read_text(encoding="utf-8"))["cases"]
    return [c["id"] for c in cases]


CONFIG_IDS, TEMPLATE_IDS = _ids("configs.json"), _ids("templates.json")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CaseReport]:
    folder = tmp_path_factory.mktemp("conformance")
    return {r.case.case_id: r for r in run_corpus(folder)}


def _aspect(key: str) -> str:
    """``verdict.serve`` -> ``verdict``; ``send.0.subject`` -> ``subject``."""
    parts = key.split(".")
    return parts[0] if parts[0] == "verdict" else parts[2]


def _shown(differs: dict[str, tuple[Any, Any]]) -> str:
    return "\n".join(f"  {k}:\n    Logto: {a!r}\n    ours:  {b!r}" for k, (a, b) in differs.items())


def test_the_corpus_is_large_and_cited() -> None:
    assert len(CONFIG_IDS) >= 100
    assert len(TEMPLATE_IDS) >= 30
    for name in ("configs.json", "templates.json"):
        cases = json.loads((CORPUS / name).read_text(encoding="utf-8"))["cases"]
        uncited = [c["id"] for c in cases if not c.get("source")]
        assert not uncited, f"{name}: cases without a source: {uncited}"


def test_the_oracle_is_the_pinned_published_connector() -> None:
    pinned = json.loads((HERE / "node" / "package.json").read_text(encoding="utf-8"))
    version = pinned["dependencies"]["@logto/connector-smtp"]
    assert version[0].isdigit(), "pin an exact version"
    assert installed_version() == version


@pytest.mark.parametrize("case_id", CONFIG_IDS + TEMPLATE_IDS)
def test_case_matches_logto_or_its_listed_difference(
    reports: dict[str, CaseReport], case_id: str
) -> None:
    report = reports[case_id]
    differs = report.differs
    listed = DIFFERENCES["cases"].get(case_id)
    if listed is None:
        assert not differs, (
            f"{case_id} differs from Logto, with no listed reason:\n{_shown(differs)}"
        )
        return
    difference = DIFFERENCES["differences"][listed]
    assert differs, (
        f"{case_id} is listed as difference '{listed}' but now matches Logto: "
        "remove it from tests/conformance/differences.json"
    )
    unexpected = {k: v for k, v in differs.items() if _aspect(k) not in difference["aspects"]}
    assert not unexpected, (
        f"{case_id} differs beyond '{listed}' ({', '.join(difference['aspects'])}):\n"
        f"{_shown(unexpected)}"
    )
    if difference.get("logtoSends") == "fail" and report.case.sendable:
        # The reason given is that Logto accepts the config but can never send with it.
        outcomes = [s.logto for s in report.sends]
        assert outcomes, f"{case_id}: Logto's send was not tried"
        sent = [o for o in outcomes if o.sent]
        assert not sent, f"{case_id} is listed as '{listed}', but Logto sent with it"


def test_the_suite_really_sent_mail(reports: dict[str, CaseReport]) -> None:
    # A broken sink or harness would make both sides fail alike, which compares as a match.
    both = [s for r in reports.values() for s in r.sends if s.logto.sent and s.ours and s.ours.sent]
    assert len(both) >= 120, f"only {len(both)} messages were sent by both sides"
    logto_accepted = sum(r.logto.accepted for r in reports.values())
    assert logto_accepted >= 120


def test_every_difference_is_used_and_documented() -> None:
    used = set(DIFFERENCES["cases"].values())
    declared = set(DIFFERENCES["differences"])
    assert used <= declared, f"cases name undeclared differences: {sorted(used - declared)}"
    assert declared <= used, f"differences no case shows: {sorted(declared - used)}"
    unknown = set(DIFFERENCES["cases"]) - set(CONFIG_IDS + TEMPLATE_IDS)
    assert not unknown, f"differences.json names cases the corpus lacks: {sorted(unknown)}"
    doc = COMPATIBILITY_DOC.read_text(encoding="utf-8")
    undocumented = [d for d in declared if f"`{d}`" not in doc]
    assert not undocumented, f"differences missing from {COMPATIBILITY_DOC.name}: {undocumented}"


def test_the_documented_counts_are_the_corpus_counts() -> None:
    doc = COMPATIBILITY_DOC.read_text(encoding="utf-8")
    for label, ids in (("configs", CONFIG_IDS), ("templates", TEMPLATE_IDS)):
        differ = sum(1 for i in ids if i in DIFFERENCES["cases"])
        row = f"| {label} | {len(ids)} | {len(ids) - differ} | {differ} |"
        assert row in doc, f"{COMPATIBILITY_DOC.name} should have the row {row!r}"
    opened = {d for d, v in DIFFERENCES["differences"].items() if v.get("open")}
    open_cases = sum(1 for d in DIFFERENCES["cases"].values() if d in opened)
    line = (
        f"Of these, {open_cases} cases are open differences"
        if open_cases
        else "No difference is open"
    )
    assert line in doc, f"{COMPATIBILITY_DOC.name} should say {line!r}"


def test_a_changed_message_is_a_difference(tmp_path: Path) -> None:
    from tests.conformance.normalize import mismatches, normalized
    from tests.conformance.sink import Capture

    def capture(subject: str) -> Capture:
        data = f"From: a@example.com\r\nTo: b@example.com\r\nSubject: {subject}\r\n\r\nbody\r\n"
        return Capture("a@example.com", ("b@example.com",), data.encode(), None, False)

    assert mismatches(normalized(capture("x")), normalized(capture("x"))) == {}
    assert set(mismatches(normalized(capture("x")), normalized(capture("y")))) == {"subject"}
