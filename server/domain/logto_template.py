"""Logto's template semantics: ``{{ dotted.path }}`` placeholders replaced, every other
character kept as text, values formatted as JavaScript's ``String()`` formats them.

This is the default engine. It follows ``replaceSendMessageHandlebars`` and ``getValue`` of
Logto's connector kit (logto-io/logto, packages/toolkit/connector-kit/src/index.ts, read at
commit 1fbc55441f), which every Logto email connector, SMTP included, renders with:

- a placeholder is ``{{``, optional white space, one or more ASCII word characters or dots,
  optional white space, ``}}`` (the JavaScript regex ``/{{\\s*([\\w.]+)\\s*}}/g``: ``\\w`` is
  ASCII without the ``u`` flag; ``\\s`` is JavaScript's white space, spelt out below because
  Python's differs); anything else, ``{%``, ``{{#if}}``, ``{{ .Code }}``, ``{{名字}}``,
  an unclosed ``{{``, is text and goes out as written;
- a placeholder whose first path part is not a key of the payload stays as written;
- otherwise the path is followed through objects (and arrays: an index or ``length``);
  a step into a value that is not an object, or a key that is absent, gives ``''``;
- the value is formatted by ``String(value ?? '')``: ``null`` is ``''``, ``true`` is
  ``true``, ``42.0`` is ``42``, ``1e21`` is ``1e+21``, an array is its items joined by
  commas, an object is ``[object Object]``.

Two deliberate differences, listed in docs/logto-compatibility.md: values are HTML-escaped
in HTML bodies unless the config or template says ``"htmlEscape": false``; and names of
JavaScript's built-in object properties (``constructor``, ``toString``, ``__proto__``...)
are not payload keys here (Logto renders the function's source for ``{{constructor}}``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from markupsafe import escape

__all__ = ["LogtoTemplate", "js_string", "placeholders"]

# ECMAScript's WhiteSpace and LineTerminator code points (ECMA-262 §12.2, §12.3), which
# JavaScript's \s matches; Python's \s adds U+001C-U+001F and U+0085 and lacks U+FEFF.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
PLACEHOLDER = re.compile(rf"{{{{[{_JS_SPACE}]*([A-Za-z0-9_.]+)[{_JS_SPACE}]*}}}}")

_MISSING: Any = object()
# An array index as JavaScript reads one from a property name: canonical digits only.
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def placeholders(source: str) -> tuple[str, ...]:
    """The dotted paths of a template's placeholders, in order, as Logto reads them."""
    return tuple(match[1] for match in PLACEHOLDER.finditer(source))


def _step(current: Any, part: str) -> Any:
    """One step of Logto's ``getValue``: a key of an object, an index or ``length`` of an
    array; anything else (a string, a number, null) has no properties to step into."""
    if isinstance(current, Mapping):
        return current.get(part, _MISSING)
    if isinstance(current, Sequence) and not isinstance(current, str | bytes):
        if part == "length":
            return len(current)
        if _ARRAY_INDEX.fullmatch(part) and int(part) < len(current):
            return current[int(part)]
    return _MISSING


def lookup(payload: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (``_MISSING`` where Logto's ``getValue`` gives undefined)."""
    current: Any = payload
    for part in path.split("."):
        current = _step(current, part)
        if current is _MISSING:
            return _MISSING
    return current


def js_number(value: float) -> str:
    """A number as JavaScript's ``Number.prototype.toString()`` writes it (ECMA-262
    Number::toString): the shortest digits that round-trip (Python's ``repr`` finds the same),
    positional notation from 1e-7 up to 1e21, exponent notation (``1e+21``) beyond."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"  # -0 too
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    k = len(digits)
    n = int(exponent) + k  # the value is 0.digits times 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        power = f"{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
        text = f"{digits[0]}e{power}" if k == 1 else f"{digits[0]}.{digits[1:]}e{power}"
    return sign + text


def js_string(value: Any) -> str:
    """``String(value ?? '')`` for a JSON value: ``None`` is ``''``, booleans are
    ``true``/``false``, numbers as JavaScript writes them, arrays joined by commas (their
    ``null`` items empty), objects ``[object Object]``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) < 10**21:
        return str(value)
    if isinstance(value, int | float):
        return js_number(float(value))
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return ",".join(js_string(item) for item in value)
    return str(value)


def render(source: str, payload: Mapping[str, Any], *, html_escape: bool = False) -> str:
    """``source`` with each placeholder replaced as Logto replaces it; with ``html_escape``,
    each payload value is HTML-escaped (the template's own text never is)."""

    def replace(match: re.Match[str]) -> str:
        path = match[1]
        root = path.split(".", 1)[0]
        if not root or root not in payload:
            return match[0]
        value = lookup(payload, path)
        text = "" if value is _MISSING else js_string(value)
        return str(escape(text)) if html_escape else text

    return PLACEHOLDER.sub(replace, source)


@dataclass(frozen=True)
class LogtoTemplate:
    """One template text under Logto's rules; ``html_escape`` escapes values (HTML bodies)."""

    source: str
    html_escape: bool = False

    def render(self, payload: Mapping[str, Any]) -> str:
        """The text for one payload; never raises for a missing value (Logto's rules)."""
        return render(self.source, payload, html_escape=self.html_escape)
