"""An example whose packages are not installed says the one command that installs them
(issue 16): a copy of examples/ without node_modules, run with no buf on PATH and no
NODE_PATH, as a newcomer right after `make run` would run it. (With the packages, the
examples are run by tests/test_client_examples.py and by `make readme-check`.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.node import ROOT

EXAMPLES = ROOT / "examples"


@pytest.fixture
def bare_examples(tmp_path: Path) -> Path:
    """examples/ copied without any node_modules folder."""
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy, ignore=shutil.ignore_patterns("node_modules"))
    return copy


def run_bare(*command: str | Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("NODE_PATH", "BUF")}
    # Only the system's folders: neither buf nor a virtual environment's tools.
    env["PATH"] = os.pathsep.join(
        folder
        for folder in ("/usr/local/bin", "/usr/bin", "/bin")
        if not (Path(folder) / "buf").exists()
    )
    return subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=30, env=env
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js comes from make system-deps")
def test_node_example_names_npm_install(bare_examples: Path) -> None:
    done = run_bare(shutil.which("node") or "node", bare_examples / "node" / "send.js")
    assert done.returncode == 2
    assert "@grpc/grpc-js is not installed" in done.stderr
    assert "`npm install --prefix examples/node`" in done.stderr
    assert "Error:" not in done.stderr  # no stack trace


def test_reflection_example_names_npm_install(bare_examples: Path) -> None:
    # The copy has no tests/node/ two folders up, so the test suite's own buf is not found.
    done = run_bare("bash", bare_examples / "reflection" / "call.sh", "127.0.0.1:1")
    assert done.returncode == 2
    assert "call.sh needs the buf CLI" in done.stderr
    assert "`npm install --prefix examples/reflection`" in done.stderr


@pytest.mark.parametrize("folder", ["node", "reflection"])
def test_each_npm_example_has_its_package_and_lock(folder: str) -> None:
    package = json.loads((EXAMPLES / folder / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((EXAMPLES / folder / "package-lock.json").read_text(encoding="utf-8"))
    assert package["dependencies"]
    assert set(package["dependencies"]) <= set(lock["packages"][""]["dependencies"])
