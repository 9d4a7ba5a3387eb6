"""The shape of the code: no import cycles between modules, no module over 400 lines, no task or method
named outside its own module (issue 13, acceptance 2 and 4).

Run alone: ``pytest tests/test_architecture.py -q``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "tuneforge"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every tuneforge module ``path`` imports, at module level or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("tuneforge")}
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
            if not target.startswith("tuneforge"):
                continue
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # `from . import x` names a module
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = {t for t in imports(path) if t in modules and t != name}
        # importing a.b.c runs a and a.b first: those are not edges of the module's own design
        edges[name] = {t for t in targets if not name.startswith(t + ".")}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_no_module_over_the_limit():
    long = {str(p.relative_to(SRC)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def registered_names() -> dict[str, Path]:
    """Each registered task and method name, with the module that registers it."""
    from tuneforge.methods import METHODS
    from tuneforge.tasks import TASKS

    owners = {}
    for registry in (TASKS, METHODS):
        for name in registry.names():
            obj = registry.get(name)
            module = (obj if isinstance(obj, type) else type(obj)).__module__
            owners[name] = SRC / (module.replace(".", "/") + ".py")
    return owners


def docstring_lines(tree: ast.AST) -> set[int]:
    """Line numbers inside docstrings (examples there may name a task or method)."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines |= set(range(first.lineno, first.end_lineno + 1))
    return lines


# The registries name their defaults (what a config without task.type or method.name gets).
REGISTRIES = {PACKAGE / "tasks" / "__init__.py", PACKAGE / "methods" / "__init__.py"}
# The same word used for something else: (name, file) -> why it is not the task or method.
NOT_THE_NAME = {
    ("prompt", "tuneforge/generation/conversations.py"): "the 'prompt' key of an OpenAssistant message tree",
    ("prompt", "tuneforge/serve/openai_routes.py"): "the 'prompt' field of OpenAI's completions API",
    ("prompt", "tuneforge/api.py"): "the 'prompt' field of a generated answer (what was asked)",
}


@pytest.mark.parametrize("name, owner", sorted(registered_names().items()))
def test_a_name_appears_only_in_its_own_module(name, owner):
    """No source file but the registering module (and the registries) names a task or method as a string
    in code; docstrings and comments may."""
    pattern = re.compile(rf"""["']{re.escape(name)}["']""")
    where = []
    for path in PACKAGE.rglob("*.py"):
        if path == owner or path in REGISTRIES or (name, str(path.relative_to(SRC))) in NOT_THE_NAME:
            continue
        text = path.read_text(encoding="utf-8")
        skip = docstring_lines(ast.parse(text))
        for number, line in enumerate(text.splitlines(), 1):
            code = line.split("#")[0].strip()
            if number not in skip and pattern.search(code):
                where.append(f"{path.relative_to(SRC)}:{number}: {code}")
    assert not where, where
