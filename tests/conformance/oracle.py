"""Logto's published SMTP connector as the oracle: the Node harness of node/harness.mjs in one
process for the whole corpus, fed batches over stdin/stdout."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HARNESS = HERE / "node" / "harness.mjs"
# Installed from node/package-lock.json by scripts/system-deps.d/logto.sh.
PACKAGE = HERE / "node" / "node_modules" / "@logto" / "connector-smtp" / "package.json"


class Oracle:
    """A running harness; ``run`` sends one batch and returns its results in order."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._process = process

    def run(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"items": items}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Logto harness exited ({self._process.poll()})")
        results: list[dict[str, Any]] = json.loads(line)["results"]
        broken = [r["error"] for r in results if "error" in r and "sent" not in r]
        assert not broken, f"the Logto harness failed: {broken[:3]}"
        return results


def installed_version() -> str:
    """The version of @logto/connector-smtp the harness loads."""
    version: str = json.loads(PACKAGE.read_text(encoding="utf-8"))["version"]
    return version


@contextmanager
def running_oracle(ca_file: str, log_path: Path) -> Iterator[Oracle]:
    """The harness, trusting ``ca_file`` (the capture sink's CA) besides Node's own CAs."""
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": ca_file}
    with (
        log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            ["node", str(HARNESS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            encoding="utf-8",
            env=env,
        ) as process,
    ):
        try:
            yield Oracle(process)
        finally:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
