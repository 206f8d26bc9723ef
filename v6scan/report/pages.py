"""A report directory for a sweep of any size, written as a stream.

Layout (every link relative, so the directory can be moved, zipped or served as it is)::

    index.html                         the entry page: summary, charts, sector and region tables,
                                       failure classes (all sites, per sector, per region)
    sector/index.html, -2.html ...     every sector, paginated; sector/<slug>.html (-2.html ...):
    region/..., organisation/...       one group's counts, failure classes and its sites, paginated
    sites/<bucket>/<name>.html         one page per site with its full evidence

Memory stays flat in the number of sites: the site pages are written from one pass over the
verdict rows merged with :meth:`Store.observations` (both in target order), counting into an
:class:`~v6scan.report.aggregate.Aggregate` as they go; group pages stream the light columns
ordered by group, with per-group totals from a ``GROUP BY`` read in the same order.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import hashlib
import itertools
import logging
import multiprocessing
import os
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from v6scan import __version__
from v6scan.model import Observation, now_iso
from v6scan.report import rows as q
from v6scan.report.aggregate import ORDER, Aggregate
from v6scan.report.data import site_section, stored_record
from v6scan.report.html import COLORS, CSP, RESULT_COLORS, Words, environment, evidence_blocks, stack, word
from v6scan.store import Store

__all__ = ["ENTRY_GROUPS", "PAGE_SIZE", "SINGLE_FILE_MAX", "Written", "group_file", "list_file", "site_file",
           "write_report_dir"]

#: a sweep with at most this many verdicts is reported as one file (``report -o FILE``), a larger one
#: as a directory
SINGLE_FILE_MAX = 500
#: sites per group page (and groups per index page): a page of 1,000 sites is about 0.4 MB
PAGE_SIZE = 1000
#: sectors and regions the entry page lists (with their failure classes); the rest: the index pages
ENTRY_GROUPS = 100
#: failure classes the entry page shows per sector and region (all of them on the group's own page)
GROUP_CLASSES = 10
#: site pages rendered per task (by a forked child process)
BATCH = 100
#: how much less CPU priority the child processes have (os.nice) than the one reading for them
_NICE = 5
#: site pages per directory under sites/
BUCKET = 1000

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[a-z0-9][a-z0-9.-]{0,200}")


def _slug(name: str) -> str:
    """A file name for any group name: its ASCII letters and digits, then a hash of the whole name
    (two names never share a file, whatever they contain)."""
    plain = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{plain}-{digest}" if plain else digest


def site_file(tid: int, name: str) -> str:
    """The site page of target ``tid`` (its id in the store), relative to the report directory."""
    base = name if _SAFE.fullmatch(name) and ".." not in name else f"t{tid}"
    return f"sites/{tid // BUCKET:04d}/{base}.html"


def group_file(dim: str, name: str, page: int = 1) -> str:
    return f"{dim}/{_slug(name)}{'' if page == 1 else f'-{page}'}.html"


def list_file(dim: str, page: int = 1) -> str:
    return f"{dim}/index{'' if page == 1 else f'-{page}'}.html"


@dataclass
class Written:
    """What :func:`write_report_dir` wrote."""

    entry: Path
    sites: int = 0
    pages: int = 0
    total_bytes: int = 0
    largest: int = 0
    largest_page: str = ""
    entry_bytes: int = 0
    dirs: set[str] = field(default_factory=set)

    def write(self, root: Path, rel: str, text: str) -> None:
        self.add(rel, _write(root, rel, text, self.dirs))

    def add(self, rel: str, size: int) -> None:
        """Count page ``rel`` of ``size`` bytes (written here or by a worker process)."""
        self.pages += 1
        self.total_bytes += size
        if size > self.largest:
            self.largest, self.largest_page = size, rel


def _write(root: Path, rel: str, text: str, dirs: set[str]) -> int:
    """Write ``text`` to ``root/rel`` (its directory made once: ``dirs`` remembers); its size."""
    path = root / rel
    parent = str(path.parent)
    if parent not in dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        dirs.add(parent)
    data = text.encode("utf-8")
    path.write_bytes(data)
    return len(data)


def _common(lang: str, sweep_id: int, policy: str) -> dict[str, Any]:
    """What every template of a report gets."""
    def t(key: str) -> str:
        return word(key, lang)
    return {"lang": lang, "t": t, "csp": CSP, "colors": COLORS, "result_colors": RESULT_COLORS,
            "sweep": sweep_id, "policy": policy}


def _site_pages(out: Path, lang: str, sweep_id: int, policy: str,
                batch: list[tuple[dict[str, Any], list[Observation]]]) -> list[tuple[str, int]]:
    """Write the pages of a batch of sites (verdict row, observations); each page's path and size.
    Runs in a forked child process too: it needs nothing but its arguments."""
    tpl = environment().get_template("site.html.j2")
    common = {**_common(lang, sweep_id, policy), "w": _words(lang), "home": "../../index.html"}
    labels = {dim: word(dim, lang) for dim in q.DIMENSIONS}
    done = []
    dirs: set[str] = set()
    for row, obs in batch:
        rel = site_file(row["tid"], row["name"])
        s = site_section(stored_record(row, obs, lang, sweep_id), row["points"])
        links = [(f"{labels[d]}: {row[d]}", "../../" + group_file(d, row[d])) for d in q.DIMENSIONS if row[d]]
        text = tpl.render(common, s=s, links=links, blocks=evidence_blocks(s["evidence"]))
        done.append((rel, _write(out, rel, text, dirs)))
    return done


@functools.cache
def _words(lang: str) -> Words:
    return Words(lang)


#: the pages written by a batch of sites: (path, size)
_Pages = list[tuple[str, int]]


def _render_child(send: Connection, out: Path, lang: str, sweep_id: int, policy: str,
                  batch: list[tuple[dict[str, Any], list[Observation]]]) -> None:
    """A forked child's work: render ``batch`` as its parent read it, send back the pages written
    (or the error).  It runs at a lower priority than its parent, which reads the evidence for
    every child and must never wait."""
    os.nice(_NICE)
    try:
        send.send(_site_pages(out, lang, sweep_id, policy, batch))
    except BaseException:
        send.send(traceback.format_exc())
    finally:
        send.close()


@contextlib.contextmanager
def _collect_per_batch() -> Iterator[None]:
    """No automatic garbage collection while the site pages are made (the loop rendering here
    collects after each batch, when little is alive), and none of what exists now.  Reading and
    rendering a batch make hundreds of thousands of containers and no cycles; with automatic
    collection on, Python walks them again and again while they are made (in a forked child it
    would also copy every page it walks), which more than doubled the time to decode a batch."""
    enabled = gc.isenabled()
    gc.freeze()  # what exists now is never collected while this lasts
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def _sibling(dim: str, name: str, page: int) -> str:
    """A group page's file name, relative to another page of the same dimension."""
    return group_file(dim, name, page).split("/", 1)[1]


def _pages(n: int, size: int) -> int:
    return max(1, -(-n // size))


def _pager(number: int, pages: int, name: Any) -> dict[str, Any]:
    """Page ``number`` of ``pages``; ``name(page)`` is a page's file name (same directory)."""
    return {"number": number, "pages": pages, "prev": name(number - 1) if number > 1 else None,
            "next": name(number + 1) if number < pages else None}


def _sites_with_observations(store: Store, sweep_id: int, policy: str
                             ) -> Iterator[tuple[dict[str, Any], list[Observation]]]:
    """Each verdict row under ``policy`` with its target's observations: two streams in target
    order, merged on the target id (the targets of the first are a superset of the second's)."""
    found = ((t["tid"], obs) for t, obs in store.observations(sweep_id))
    nxt = next(found, None)
    for row in q.iter_site_rows(store, sweep_id, policy):
        obs: list[Observation] = []
        if nxt is not None and nxt[0] == row["tid"]:
            obs = nxt[1]
            nxt = next(found, None)
        if row["verdict"] is not None:
            yield row, obs


def default_workers() -> int:
    """Processes that render site pages by default: two where this process may use two CPUs or
    more and can fork, else none (the pages are rendered in this process)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(2, cpus)


def write_report_dir(store: Store, sweep_id: int, policy: str, lang: str, out: Path, *,
                     page_size: int = PAGE_SIZE, workers: int | None = None) -> Written:
    """Write the report of ``sweep_id`` under ``policy`` in ``lang`` into directory ``out``.  With
    ``workers`` > 1 (default: :func:`default_workers`) the site pages are rendered by up to that
    many forked child processes at a time, one per batch of sites, while this process reads the
    evidence (:meth:`Store.observations`, one stream) and counts.  The files are the same byte for
    byte whatever ``workers`` is."""
    with q.snapshot(store):
        w = _Writer(store, sweep_id, policy, lang, out, page_size, default_workers() if workers is None else workers)
        w.sites()  # first: it counts what the other pages show
        log.debug("report: %d site pages written (%d processes)", w.written.sites, w.workers)
        for dim in q.DIMENSIONS:
            w.groups(dim)
        w.entry()
    return w.written


class _Writer:
    def __init__(self, store: Store, sweep_id: int, policy: str, lang: str, out: Path, page_size: int,
                 workers: int) -> None:
        self.store, self.sweep_id, self.policy, self.lang, self.out = store, sweep_id, policy, lang, out
        self.page_size = page_size
        self.env = environment()
        self.common = {**_common(lang, sweep_id, policy), "w": _words(lang)}
        self.workers = workers
        self.written = Written(out / "index.html")
        self.agg = Aggregate()
        self.hrefs: dict[str, str] = {}  # the failure classes' example sites only (a few per class and group)

    def t(self, key: str) -> str:
        return word(key, self.lang)

    def link(self, name: str, up: str = "") -> str | None:
        """The link to an example site's page, from a page ``up`` (``../``) below the root."""
        rel = self.hrefs.get(name)
        return up + rel if rel else None

    def sites(self) -> None:
        """A page per site, counting every verdict as it goes (here), rendered in batches here or
        by a forked child process per batch, ``workers`` at a time.  A child reads its batch where
        this process left it (copy on write): nothing is serialized (packing the batches for
        long-lived workers, even with :mod:`marshal`, cost more).  Memory stays flat: a batch is
        dropped when its child ends."""
        with _collect_per_batch():
            if self.workers <= 1:
                sites = _sites_with_observations(self.store, self.sweep_id, self.policy)
                while batch := self._batch(sites):
                    self._account(_site_pages(self.out, self.lang, self.sweep_id, self.policy, batch))
                    del batch  # before the collection
                    gc.collect()
            else:
                self._parallel()

    def _parallel(self) -> None:
        sites = _sites_with_observations(self.store, self.sweep_id, self.policy)
        # the first batch here: every child then starts with the template compiled, the caches
        # filled and the interpreter's specialized bytecode (a cold child took twice as long)
        self._account(_site_pages(self.out, self.lang, self.sweep_id, self.policy, self._batch(sites)))
        ctx = multiprocessing.get_context("fork")
        running: collections.deque[tuple[BaseProcess, Connection]] = collections.deque()
        try:
            while batch := self._batch(sites):
                if len(running) >= self.workers:
                    self._receive(*running.popleft())
                recv, send = ctx.Pipe(duplex=False)
                child = ctx.Process(target=_render_child, args=(send, self.out, self.lang, self.sweep_id, self.policy,
                                                               batch), daemon=True)
                child.start()
                send.close()
                running.append((child, recv))
                del batch, child  # the child process has the batch; this one drops it when it ends
            while running:
                self._receive(*running.popleft())
        finally:
            for proc, pipe in running:  # only after an error
                proc.terminate()
                proc.join()
                pipe.close()

    def _receive(self, child: BaseProcess, recv: Connection) -> None:
        """Wait for ``child``; count the pages it wrote."""
        try:
            pages: _Pages | str = recv.recv()
        except EOFError:  # it died before it could answer
            child.join()
            pages = f"exit code {child.exitcode}"
        finally:
            recv.close()
        child.join()  # and drop it: it holds the batch
        if isinstance(pages, str):
            raise RuntimeError(f"rendering site pages failed in a child process: {pages}")
        self._account(pages)

    def _batch(self, sites: Iterator[tuple[dict[str, Any], list[Observation]]]
               ) -> list[tuple[dict[str, Any], list[Observation]]]:
        """The next :data:`BATCH` sites (none at the end), counted.  A function, not a generator: a
        suspended generator would hold on to the batch it gave out until the next one."""
        batch = list(itertools.islice(sites, BATCH))
        for row, _ in batch:
            if self.agg.add(row):
                self.hrefs[row["name"]] = site_file(row["tid"], row["name"])
        return batch

    def _account(self, pages: list[tuple[str, int]]) -> None:
        for rel, size in pages:
            self.written.add(rel, size)
            self.written.sites += 1

    def groups(self, dim: str) -> None:
        """The pages of every group of ``dim`` (its sites, paginated) and the index of the groups."""
        group_tpl = self.env.get_template("group.html.j2")
        size = self.page_size
        list_pages = _pages(q.count_groups(self.store, self.sweep_id, self.policy, dim), size)
        listed: list[dict[str, Any]] = []
        list_page = 1
        members = q.iter_group_rows(self.store, self.sweep_id, self.policy, dim)
        for summary in q.iter_group_summaries(self.store, self.sweep_id, self.policy, dim, ORDER):
            name = summary["name"]
            group = self.agg.groups.get(dim, {}).get(name)
            classes = (None if group is None else
                       group.failure_classes(self.lang, href=functools.partial(self.link, up="../")))
            pages = _pages(summary["sites"], size)
            for number in range(1, pages + 1):
                chunk = [{**m, "href": "../" + site_file(m["tid"], m["name"])}
                         for m in itertools.islice(members, min(size, summary["sites"] - (number - 1) * size))]
                self.written.write(self.out, group_file(dim, name, number), group_tpl.render(
                    self.common, dim=dim, key=f"by_{dim}", g=summary, classes=classes, sites=chunk,
                    page=_pager(number, pages, functools.partial(_sibling, dim, name)),
                    home="../index.html", up=list_file(dim).split("/", 1)[1]))
            listed.append({**summary, "href": _sibling(dim, name, 1), "bars": stack(summary["counts"], 300)})
            if len(listed) == size:
                self._list(dim, listed, (list_page, list_pages))
                listed, list_page = [], list_page + 1
        if listed or list_page == 1:
            self._list(dim, listed, (list_page, list_pages))

    def _list(self, dim: str, groups: list[dict[str, Any]], page: tuple[int, int]) -> None:
        """Page ``page`` (number, of how many) of the index of ``dim``'s groups."""
        pager = _pager(*page, lambda p: list_file(dim, p).split("/", 1)[1])
        self.written.write(self.out, list_file(dim, page[0]), self.env.get_template("list.html.j2").render(
            **self.common, dim=dim, key=f"by_{dim}", groups=groups, page=pager, verdicts=dict.fromkeys(ORDER, 0),
            home="../index.html"))

    def entry(self) -> None:
        """The entry page: summary, charts, the sector and region tables, failure classes."""
        agg, lang = self.agg, self.lang
        sweep = self.store.sweep(self.sweep_id)
        trend = self.store.trend(self.policy)
        points = ""
        if len(trend) > 1:
            step = 560 / (len(trend) - 1)
            points = " ".join(f"{20 + i * step:.1f},{150 - 130 * x['ready_share']:.1f}" for i, x in enumerate(trend))
        hmax = max(agg.histogram) or 1
        tables, class_tables = [], []
        for dim in ("sector", "region"):
            biggest = sorted(agg.groups[dim].values(), key=lambda g: (-g.sites, g.name))[:ENTRY_GROUPS]
            shown = sorted(biggest, key=lambda g: g.name)
            tables.append((f"by_{dim}", self.t(dim),
                           [{**g.summary(), "href": group_file(dim, g.name), "bars": stack(g.summary()["counts"], 300)}
                            for g in shown],
                           list_file(dim) if len(agg.groups[dim]) > len(shown) else None))
            class_tables.append((f"by_{dim}", [
                {"name": g.name, "sites": g.sites, "href": group_file(dim, g.name),
                 "classes": g.failure_classes(lang, href=self.link, limit=GROUP_CLASSES)} for g in shown]))
        total = agg.all.sites
        report = {"sweep": {k: sweep[k] for k in ("id", "started", "finished", "status", "targets", "version")},
                  "policy": self.policy, "generated": now_iso(), "version": __version__, "total": total,
                  "counts": agg.all.summary()["counts"], "average_score": agg.all.score_sum / (total or 1),
                  "failure_classes": agg.all.failure_classes(lang, href=self.link), "trend": trend}
        text = self.env.get_template("index.html.j2").render(
            **self.common, r=report, overall=stack(report["counts"], 600),
            hist=[{"x": 20 + i * 56, "h": round(130 * n / hmax, 1), "n": n, "label": f"{i * 10}"}
                  for i, n in enumerate(agg.histogram)],
            tables=tables, class_tables=class_tables, trend_points=points,
            dims=[{"key": f"by_{d}", "href": list_file(d)} for d in q.DIMENSIONS])
        self.written.write(self.out, "index.html", text)
        self.written.entry_bytes = len(text.encode("utf-8"))
