"""The package's shape: no module imports one above it, and no import circle, counting imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("durian_core", "durian_app")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_imports() -> dict[str, set[str]]:
    """Module → the project modules it imports anywhere in its body (a package import counts as its __init__)."""
    modules = {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                candidates = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            targets.update(candidate for candidate in candidates if candidate in modules and candidate != name)
        graph[name] = targets
    return graph


GRAPH = project_imports()


def imports_of(prefix: str) -> set[str]:
    return {target for module, targets in GRAPH.items() if module.startswith(prefix) for target in targets}


def test_the_graph_sees_the_package():
    assert "durian_core.pipeline" in GRAPH and "durian_core.models.durian" in GRAPH["durian_core.pipeline"]


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("durian_core.models", "durian_core.pipeline"),
        ("durian_core.models", "durian_core.engines"),
        ("durian_core.media", "durian_core.engines"),
        ("durian_core.face", "durian_core.engines"),
        ("durian_core.types", "durian_core.engines"),
        ("durian_core.types", "durian_core.media"),
        ("durian_core.engines", "durian_core.render"),
        ("durian_core.face", "durian_core.render"),
        ("durian_core", "durian_app"),
    ],
)
def test_no_module_imports_one_above_it(lower, upper):
    assert not {target for target in imports_of(lower) if target.startswith(upper)}


def test_no_import_circle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                pytest.fail("import circle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_the_core_never_imports_gradio():
    for module, path in ((name, ROOT / Path(*name.split("."))) for name in GRAPH if name.startswith("durian_core")):
        source = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
        tree = ast.parse(source.read_text(encoding="utf-8"))
        names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in getattr(node, "names", [])
        }
        modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "gradio" not in names | modules, module
