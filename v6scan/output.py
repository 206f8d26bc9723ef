"""Output for ``v6scan check``: text for people, JSON, JUnit XML, SARIF 2.1.0, GitHub annotations.

Each renderer takes :class:`Outcome` objects (a target's observations and
verdict) and returns text; nothing here does I/O beyond what it is given.

Titles, URLs, hosts, errors and so reason texts come from scanned sites and may hold any
character.  Each format escapes them where it writes them, with one helper per concern:

* :func:`_term` (text, and inside the others): control characters (C0 with tab, newline and
  CR, DEL, C1), format characters (bidi overrides and isolates, zero-width), line and paragraph
  separators and lone surrogates are shown as ``\\x1b``, ``\\u202e``, ``\\ud800``: a site cannot
  drive the terminal, reorder or hide text, or add a line.  Backslashes are left as they are.
* :func:`_gh_message`, :func:`_gh_property`: :func:`_term`, then GitHub's workflow-command
  escapes, so site text can neither end an annotation nor start a command.
* :func:`_xml` (JUnit): :func:`_term`, and U+FFFE/U+FFFF too: every character left is one
  XML 1.0 allows; ElementTree escapes the markup.
* :func:`_md` (the step summary): newlines as spaces, :func:`_term`, ``&<>`` as entities and
  every other ASCII punctuation character backslash-escaped: no link, image, HTML, table cell,
  heading, list, emphasis, code span or URL autolink from a site (GitHub still turns a bare
  e-mail address into a mailto: link that shows that address: no escape prevents it).  The
  target's own name, a validated host name, keeps its dots and hyphens (:func:`_md_name`).
* :func:`_json` (JSON, JSONL, SARIF; ``export``'s JSON through :func:`json_text`): ``json.dumps``
  escapes C0 and quotes; the other characters :func:`_term` escapes become ``\\uXXXX`` JSON escapes
  (the same string once parsed, safe to print and to split on any line break), but a lone
  surrogate, which is no Unicode character and cannot be written as UTF-8 (strict parsers reject
  its JSON escape too), is written as the six characters ``\\udXXX``.
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from v6scan import __version__
from v6scan.engine import TargetResult
from v6scan.messages import ui
from v6scan.model import JSON
from v6scan.providers import Attribution, ProviderTable, Served, attribute
from v6scan.record import Record, build_record
from v6scan.registry import CHECKS
from v6scan.scoring import VERDICTS, SiteVerdict

__all__ = ["FORMATS", "Outcome", "gate", "json_chunks", "json_text", "record", "render", "served_line"]

FORMATS = ("text", "json", "jsonl", "junit", "sarif", "github")
_SYMBOL = {"pass": "✓", "warn": "!", "fail": "✗", "error": "E", "inconclusive": "?", "not_tested": "-",
           "info": "i"}
_COLOR = {"pass": "green", "warn": "yellow", "fail": "red", "error": "magenta", "inconclusive": "blue",
          "not_tested": "bright_black", "info": "bright_black", "ready": "green", "partial": "yellow",
          "broken": "red", "absent": "bright_black", "error_v": "magenta"}


#: Unicode categories shown as escapes: controls, format (bidi, zero-width), surrogates, separators
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def _escaped(text: str, escape: Callable[[str], str]) -> str:
    if text.isprintable():  # the usual case, at C speed
        return text
    return "".join(escape(ch) if unicodedata.category(ch) in _UNSAFE else ch for ch in text)


def _term(text: str) -> str:
    """Site text for a terminal or a log: controls, bidi and separators as visible escapes."""
    return _escaped(text, _visible)


def _xml(text: str) -> str:
    """Site text for XML 1.0 (markup is ElementTree's): only characters XML allows."""
    return _term(text).replace("\ufffe", "\\ufffe").replace("\uffff", "\\uffff")


def _gh_message(text: str) -> str:
    """Site text for a workflow command's message: one line, no command of its own."""
    return _term(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    """Site text for a workflow command's property (``title=``)."""
    return _gh_message(text).replace(":", "%3A").replace(",", "%2C")


_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _md(text: str) -> str:
    """Site text for Markdown (a table cell): literal text, on one line."""
    plain = _term(" ".join(text.splitlines()))
    return "".join(_MD_ENTITIES.get(ch) or (f"\\{ch}" if ch in string.punctuation else ch) for ch in plain)


_HOST_NAME = re.compile(r"[\w.-]+")


def _md_name(name: str) -> str:
    """A target's name for Markdown: a host name as ``targets.normalise_name`` leaves it (letters,
    digits, ``-``, ``_``, ``.``) stays readable, only ``_`` escaped; anything else as :func:`_md`."""
    return name.replace("_", "\\_") if _HOST_NAME.fullmatch(name) else _md(name)


def _json_char(ch: str) -> str:
    if 0xD800 <= ord(ch) <= 0xDFFF:
        return f"\\\\u{ord(ch):04x}"  # a JSON-escaped backslash: the text \udXXX
    return json.dumps(ch)[1:-1]  # \uXXXX, a surrogate pair beyond the BMP


def _json(doc: str) -> str:
    """A ``json.dumps`` document (``ensure_ascii=False``) safe to print and to write as UTF-8."""
    return "\n".join(_escaped(line, _json_char) for line in doc.split("\n"))


@dataclass
class Outcome:
    result: TargetResult
    verdict: SiteVerdict
    sweep: int | None = None  # the stored sweep (``scan``), None for ``check``
    providers: ProviderTable | None = None  # the table sites are attributed with (default: the shipped one)


def record(o: Outcome, lang: str = "en") -> Record:
    """The output contract's record for one target (DESIGN.md section 4), evidence included:
    :func:`v6scan.record.build_record`, as ``export`` and the report build it from the store."""
    return build_record(o.result.target, o.result.observations, o.verdict, o.result.finished_at, lang, o.sweep,
                        o.providers)


def json_chunks(doc: JSON, indent: int | None = None) -> Iterator[str]:
    """``doc`` as JSON text (one line without ``indent``) safe to print and to write as UTF-8, in
    pieces: the one serialisation of records for ``check``, ``scan`` and ``export``."""
    for chunk in json.JSONEncoder(ensure_ascii=False, indent=indent, default=str).iterencode(doc):
        yield _json(chunk)


def json_text(doc: JSON, indent: int | None = None) -> str:
    """:func:`json_chunks` as one string."""
    return "".join(json_chunks(doc, indent))


def gate(outcomes: Sequence[Outcome], fail_on: str | None, min_score: int | None) -> tuple[int, list[str]]:
    """Exit code and messages: 0 pass, 1 a gate failed, 3 incomplete or inconclusive."""
    msgs: list[str] = []
    failed = False
    for o in outcomes:
        v = o.verdict
        if fail_on is not None and v.verdict not in ("error", "inconclusive") and \
                VERDICTS.index(v.verdict) <= VERDICTS.index(fail_on):
            failed = True
            msgs.append(f"gate failed: {v.target} is {v.verdict} (--fail-on {fail_on})")
        if min_score is not None and v.verdict not in ("error", "inconclusive") and v.score < min_score:
            failed = True
            msgs.append(f"gate failed: {v.target} scores {v.score} < {min_score} (--min-score)")
    if failed:
        return 1, msgs
    incomplete = [o.verdict for o in outcomes if o.verdict.verdict in ("error", "inconclusive")]
    if incomplete:
        return 3, [f"incomplete: {v.target} is {v.verdict}" for v in incomplete]
    return 0, msgs


def served_line(a: Attribution, table: ProviderTable, lang: str) -> str:
    """"IPv6 served by X (via name) · IPv4 served by Y · DNS operator Z": one line of ``check``'s text."""
    def fam(key: str, s: Served) -> str:
        if s.provider is None:
            return f"{ui(key, lang)} {ui('self_hosted', lang)}"
        return f"{ui(key, lang)} {table.label(s.provider, lang)} ({ui('via', lang)} {s.via})"
    parts = [fam("served_v6", a.v6)] if a.v6.addresses or not a.v4.addresses else []
    parts += [fam("served_v4", a.v4)] if a.v4.addresses else []
    parts.append(f"{ui('dns_operator', lang)} {table.label(a.dns_operator, lang) or ui('self_hosted', lang)}")
    return "  " + " \u00b7 ".join(parts)


def _text(outcomes: Sequence[Outcome], lang: str, color: bool) -> str:
    import click

    def c(text: str, key: str, bold: bool = False) -> str:
        return click.style(text, fg=_COLOR.get(key), bold=bold) if color else text

    lines: list[str] = []
    for o in outcomes:
        v = o.verdict
        vkey = "error_v" if v.verdict == "error" else v.verdict
        lines.append(f"{c(_term(o.result.target.display), 'x', bold=True)}  "
                     f"{c(ui(v.verdict, lang).upper(), vkey, True)}  {ui('score', lang)} {v.score}/100  "
                     f"({_term(', '.join(v.names))}; {ui('policy', lang)} {_term(v.policy)})")
        for cid in CHECKS:
            rs = [r for r in v.results if r.check == cid]
            if not rs:
                continue
            worst = v.worst(cid)
            assert worst is not None
            lines.append(f"  {c(_SYMBOL[worst.result], worst.result)} {cid:<14} "
                         f"{c(ui(worst.result, lang), worst.result)}")
            for r in rs:
                if r.result in ("fail", "warn", "error", "inconclusive") and r.name in v.names:
                    for reason in r.reasons[:5]:
                        prefix = f"[{_term(r.name)}] " if len(v.names) > 1 else ""
                        lines.append(f"      {prefix}{_term(reason.text(lang))}")
                        if reason.fix(lang):
                            lines.append(f"      {c('→ ' + ui('fix', lang) + ':', 'info')} {_term(reason.fix(lang))}")
        table = o.providers or ProviderTable.default()
        lines.append(_term(served_line(attribute(o.result.target.name, o.result.observations, table), table, lang)))
        lines.append("")
    return "\n".join(lines)


def _junit(outcomes: Sequence[Outcome], lang: str) -> str:
    suites = ET.Element("testsuites", name="v6scan")
    total = fails = errs = skips = 0
    for o in outcomes:
        v = o.verdict
        suite = ET.SubElement(suites, "testsuite", name=_xml(o.result.target.name))
        n = f = e = s = 0
        for r in v.results:
            if r.name not in v.names and r.check not in ("mail.mx_aaaa", "self.v6"):
                continue
            n += 1
            case = ET.SubElement(suite, "testcase", classname=_xml(v.target), name=_xml(f"{r.check} {r.name}"),
                                 time="0")
            text = " | ".join(_xml(x.text(lang)) for x in r.reasons) or r.result
            if r.result == "fail":
                f += 1
                el = ET.SubElement(case, "failure", message=text[:500], type=r.check)
                el.text = "\n".join(f"{_xml(x.text(lang))}\n  fix: {_xml(x.fix(lang))}" for x in r.reasons)
            elif r.result in ("error", "inconclusive"):
                e += 1
                ET.SubElement(case, "error", message=text[:500], type=r.result)
            elif r.result in ("not_tested", "info"):
                s += 1
                ET.SubElement(case, "skipped", message=text[:500])
            elif r.result == "warn":
                ET.SubElement(case, "system-out").text = f"warning: {text}"
        suite.set("tests", str(n))
        suite.set("failures", str(f))
        suite.set("errors", str(e))
        suite.set("skipped", str(s))
        props = ET.Element("properties")  # first child of a testsuite, as the schema wants
        props.extend([ET.Element("property", name="verdict", value=v.verdict),
                      ET.Element("property", name="score", value=str(v.score)),
                      ET.Element("property", name="policy", value=_xml(v.policy))])
        suite.insert(0, props)
        total, fails, errs, skips = total + n, fails + f, errs + e, skips + s
    suites.set("tests", str(total))
    suites.set("failures", str(fails))
    suites.set("errors", str(errs))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _sarif(outcomes: Sequence[Outcome], lang: str) -> str:
    rules = [{"id": cid, "name": cid.replace(".", "_"),
              "shortDescription": {"text": info.title},
              "helpUri": "https://pypi.org/project/v6scan/",
              "properties": {"family": info.family}} for cid, info in CHECKS.items()]
    index = {cid: i for i, cid in enumerate(CHECKS)}
    results: list[dict[str, JSON]] = []
    for o in outcomes:
        v = o.verdict
        for r in v.results:
            if r.result not in ("fail", "warn", "error") or (r.name not in v.names and r.check != "mail.mx_aaaa"):
                continue
            for reason in r.reasons or ():
                level = {"fail": "error", "warn": "warning", "error": "note"}[r.result]
                item: dict[str, JSON] = {
                    "ruleId": r.check,
                    "level": level,
                    "message": {"text": f"{reason.text(lang)} {reason.fix(lang)}".strip()},
                    "locations": [{"logicalLocations": [{"name": r.name, "fullyQualifiedName": r.name,
                                                         "kind": "resource"}]}],
                    "partialFingerprints": {"v6scan/v1": _fingerprint(v.target, r.name, r.check, reason.code)},
                    "properties": {"verdict": v.verdict, "score": v.score, "reason": reason.code},
                }
                if r.check in index:
                    item["ruleIndex"] = index[r.check]
                results.append(item)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "v6scan", "version": __version__, "semanticVersion": __version__,
                                "informationUri": "https://pypi.org/project/v6scan/", "rules": rules}},
            "results": results,
            "properties": {"targets": [{"target": o.verdict.target, "verdict": o.verdict.verdict,
                                        "score": o.verdict.score} for o in outcomes]},
        }],
    }
    return _json(json.dumps(doc, ensure_ascii=False, indent=1)) + "\n"


def github(outcomes: Sequence[Outcome], lang: str) -> tuple[str, str]:
    """(workflow commands for stdout, Markdown for $GITHUB_STEP_SUMMARY)."""
    cmds: list[str] = []
    for o in outcomes:
        v = o.verdict
        for r in v.results:
            if r.result in ("fail", "warn", "error") and (r.name in v.names or r.check == "mail.mx_aaaa"):
                kind = "error" if r.result in ("fail", "error") else "warning"
                for reason in r.reasons:
                    title = _gh_property(f"{v.target}: {r.check}")
                    cmds.append(f"::{kind} title={title}::{_gh_message(reason.text(lang))}")
    md = ["### v6scan", "", "| site | verdict | score | first reason |", "|---|---|---:|---|"]
    for o in outcomes:
        v = o.verdict
        first = v.reasons[0].text(lang) if v.reasons else ""
        md.append(f"| {_md_name(o.result.target.display)} | {v.verdict} | {v.score} | {_md(first)} |")
    return "\n".join(cmds) + ("\n" if cmds else ""), "\n".join(md) + "\n"


def render(fmt: str, outcomes: Sequence[Outcome], lang: str = "en", color: bool = False) -> str:
    if fmt == "text":
        return _text(outcomes, lang, color)
    if fmt == "json":
        recs = [record(o, lang) for o in outcomes]
        return json_text(recs[0] if len(recs) == 1 else recs, indent=1) + "\n"
    if fmt == "jsonl":
        return "".join(json_text(record(o, lang)) + "\n" for o in outcomes)
    if fmt == "junit":
        return _junit(outcomes, lang)
    if fmt == "sarif":
        return _sarif(outcomes, lang)
    if fmt == "github":
        return github(outcomes, lang)[0]
    raise ValueError(f"unknown format {fmt!r}")

