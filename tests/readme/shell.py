"""One terminal for the README's commands: a single bash process that runs them one after
the other, so that ``cd``, ``source .venv/bin/activate`` and variables carry over from one
command to the next as they do for a reader pasting them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


@dataclass(frozen=True)
class Result:
    """What a command did: its exit status (None when it ran out of time), what it printed
    (standard output and error, interleaved as in a terminal) and how long it took."""

    status: int | None
    output: str
    seconds: float


class Shell:
    """A bash reading commands from a pipe; each command's output goes to a file of its own,
    and its exit status to another that appears once it has finished."""

    def __init__(self, cwd: Path, env: dict[str, str], scratch: Path) -> None:
        self._scratch = scratch
        self._scratch.mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    def run(self, command: str, timeout: float) -> Result:
        """Run ``command`` as if typed at the prompt; waits at most ``timeout`` seconds."""
        assert self._process.stdin is not None
        self._count += 1
        name = self._scratch / f"{self._count:03d}"
        output, status = name.with_suffix(".out"), name.with_suffix(".status")
        name.with_suffix(".sh").write_text(command + "\n", encoding="utf-8")
        # Sourced, not typed into the pipe: a syntax error then fails the command, where it
        # would end a non-interactive shell reading its input.
        script = (
            f"{{ source {name}.sh; }} > {output} 2>&1 < /dev/null\n"
            f"echo $? > {status}.tmp && mv {status}.tmp {status}\n"
        )
        started = time.monotonic()
        self._process.stdin.write(script)
        self._process.stdin.flush()
        while not status.exists():
            if time.monotonic() - started > timeout or self._process.poll() is not None:
                return Result(None, _read(output), time.monotonic() - started)
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        return Result(int(status.read_text().strip()), _read(output), elapsed)

    def close(self) -> None:
        """End the shell and whatever it still runs."""
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            self._process.wait(timeout=10)
        if self._process.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.close()

    def __enter__(self) -> Shell:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
