"""The layers of server/ hold: no module imports a layer it may not, and tests patch names
where they are defined. Each check also runs on a small tree that breaks it, to prove it can."""

from __future__ import annotations

from pathlib import Path

from tests.support.layers import LAYERS, import_violations, layer_of, patch_violations

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "server"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_every_server_import_respects_its_layer() -> None:
    assert import_violations(SERVER) == []


def test_every_patched_name_is_defined_in_the_module_patched() -> None:
    assert patch_violations(SERVER, REPO / "tests") == []


def test_each_sub_package_is_a_layer_of_the_table() -> None:
    packages = {p.parent.name for p in SERVER.glob("*/__init__.py")}
    assert packages and packages <= set(LAYERS)


def test_a_domain_module_importing_rpc_is_a_violation(tmp_path: Path) -> None:
    server = _tree(
        tmp_path / "server",
        {
            "__init__.py": "",
            "errors.py": "",
            "domain/__init__.py": "",
            "domain/guard.py": "from ..rpc.limits import check\nfrom ..errors import E\n",
            "rpc/__init__.py": "",
            "rpc/limits.py": "import grpc\n",
        },
    )
    found = [str(v) for v in import_violations(server)]
    assert found == ["server/domain/guard.py:1: domain imports rpc (rpc.limits)"]


def test_grpc_below_the_rpc_layer_is_a_violation(tmp_path: Path) -> None:
    server = _tree(
        tmp_path / "server",
        {
            "__init__.py": "",
            "transport/__init__.py": "",
            "transport/session.py": "def f() -> None:\n    from grpc import StatusCode\n",
            "idempotency/__init__.py": "",
            "idempotency/engine.py": "from smtp_connector.server.settings import Settings\n",
            "settings.py": "",
        },
    )
    found = sorted(str(v) for v in import_violations(server))
    assert found == [
        "server/idempotency/engine.py:1: idempotency imports settings (settings)",
        "server/transport/session.py:2: transport imports grpc",
    ]


def test_a_patch_of_an_imported_name_is_a_violation(tmp_path: Path) -> None:
    server = _tree(
        tmp_path / "server",
        {
            "__init__.py": "",
            "diagnosis/__init__.py": "",
            "diagnosis/steps.py": "from time import monotonic as clock\nlimit = 3\n",
        },
    )
    tests = _tree(
        tmp_path / "tests",
        {
            "test_x.py": (
                "from smtp_connector.server.diagnosis import steps\n"
                "def test(monkeypatch):\n"
                "    monkeypatch.setattr(steps, 'clock', lambda: 0.0)\n"
                "    monkeypatch.setattr(steps, 'limit', 1)\n"
                "    monkeypatch.setattr('smtp_connector.server.diagnosis.steps.clock', 1)\n"
            )
        },
    )
    found = [str(v) for v in patch_violations(server, tests)]
    assert found == [
        "tests/test_x.py:3: patches clock in diagnosis.steps, defined elsewhere",
        "tests/test_x.py:5: patches clock in diagnosis.steps, defined elsewhere",
    ]


def test_top_level_modules_are_named_by_their_layer() -> None:
    assert layer_of("transport.session") == "transport"
    assert layer_of("metrics") == "observability"
    assert layer_of("app") == "top"


def _table(text: str) -> list[str]:
    """The layer table's lines in ``text``: from its header to its end (a blank line, a fence)."""
    lines = [line.strip() for line in text.splitlines()]
    start = next(
        i for i, line in enumerate(lines) if line.startswith("layer ") and "import" in line
    )
    end = next(i for i in range(start, len(lines)) if lines[i] in ("", "```"))
    return lines[start:end]


def test_the_readme_and_the_package_docstring_draw_the_same_layer_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    package = (SERVER / "__init__.py").read_text(encoding="utf-8")
    table = _table(package)

    assert table == _table(readme.partition("## Development")[2])
    folders = {word for line in table for word in line.split() if word.endswith("/")}
    assert folders == {f"{p.parent.name}/" for p in SERVER.glob("*/__init__.py")}
