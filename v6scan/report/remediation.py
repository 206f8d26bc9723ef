"""Remediation lists (整改清单): one page per organisation, its sites and what each must fix.

For every site of the organisation that is not ready: its verdict, who serves it, and each check
that failed or warned, per name, in plain words (the reasons), with the fix hint and a short
excerpt of the evidence it was judged on; the ready sites are named at the end.  Results that are
the scanner's own (``inconclusive``) are not the organisation's to fix and are left out.  Printed,
each organisation starts a new page (the print stylesheet).

Read one organisation at a time (:func:`v6scan.report.rows.iter_verdicts_by_organisation`, each
site's observations read with it): memory grows with the largest organisation, not the sweep.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from v6scan import __version__
from v6scan.messages import check_title
from v6scan.model import now_iso
from v6scan.providers import ProviderTable
from v6scan.registry import CHECKS
from v6scan.report.aggregate import BAD_RESULTS, ORDER
from v6scan.report.causes import served_rows
from v6scan.report.data import reason_texts
from v6scan.report.html import COLORS, RESULT_COLORS, environment, template_common, word
from v6scan.report.paths import group_file
from v6scan.report.rows import iter_verdicts_by_organisation, row_attribution
from v6scan.store import Store

__all__ = ["EVIDENCE_CHARS", "TO_FIX", "organisation_file", "organisations", "render_todo", "site_todo",
           "write_remediation_dir", "write_remediation_file", "write_remediation_pages"]

#: characters of a check's evidence shown next to its reasons (the site's page has all of it)
EVIDENCE_CHARS = 1200
#: the verdicts in the order an organisation's sites are listed: IPv6 users failed first, then no IPv6
_WORST_FIRST = ("broken", "absent", "partial", "error", "inconclusive", "ready")
#: the verdicts with something for the organisation to fix (inconclusive: the scanner's own failure)
TO_FIX = ("broken", "absent", "partial", "error")


def organisation_file(name: str) -> str:
    """The remediation page of organisation ``name``, relative to the report directory."""
    return "remediation/" + group_file("organisation", name).split("/", 1)[1]


def _failures(row: Mapping[str, Any], evidence: Mapping[tuple[str, str], Mapping[str, Any]], lang: str
              ) -> list[dict[str, Any]]:
    """A site's failing checks (every name whose result is fail, warn or error), in check order;
    ``evidence``: each (check, name)'s evidence."""
    out = []
    checks = row["checks"]
    for cid in [c for c in CHECKS if c in checks] + [c for c in checks if c not in CHECKS]:
        for name, det in checks[cid]["details"]["names"].items():
            if det["result"] not in BAD_RESULTS:
                continue
            ev = evidence.get((cid, name))
            out.append({"check": cid, "title": check_title(cid, CHECKS[cid].title, lang) if cid in CHECKS else cid,
                        "name": name, "result": det["result"], "reasons": reason_texts(det.get("reasons", ()), lang),
                        "evidence": _excerpt(ev) if ev else ""})
    return out


#: JSON as compact as readable, made by the C encoder (an indented dump is made in Python, and a
#: site's evidence can be large: only its first :data:`EVIDENCE_CHARS` are shown)
_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False, default=str, separators=(", ", ": ")).encode


def _excerpt(evidence: Mapping[str, Any]) -> str:
    text = _JSON(evidence)
    return text if len(text) <= EVIDENCE_CHARS else text[:EVIDENCE_CHARS] + " …"


def site_todo(row: Mapping[str, Any], observations: Iterable[Sequence[Any]], table: ProviderTable,
              lang: str) -> dict[str, Any]:
    """What a site's remediation list says: its verdict row (:func:`v6scan.report.rows.iter_site_rows`
    and the like, attribution included), its observations as packed (``[check, name, status,
    evidence, ...]``) and the provider table the attribution is named with."""
    evidence = {(str(o[0]), str(o[1])): o[3] for o in observations if isinstance(o[3], Mapping)}
    a = row_attribution(row)
    return {"name": row["name"], "display": row["display"], "verdict": row["verdict"], "score": row["score"],
            "served": served_rows(a, table, lang), "reasons": reason_texts(row["reasons"], lang),
            "failures": _failures(row, evidence, lang)}


def render_todo(site: Mapping[str, Any], lang: str) -> str:
    """One site's part of its organisation's list (HTML; empty when it has nothing to say)."""
    if not (site["failures"] or site["reasons"]):
        return ""
    return str(environment().get_template("_remediation.html.j2").module.todo(  # type: ignore[attr-defined]
        site, lambda key: word(key, lang), COLORS, RESULT_COLORS))


def _site(store: Store, row: Mapping[str, Any], lang: str) -> str:
    observations = store.target_observations(int(row["tid"]))
    packed = [(o.check, o.target, None, dict(o.evidence)) for o in observations]
    return render_todo(site_todo(row, packed, store.providers, lang), lang)


def organisations(store: Store, sweep_id: int, policy: str, lang: str,
                  parts: Callable[[int], str | None] | None = None) -> Iterator[dict[str, Any]]:
    """Each organisation of the sweep (``'-'``: sites without one), with its sites to fix (``todo``:
    each site's part of the list, HTML, the worst first) and the names of those with nothing to
    fix.  ``parts(target id)`` gives a site's part when it was made already (by the report's worker
    processes, with the site's page; None: it has none), else it is made here."""
    store.ensure_attributions(sweep_id)
    rows = iter_verdicts_by_organisation(store, sweep_id, policy, decode=parts is None)
    for org, group in itertools.groupby(rows, key=lambda r: str(r["grp"])):
        members = list(group)
        counts = Counter(str(r["verdict"]) for r in members)
        todo = [parts(int(r["tid"])) if parts is not None else _site(store, r, lang)
                for r in sorted(members, key=lambda r: _WORST_FIRST.index(r["verdict"])) if r["verdict"] in TO_FIX]
        yield {"name": org, "sites": len(members), "counts": {v: counts.get(v, 0) for v in ORDER},
               "todo": [t for t in todo if t], "fine": [str(r["display"]) for r in members if r["verdict"] == "ready"]}


def _common(sweep_id: int, policy: str, lang: str, home: str | None, generated: str | None) -> dict[str, Any]:
    return {**template_common(lang, sweep_id, policy), "generated": generated or now_iso(), "version": __version__,
            "home": home}


def write_remediation_file(store: Store, sweep_id: int, policy: str, lang: str, out: Path) -> int:
    """Write every organisation's remediation list into the one file ``out`` (streamed; those with
    nothing to fix are named together at the end); the number of organisations."""
    n = 0
    done: list[str] = []  # organisations with nothing to fix: named once at the end, not a page each

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal n
        for org in organisations(store, sweep_id, policy, lang):
            n += 1
            if org["todo"]:
                yield org
            else:
                done.append(org["name"])

    out.parent.mkdir(parents=True, exist_ok=True)
    tpl = environment().get_template("remediation.html.j2")
    with out.open("w", encoding="utf-8") as f:
        for chunk in tpl.generate(_common(sweep_id, policy, lang, None, None), orgs=counted(), index=None,
                                  done=done):
            f.write(chunk)
    return n


def write_remediation_pages(store: Store, sweep_id: int, policy: str, lang: str, write: Callable[[str, str], None],
                            *, home: str | None = None, generated: str | None = None,
                            parts: Callable[[int], str | None] | None = None) -> int:
    """A page per organisation (:func:`organisation_file`) and an index (``remediation/index.html``),
    each given to ``write(rel, text)``; the number of organisations.  ``home``: the report's entry
    page, relative to the remediation directory; ``generated``: the time the pages say they were made;
    ``parts``: the sites' parts made already (:func:`organisations`)."""
    env = environment()
    common = _common(sweep_id, policy, lang, home, generated)
    tpl = env.get_template("remediation.html.j2")
    listed = []
    for org in organisations(store, sweep_id, policy, lang, parts):
        rel = organisation_file(org["name"])
        write(rel, tpl.render(common, orgs=[org], index="index.html", done=()))
        listed.append({"name": org["name"], "sites": org["sites"], "todo": len(org["todo"]), "counts": org["counts"],
                       "href": rel.split("/", 1)[1]})
    write("remediation/index.html", env.get_template("remediation_index.html.j2").render(common, orgs=listed))
    return len(listed)


def write_remediation_dir(store: Store, sweep_id: int, policy: str, lang: str, out: Path) -> Path:
    """The remediation pages alone, in directory ``out``: its index page."""
    def write(rel: str, text: str) -> None:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")

    write_remediation_pages(store, sweep_id, policy, lang, write)
    return out / "remediation" / "index.html"
