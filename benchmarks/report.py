"""``v6scan report`` on a synthesized sweep of N sites: wall time, peak RSS, sizes.

    .venv/bin/python -m benchmarks.report --sites 10000 [--keep DIR]

The sweep is written through the real store API (:meth:`Store.start_sweep`, :meth:`Store.record`):
each site is one of a few site kinds of the scoring tests' world (``tests/scoring_world.py``: typed
evidence made by the checks' own constructors; healthy, IPv4-only, IPv6 closed, expired IPv6
certificate, one name server without IPv6, ...), its observations renamed to the site's name and
scored with the default policy, spread over sectors, regions and organisations.  Then
``v6scan report`` runs as a child process (its peak RSS is ``ru_maxrss`` of the children).
:func:`rows` gives the markdown table rows for ``make bench``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from v6scan.model import Observation
from v6scan.scoring import load_policy, score_target
from v6scan.store import Store
from v6scan.targets import Target

__all__ = ["KINDS", "ReportRun", "measure", "rows", "synthesize"]

#: (mutators of tests/scoring_world.py, www. mutators or None for no www. name, share of sites)
KINDS: tuple[tuple[tuple[str, ...], tuple[str, ...] | None, int], ...] = (
    ((), (), 55),
    ((), None, 10),
    (("no_aaaa",), ("no_aaaa",), 15),
    (("v6_closed",), ("v6_closed",), 5),
    (("tls_expired",), (), 3),
    (("ns_one_v6",), ("ns_one_v6",), 4),
    (("parity_gap",), (), 2),
    (("dead_end",), (), 2),
    (("latency_slow",), (), 2),
    (("nxdomain",), None, 2),
)
SECTORS = ("gov", "edu", "com", "health", "finance", "media")
REGIONS = tuple(f"region-{i:02d}" for i in range(31))
DOMAIN = "example.org"


def _kinds() -> list[str]:
    """The observations of each site kind, as JSON text naming the scoring world's domain."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests import scoring_world as world  # the test world: only for synthesizing

    out = []
    for flags, www, _ in KINDS:
        obs = world.site(flags, www)
        out.append(json.dumps([o.to_json() for o in obs], default=str))
    return out


def sites(n: int) -> Iterator[tuple[Target, int]]:
    """``n`` targets and the index of their kind in :data:`KINDS` (a fixed, interleaved mix)."""
    wheel = [i for i, (_, _, share) in enumerate(KINDS) for _ in range(share)]
    for i in range(n):
        name = f"site{i}.{SECTORS[i % len(SECTORS)]}.example.cn"
        yield (Target(name, name, SECTORS[i % len(SECTORS)], REGIONS[(i // 7) % len(REGIONS)],
                      f"Organisation {i // 20}"), wheel[(i * 37) % len(wheel)])


def synthesize(path: Path, n: int, batch: int = 500, targets: Callable[[], Iterable[tuple[Target, int]]] | None = None,
               patch: Callable[[str], str] | None = None) -> int:
    """A finished sweep in the store at ``path``; its id.  The sites: ``n`` of :func:`sites`, or what
    ``targets()`` gives (each target with its kind, an index into :data:`KINDS`); ``patch`` may change
    each site's observations (JSON text) before they are scored and stored."""
    kinds = _kinds()
    policy = load_policy("default")
    listing = targets or (lambda: sites(n))
    with Store(path) as store:
        sid = store.start_sweep((t for t, _ in listing()), {"synthesized": True}, "default")
        pending: list[tuple[str, str, str | None, list[Observation], object]] = []
        for target, kind in listing():
            text = kinds[kind].replace(DOMAIN, target.name)
            if patch is not None:
                text = patch(text)
            obs = [Observation.from_json(o) for o in json.loads(text)]
            pending.append((target.name, "2026-11-30T00:00:00Z", "2026-11-30T00:00:01Z", obs,
                            score_target(target.name, obs, policy)))
            if len(pending) >= batch:
                store.record(sid, pending)  # type: ignore[arg-type]
                pending = []
        if pending:
            store.record(sid, pending)  # type: ignore[arg-type]
        store.finish_sweep(sid)
    return sid


@dataclass
class ReportRun:
    sites: int
    seconds: float
    peak_rss_mib: float  # the largest process (ru_maxrss)
    #: the report process and any children together (sampled every 0.2 s): VmRSS summed, so a page
    #: a forked child still shares with its parent counts twice (this overstates what is in use)
    tree_rss_mib: float
    total_mib: float
    pages: int
    largest_kib: float
    largest_page: str
    entry_kib: float
    db_mib: float


def measure(db: Path, out: Path, sites: int, lang: str = "en") -> ReportRun:
    """Run ``v6scan report`` on ``db`` into ``out`` as a child process: its time, peak RSS, sizes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "v6scan", "report", "--db", str(db), "--lang", lang, "-o", str(out)],
                            stdout=subprocess.DEVNULL)
    together = 0
    while proc.poll() is None:  # the report process and its worker processes together, sampled
        together = max(together, _tree_rss(proc.pid))
        time.sleep(0.2)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if rss <= before:  # an earlier child was bigger: ru_maxrss is the largest child's
        rss = before
    files = [p for p in out.rglob("*.html")] if out.is_dir() else [out]
    sizes = {str(p.relative_to(out) if out.is_dir() else p.name): p.stat().st_size for p in files}
    largest = max(sizes, key=lambda k: sizes[k])
    entry = out / "index.html" if out.is_dir() else out
    return ReportRun(sites, seconds, rss / 1024, together / 2**20, sum(sizes.values()) / 2**20, len(sizes),
                     sizes[largest] / 1024, largest, entry.stat().st_size / 1024, db.stat().st_size / 2**20)


def _tree_rss(pid: int) -> int:
    """Bytes resident in process ``pid`` and its children now (0 for what has gone)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(x.split()[1]) * 1024 for x in status.splitlines() if x.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def run(n: int, keep: Path | None = None) -> ReportRun:
    with tempfile.TemporaryDirectory(prefix="v6scan-report-bench-") as tmp:
        base = keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        db = base / f"sweep-{n}.db"
        if not db.exists():
            t0 = time.perf_counter()
            synthesize(db, n)
            print(f"synthesized {n} sites in {time.perf_counter() - t0:.0f} s ({db.stat().st_size / 2**20:.0f} MiB)",
                  file=sys.stderr)
        return measure(db, base / f"report-{n}", n)


def rows(result: ReportRun) -> list[str]:
    """Markdown table rows (measure | result | goal) for ``make bench``."""
    r = result
    met = "met" if r.seconds <= 60 * r.sites / 100_000 and r.tree_rss_mib <= 300 and r.entry_kib < 2048 else "not met"
    return [
        f"| `v6scan report` of {r.sites:,} synthesized sites (directory: entry page, sector/region/organisation "
        f"pages, a page per site) | {r.seconds:.1f} s, peak RSS {r.peak_rss_mib:.0f} MiB (ru_maxrss; "
        f"{r.tree_rss_mib:.0f} MiB sampled over all its processes), {r.pages:,} pages, "
        f"{r.total_mib:.0f} MiB in all | 100,000 sites in <= 60 s and <= 300 MB: {met} at this size |",
        f"| the same: largest page, entry page | {r.largest_kib:.0f} KiB (`{r.largest_page}`), entry "
        f"{r.entry_kib:.0f} KiB | no page over a few MB, entry < 2 MB: "
        f"{'met' if r.largest_kib < 4096 and r.entry_kib < 2048 else 'not met'} |",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n")[0])
    ap.add_argument("--sites", type=int, default=10_000)
    ap.add_argument("--keep", type=Path, help="keep the database and the report in this directory (and reuse "
                                              "a database already there)")
    args = ap.parse_args(argv)
    result = run(args.sites, args.keep)
    print("| measure | result | goal |\n|---|---|---|")
    print("\n".join(rows(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
