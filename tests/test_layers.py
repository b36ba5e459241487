"""The floors of docs/design.md hold: the core (app, jobs, services, domain, storage) never
imports a face (handlers, transports, the CLI, the demo), so there is no cycle through bot/app.py
and handlers. Lazy imports inside functions count too: they are imports all the same."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FACES = ("handlers", "bot.transports", "bot.cli", "bot.demo", "bot.__main__", "web")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under ``if TYPE_CHECKING:``, which never run."""
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        if (
            isinstance(node, ast.If)
            and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
        ):
            todo.extend(node.orelse)
            continue
        nodes.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return nodes


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def is_face(module: str) -> bool:
    return any(module == face or module.startswith(face + ".") for face in FACES)


def project_graph() -> dict[str, set[str]]:
    paths = [p for package in ("bot", "handlers", "storage") for p in (ROOT / package).rglob("*.py")]
    modules = {module_name(p): p for p in paths if "migrations" not in p.parts}
    return {name: {m for m in imports_of(path) if m in modules} for name, path in modules.items()}


def test_the_core_never_imports_a_face() -> None:
    graph = project_graph()
    leaks = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if not is_face(module)
        for target in targets
        if is_face(target)
    )
    assert leaks == []


def test_no_import_cycle_runs_through_the_app() -> None:
    graph = project_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            module = todo.pop()
            for target in graph.get(module, ()):
                if target == goal:
                    return True
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return False

    assert "bot.app" in graph and "handlers" in graph
    assert reaches("handlers", "bot.app")  # the faces use the app: the arrow points down
    assert not reaches("bot.app", "bot.app")
    assert not reaches("bot.app", "handlers")


def test_the_check_sees_a_leak(tmp_path: Path) -> None:
    """The walker notices a lazy import of a face inside a function, as in the old build_bot."""
    leaky = tmp_path / "leaky.py"
    leaky.write_text("def build():\n    from handlers import build_router\n    return build_router()\n")
    assert any(is_face(module) for module in imports_of(leaky))


# The faces ask storage/repositories/ for rows; a query written in a face is a query (and an
# index) nobody finds when the table changes. The domain modules and services whose queries
# live there are held to it as well.
QUERY_BUILDERS = {"select", "update", "insert", "delete", "func"}
NO_QUERIES = (
    "handlers",
    "web",
    "bot/cli.py",
    "bot/demo.py",
    "bot/transports",
    "bot/services",
    "bot/notices.py",
    "bot/roster.py",
    "bot/binding.py",
    "bot/identity.py",
    "bot/rooms.py",
    "bot/privacy.py",
    "bot/incidents.py",
)


def queries_in(path: Path) -> list[str]:
    """Where a file builds a query itself: sqlalchemy's statement builders imported or called."""
    found = []
    for node in runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found += [
                f"{path.name}:{node.lineno} imports {alias.name}"
                for alias in node.names
                if alias.name in QUERY_BUILDERS
            ]
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name == "select":
                found.append(f"{path.name}:{node.lineno} calls select(")
    return found


def test_faces_ask_repositories_instead_of_writing_queries() -> None:
    files = [
        path
        for place in NO_QUERIES
        for path in ((ROOT / place).rglob("*.py") if (ROOT / place).is_dir() else [ROOT / place])
    ]
    assert len(files) > 10 and all(path.exists() for path in files)
    assert sorted(leak for path in files for leak in queries_in(path)) == []


def test_the_query_check_sees_one(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.py"
    leaky.write_text(
        "def rows(session):\n    from sqlalchemy import select\n    return session.scalars(select(Person))\n"
    )
    assert sorted(queries_in(leaky)) == ["leaky.py:2 imports select", "leaky.py:3 calls select("]
