"""The corpus of tests/conformance/corpus/*.json as cases ready to run: each config resolved
(base, patch, remove, the placeholders of run-time values), each template put into its config,
and the messages each case sends."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "corpus"
SINK_CA = "@SINK_CA_PEM@"
OTHER_CA = "@OTHER_CA_PEM@"
TOKEN_URL = "@TOKEN_URL@"
SERVICE_KEY = "@SERVICE_KEY_PEM@"
TEMPLATE_BASE = "logto-console-filled"
DEFAULT_SEND: dict[str, Any] = {"type": "Register", "payload": {"code": "123456"}}


@dataclass(frozen=True)
class Send:
    """One message a case sends: the usage type, the payload and a recipient of its own."""

    send_id: str
    usage_type: str
    payload: dict[str, Any]

    @property
    def to(self) -> str:
        return f"{self.send_id}@conformance.test"


@dataclass
class Case:
    """A config to judge, and (when ``sendable``) the messages to send with it."""

    case_id: str
    kind: str  # "config" or "template"
    source: str
    config: dict[str, Any]
    sends: list[Send]
    sendable: bool = True
    varies: str | None = None
    # For a template case from Logto's email-template API: the template Logto gets from
    # getI18nEmailTemplate (its config keeps the console's templates).
    i18n_template: dict[str, Any] | None = None
    logto_config: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def config_for_logto(self) -> dict[str, Any]:
        return self.logto_config if self.logto_config is not None else self.config


def _load(name: str) -> list[dict[str, Any]]:
    data = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = data["cases"]
    return cases


def _substitute(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return values.get(value, value)
    if isinstance(value, list):
        return [_substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    return value


def _resolve(raw: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if "config" in raw:
        return copy.deepcopy(raw["config"])
    config = _resolve(by_id[raw["base"]], by_id)
    config.update(copy.deepcopy(raw.get("patch", {})))
    for key in raw.get("remove", []):
        config.pop(key, None)
    return config


def _sends(case_id: str, raw_sends: list[dict[str, Any]]) -> list[Send]:
    return [
        Send(f"{case_id}.{n}", item["type"], copy.deepcopy(item["payload"]))
        for n, item in enumerate(raw_sends)
    ]


def config_cases(values: dict[str, str]) -> list[Case]:
    """The cases of configs.json."""
    raws = _load("configs.json")
    by_id = {raw["id"]: raw for raw in raws}
    return [
        Case(
            raw["id"],
            "config",
            raw["source"],
            _substitute(_resolve(raw, by_id), values),
            _sends(raw["id"], raw.get("sends", [DEFAULT_SEND])),
            sendable=raw.get("send", True),
            varies=raw.get("varies"),
        )
        for raw in raws
    ]


def _template_case(raw: dict[str, Any], base: dict[str, Any]) -> Case:
    template = copy.deepcopy(raw["template"])
    usage = template["usageType"]
    others = [
        t
        for t in base["templates"]
        if t["usageType"] != usage and t["usageType"] not in raw.get("removeUsageTypes", [])
    ]
    sends = [
        Send(
            f"{raw['id']}.{n}",
            payload.get("_type", usage),
            {k: v for k, v in payload.items() if k != "_type"},
        )
        for n, payload in enumerate(raw["payloads"])
    ]
    ours = dict(copy.deepcopy(base), templates=[*others, template])
    if not raw.get("i18n"):
        return Case(raw["id"], "template", raw["source"], ours, sends, varies=raw.get("varies"))
    details = {k: v for k, v in template.items() if k != "usageType"}
    return Case(
        raw["id"],
        "template",
        raw["source"],
        ours,
        sends,
        varies=raw.get("varies"),
        i18n_template=details,
        logto_config=copy.deepcopy(base),
    )


def template_cases(values: dict[str, str]) -> list[Case]:
    """The cases of templates.json, each in the config of ``TEMPLATE_BASE``."""
    base = next(c for c in config_cases(values) if c.case_id == TEMPLATE_BASE).config
    return [_template_case(raw, base) for raw in _load("templates.json")]


def all_cases(values: dict[str, str]) -> list[Case]:
    """Every case of the corpus; ids are unique across both files."""
    cases = config_cases(values) + template_cases(values)
    ids = [c.case_id for c in cases]
    duplicates = {i for i in ids if ids.count(i) > 1}
    assert not duplicates, f"case ids used twice: {sorted(duplicates)}"
    return cases


def pointed_at(config: dict[str, Any], host: str, port: Any) -> dict[str, Any]:
    """The config with its host and port replaced by the capture sink's; an empty host stays
    empty (Logto's storage drops it, so its send fails before connecting)."""
    return dict(copy.deepcopy(config), host=host if config.get("host") != "" else "", port=port)
