"""The package's imports, read from the source: no cycles, no upward imports, no private
imports across subpackages.

Stages are the top-level modules and subpackages of `riskengine`, in the order of the flow
(docs/architecture.md): a stage may import its own layer and the layers below, never above.
Every import counts, including those inside functions (they are real dependencies, only
deferred). To add a stage, put its name in LAYERS; a stage not listed counts as top layer,
beside the command line, so a new package may use everything but nothing may use it until
it is given its place.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "riskengine"

# lowest first; names in one set are one layer
LAYERS: list[set[str]] = [
    {"errors"},
    {"spec", "progress", "charts", "templating", "tracking", "io", "outputs", "_lazy", "_pandera"},  # foundations every stage uses
    {"synth"},  # makes data in the contract's shape; reads nothing from the stages
    {"ingest"},
    {"outcomes"},  # the outcome store: results added since, read with the data
    {"link"},
    {"features", "exclusions"},
    {"prepare"},  # ingest + link + features, as training and scoring both call them
    {"compiled"},  # compiled scorers (C trees, TreeSHAP, linear arrays) the model plugs in
    {"model"},
    {"spark"},  # the Spark backend: features (Spark SQL), scoring (spark_udf), linkage (splink on Spark)
    {"audit"},  # used by training (governance pack) and scoring (the list's audit)
    {"infogov"},  # DPIA and data-sharing drafts from the spec and the audit; training checks the DPIA
    {"training"},
    {"scoring"},
    {"evaluation"},
    {"report_console"},
]
# Cycles being removed elsewhere, each with who removes it. Once one is gone, the test below asks
# for its line here to go too, so an exemption cannot outlive its reason.
KNOWN_CYCLES: list[set[str]] = []  # a cycle tolerated for now goes here, with the issue that removes it

TOP = len(LAYERS)  # cli, demo, every subpackage's cli module, and any stage not listed above
# (dashboard, simulate, profiling ... : new stages start at the top)


def layer(stage: str) -> int:
    return next((i for i, names in enumerate(LAYERS) if stage in names), TOP)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (PACKAGE.parent / rel).with_suffix(".py").is_file() or (PACKAGE.parent / rel / "__init__.py").is_file()


def _imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every riskengine module this file imports, anywhere in it."""
    tree = ast.parse(path.read_text() if source is None else source, str(path))
    me = _module_name(path)
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "riskengine"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = me.split(".") if is_package else me.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "riskengine":
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.append((node.lineno, sub if _is_module(sub) else module))
    return list(dict.fromkeys(out))


def _graph() -> dict[str, list[tuple[int, str]]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _stage(module: str) -> str | None:
    """The stage a module belongs to; a subpackage's `cli` module is command line (top layer)."""
    parts = module.split(".")
    if len(parts) > 2 and parts[-1] == "cli":
        return "cli"
    return parts[1] if len(parts) > 1 else None  # None: the package's own __init__


def _where(module: str, line: int) -> str:
    return f"{module.replace('.', '/')}.py:{line}"


def test_the_graph_is_read():
    graph = _graph()
    assert "riskengine.training._train" in graph and "riskengine.model" in graph
    assert ("riskengine.model" in {m for _, m in graph["riskengine.training._train"]})
    assert layer("errors") < layer("ingest") < layer("link") < layer("features") < layer("model")
    assert layer("model") < layer("audit") < layer("training") < layer("scoring") < layer("evaluation")
    assert layer("cli") == layer("demo") == layer("a_new_package") == TOP
    assert _stage("riskengine.outcomes.cli") == "cli" and _stage("riskengine.outcomes._store") == "outcomes"


def test_no_import_cycles():
    graph = {m: sorted({t for _, t in deps if t in _graph_keys()}) for m, deps in _graph().items()}
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, []):
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    new = [c for c in cycles if set(c) not in KNOWN_CYCLES]
    assert not new, "import cycles: " + "; ".join(" <-> ".join(c) for c in new)
    gone = [sorted(k) for k in KNOWN_CYCLES if k not in [set(c) for c in cycles]]
    assert not gone, f"the known cycle(s) {gone} are gone: delete them from KNOWN_CYCLES in {__file__}"


def _graph_keys() -> set[str]:
    return {_module_name(p) for p in PACKAGE.rglob("*.py")}


def test_no_upward_imports():
    bad = []
    for module, deps in _graph().items():
        here = _stage(module)
        if here is None:
            continue
        for line, target in deps:
            there = _stage(target)
            if there is not None and there != here and layer(there) > layer(here):
                bad.append(f"{_where(module, line)}: {here} (layer {layer(here)}) imports {target} "
                           f"(layer {layer(there)})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_private_imports_across_subpackages():
    bad = []
    for module, deps in _graph().items():
        for line, target in deps:
            parts = target.split(".")
            private = next((i for i, p in enumerate(parts) if p.startswith("_")), None)
            if private is None:
                continue
            owner = ".".join(parts[:private])  # the package the private module belongs to
            if module != owner and not module.startswith(owner + "."):
                bad.append(f"{_where(module, line)}: imports the private {target}; use {owner}'s public names")
    assert not bad, "private imports across packages:\n" + "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ("from riskengine.training._train import fit_pipeline", ["riskengine.training._train"]),
    ("from riskengine.audit import _format as fmt", ["riskengine.audit._format"]),
    ("from riskengine.scoring import load_model", ["riskengine.scoring"]),
    ("import riskengine.model", ["riskengine.model"]),
    ("def f():\n    from riskengine import charts", ["riskengine.charts"]),
    ("from . import _phrases", ["riskengine.features._phrases"]),
])
def test_the_reader_resolves_imports(source, expected):
    path = PACKAGE / "features" / "_probe.py"  # not a file: the source is given
    assert [m for _, m in _imports(path, source)] == expected
