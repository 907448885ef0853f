"""The shape of the code: arrows point one way.

Read from the source (every import, also those inside functions and under
TYPE_CHECKING, since both are design dependencies): no module of the package
imports itself back through others; the SDK speaks only the contract; the
contract depends on nothing of the package; the domains point notebooks ->
clusters <- jobs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bodo_jupyter"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")
            if "migrations" not in p.parts}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports (explicitly, anywhere in it)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - (node.level - 1)]
                mod = ".".join([*anchor, *(node.module.split(".") if node.module else [])])
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            # the longest known module the import names (a name may be a class in it)
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {n: imports_of(n, p, known) for n, p in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_imports_it_should():
    """The checker itself works: a few arrows that exist are found."""
    g = graph()
    assert "bodo_jupyter.contract.models" in g["bodo_jupyter.sdk.client"]
    assert "bodo_jupyter.platform.clusters.service" in g["bodo_jupyter.platform.jobs.deps"]
    assert "bodo_jupyter.platform.tasks" in g["bodo_jupyter.platform.clusters.lifecycle"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_loops():
    loops = cycles(graph())
    assert loops == [], "modules that import each other (directly or around a loop): " + \
        "; ".join(" <-> ".join(c) for c in loops)


@pytest.mark.parametrize(("package", "may_use"), [
    # The SDK speaks HTTP and the contract, nothing of the control plane.
    ("bodo_jupyter.sdk", ("bodo_jupyter.sdk", "bodo_jupyter.contract")),
    # The contract is what both sides share: it depends on neither.
    ("bodo_jupyter.contract", ("bodo_jupyter.contract",)),
    # The control plane has no Jupyter or client code in it.
    ("bodo_jupyter.platform", ("bodo_jupyter.platform", "bodo_jupyter.contract")),
    # The CLI is a front end: it goes through the SDK (serve and the IAM policy document
    # are the two places it starts or reads the platform itself).
    ("bodo_jupyter.cli", ("bodo_jupyter.cli", "bodo_jupyter.sdk", "bodo_jupyter.contract",
                          "bodo_jupyter.platform.app",
                          "bodo_jupyter.platform.providers.aws.policy")),
    # The hub side (authenticator, spawner) is a client too: the contract and the SDK.
    ("bodo_jupyter.hub", ("bodo_jupyter.hub", "bodo_jupyter.sdk", "bodo_jupyter.contract")),
    # The notebook panels (ipywidgets) are a front end too: the SDK and the contract.
    ("bodo_jupyter.widgets", ("bodo_jupyter.widgets", "bodo_jupyter.sdk",
                              "bodo_jupyter.contract")),
])
def test_layers(package: str, may_use: tuple[str, ...]):
    bad = sorted((m, t) for m, targets in graph().items()
                 if m == package or m.startswith(package + ".")
                 for t in targets if not t.startswith(may_use))
    assert bad == [], f"{package} reaches outside what it may use: {bad}"


def test_domains_point_one_way():
    """Jobs (and, later, notebooks) depend on clusters; clusters depend on neither."""
    g = graph()
    clusters = [m for m in g if m.startswith("bodo_jupyter.platform.clusters")]
    for m in clusters:
        assert not [t for t in g[m] if t.startswith("bodo_jupyter.platform.jobs")], m
    providers = [m for m in g if m.startswith("bodo_jupyter.platform.providers")]
    for m in providers:  # providers know clusters' shapes, not the domains that use them
        assert not [t for t in g[m] if t.startswith(("bodo_jupyter.platform.clusters",
                                                     "bodo_jupyter.platform.service"))], m
