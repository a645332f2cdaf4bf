"""The render budget: a template from a caller's config may spend so much time and build so
many characters, and no more; checked inside the render, at every loop step, call, filter,
operator and output piece, so that no render outlives its budget or its caller's deadline
(issue 14, finding 4). Most of this module is the Jinja2 engine's; the Logto engine (linear,
no loops) counts each output piece and reads the clock at each placeholder through
``current_spend``.

What is checked, and where:

- time: every loop iteration, call and filter looks at the clock, so a nested loop with no
  output stops when the budget or the caller's deadline runs out;
- size, before a value is built: an operation whose result can be far larger than its
  operands (``center``, ``indent``, ``wordwrap``, ``join``, ``replace``, ``format``, ``%``,
  ``+``, ``~``, ``*``, ``**``, a width or count argument) is refused when the result would
  exceed the budget;
- size, after: every call's and filter's result, and every piece of output (literal text
  included, in macros and ``{% set %}`` blocks too) counts against the render's characters.

So a render holds at most a small multiple of ``max_chars`` characters at any time and stops
within ``seconds`` (plus one bounded operation) of starting.
"""

from __future__ import annotations

import contextvars
import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import _PassArg

from ..settings import MIN_RENDER_CHARS, setting_default

# `**` results wider than this many bits are refused (9**9**9 would take minutes).
MAX_POWER_BITS = 4096
# The filter every `{% for %}` iterable goes through (see BudgetedCodeGenerator).
_LOOP_FILTER = "__budgeted_loop"


class BudgetExceeded(SecurityError):
    """The render ran out of time or characters; ``deadline`` when it was the caller's."""

    def __init__(self, message: str, *, deadline: bool = False) -> None:
        super().__init__(message)
        self.deadline = deadline


@dataclass(frozen=True)
class RenderBudget:
    """The most one message's templates may cost to render (the server's settings)."""

    seconds: float = setting_default("max_render_seconds")
    max_chars: int = MIN_RENDER_CHARS


class _Spend:
    """What one render has left: its end on the monotonic clock, and characters."""

    def __init__(self, budget: RenderBudget, deadline: float | None) -> None:
        self.budget = budget
        own = time.monotonic() + budget.seconds
        self.by_deadline = deadline is not None and deadline < own
        self.ends = min(own, deadline) if deadline is not None else own
        self.chars_left = budget.max_chars

    def tick(self) -> None:
        if time.monotonic() > self.ends:
            if self.by_deadline:
                raise BudgetExceeded("the request's deadline ran out", deadline=True)
            raise BudgetExceeded(f"the render took longer than {self.budget.seconds:g} s")

    def allow(self, size: int, what: str) -> None:
        """Refuse building a value of ``size`` characters."""
        if size > self.budget.max_chars:
            raise BudgetExceeded(f"{what} would build more than {self.budget.max_chars} characters")

    def spend(self, size: int) -> None:
        self.chars_left -= size
        if self.chars_left < 0:
            raise BudgetExceeded(f"the output is longer than {self.budget.max_chars} characters")


_CURRENT: contextvars.ContextVar[_Spend | None] = contextvars.ContextVar("render", default=None)


@contextmanager
def budgeted(budget: RenderBudget, deadline: float | None) -> Iterator[None]:
    """Renders inside this block share one budget (a message's subject, bodies, mailboxes)."""
    token = _CURRENT.set(_Spend(budget, deadline))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _spend() -> _Spend:
    # Outside a render (Jinja2 folding constants at compile time) the default sizes apply;
    # an error there only means the expression is evaluated at render time instead.
    return _CURRENT.get() or _Spend(RenderBudget(), None)


def current_spend() -> _Spend:
    """What the current render has left, for the Logto engine to count its output and read
    the clock against (outside a ``budgeted`` block: a fresh default budget)."""
    return _spend()


def weight(value: Any, limit: int) -> int:
    """About how many characters ``value`` becomes as text, counted up to just past
    ``limit`` (a walk that stops early; repeated and cyclic containers count every time)."""
    if isinstance(value, str):  # by far the most common: one len, no walk
        return len(value)
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        else:
            total += 8
    return total


# A %-conversion's width and precision; a str.format replacement field's spec.
_PERCENT_SPEC = re.compile(r"%[#0\- +]*(\d*)(?:\.(\d*))?")
_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")


def _format_widths(pattern: str, percent: bool) -> int:
    """The largest width or precision a format string asks for."""
    if percent:
        numbers = [n for match in _PERCENT_SPEC.finditer(pattern) for n in match.groups() if n]
    else:
        numbers = re.findall(r"\d+", " ".join(_FORMAT_SPEC.findall(pattern)))
    return max((int(n) for n in numbers if len(n) < 20), default=0) + (
        10**20 if any(len(n) >= 20 for n in numbers) else 0
    )


def _int_args(args: Iterable[Any], kwargs: dict[str, Any]) -> int:
    return max((abs(a) for a in (*args, *kwargs.values()) if isinstance(a, int)), default=0)


def _estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """The most characters ``name(value, *args, **kwargs)`` can build, for the operations
    whose result may be far larger than their operands; the operands' weight otherwise."""
    limit = _spend().budget.max_chars
    size = weight(value, limit) + sum(weight(a, limit) for a in (*args, *kwargs.values()))
    # A width, count or padding: `center(10**9)`, `batch(10**9, 'x')`, `'a'.zfill(10**9)`.
    size = max(size, _int_args(args, kwargs))
    text = value if isinstance(value, str) else ""
    if name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        size += (text.count("\n") + 1) * max(pad, 0)
    elif name == "wordwrap":
        width = args[0] if args else kwargs.get("width", 79)
        wrap = kwargs.get("wrapstring", args[2] if len(args) > 2 else "\n")
        per = max(width, 1) if isinstance(width, int) else 1
        size += (len(text) // per + 1) * (len(wrap) if isinstance(wrap, str) else 1)
    elif name == "expandtabs":
        size += text.count("\t") * _int_args(args, kwargs)
    elif name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        old, new = args[0], args[1]
        size += (text.count(old) if old else len(text) + 1) * len(new)
    elif name == "join":
        separator = text if isinstance(value, str) else (args[0] if args else "")
        items = args[0] if isinstance(value, str) and args else value
        count = len(items) if hasattr(items, "__len__") else 0
        size += count * (len(separator) if isinstance(separator, str) else 0)
    elif name in ("format", "format_map"):
        size += _format_widths(text, percent=False)
    return size


def _check_format_filter(value: Any) -> int:
    # The `format` filter is %-formatting: `"%1000000000d"|format(1)`.
    return _format_widths(value, percent=True) if isinstance(value, str) else 0


def _counted(result: Any) -> Any:
    spend = _spend()
    if isinstance(result, str | list | tuple | dict | bytes):
        spend.allow(len(result), "an expression")
    return result


def _budgeted_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with the budget around it: the clock, the size estimate, the result."""
    pass_arg = _PassArg.from_obj(func)

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        spend = _spend()
        spend.tick()
        offset = 0 if pass_arg is None else 1  # the context, eval context or environment
        value, rest = (args[offset], args[offset + 1 :]) if len(args) > offset else (None, ())
        spend.allow(_estimate(name, value, rest, kwargs), f"the filter '{name}'")
        if name == "format":
            spend.allow(_check_format_filter(value), "the filter 'format'")
        return _counted(func(*args, **kwargs))

    return checked


def _loop(value: Any) -> Iterator[Any]:
    spend = _spend()
    for item in value:
        spend.tick()
        yield item


class BudgetedCodeGenerator(CodeGenerator):
    """Jinja2's code generator with the budget's checks in the compiled template: loops go
    through ``_LOOP_FILTER``, ``~`` is sized before it joins, every output piece is counted."""

    def visit_Template(  # noqa: N802 (Jinja2's name)
        self, node: nodes.Template, frame: Frame | None = None
    ) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.lineno
            )
        super().visit_Template(node, frame)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        # Jinja2's own, with the operands handed to budgeted_concat before they are joined.
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.budgeted_concat({join}, (")
        for operand in node.nodes:
            self.visit(operand, frame)
            self.write(", ")
        self.write("))")

    def _output_const_repr(self, group: Iterable[Any]) -> str:
        return f"environment.budgeted_output({super()._output_const_repr(group)})"

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        super()._output_child_pre(node, frame, finalize)
        self.write("environment.budgeted_output(")

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        self.write(")")
        super()._output_child_post(node, frame, finalize)


class BudgetedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox under the render budget (see the module docstring)."""

    code_generator_class = BudgetedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _budgeted_filter(name, func) for name, func in self.filters.items()}
        self.filters[_LOOP_FILTER] = _loop
        # Placeholder text has no place in a message, and `lipsum(10**6)` builds megabytes.
        self.globals.pop("lipsum", None)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """The sandbox's ``str.format``, sized before it formats (widths in the pattern)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        pattern, name = value.__self__, value.__name__

        def checked(*args: Any, **kwargs: Any) -> str:
            _spend().allow(_estimate(name, pattern, args, kwargs), f"'{name}'")
            return wrapped(*args, **kwargs)

        return checked

    def budgeted_output(self, value: Any) -> Any:
        """Count one piece of output (before it becomes text) against the render."""
        spend = _spend()
        if isinstance(value, str):
            spend.chars_left -= len(value)  # spend() inlined: this runs for every piece
            if spend.chars_left >= 0:
                return value
        spend.spend(0 if isinstance(value, str) else weight(value, spend.budget.max_chars))
        return value

    def budgeted_concat(
        self, join: Callable[[Iterable[Any]], str], operands: tuple[Any, ...]
    ) -> str:
        """``~``: its operands joined once their total size is allowed."""
        spend = _spend()
        limit = spend.budget.max_chars
        spend.allow(sum(weight(operand, limit) for operand in operands), "'~'")
        return join(operands)

    def call(
        __self,  # noqa: N805 (Jinja2's own signature: keyword arguments may be named self)
        __context: Any,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        spend = _spend()
        spend.tick()
        receiver = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(receiver, str | list | dict):
            spend.allow(_estimate(name, receiver, args, kwargs), f"'{name}'")
        else:
            limit = spend.budget.max_chars
            spend.allow(
                max(sum(weight(a, limit) for a in (*args, *kwargs.values())), 0), f"'{name}'"
            )
        return _counted(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        spend = _spend()
        spend.allow(_binop_size(operator, left, right, spend.budget.max_chars), f"'{operator}'")
        if operator == "**" and _power_too_wide(left, right):
            raise BudgetExceeded("'**' would build a number too large for a message")
        return _counted(super().call_binop(context, operator, left, right))


def _binop_size(operator: str, left: Any, right: Any, limit: int) -> int:
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
                return len(seq) * max(times, 0)
        if isinstance(left, int) and isinstance(right, int):
            return (left.bit_length() + right.bit_length()) // 3
        return 0
    if operator == "+":
        return weight(left, limit) + weight(right, limit)
    if operator == "%" and isinstance(left, str):
        return len(left) + _format_widths(left, percent=True) + weight(right, limit)
    return 0


def _power_too_wide(left: Any, right: Any) -> bool:
    if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
        return right * abs(left).bit_length() > MAX_POWER_BITS
    return False
