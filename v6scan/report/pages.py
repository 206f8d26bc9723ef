"""A report directory for a sweep of any size, written as a stream.

Layout (every link relative, so the directory can be moved, zipped or served as it is)::

    index.html                         the entry page: summary, charts, sector and region tables,
                                       failure classes (all sites, per sector, per region)
    sector/index.html, -2.html ...     every sector, paginated; sector/<slug>.html (-2.html ...):
    region/..., organisation/...       one group's counts, failure classes and its sites, paginated
    sites/<bucket>/<name>.html         one page per site with its full evidence

Memory stays flat in the number of sites: the site pages are written from one pass over the
verdict rows merged with :meth:`Store.observation_texts` (both in target order), counting into an
:class:`~v6scan.report.aggregate.Aggregate` as they go; with worker processes, each makes that pass
over its own share of the targets (its own connection, all reading the same database) and their
counts are merged.  Group pages stream the light columns ordered by group, with per-group totals
from a ``GROUP BY`` read in the same order.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import json
import logging
import multiprocessing
import os
import shutil
import signal
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO, Any

from v6scan import __version__
from v6scan.indicators import PARTS
from v6scan.listvocab import group_label
from v6scan.model import now_iso
from v6scan.providers import ProviderTable
from v6scan.report import rows as q
from v6scan.report.aggregate import ORDER, Aggregate
from v6scan.report.causes import Causes, kind_word, served_rows
from v6scan.report.data import latency_rows, page_section
from v6scan.report.html import (
    CLUSTER_SITES,
    ENTRY_CLUSTERS,
    Words,
    environment,
    evidence_blocks,
    stack,
    template_common,
    word,
)
from v6scan.report.paths import group_file, list_file, site_file
from v6scan.report.remediation import TO_FIX, organisation_file, render_todo, site_todo, write_remediation_pages
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
#: site pages written between two garbage collections
BATCH = 100

log = logging.getLogger(__name__)

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

    def merge(self, other: Written) -> None:
        """Count the pages ``other`` counted, as if written after this one's."""
        self.sites += other.sites
        self.pages += other.pages
        self.total_bytes += other.total_bytes
        if other.largest > self.largest:
            self.largest, self.largest_page = other.largest, other.largest_page


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


def _site_page(tpl: Any, common: dict[str, Any], labels: dict[str, str], row: dict[str, Any],
               observations: list[Any], lang: str, served: list[tuple[str, str]]) -> str:
    """The page of one site: its verdict row, its observations (packed, decoded), who serves it."""
    s = page_section(row, observations, lang)
    links = [(f"{labels[d]}: {group_label(d, row[d], lang)}", "../../" + group_file(d, row[d]))
             for d in q.DIMENSIONS if row[d]]
    return str(tpl.render(common, s=s, links=links, blocks=evidence_blocks(s["evidence"]), served=served,
                          latency=latency_rows(q.row_indicators(row), lang)))


@functools.cache
def _words(lang: str) -> Words:
    return Words(lang)


@dataclass
class _Share:
    """What one process made of its share of the sites: their pages (counted), their counts, the
    links to those of them kept as examples of a failure class."""

    written: Written
    agg: Aggregate = field(default_factory=Aggregate)
    causes: Causes = field(default_factory=Causes)
    hrefs: dict[str, str] = field(default_factory=dict)
    largest_at: int = -1  # the position of the site of the largest page
    #: the sites' parts of the remediation lists, in one file per process: target id -> (file, offset, size)
    parts: dict[int, tuple[str, int, int]] = field(default_factory=dict)

    def merge_into(self, written: Written, agg: Aggregate, causes: Causes, hrefs: dict[str, str],
                   parts: dict[int, tuple[str, int, int]]) -> None:
        written.merge(self.written)
        agg.merge(self.agg)
        causes.merge(self.causes)
        hrefs.update(self.hrefs)
        parts.update(self.parts)


def _site_rows(store: Store, sweep_id: int, policy: str, shard: tuple[int, int] | None
               ) -> Iterator[tuple[dict[str, Any], str]]:
    """Each verdict row under ``policy`` (of ``shard``) with its target's observations (packed JSON
    text): two streams in target order, merged on the target id (the targets of the first are a
    superset of the second's)."""
    found = ((t["tid"], text) for t, text in store.observation_texts(sweep_id, shard))
    nxt = next(found, None)
    for row in q.iter_site_rows(store, sweep_id, policy, shard):
        text = "[]"
        if nxt is not None and nxt[0] == row["tid"]:
            text = nxt[1]
            nxt = next(found, None)
        if row["verdict"] is not None:
            yield row, text


def _site_share(store: Store, sweep_id: int, policy: str, lang: str, out: Path,
                shard: tuple[int, int] | None) -> _Share:
    """Write the page of every site of ``shard`` (all: None), counting each as it goes."""
    tpl = environment().get_template("site.html.j2")
    common = {**template_common(lang, sweep_id, policy), "w": _words(lang), "home": "../../index.html"}
    labels = {dim: word(dim, lang) for dim in q.DIMENSIONS}
    share = _Share(Written(out / "index.html"))
    (out / PARTS_DIR).mkdir(parents=True, exist_ok=True)
    parts_file = out / PARTS_DIR / f"share-{0 if shard is None else shard[0]}.html"
    with _collect_per_batch(), parts_file.open("wb") as parts:
        for n, (row, observations) in enumerate(_site_rows(store, sweep_id, policy, shard), 1):
            rel = site_file(row["tid"], row["name"])
            if share.agg.add(row):
                share.hrefs[row["name"]] = rel
            a = q.row_attribution(row)
            share.causes.add(row, a)
            decoded = json.loads(observations)
            share.written.write(out, rel, _site_page(tpl, common, labels, row, decoded, lang,
                                                     served_rows(a, store.providers, lang)))
            if row["verdict"] in TO_FIX:  # its part of its organisation's remediation list, made while decoded
                part = render_todo(site_todo(row, decoded, store.providers, lang), lang).encode("utf-8")
                if part:
                    share.parts[int(row["tid"])] = (parts_file.name, parts.tell(), len(part))
                    parts.write(part)
            share.written.sites += 1
            if share.written.largest_page == rel:
                share.largest_at = row["position"]
            if n % BATCH == 0:
                gc.collect()  # what little is alive: automatic collection is off
                gc.freeze()  # ... and what stays (the counts, growing with the sites) is not walked again
    share.written.dirs.clear()
    return share


#: where the worker processes leave each site's part of the remediation lists (removed once used)
PARTS_DIR = ".remediation-parts"


@contextlib.contextmanager
def _parts(out: Path, found: Mapping[int, tuple[str, int, int]]) -> Iterator[Callable[[int], str | None]]:
    """The reader of the sites' parts the processes wrote (:attr:`_Share.parts`)."""
    files: dict[str, IO[bytes]] = {}

    def read(tid: int) -> str | None:
        where = found.get(tid)
        if where is None:
            return None
        name, offset, size = where
        f = files.get(name) or files.setdefault(name, (out / PARTS_DIR / name).open("rb"))
        f.seek(offset)
        return f.read(size).decode("utf-8")

    try:
        yield read
    finally:
        for f in files.values():
            f.close()


def _share_child(send: Connection, path: Path, sweep_id: int, policy: str, lang: str, out: Path,
                 shard: tuple[int, int], providers: ProviderTable) -> None:
    """A worker process's work: open the store (a connection of its own), begin reading (and say
    so: ``True``), then write the pages of ``shard`` and send what it made (or the error)."""
    # a forked copy of the caller: the caller's signal handlers are not this worker's (the parent
    # stops it with SIGTERM after an error)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    try:
        with Store(path) as store, store.snapshot():
            store.providers = providers
            q.count_verdicts(store, sweep_id, policy)  # the read transaction begins
            send.send(True)
            send.send(_site_share(store, sweep_id, policy, lang, out, shard))
    except BaseException:
        send.send(traceback.format_exc())
    finally:
        send.close()


def _answer(child: BaseProcess, recv: Connection) -> Any:
    """The next message of ``child`` (an error it reports is raised here)."""
    try:
        msg = recv.recv()
    except EOFError:  # it died before it could answer
        child.join()
        msg = f"exit code {child.exitcode}"
    if isinstance(msg, str):
        raise RuntimeError(f"writing site pages failed in a worker process: {msg}")
    return msg


@contextlib.contextmanager
def _collect_per_batch() -> Iterator[None]:
    """No automatic garbage collection while the site pages are made (the loop writing them
    collects every batch of sites, when little is alive), and none of what exists now.  Reading
    and rendering a site make thousands of containers and no cycles; with automatic collection
    on, Python walks them again and again while they are made, which more than doubled the time
    to decode a site's evidence."""
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
    ``workers`` > 1 (default: :func:`default_workers`) the site pages are written by that many
    forked worker processes, each reading and counting its share of the sites, while this process
    writes the organisation pages.  The files are the same byte for byte whatever ``workers`` is."""
    store.ensure_attributions(sweep_id)
    with store.snapshot():
        w = _Writer(store, sweep_id, policy, lang, out, page_size, default_workers() if workers is None else workers)
        w.sites()  # first: it counts what the other pages show
        log.debug("report: %d site pages written (%d processes)", w.written.sites, w.workers)
        for dim in ("sector", "region"):
            w.groups(dim, w.written)
        w.written.merge(w.later)  # the organisation pages
        with _parts(out, w.parts) as parts:
            write_remediation_pages(store, sweep_id, policy, lang, functools.partial(w.written.write, out),
                                    home="../index.html", generated=now_iso(), parts=parts)
        shutil.rmtree(out / PARTS_DIR, ignore_errors=True)
        w.entry()
    return w.written


class _Writer:
    def __init__(self, store: Store, sweep_id: int, policy: str, lang: str, out: Path, page_size: int,
                 workers: int) -> None:
        self.store, self.sweep_id, self.policy, self.lang, self.out = store, sweep_id, policy, lang, out
        self.page_size = page_size
        self.env = environment()
        self.common = {**template_common(lang, sweep_id, policy), "w": _words(lang)}
        self.workers = workers
        self.written = Written(out / "index.html")
        self.later = Written(out / "index.html")  # pages written before they are counted
        self.agg = Aggregate()
        self.causes = Causes()
        self.parts: dict[int, tuple[str, int, int]] = {}
        self.hrefs: dict[str, str] = {}  # the failure classes' example sites only (a few per class and group)

    def t(self, key: str) -> str:
        return word(key, self.lang)

    def link(self, name: str, up: str = "") -> str | None:
        """The link to an example site's page, from a page ``up`` (``../``) below the root."""
        rel = self.hrefs.get(name)
        return up + rel if rel else None

    def sites(self) -> None:
        """A page per site, counting every verdict (and, meanwhile, the organisation pages):
        written here or by ``workers`` worker processes, each reading its own share of the
        sites from the store (:meth:`Store.observation_texts` with a shard) and sending back
        what it counted."""
        if self.workers <= 1:
            shares = [_site_share(self.store, self.sweep_id, self.policy, self.lang, self.out, None)]
            self.groups("organisation", self.later)
        else:
            shares = self._parallel()
        for share in sorted(shares, key=lambda s: s.largest_at):  # a tie: the first site's page
            share.merge_into(self.written, self.agg, self.causes, self.hrefs, self.parts)

    def _parallel(self) -> list[_Share]:
        ctx = multiprocessing.get_context("fork")
        running: list[tuple[BaseProcess, Connection]] = []
        try:
            with q.hold_writers(self.store):  # every worker's reads see what this process's see
                q.count_verdicts(self.store, self.sweep_id, self.policy)  # this one's read transaction begins
                for k in range(self.workers):
                    recv, send = ctx.Pipe(duplex=False)
                    proc = ctx.Process(target=_share_child, daemon=True, args=(
                        send, self.store.path, self.sweep_id, self.policy, self.lang, self.out, (k, self.workers),
                        self.store.providers))
                    proc.start()
                    send.close()
                    running.append((proc, recv))
                for child, recv in running:
                    _answer(child, recv)  # it is reading
            self.groups("organisation", self.later)  # (they need no counts)
            shares = [_answer(child, recv) for child, recv in running]
            for child, _ in running:
                child.join()
            return shares
        finally:
            for child, recv in running:
                if child.is_alive():  # only after an error
                    child.terminate()
                child.join()
                recv.close()

    def groups(self, dim: str, written: Written) -> None:
        """The pages of every group of ``dim`` (its sites, paginated) and the index of the groups,
        counted in ``written``."""
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
                written.write(self.out, group_file(dim, name, number), group_tpl.render(
                    self.common, dim=dim, key=f"by_{dim}", g=summary, classes=classes, sites=chunk,
                    fix_href="../" + organisation_file(name) if dim == "organisation" else None,
                    page=_pager(number, pages, functools.partial(_sibling, dim, name)),
                    home="../index.html", up=list_file(dim).split("/", 1)[1]))
            listed.append({**summary, "href": _sibling(dim, name, 1), "bars": stack(summary["counts"], 300)})
            if len(listed) == size:
                self._list(dim, listed, (list_page, list_pages), written)
                listed, list_page = [], list_page + 1
        if listed or list_page == 1:
            self._list(dim, listed, (list_page, list_pages), written)

    def _list(self, dim: str, groups: list[dict[str, Any]], page: tuple[int, int], written: Written) -> None:
        """Page ``page`` (number, of how many) of the index of ``dim``'s groups."""
        pager = _pager(*page, lambda p: list_file(dim, p).split("/", 1)[1])
        written.write(self.out, list_file(dim, page[0]), self.env.get_template("list.html.j2").render(
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
            tables=tables, class_tables=class_tables, trend_points=points, causes=self._causes(), parts=PARTS,
            indicators={dim or "all": q.indicator_summaries(self.store, self.sweep_id, self.policy, dim)
                        for dim in (None, "sector", "region")},
            dims=[*({"key": f"by_{d}", "href": list_file(d)} for d in q.DIMENSIONS),
                  {"key": "remediation", "href": "remediation/index.html"}])
        self.written.write(self.out, "index.html", text)
        self.written.entry_bytes = len(text.encode("utf-8"))

    def _causes(self) -> dict[str, Any]:
        """The entry page's provider table and root-cause clusters (the biggest, a few sites each)."""
        table, lang = self.store.providers, self.lang
        clusters = self.causes.clusters(table, lang)
        return {"providers": self.causes.shares(table, lang)[:ENTRY_GROUPS],
                "clusters": [{"c": c, "sites": [(n, site_file(t, n)) for n, t in zip(c.sites[:CLUSTER_SITES],
                                                                                      c.tids, strict=False)],
                              "more": max(0, c.size - CLUSTER_SITES), "kind": kind_word(c.kind, lang)}
                             for c in clusters[:ENTRY_CLUSTERS]],
                "clusters_total": len(clusters)}

