"""Running the Node.js programs of tests/node/ and examples/node/ as subprocesses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
# Installed from tests/node/package-lock.json by scripts/system-deps.d/node.sh.
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"


def run_node(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs a Node.js script with the project's npm packages on its module path."""
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    return subprocess.run(
        ["node", str(script), *args], capture_output=True, text=True, timeout=45, env=env
    )
