"""The import graph of v6scan: no import circles, no private names taken across modules.

Every ``import`` and ``from ... import`` of every module is read with :mod:`ast`, at module level
and inside functions alike (an import moved into a function to dodge a circle is still a circle).
Imports of a package's parents (``v6scan``, ``v6scan.checks``) that Python makes implicitly are not
edges; ``from v6scan.pkg import name`` is an edge to the submodule ``v6scan.pkg.name`` when that is
a module, else to ``v6scan.pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "v6scan"

#: known import circles outside the web checks, each an edge that closes one: (importer, imported)
CYCLE_EXEMPT_EDGES: frozenset[tuple[str, str]] = frozenset()

#: known private names taken across modules: (importer, imported module, name)
PRIVATE_EXEMPT: frozenset[tuple[str, str, str]] = frozenset()


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import in the module ``name``."""
    is_pkg = path.name == "__init__.py"
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.append((sub, None) if sub in modules else (mod, a.name))
    return out


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    modules = _modules()
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private: list[tuple[str, str, str]] = []
    for name, path in modules.items():
        for mod, item in _imports(name, path, modules):
            if mod not in modules:
                continue  # the standard library, a dependency, or __future__
            if mod != name:
                edges[name].add(mod)
            if item is not None and item.startswith("_") and not item.startswith("__"):
                private.append((name, mod, item))
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp: list[str] = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read() -> None:
    edges, _ = _graph()
    assert "v6scan.checks.webstate" in edges["v6scan.checks.links"]
    assert {"v6scan.checks.webstate", "v6scan.checks.base"} <= edges["v6scan.checks.web_tls"]
    assert "v6scan.registry" in edges["v6scan.engine"]


def test_check_modules_never_import_each_other() -> None:
    """A check module reads what its family shares (dns.py, webstate.py, ...), never another check."""
    from v6scan.registry import CHECKS

    check_modules = {f"v6scan.checks.{c.replace('.', '_')}" for c in CHECKS}
    edges, _ = _graph()
    for m in check_modules:
        assert not edges[m] & check_modules, f"{m} imports {sorted(edges[m] & check_modules)}"
    shared = {"v6scan.checks.dns", "v6scan.checks.webstate", "v6scan.checks.links", "v6scan.checks.path",
              "v6scan.checks.mail", "v6scan.checks.base"}
    for m in shared:
        assert not edges[m] & check_modules, f"shared module {m} imports a check: {sorted(edges[m] & check_modules)}"


def test_no_import_cycles() -> None:
    edges, _ = _graph()
    kept = {m: {w for w in ws if (m, w) not in CYCLE_EXEMPT_EDGES} for m, ws in edges.items()}
    assert _cycles(kept) == []


def test_cycle_exemptions_are_still_needed() -> None:
    edges, _ = _graph()
    for m, w in CYCLE_EXEMPT_EDGES:
        assert w in edges[m], f"{m} no longer imports {w}: drop the exemption"
        assert _cycles({**edges, m: edges[m] - {w}}) != _cycles(edges), f"{m} -> {w} closes no cycle now"


def test_no_private_names_across_modules() -> None:
    _, private = _graph()
    assert [p for p in private if p not in PRIVATE_EXEMPT] == []


def test_private_exemptions_are_still_needed() -> None:
    _, private = _graph()
    assert sorted(PRIVATE_EXEMPT - set(private)) == []
