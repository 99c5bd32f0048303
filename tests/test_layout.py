"""Import rules of the library, tested rather than stated (the way Kubeflow's pipelines-components
checks imports in CI): ``reasoning/`` never imports kfp, every module imports on its own, and
its top-level groups (``reasoning.<name>``: a package or a root module) import each other
without a cycle, so each group can be read, tested and moved knowing only what it depends on."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "reasoning"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """``(module, line)`` for every import statement in the file, nested ones (inside functions) too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from reasoning.io import storage" imports reasoning.io.storage: count the names too.
            found += [(node.module, node.lineno)] + [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return found


def library_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def group_of(module: str) -> str | None:
    """``reasoning.io.storage`` -> ``reasoning.io``; None for ``reasoning`` itself or a name that is no module."""
    parts = module.split(".")
    if parts[0] != "reasoning" or len(parts) < 2:
        return None
    top = PACKAGE / parts[1]
    return f"reasoning.{parts[1]}" if top.is_dir() or top.with_suffix(".py").is_file() else None


def group_imports() -> dict[str, dict[str, list[str]]]:
    """``{group: {imported group: ["file:line", ...]}}`` over every import in the library."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in library_files():
        source = group_of(module_name(path))
        if source is None:
            continue
        for module, line in imported_modules(path):
            target = group_of(module)
            if target is not None and target != source:
                where = f"{path.relative_to(ROOT)}:{line}"
                places = graph.setdefault(source, {}).setdefault(target, [])
                if where not in places:  # "from reasoning.x import a" names reasoning.x twice
                    places.append(where)
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components of more than one group (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while component[-1:] != [node]:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_under_reasoning_imports_kfp():
    offenders = [f"{path.relative_to(ROOT)}:{line}: import {module}"
                 for path in library_files() for module, line in imported_modules(path)
                 if module == "kfp" or module.startswith("kfp.")]
    assert not offenders, "the library must not import kfp (components/ and pipelines/ do):\n" + "\n".join(offenders)


def test_every_module_imports_in_a_fresh_interpreter_without_kfp():
    """Importing each module alone (in file order) works and never pulls kfp in, not even
    through a dependency; a cycle that only bites in one import order fails here too."""
    script = (
        "import importlib, json, sys, traceback\n"
        "failed = {}\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed[name] = traceback.format_exc(limit=3)\n"
        "elsewhere = sorted(f'{n}: {m.__file__}' for n, m in list(sys.modules.items())\n"
        "                   if n.split('.')[0] == 'reasoning' and not str(m.__file__).startswith(sys.argv[2]))\n"
        "print(json.dumps({'failed': failed, 'elsewhere': elsewhere,\n"
        "                  'kfp': sorted(m for m in sys.modules if m.split('.')[0] == 'kfp')}))\n")
    names = [module_name(path) for path in library_files()]
    done = subprocess.run([sys.executable, "-c", script, json.dumps(names), str(PACKAGE)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert not result["failed"], "\n".join(f"{n}:\n{tb}" for n, tb in result["failed"].items())
    # An editable install of another checkout would serve a module this one no longer has.
    assert not result["elsewhere"], f"modules loaded from outside {PACKAGE}: {result['elsewhere']}"
    assert not result["kfp"], f"importing the library loaded {result['kfp'][:5]}"


def test_the_top_level_groups_import_each_other_without_a_cycle():
    graph = group_imports()
    found = cycles(graph)
    detail = []
    for component in found:
        for source in component:
            for target in component:
                for where in graph.get(source, {}).get(target, []):
                    detail.append(f"  {source} -> {target} at {where}")
    assert not found, f"import cycles between groups {found}:\n" + "\n".join(detail)


def test_the_public_api_and_every_stage_command_resolve():
    """``from reasoning import ...`` names and the ``reasoning <stage>`` table point at modules that
    exist after any move: each stage is ``python -m reasoning.stages.<stage>`` with a ``main``."""
    import importlib

    import reasoning
    from reasoning.cli import STAGES

    for name in reasoning.__all__:
        if name != "__version__":
            assert Path(sys.modules[getattr(reasoning, name).__module__].__file__).is_relative_to(PACKAGE), name
    for stage, module in STAGES.items():
        assert module == f"reasoning.stages.{stage}"
        loaded = importlib.import_module(module)
        assert callable(loaded.main) and Path(loaded.__file__).is_relative_to(PACKAGE), module
