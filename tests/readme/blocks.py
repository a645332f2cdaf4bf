"""The README's runnable blocks: which fenced blocks run, the commands in them, the output a
transcript shows, and the masking that lets a run's output be compared with it.

The convention (README.md, "Development"): a fenced block whose info string carries
``readme-run`` after its language is run by ``make readme-check``.

- ```` ```bash readme-run ````: a script typed into one terminal; every command must exit 0.
- ```` ```bash readme-run=serve ````: the server (``make run``), started once in the
  background; the blocks after it run while it serves, and it is stopped with Ctrl-C at the end.
- ```` ```text readme-run ````: a transcript; each ``$ command`` line is run and what it prints
  must match the lines under it. A command expected to fail says so in a comment,
  ``# exits 1``. A line ``...`` stands for any number of lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

MARK = "readme-run"
SERVE = f"{MARK}=serve"
ELLIPSIS = "..."

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_EXITS = re.compile(r"#.*\bexits? (?P<status>\d+)\b")


@dataclass(frozen=True)
class Command:
    """One command of a runnable block: its text (continuation lines joined as written), the
    exit status it must end with, and, in a transcript, the output shown under it."""

    text: str
    line: int
    status: int = 0
    output: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Block:
    """A fenced block of the README: its language, its marker words and its lines."""

    language: str
    marks: tuple[str, ...]
    lines: tuple[str, ...]
    line: int  # 1-based line of the opening fence
    commands: tuple[Command, ...] = field(default=(), compare=False)

    @property
    def runnable(self) -> bool:
        """Whether ``make readme-check`` runs it."""
        return any(mark == MARK or mark.startswith(MARK + "=") for mark in self.marks)

    @property
    def serves(self) -> bool:
        """Whether it is the block that starts the server."""
        return SERVE in self.marks

    @property
    def transcript(self) -> bool:
        """Whether it shows commands with their output (``$ command`` lines)."""
        return self.language in ("text", "console", "")


def fenced_blocks(markdown: str) -> Iterator[Block]:
    """Every fenced code block of a Markdown text, in order (CommonMark's fences: three or
    more backticks or tildes, closed by a fence of the same character at least as long)."""
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        start = index
        fence = opening["fence"]
        words = opening["info"].split()
        body: list[str] = []
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            index += 1
            if closing and _closes(closing, fence):
                break
            body.append(lines[index - 1])
        yield Block(
            language=words[0] if words else "",
            marks=tuple(words[1:]),
            lines=tuple(body),
            line=start,
        )


def _closes(line: re.Match[str], fence: str) -> bool:
    found = line["fence"]
    return found[0] == fence[0] and len(found) >= len(fence) and not line["info"].strip()


def runnable_blocks(markdown: str) -> list[Block]:
    """The blocks ``make readme-check`` runs, each with its commands parsed."""
    blocks = []
    for block in fenced_blocks(markdown):
        if not block.runnable:
            continue
        parse = transcript_commands if block.transcript else script_commands
        commands = tuple(parse(block.lines, block.line + 1))
        blocks.append(Block(block.language, block.marks, block.lines, block.line, commands))
    return blocks


def shell_blocks_not_run(markdown: str) -> list[Block]:
    """The shell blocks without the marker: reported by the runner, so that none is left out
    by accident."""
    shells = ("bash", "sh", "shell", "console")
    return [b for b in fenced_blocks(markdown) if b.language in shells and not b.runnable]


def script_commands(lines: Sequence[str], first_line: int) -> Iterator[Command]:
    """The commands of a shell block: blank and comment-only lines skipped, a line ending in a
    backslash continued on the next."""
    pending: list[str] = []
    start = first_line
    for number, line in enumerate(lines, first_line):
        if not pending:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = number
        pending.append(line)
        if line.endswith("\\"):
            continue
        text = "\n".join(pending)
        pending = []
        yield Command(text, start, expected_status(text))
    if pending:
        text = "\n".join(pending)
        yield Command(text, start, expected_status(text))


def transcript_commands(lines: Sequence[str], first_line: int) -> Iterator[Command]:
    """The ``$ command`` lines of a transcript, each with the output lines under it (blank
    lines at the end of an output are the gap before the next command, not output)."""
    command: str | None = None
    start = first_line
    output: list[str] = []
    for number, line in enumerate(lines, first_line):
        if line.startswith("$ "):
            if command is not None:
                yield Command(command, start, expected_status(command), _trimmed(output))
            command, start, output = line[2:], number, []
        elif command is not None:
            output.append(line)
    if command is not None:
        yield Command(command, start, expected_status(command), _trimmed(output))


def expected_status(command: str) -> int:
    """The exit status a command's comment announces (``# exits 1``), else 0."""
    found = _EXITS.search(command)
    return int(found["status"]) if found else 0


def _trimmed(output: list[str]) -> tuple[str, ...]:
    while output and not output[-1].strip():
        output.pop()
    return tuple(output)


# What changes from run to run, each with what it reads as in the README and in a run alike.
MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\s+\d+ ms\b"), " N ms"),
    (re.compile(r"<\d+(\.\d+)+@[\w.-]+>"), "<MESSAGE-ID>"),
    (re.compile(r"\b\d{8}-\d{6}-\d+-\d{6}\.eml\b"), "DATE-TIME-PID-SEQ.eml"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(,\d+)?"), "TIMESTAMP"),
    # aiosmtpd's greeting names the machine and its version.
    (re.compile(r"\b220 \S+ Python SMTP \d+(\.\d+)*"), "220 HOST Python SMTP VERSION"),
)


def mask(text: str, ports: dict[int, int] | None = None) -> str:
    """``text`` with its volatile parts replaced by placeholders; ``ports`` maps the ports a
    run used to the ones the README shows."""
    for actual, shown in (ports or {}).items():
        text = replace_number(text, actual, shown)
    for pattern, placeholder in MASKS:
        text = pattern.sub(placeholder, text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def replace_number(text: str, number: int, by: int) -> str:
    """``text`` with the number ``number`` (not as part of a longer number or an address
    such as 1.2.3.4) replaced by ``by``."""
    return re.sub(rf"(?<![\d.]){number}(?![\d])", str(by), text)


def output_matches(expected: Sequence[str], actual: Sequence[str]) -> bool:
    """Whether the output lines match the README's, line by line, where a line ``...`` in the
    README stands for any number of lines."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == ELLIPSIS:
        return any(output_matches(rest, actual[skip:]) for skip in range(len(actual) + 1))
    return bool(actual) and actual[0] == head and output_matches(rest, actual[1:])
