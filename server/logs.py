"""Logging set-up: text or JSON lines, each carrying the id of the request it belongs to.

One record is one line in either format: JSON escapes line breaks itself, and the text
format escapes every line boundary (CR, LF and the others ``str.splitlines`` knows) of
what it writes, so a caller's value in a message (a profile name, an address) cannot add a
line that looks like a record of its own. A traceback keeps its lines, each indented.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# The id of the RPC being served on this thread; "-" outside any RPC.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "request_id", "message")


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class _SecondCachedTime(logging.Formatter):
    """logging's own timestamp, with the strftime part computed once a second (every RPC
    writes log lines: strftime was a visible part of their cost)."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        whole = int(record.created)
        second, text = self._second  # one tuple: threads see a whole pair
        if second != whole:
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (whole, text)
        msec_format = self.default_msec_format
        return msec_format % (text, record.msecs) if msec_format else text


# Every line boundary of str.splitlines, as the escape that shows it.
_LINE_BREAKS = {
    ord(char): char.encode("unicode_escape").decode("ascii")
    for char in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
}


def one_line(text: str) -> str:
    """``text`` with every line boundary escaped (``\\n``, ``\\u2028``...)."""
    return text.translate(_LINE_BREAKS)


class TextFormatter(_SecondCachedTime):
    """The text format: one line a record (a traceback's lines follow it, indented)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802
        return one_line(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return "\n".join(
            "    " + one_line(line) for line in super().formatException(ei).splitlines()
        )

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return "\n".join("    " + one_line(line) for line in stack_info.splitlines())


class JsonLineFormatter(_SecondCachedTime, JsonFormatter):
    """One JSON object a line."""


def make_formatter(log_format: str) -> logging.Formatter:
    """A formatter for ``text`` or ``json`` (one object a line, extra fields included)."""
    if log_format == "json":
        return JsonLineFormatter(
            list(JSON_FIELDS),
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return TextFormatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str) -> None:
    """Send the server's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(RequestIdFilter())
    # Neither format shows the caller, thread or process: skip gathering them for every record
    # (the "Optimization" section of the logging HOWTO; findCaller alone walked the stack for
    # each of a send's lines).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
