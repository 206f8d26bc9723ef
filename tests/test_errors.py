"""One error model: every exception v6scan raises on purpose is a V6scanError; an unexpected one in
a check is recorded with its type, message and last frames.  And the packaging: setup.cfg's
install_requires is exactly what the package imports."""

from __future__ import annotations

import ast
import asyncio
import configparser
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import v6scan
from v6scan import V6scanError, engine
from v6scan.model import Observation, Status

REPO = Path(__file__).parent.parent
PACKAGE = REPO / "v6scan"

# --------------------------------------------------------------------------- the error classes

#: exception classes not on V6scanError, and why (none today)
NOT_PUBLIC: dict[str, str] = {}


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a v6scan module, by qualified name."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(v6scan.__path__, "v6scan."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_every_purpose_made_error_is_a_v6scan_error() -> None:
    classes = _exception_classes()
    assert {"v6scan.store.StoreError", "v6scan.cluster.ClusterError", "v6scan.targets.TargetError",
            "v6scan.fetch.BodyError", "v6scan.errors.V6scanError"} <= set(classes)  # the walk saw them
    stray = sorted(name for name, cls in classes.items()
                   if not issubclass(cls, V6scanError) and name not in NOT_PUBLIC)
    assert stray == [], f"exception classes that are not V6scanError: {stray}"
    assert set(NOT_PUBLIC) <= set(classes), "an exemption names a class that is gone: drop it"


def test_import_paths_and_base_classes_are_kept() -> None:
    from v6scan.cluster import ClusterError
    from v6scan.errors import V6scanError as Base
    from v6scan.fetch import BodyError
    from v6scan.store import StoreError
    from v6scan.targets import TargetError, parse_target

    assert Base is V6scanError and "V6scanError" in v6scan.__all__
    assert issubclass(StoreError, RuntimeError) and issubclass(ClusterError, RuntimeError)
    assert issubclass(TargetError, ValueError)  # callers catching ValueError still do
    assert issubclass(BodyError, V6scanError)
    with pytest.raises(V6scanError, match="empty name"):
        parse_target("")


# --------------------------------------------------------------------------- an unexpected exception


def _parse_answer(text: str) -> list[Observation]:
    raise ValueError(f"unparseable answer {text!r}")


async def _broken_family() -> list[Observation]:
    return _parse_answer("\x00")


def test_a_crashing_check_records_type_message_and_traceback() -> None:
    obs = asyncio.run(engine._guard(("web.reach", "web.tls"), "example.org", _broken_family))
    assert [(o.check, o.target, o.status) for o in obs] == [
        ("web.reach", "example.org", Status.ERROR), ("web.tls", "example.org", Status.ERROR)]
    o = obs[0]
    assert o.error == "internal error: ValueError: unparseable answer '\\x00'"  # short, as before
    ev = o.evidence
    assert ev["exception"] == "ValueError: unparseable answer '\\x00'"
    assert ev["exception_type"] == "ValueError"
    assert ev["message"] == "unparseable answer '\\x00'"
    tb = ev["traceback"]
    assert isinstance(tb, str) and tb.startswith("Traceback (most recent call last):")
    assert "_parse_answer" in tb and "_broken_family" in tb and tb.rstrip().endswith(ev["exception"])
    assert tb.count('  File "') <= engine.TRACEBACK_FRAMES


def test_the_recorded_traceback_is_capped_at_its_end() -> None:
    huge = "x" * 10_000

    async def family() -> list[Observation]:
        raise RuntimeError(huge)

    (o,) = asyncio.run(engine._guard(("dns.v6_path",), "example.org", family))
    tb, message = o.evidence["traceback"], o.evidence["message"]
    assert isinstance(tb, str) and isinstance(message, str)
    assert len(tb) <= engine.TRACEBACK_CHARS + 3 and tb.startswith("...") and tb.endswith("xxx\n")
    assert len(message) == engine.TRACEBACK_CHARS


def test_a_stray_cancellation_is_recorded_with_where_it_came_from() -> None:
    async def family() -> list[Observation]:
        raise asyncio.CancelledError()  # from a future a library cancelled, not from our deadline

    (o,) = asyncio.run(engine._guard(("self.v6",), "example.org", family))
    assert o.status == Status.ERROR and o.error == "internal error: RuntimeError: a probe was cancelled unexpectedly"
    assert o.evidence["exception_type"] == "RuntimeError"
    assert "CancelledError" in str(o.evidence["traceback"]) and "family" in str(o.evidence["traceback"])


def test_failed_result_keeps_every_selected_check() -> None:
    from v6scan.targets import parse_target

    r = engine.failed_result(parse_target("example.org"), ("dns.aaaa",), RuntimeError("the worker died"))
    assert [o.check for o in r.observations] == ["dns.resolve", "dns.aaaa"]
    assert r.observations[0].evidence["exception_type"] == "RuntimeError"
    assert r.observations[0].evidence["traceback"] == "RuntimeError: the worker died\n"  # never raised: no frames


# --------------------------------------------------------------------------- declared dependencies

#: distribution name -> the top-level module it provides, where they differ
MODULE_OF = {"sqlite-utils": "sqlite_utils", "dnspython": "dns", "dask": "distributed"}


def _distributions(lines: str) -> set[str]:
    """Distribution names of requirement lines (``dask[distributed]>=2024.1`` -> ``dask``)."""
    names = {re.match(r"[A-Za-z0-9._-]+", line.strip()) for line in lines.splitlines()}
    return {m.group().lower() for m in names if m}


def _module(dist: str) -> str:
    return MODULE_OF.get(dist, dist.replace("-", "_"))


def _third_party_imports() -> tuple[set[str], set[str]]:
    """Third-party top-level modules v6scan imports: (at module level, anywhere incl. inside functions)."""
    top: set[str] = set()
    anywhere: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # the datasette plugin is imported by datasette alone (entry point), never by v6scan
        body = set() if path == PACKAGE / "datasette" / "plugin.py" else set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if root == "v6scan" or root in sys.stdlib_module_names:
                    continue
                anywhere.add(root)
                if id(node) in body:
                    top.add(root)
    return top, anywhere


def _imports_of(path: Path) -> list[str]:
    return [a.name.split(".")[0] for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import)
            for a in n.names] + [n.module.split(".")[0] for n in ast.walk(ast.parse(path.read_text()))
                                 if isinstance(n, ast.ImportFrom) and n.module]


def test_install_requires_is_exactly_what_the_package_imports() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg", encoding="utf-8")
    required = {_module(d) for d in _distributions(cfg["options"]["install_requires"])}
    optional = {_module(d) for extra in ("cluster", "datasette")
                for d in _distributions(cfg["options.extras_require"][extra])}
    top, anywhere = _third_party_imports()
    assert anywhere - required - optional == set(), "imported, but not declared in install_requires"
    assert required - anywhere == set(), "declared in install_requires, but never imported"
    assert top & optional == set(), "an optional extra imported at module level: import it where it is used"
    # the scanner speaks HTTP through httpcore (v6scan.fetch); httpx is the client of `check --remote`
    # and of the webhook (issue 17), never the scanner's
    assert "sniffio" not in required
    assert not any(m == "httpx" for m in _imports_of(PACKAGE / "fetch.py"))
    assert "scapy" in anywhere - top, "scapy (path.mtu, path.frag) is imported where it is used, never at module level"
