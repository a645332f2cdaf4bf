"""The committed stubs under gen/ are what `make proto` makes from protos/ now."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    out.mkdir()
    plugin_dir = Path(sys.executable).parent
    assert shutil.which("protoc-gen-mypy_grpc", path=str(plugin_dir)), "mypy-protobuf missing"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{ROOT / 'protos'}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            f"--plugin=protoc-gen-mypy_grpc={plugin_dir / 'protoc-gen-mypy_grpc'}",
            f"--mypy_grpc_out={out}",
            *(str(p.relative_to(ROOT / "protos")) for p in (ROOT / "protos").rglob("*.proto")),
        ],
        check=True,
        cwd=ROOT / "protos",
    )
    fresh = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert fresh, "protoc generated nothing"
    for relative in fresh:
        committed = ROOT / "gen" / relative
        assert committed.exists(), f"{relative} is missing from gen/: run `make proto`"
        assert filecmp.cmp(out / relative, committed, shallow=False), (
            f"gen/{relative} is stale: run `make proto` and commit the result"
        )
