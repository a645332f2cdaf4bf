"""``make readme-check``: the README run as written, by a newcomer, on a fresh clone.

The HEAD of this repository is cloned into a temporary folder; the README's runnable blocks
(tests/readme/blocks.py) run there in order, in one bash, against the one server its
``readme-run=serve`` block starts (``make run``, which installs its own virtual environment
in the clone). Each command must exit as the README says, and every output the README shows
must match what the command printed, once the volatile parts are masked.

What differs from a reader's terminal, and only that:
- the ports: the README's 50051 (gRPC), 2525 (the dev mailbox) and 8025 (the web console)
  are free ports picked for this run, so that a check never meets another server. The
  commands are run with them, the example configs of the clone point at them, the server
  gets them through its environment variables (``SMTP_CONNECTOR_ADDRESS``,
  ``SMTP_CONNECTOR_DEV_MAILBOX_ADDRESS``, ``SMTP_CONNECTOR_CONSOLE_ADDRESS``, and the inline
  port allowlist and probe ports that name 2525 by default), and outputs are compared with
  the README's numbers put back;
- ``HOME`` is a folder of the run (``~`` in a command is private to it), with pip's and
  npm's caches kept where they were, so that a second run downloads nothing.

    python3 -m tests.readme.run [--repo PATH] [--keep]
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.readme.blocks import (
    Block,
    Command,
    mask,
    output_matches,
    replace_number,
    runnable_blocks,
    shell_blocks_not_run,
)
from tests.readme.shell import Result, Shell

ROOT = Path(__file__).resolve().parent.parent.parent
SHOWN_GRPC_PORT = 50051
SHOWN_MAILBOX_PORT = 2525
SHOWN_CONSOLE_PORT = 8025
# A first `make run` installs the server's packages: minutes on a slow network.
SERVE_TIMEOUT = 900.0
COMMAND_TIMEOUT = 600.0
STOP_TIMEOUT = 30.0


@dataclass
class Ports:
    """The ports of this run and the README's, both ways."""

    grpc: int
    mailbox: int
    console: int = 0

    def to_run(self, text: str) -> str:
        """A README text with this run's ports."""
        for shown, actual in self._pairs():
            text = replace_number(text, shown, actual)
        return text

    def shown(self) -> dict[int, int]:
        """This run's ports, mapped to the README's."""
        return {actual: shown for shown, actual in self._pairs()}

    def _pairs(self) -> list[tuple[int, int]]:
        pairs = [(SHOWN_GRPC_PORT, self.grpc), (SHOWN_MAILBOX_PORT, self.mailbox)]
        return pairs + ([(SHOWN_CONSOLE_PORT, self.console)] if self.console else [])


@dataclass
class Report:
    """What the run found: one line per command, and the failures in full."""

    passed: int = 0
    failures: list[str] = field(default_factory=list)

    def ok(self, command: Command, result: Result) -> None:
        self.passed += 1
        print(f"ok    {_first_line(command)}  ({result.seconds:.1f} s)", flush=True)

    def fail(self, command: Command, why: str) -> None:
        print(f"FAIL  {_first_line(command)}  (README.md line {command.line})", flush=True)
        print(_indent(why), flush=True)
        self.failures.append(f"README.md line {command.line}: {_first_line(command)}")


def main(argv: list[str] | None = None) -> int:
    """Run the README; the exit status is 1 when any command failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository to clone")
    parser.add_argument("--keep", action="store_true", help="keep the clone afterwards")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="readme-check-"))
    try:
        return check(args.repo, scratch)
    finally:
        if args.keep:
            print(f"the clone is kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def check(repo: Path, scratch: Path) -> int:
    """Clone ``repo`` into ``scratch`` and run its README there."""
    clone = scratch / "smtp-connector"
    subprocess.run(["git", "clone", "--quiet", str(repo), str(clone)], check=True)
    head = subprocess.run(
        ["git", "-C", str(clone), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"readme-check: a fresh clone of {head}", flush=True)
    readme = (clone / "README.md").read_text(encoding="utf-8")
    blocks = runnable_blocks(readme)
    for block in shell_blocks_not_run(readme):
        print(f"not run: the {block.language} block at README.md line {block.line} (unmarked)")
    ports = Ports(free_port(), free_port(), free_port())
    point_examples_at(clone, ports)
    env = session_environment(scratch, ports)
    report = Report()
    server = Server(clone, env, ports)
    with Shell(clone, env, scratch / "commands") as shell:
        try:
            for block in blocks:
                done = server.start(block, report) if block.serves else None
                if done is False or not (done or run_block(shell, block, ports, report)):
                    break
        finally:
            server.stop(report)
    print(f"readme-check: {report.passed} passed, {len(report.failures)} failed")
    return 1 if report.failures else 0


def run_block(shell: Shell, block: Block, ports: Ports, report: Report) -> bool:
    """Run a block's commands in order; False when one ran out of time (the shell is then
    still busy with it, so nothing after it can run)."""
    for command in block.commands:
        result = shell.run(ports.to_run(command.text), COMMAND_TIMEOUT)
        if result.status is None:
            report.fail(command, f"no answer within {COMMAND_TIMEOUT:.0f} s\n{result.output}")
            return False
        why = judge(command, result, ports)
        if why:
            report.fail(command, why)
        else:
            report.ok(command, result)
    return True


def judge(command: Command, result: Result, ports: Ports) -> str:
    """Why a command's result is not what the README says ("" when it is)."""
    if result.status != command.status:
        return (
            f"exit status {result.status}, the README expects {command.status}\n"
            + (result.output[-4000:])
        )
    if command.output is None:
        return ""
    expected = mask("\n".join(command.output)).splitlines()
    actual = mask(result.output, ports.shown()).splitlines()
    if output_matches(expected, actual):
        return ""
    diff = difflib.unified_diff(expected, actual, "README", "printed", lineterm="")
    return "the output differs from the README's (masked):\n" + "\n".join(diff)


class Server:
    """The server block's process, started once, stopped with Ctrl-C (SIGINT to its process
    group, as a terminal sends it)."""

    def __init__(self, clone: Path, env: dict[str, str], ports: Ports) -> None:
        self._clone = clone
        self._env = env
        self._ports = ports
        self._log = clone.parent / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._command: Command | None = None

    def start(self, block: Block, report: Report) -> bool:
        """Start the block's one command and wait until the gRPC port answers."""
        (command,) = block.commands
        if self._process is not None:
            report.fail(command, "a second server block: the README starts its server once")
            return False
        self._command = command
        started = time.monotonic()
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                ["bash", "-c", self._ports.to_run(command.text)],
                cwd=self._clone,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        while not self._serving():
            if self._process.poll() is not None or time.monotonic() - started > SERVE_TIMEOUT:
                report.fail(command, f"it never served on port {SHOWN_GRPC_PORT}\n{self.log()}")
                return False
            time.sleep(0.2)
        seconds = time.monotonic() - started
        report.ok(command, Result(0, "", seconds))
        print(f"      (serving {seconds:.1f} s after `{command.text.split('#')[0].strip()}`)")
        return True

    def _serving(self) -> bool:
        """Whether the port answers and it is this server that does: its log names the port
        (another program may have taken a port that was free when the run chose it)."""
        return _answers(self._ports.grpc) and f":{self._ports.grpc}" in self.log()

    def stop(self, report: Report) -> None:
        """Ctrl-C, then check that it drained and stopped cleanly."""
        if self._process is None or self._command is None:
            return
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGINT)
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
                report.fail(self._command, f"Ctrl-C did not stop it in {STOP_TIMEOUT:.0f} s")
                return
        log = self.log()
        if "smtp-connector stopped" not in log or "Traceback" in log:
            report.fail(self._command, f"it did not stop cleanly on Ctrl-C:\n{log[-4000:]}")

    def log(self) -> str:
        return self._log.read_text(encoding="utf-8", errors="replace")[-4000:]


def session_environment(scratch: Path, ports: Ports) -> dict[str, str]:
    """The environment of a newcomer's terminal: no virtual environment active, a home of
    its own, pip's and npm's caches shared, and this run's ports."""
    home = scratch / "home"
    home.mkdir()
    real_home = Path.home()
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if "/.venv/" not in p + "/"]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SMTP_CONNECTOR_", "VIRTUAL_ENV", "PYTEST", "MAKE", "MFLAGS"))
    }
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join(path),
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", str(real_home / ".cache" / "pip")),
        NPM_CONFIG_CACHE=os.environ.get("NPM_CONFIG_CACHE", str(real_home / ".npm")),
        SMTP_CONNECTOR_ADDRESS=f"127.0.0.1:{ports.grpc}",
        SMTP_CONNECTOR_DEV_MAILBOX_ADDRESS=f"127.0.0.1:{ports.mailbox}",
        SMTP_CONNECTOR_INLINE_ALLOWED_PORTS=f"25,465,587,{ports.mailbox}",
        SMTP_CONNECTOR_PROBE_PORTS=f"[465, 587, {ports.mailbox}, 25]",
        SMTP_CONNECTOR_CONSOLE_ADDRESS=f"127.0.0.1:{ports.console}",
    )
    return env


def point_examples_at(clone: Path, ports: Ports) -> None:
    """Make the clone's example configs name this run's ports."""
    for config in (clone / "examples").rglob("*.json"):
        if "node_modules" in config.parts:
            continue
        text = config.read_text(encoding="utf-8")
        config.write_text(ports.to_run(text), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _first_line(command: Command) -> str:
    return command.text.splitlines()[0].split("  #")[0].strip()


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


if __name__ == "__main__":
    sys.exit(main())
