"""The house's layers, checked from the code itself (issue 17): no import cycle between any two modules
of the project, and no project import hidden inside a function (the usual way a cycle is dodged).

import-linter (`lint-imports`, contracts in pyproject.toml) checks which layer may import which; these
tests check what its contracts cannot say: a cycle anywhere, even between modules of one layer.
"""

import ast
import pathlib

import grimp

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("netcop_hub", "authentication", "wallet", "agents", "api")


def _cycles(graph) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def test_cycle_finder_finds_a_planted_cycle():
    """The check itself can fail: a graph with a -> b -> c -> a is reported."""
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    graph.add_import(importer="pkg.d", imported="pkg.a")
    assert _cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_no_import_cycle_between_any_two_modules():
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(group) for group in cycles)


def _source_files():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _function_level_project_imports(path: pathlib.Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = ["." if node.level else (node.module or "")]
            else:
                continue
            if not any(name == "." or name.split(".")[0] in PACKAGES for name in names):
                continue
            # A genuinely lazy import says why ("# lazy: ...") on its line or the line above; an
            # AppConfig.ready() imports at call time by Django's rule (models load after apps.py).
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            if func.name != "ready" and "# lazy" not in here and "# lazy" not in above:
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                found.append(f"{shown}:{node.lineno}: {here.strip()}")
    return sorted(set(found))


def test_no_project_import_inside_a_function_without_a_reason():
    found = [hit for path in _source_files() for hit in _function_level_project_imports(path)]
    assert not found, "project imports inside functions (move them up, or say '# lazy: why'):\n" + "\n".join(found)


def test_the_function_level_check_can_fail(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def hidden():\n    from wallet import services\n    return services\n\n\n"
        "def explained():\n    # lazy: imported only when the command runs\n    from agents import tasks\n"
        "    return tasks\n"
    )
    assert _function_level_project_imports(planted) == ["planted.py:2: from wallet import services"]
