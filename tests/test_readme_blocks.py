"""The README runner's parts (tests/readme/): finding the runnable blocks, parsing their
commands and outputs, masking what changes between runs, the one terminal they run in, and
the runner itself on a small repository whose README is right, then wrong. `make
readme-check` runs the real README; here the README is only parsed."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.readme.blocks import (
    Command,
    fenced_blocks,
    mask,
    output_matches,
    runnable_blocks,
    script_commands,
    shell_blocks_not_run,
    transcript_commands,
)
from tests.readme.run import Ports, check, judge
from tests.readme.shell import Result, Shell

ROOT = Path(__file__).resolve().parent.parent

MARKDOWN = """\
# Title

```bash readme-run=serve
make run    # serves
```

````text readme-run
$ smtp-connector validate bad.json   # exits 1: invalid
```
not a fence: the block is opened by four backticks
config is invalid

$ ls
a.eml
````

~~~bash readme-run
cd sub  # a comment
# a whole-line comment
do-this --flag \\
  --other
~~~

```bash
not run
```

```python
print("neither")
```
"""


def test_fenced_blocks_follow_commonmark_fences() -> None:
    blocks = list(fenced_blocks(MARKDOWN))
    assert [(b.language, b.marks, b.line) for b in blocks] == [
        ("bash", ("readme-run=serve",), 3),
        ("text", ("readme-run",), 7),
        ("bash", ("readme-run",), 17),
        ("bash", (), 24),
        ("python", (), 28),
    ]
    assert blocks[1].lines[1] == "```"  # a shorter fence does not close a longer one


def test_runnable_blocks_and_their_commands() -> None:
    serve, transcript, script = runnable_blocks(MARKDOWN)
    assert serve.serves and not transcript.serves
    assert serve.commands == (Command("make run    # serves", 4),)
    assert transcript.commands == (
        Command(
            "smtp-connector validate bad.json   # exits 1: invalid",
            8,
            1,
            ("```", "not a fence: the block is opened by four backticks", "config is invalid"),
        ),
        Command("ls", 13, 0, ("a.eml",)),
    )
    assert script.commands == (
        Command("cd sub  # a comment", 18),
        Command("do-this --flag \\\n  --other", 20),
    )
    assert [b.line for b in shell_blocks_not_run(MARKDOWN)] == [24]


def test_a_script_ending_in_a_backslash_keeps_its_last_command() -> None:
    assert list(script_commands(["a \\", "b \\"], 1)) == [Command("a \\\nb \\", 1)]


def test_text_before_the_first_command_of_a_transcript_is_not_output() -> None:
    (command,) = transcript_commands(["a heading", "$ true", "", ""], 1)
    assert command == Command("true", 2, 0, ())


@pytest.mark.parametrize(
    ("printed", "shown"),
    [
        ("✓ connect      12 ms  connected", "✓ connect N ms  connected"),
        ("✓ connect       0 ms  connected", "✓ connect N ms  connected"),
        ("sent <177656340712.4120.88061@example.test> to a", "sent <MESSAGE-ID> to a"),
        ("20261201-221502-4120-000001.eml", "DATE-TIME-PID-SEQ.eml"),
        ("220 mail.example Python SMTP 1.4.6", "220 HOST Python SMTP VERSION"),
        ("2026-12-01 21:42:55,700 INFO", "TIMESTAMP INFO"),
        # What the user should see stays as it is.
        (
            "250 2.0.0 stored in the development mailbox",
            "250 2.0.0 stored in the development mailbox",
        ),
        ("From: Acme <noreply@acme.example>", "From: Acme <noreply@acme.example>"),
        ("trailing spaces   ", "trailing spaces"),
    ],
)
def test_mask(printed: str, shown: str) -> None:
    assert mask(printed) == shown


def test_mask_puts_the_readmes_ports_back() -> None:
    ports = Ports(grpc=41234, mailbox=41235, console=41236)
    printed = "127.0.0.1:41235 refused; 10.41.234.1; 141235; 41234; http://127.0.0.1:41236/"
    assert mask(printed, ports.shown()) == (
        "127.0.0.1:2525 refused; 10.41.234.1; 141235; 50051; http://127.0.0.1:8025/"
    )
    assert ports.to_run("--target 127.0.0.1:50051 port 2525 25250") == (
        "--target 127.0.0.1:41234 port 41235 25250"
    )


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        (["a", "b"], ["a", "b"], True),
        (["a", "b"], ["a", "c"], False),
        (["a"], ["a", "b"], False),
        (["a", "...", "d"], ["a", "b", "c", "d"], True),
        (["a", "...", "d"], ["a", "d"], True),
        (["a", "...", "d"], ["a", "b", "c"], False),
        (["..."], [], True),
        ([], [], True),
    ],
)
def test_output_matches(expected: list[str], actual: list[str], matches: bool) -> None:
    assert output_matches(expected, actual) is matches


def test_judge_names_what_differs() -> None:
    ports = Ports(50051, 2525)
    command = Command("validate x", 10, 1, ("config is invalid (1 error, 0 warnings)",))
    assert judge(command, Result(1, "config is invalid (1 error, 0 warnings)\n", 0.1), ports) == ""
    wrong = judge(command, Result(1, "config is invalid (2 errors, 0 warnings)\n", 0.1), ports)
    assert "-config is invalid (1 error, 0 warnings)" in wrong
    assert "+config is invalid (2 errors, 0 warnings)" in wrong
    assert judge(command, Result(0, "", 0.1), ports).startswith(
        "exit status 0, the README expects 1"
    )


def test_one_shell_carries_state_from_command_to_command(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with Shell(tmp_path, {"PATH": "/usr/bin:/bin"}, tmp_path / "scratch") as shell:
        assert shell.run("cd sub && export GREETING=hello", 10).status == 0
        result = shell.run('echo "$GREETING from $(basename "$PWD")"; echo oops >&2; false', 10)
        assert (result.status, result.output) == (1, "hello from sub\noops\n")
        assert shell.run("if then", 10).status == 2  # a syntax error does not stop the shell
        assert shell.run("echo still here", 10).output == "still here\n"
        assert shell.run("sleep 5", 0.3).status is None


FAKE_SERVER = """\
import signal, socket, sys
sock = socket.create_server(("127.0.0.1", int(sys.argv[1])))
def stop(signum, frame):
    print("smtp-connector stopped", flush=True)
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
print(f"listening on 127.0.0.1:{sys.argv[1]}", flush=True)
while True:
    sock.accept()[0].close()
"""


def small_repository(tmp_path: Path, readme: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "server.py").write_text(FAKE_SERVER, encoding="utf-8")
    (repo / "README.md").write_text(textwrap.dedent(readme), encoding="utf-8")
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "readme"]):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *command],
            cwd=repo,
            check=True,
        )
    return repo


README = """\
    ```bash readme-run=serve
    python3 server.py 50051
    ```

    ```text readme-run
    $ echo "the server is on 127.0.0.1:50051"
    the server is on 127.0.0.1:50051
    $ test -f server.py   # exits 0
    $ python3 -c "import socket; socket.create_connection(('127.0.0.1', 50051)); print('up')"
    {answer}
    ```
"""


@pytest.mark.parametrize(("answer", "status"), [("up", 0), ("down", 1)])
def test_the_runner_passes_a_right_readme_and_fails_a_wrong_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], answer: str, status: int
) -> None:
    repo = small_repository(tmp_path, README.format(answer=answer))
    assert check(repo, tmp_path / "scratch") == status
    out = capsys.readouterr().out
    assert f"readme-check: {4 - status} passed, {status} failed" in out
    if status:
        assert "FAIL  python3 -c" in out
        assert "-down" in out and "+up" in out


def test_the_readme_has_one_server_block_and_its_commands_parse() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = runnable_blocks(readme)
    serving = [block for block in blocks if block.serves]
    assert len(serving) == 1
    assert [c.text.split("#")[0].strip() for c in serving[0].commands] == ["make run"]
    assert blocks.index(serving[0]) == 0  # the newcomer starts the server first
    transcripts = [block for block in blocks if block.transcript]
    assert transcripts and all(block.commands for block in transcripts)
    for block in blocks:
        for command in block.commands:
            parsed = subprocess.run(["bash", "-n", "-c", command.text], capture_output=True)
            assert parsed.returncode == 0, f"README.md line {command.line}: {command.text}"
