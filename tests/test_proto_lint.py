"""Proto hygiene: the recipe `make lint` runs (`make proto-check`: buf lint, then buf
breaking against the released image) passes on protos/, fails on a deliberate incompatible
change or a style violation, and lets an additive change through."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.node import NODE_MODULES, ROOT

PROTO = Path("protos/smtp_connector/v1/smtp_connector.proto")
BUF = NODE_MODULES / ".bin" / "buf"
NEW_FIELD = """
  // A field added later; additive changes keep v1 compatible.
  string reply_to = 6;
}

// SendMessageResponse"""


def proto_check(tmp_path: Path, old: str = "", new: str = "") -> subprocess.CompletedProcess[str]:
    """`make proto-check` on a copy of the repository's proto files, with one edit."""
    for name in ("Makefile", "buf.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    proto = tmp_path / PROTO
    text = proto.read_text(encoding="utf-8")
    assert old in text
    proto.write_text(text.replace(old, new, 1), encoding="utf-8")
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(tmp_path), "proto-check", f"BUF={BUF}"],
        capture_output=True,
        text=True,
        timeout=50,
    )


def test_protos_are_clean_and_compatible(tmp_path: Path) -> None:
    done = proto_check(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_added_field_is_compatible(tmp_path: Path) -> None:
    done = proto_check(tmp_path, "\n}\n\n// SendMessageResponse", NEW_FIELD)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("string usage_type = 2;", "int32 usage_type = 2;", 'changed type from "string"'),
        ("  string idempotency_key = 5;\n", "", 'Previously present field "5"'),
        ("string to = 1;", "string recipient = 1;", 'changed name from "to" to "recipient"'),
        ("string smtp_reply = 3;", "string smtp_reply = 7;", 'Previously present field "3"'),
        ("SEVERITY_WARNING = 2;", "SEVERITY_WARNING = 3;", 'Previously present enum value "2"'),
    ],
)
def test_an_incompatible_change_fails(tmp_path: Path, old: str, new: str, complaint: str) -> None:
    done = proto_check(tmp_path, old, new)
    assert done.returncode != 0
    assert complaint in done.stdout + done.stderr


def test_a_style_violation_fails_lint(tmp_path: Path) -> None:
    done = proto_check(tmp_path, "string idempotency_key = 5;", "string idempotencyKey = 5;")
    assert done.returncode != 0
    assert "lower_snake_case" in done.stdout + done.stderr
