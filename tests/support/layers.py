"""The server's layers as data, and the AST checks that keep them: imports and patched names.

``LAYERS`` is the table of ``server/__init__.py`` and the README's Development section: each
layer with the layers it may import. The checks read source files only (``ast``), so they need
no import of the server and no dependency beyond the standard library.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "smtp_connector.server"

# Each layer and the layers it may import (besides itself). The base modules, errors, deadline
# and settings, are layers of one module each.
LAYERS: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "deadline": frozenset({"errors"}),
    "settings": frozenset(),
    "transport": frozenset({"errors", "deadline", "settings"}),
    "domain": frozenset({"errors", "deadline", "settings", "transport"}),
    "diagnosis": frozenset({"errors", "deadline", "settings", "transport", "domain"}),
    "idempotency": frozenset({"errors", "deadline"}),
    # Observability: what the RPC interceptors and the top level record requests with.
    "observability": frozenset({"errors", "deadline", "settings", "transport", "domain"}),
    "rpc": frozenset(
        {
            "errors",
            "deadline",
            "settings",
            "transport",
            "domain",
            "diagnosis",
            "idempotency",
            "observability",
        }
    ),
    # The web console: pages over the domain; it reaches the service through the Python client.
    "console": frozenset({"errors", "settings", "domain"}),
}
TOP = "top"  # app, processes, reload, devmailbox and the serve command: may import anything
SUB_PACKAGES = frozenset({"transport", "domain", "diagnosis", "idempotency", "rpc", "console"})
_OBSERVABILITY = frozenset({"logs", "metrics"})
# Third-party packages only the RPC layer (and the top level, which builds the server) uses.
GRPC_PACKAGES = (
    "grpc",
    "grpc_status",
    "grpc_health",
    "grpc_reflection",
    "google.rpc",
    "smtp_connector.v1",
)


@dataclass(frozen=True)
class Violation:
    """One import or patch the layers do not allow."""

    where: str  # file:line
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def layer_of(module: str) -> str:
    """The layer of a module given by its dotted name below the server package."""
    first = module.split(".")[0]
    if first in SUB_PACKAGES or first in LAYERS:
        return first
    if first in _OBSERVABILITY:
        return "observability"
    return TOP


def server_modules(root: Path) -> dict[str, Path]:
    """Every module below ``root`` (the server folder) by its dotted name ('' for the package)."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(module: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import of a module of ours, and of every third-party
    top-level name (with a '!' prefix), in ``module``'s source, lazy ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module.split(".") if _is_package(path) else module.split(".")[:-1]
    package = [p for p in package if p]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _absolute(node.lineno, alias.name, modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
                for alias in node.names:
                    yield from _absolute(node.lineno, f"{base}.{alias.name}", modules, base)
                continue
            up = package[: len(package) - node.level + 1] if node.level > 1 else package
            target = [*up, *(node.module.split(".") if node.module else [])]
            for alias in node.names:
                candidate = ".".join([*target, alias.name])
                yield node.lineno, candidate if candidate in modules else ".".join(target)


def _absolute(
    line: int, name: str, modules: dict[str, Path], base: str | None = None
) -> Iterator[tuple[int, str]]:
    if name.startswith(PACKAGE + ".") or name == PACKAGE:
        inner = name.removeprefix(PACKAGE).lstrip(".")
        if inner not in modules and base is not None:
            inner = base.removeprefix(PACKAGE).lstrip(".")
        yield line, inner
    else:
        yield line, "!" + (base if base is not None else name)


def import_violations(root: Path) -> list[Violation]:
    """Each import in the server tree that its layer may not make."""
    modules = server_modules(root)
    found: list[Violation] = []
    for module, path in modules.items():
        layer = layer_of(module)
        where = path.relative_to(root.parent)
        for line, target in _imports(module, path, modules):
            if target.startswith("!"):
                outside = target[1:]
                grpc = any(outside == p or outside.startswith(p + ".") for p in GRPC_PACKAGES)
                if grpc and layer not in ("rpc", TOP):
                    found.append(Violation(f"{where}:{line}", f"{layer} imports {outside}"))
                continue
            other = layer_of(target)
            if layer == TOP or other == layer or other in LAYERS[layer]:
                continue
            if other == TOP and target == "":
                other = "the server package"
            found.append(Violation(f"{where}:{line}", f"{layer} imports {other} ({target})"))
    return found


def defined_names(path: Path) -> set[str]:
    """The names a module defines at its top level (not those it imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _module_aliases(tree: ast.Module, modules: dict[str, Path]) -> dict[str, str]:
    """Local name -> server module, for each server module a test file imports as a module."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
                continue
            inner = node.module.removeprefix(PACKAGE).lstrip(".")
            for alias in node.names:
                candidate = f"{inner}.{alias.name}".lstrip(".")
                if candidate in modules:
                    aliases[alias.asname or alias.name] = candidate
        elif isinstance(node, ast.Import):
            for alias in node.names:
                inner = alias.name.removeprefix(PACKAGE).lstrip(".")
                if alias.name.startswith(PACKAGE) and alias.asname and inner in modules:
                    aliases[alias.asname] = inner
    return aliases


def _patches(tree: ast.Module, aliases: dict[str, str]) -> Iterator[tuple[int, str, str]]:
    """(line, server module, name) for each ``monkeypatch.setattr(module, "name", ...)`` and
    ``setattr("smtp_connector.server.module.name", ...)`` / ``mock.patch("...")`` in a test."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        verb = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if verb not in ("setattr", "patch", "delattr"):
            continue
        first = node.args[0]
        if isinstance(first, ast.Name) and first.id in aliases and len(node.args) > 1:
            second = node.args[1]
            if isinstance(second, ast.Constant) and isinstance(second.value, str):
                yield node.lineno, aliases[first.id], second.value
        elif isinstance(first, ast.Constant) and isinstance(first.value, str):
            dotted = first.value
            if dotted.startswith(PACKAGE + "."):
                module, _, name = dotted.removeprefix(PACKAGE + ".").rpartition(".")
                yield node.lineno, module, name


def patch_violations(root: Path, tests: Path) -> list[Violation]:
    """Each patch a test makes of a server module's name that the module does not define (it
    imports it, so the patch would miss every other user of the name)."""
    modules = server_modules(root)
    found: list[Violation] = []
    for path in sorted(tests.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = _module_aliases(tree, modules)
        for line, module, name in _patches(tree, aliases):
            where = f"{path.relative_to(tests.parent)}:{line}"
            if module not in modules:
                found.append(Violation(where, f"patches {name} in {module}, no server module"))
            elif name not in defined_names(modules[module]):
                found.append(Violation(where, f"patches {name} in {module}, defined elsewhere"))
    return found
