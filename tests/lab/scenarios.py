"""The lab's scenario catalogue: one row per behaviour, as data.

Each :class:`Scenario` says which DNS records exist, how the servers behind
them behave, and what a plain probe from the lab's client namespace must
observe (``expect``).  The lab builds zones, nginx, the misbehaving peers and
firewall rules from this table, and verifies every ``expect`` entry before it
hands itself to tests (see :mod:`tests.lab.verify`).

Two tables, one lab: :data:`SCENARIOS` (the lab's target list, ``targets/lab.csv``,
which the sweeps, field runs and golden tables cover) and :data:`HARDENING`
(issue 15: sites whose content attacks the scanner, checked one by one by
``tests/test_hardening_lab.py``); :data:`ALL_SCENARIOS` is both, what a lab builds.

Expectation vocabulary (what :mod:`tests.lab.verify` measures):

* ``dns``: ``"NAME TYPE" -> answer``, where answer is a sorted tuple of rdata
  strings, or an rcode name (``"NXDOMAIN"``, ``"SERVFAIL"``, ``"NODATA"``).
  Names are looked up through the lab resolver (Unbound).
* ``tcp``: ``"[ADDR]:PORT" or "ADDR:PORT" -> "open" | "refused" | "timeout"``.
* ``tls``: ``"ADDR SNI" -> "valid" | "expired" | "mismatch" | "untrusted" | "stall"``
  (a handshake on port 443 with SNI, verified against the lab CA).
* ``http``: ``"URL@ADDR" -> "STATUS"`` or ``"STATUS Location"`` or ``"STATUS title=TITLE"``.
* ``pmtu``: ``"ADDR SNI" -> "blackhole"``: a TLS handshake stalls with the
  default MSS and completes with the MSS clamped to 1220.
* ``smtp``: ``"ADDR" -> "greets" | "silent" | "refused"``.
* ``dynamic``: ``"URL@ADDR" -> "differs"``: two GETs both answer 200 with the same
  title but different bodies (a page that changes on every request).
* ``verdict``: the site verdict a correct scanner reaches under the default
  policy (DESIGN.md section 3); used by scanner tests, not by the lab itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ALL_SCENARIOS",
    "BAD_URLS",
    "DYNAMIC_PAGES",
    "DYNAMIC_TITLE",
    "HARDENING",
    "HSTS",
    "SCENARIOS",
    "SECTOR_ZONES",
    "STALE_CURRENT",
    "STALE_OLD",
    "SVCB_RDATA",
    "SVCB_STALE_HINT",
    "ChildZone",
    "Endpoint",
    "Page",
    "Scenario",
    "Smtp",
    "by_id",
]

PortMode = Literal["page", "refuse", "tarpit"] | str  # or "redirect:URL" (301), "redirect302:URL"
CertKind = Literal["valid", "expired", "wrong-name", "untrusted", "big"]

#: The delegated zones under the lab TLD ``test.``, served by the "sector" NSD.
SECTOR_ZONES = ("gov.test", "edu.test", "com.test", "cdn.test")


@dataclass(frozen=True)
class Page:
    """One HTML page served by nginx: ``path`` relative to the document root."""

    path: str
    title: str
    body: str = ""
    #: extra bytes of filler text, for large pages (PMTU scenario)
    pad: int = 0
    #: extra markup in ``<head>`` (after the title)
    head: str = ""
    #: served by nginx's core ``return 200 "..."`` instead of a file: ``$request_id``,
    #: ``$msec``, ``$time_iso8601`` (and other nginx variables) in ``head`` and ``body``
    #: are filled in per request, so the page differs on every request like a CMS's
    dynamic: bool = False
    #: ``body`` is the whole file, byte for byte (no doctype, head and title around it): for
    #: pathological markup such as a ``<title>`` that is never closed
    raw: bool = False


@dataclass(frozen=True)
class Endpoint:
    """How the web server on one address behaves, per port.

    ``http``/``https``: ``"page"`` (nginx serves ``pages``), ``"refuse"``
    (nothing listens: RST), ``"tarpit"`` (listens, never accepts),
    ``"redirect:URL"`` (301 to URL) or ``"redirect302:URL"`` (302 to URL; nginx
    sends the URL as it is, however broken).  ``drop`` makes the address drop every
    packet (nftables), whatever the ports say.
    """

    addr: str
    names: tuple[str, ...]
    http: PortMode = "page"
    https: PortMode = "page"
    cert: CertKind = "valid"
    pages: tuple[Page, ...] = ()
    drop: bool = False
    #: namespace that owns the address: "srv" or "pmtu"
    host: str = "srv"
    #: extra response headers (name, value) of every HTTPS response (port 443: nginx ``add_header ... always``)
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Smtp:
    """An SMTP peer on port 25: ``greets`` (banner, EHLO, QUIT), ``starttls`` (greets, and offers
    STARTTLS with a valid lab certificate for ``banner_name``) or ``silent``."""

    addr: str
    mode: Literal["greets", "starttls", "silent"] = "greets"
    banner_name: str = "mx.test"


@dataclass(frozen=True)
class ChildZone:
    """A zone delegated below a sector zone and served by a dedicated NSD.

    ``ns`` maps NS names to their glue addresses; ``served`` says whether the
    named server really hosts the zone (``False`` = lame delegation); ``nsd``
    picks the NSD instance ("child" or "v4ns").
    """

    name: str
    ns: tuple[tuple[str, tuple[str, ...]], ...]
    served: bool = True
    nsd: Literal["child", "v4ns"] = "child"


@dataclass(frozen=True)
class Scenario:
    id: str
    target: str
    sector: Literal["gov", "edu", "com"]
    region: str
    summary: str
    #: (owner, type, rdata) in zone-file syntax; owners are absolute without the dot
    records: tuple[tuple[str, str, str], ...] = ()
    web: tuple[Endpoint, ...] = ()
    smtp: tuple[Smtp, ...] = ()
    zone: ChildZone | None = None
    #: hostile peers of tests/lab/peers.py: (address, port, kind)
    hostile: tuple[tuple[str, int, str], ...] = ()
    #: garbage DNS servers of tests/lab/peers.py (addresses; UDP and TCP 53)
    garbage_dns: tuple[str, ...] = ()
    expect: dict[str, dict[str, object] | str] = field(default_factory=dict)


def _page(sid: str, title: str | None = None, body: str = "", pad: int = 0) -> Page:
    return Page("index.html", title or f"{sid} site", body or f"<p>Welcome to {sid}.</p>", pad)


def _v6(n: int) -> str:
    return f"2001:db8:80::{n:x}"


def _v4(n: int) -> str:
    return f"203.0.113.{n}"


def _dual(sid: str, name: str, n6: int, n4: int, **kw: object) -> tuple[Endpoint, Endpoint]:
    """A healthy endpoint pair: same page on both families, port 80 redirects to https."""
    names = (name, *kw.pop("extra_names", ()))  # type: ignore[misc]
    page = kw.pop("pages", (_page(sid),))
    common = {"http": f"redirect:https://{name}/", "pages": page}
    common.update(kw)
    return (
        Endpoint(_v6(n6), names, **common),  # type: ignore[arg-type]
        Endpoint(_v4(n4), names, **common),  # type: ignore[arg-type]
    )


def _pair(name: str, a6: str, a4: str, pages: tuple[Page, ...]) -> tuple[Endpoint, Endpoint]:
    """A healthy endpoint pair on explicit addresses: same pages on both, port 80 redirects to https."""
    return tuple(Endpoint(a, (name,), http=f"redirect:https://{name}/", pages=pages)  # type: ignore[return-value]
                 for a in (a6, a4))


def _ok_expect(name: str, a6: str | None, a4: str | None, title: str) -> dict[str, dict[str, object]]:
    """The probes a healthy dual-stack (or single-stack) site answers."""
    tcp: dict[str, object] = {}
    tls: dict[str, object] = {}
    http: dict[str, object] = {}
    for a in (a6, a4):
        if a is None:
            continue
        hp = f"[{a}]" if ":" in a else a
        tcp[f"{hp}:80"] = "open"
        tcp[f"{hp}:443"] = "open"
        tls[f"{a} {name}"] = "valid"
        http[f"http://{name}/@{a}"] = f"301 https://{name}/"
        http[f"https://{name}/@{a}"] = f"200 title={title}"
    return {"tcp": tcp, "tls": tls, "http": http}


def _merge(*parts: dict[str, Any]) -> dict[str, dict[str, object] | str]:
    out: dict[str, dict[str, object] | str] = {}
    for p in parts:
        for k, v in p.items():
            if not isinstance(v, dict):
                out[k] = v
                continue
            cur = out.setdefault(k, {})
            assert isinstance(cur, dict)
            cur.update(v)
    return out


LINK_PAGES = (
    Page(
        "index.html",
        "links site",
        '<p>Link tree.</p><ul>'
        '<li><a href="/about.html">About (same host)</a></li>'
        '<li><a href="https://v6sub.links.edu.test/page2.html">Page 2 (v6 host)</a></li>'
        '<li><a href="https://v4sub.links.edu.test/page3.html">Page 3 (v4-only host)</a></li>'
        '<li><a href="https://healthy.gov.test/">External, dual-stack</a></li>'
        '<li><a href="https://v4only.com.test/">External, IPv4-only</a></li>'
        '<li><a href="mailto:webmaster@links.edu.test">Mail</a></li>'
        '<li><a href="#top">Top</a></li>'
        "</ul>"
        '<img src="https://v4sub.links.edu.test/logo.png" alt="logo">'
        '<script src="/app.js"></script>'
        '<link rel="stylesheet" href="https://v6sub.links.edu.test/style.css">',
    ),
    Page("about.html", "about", '<a href="/deep-about.html">deeper</a>'),
    Page("deep-about.html", "deep about", "<p>3rd level, same host.</p>"),
    Page(
        "page2.html",
        "page 2",
        '<a href="https://v6sub.links.edu.test/deep1.html">deep 1 (v6)</a>'
        '<a href="https://v4sub.links.edu.test/deep2.html">deep 2 (v4 only)</a>',
    ),
    Page("page3.html", "page 3", '<a href="https://v6sub.links.edu.test/deep3.html">deep 3</a>'),
    Page("deep1.html", "deep 1", "<p>3rd level on a v6-capable host.</p>"),
    Page("deep2.html", "deep 2", "<p>3rd level on an IPv4-only host.</p>"),
    Page("deep3.html", "deep 3", "<p>3rd level reached from a v4-only page.</p>"),
    Page("app.js", "", "console.log('lab');"),
    Page("style.css", "", "body { font-family: sans-serif; }"),
    Page("logo.png", "", "PNG"),
)

#: addresses that sites may publish but a scanner must never contact (DNS records only; the lab
#: counts packets to them in the client namespace, which must stay at zero)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "meta": ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"),
    "loop": ("127.0.0.1", "::1"),
    "private": ("10.0.0.1", "100.64.0.1", "172.16.0.1", "192.168.0.1", "fe80::2", "fd12:3456:789a::2"),
    "wrapped": ("::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "64:ff9b::7f00:1"),
}

#: entity-escaped in the page, so a parser decodes it to live markup: reports must escape it
HOSTILE_TITLE = ("&lt;/title&gt;&lt;script&gt;document.title='pwned'&lt;/script&gt;"
                 "&lt;img src=x onerror=&quot;document.body.dataset.pwned=1&quot;&gt;&lt;b&gt;bold&lt;/b&gt;")

BIG_AAAA = tuple(f"2001:db8:80::1:{i:x}" for i in range(50))

#: the address the ``svcb-stale`` site's ipv6hint names beside its AAAA address: in DNS only, never served
SVCB_STALE_HINT = _v6(0x5C)
#: the HTTPS records (RFC 9460) of the ``svcb`` scenarios, as a resolver's dnspython writes them back
SVCB_RDATA = {
    "svcb": f'1 . alpn="h2" ipv4hint="{_v4(120)}" ipv6hint="{_v6(0x5A)}"',
    "svcb-stale": f'1 . alpn="h2,h3" ipv4hint="{_v4(121)}" ipv6hint="{_v6(0x5B)},{SVCB_STALE_HINT}"',
}

#: the ``dynamic`` scenario: a CMS-like page rendered by nginx on every request.  The title and
#: the text are stable; tokens, nonces, timestamps, session ids and a rotating item are not.
DYNAMIC_TITLE = "Ministry of Dynamic Affairs"
DYNAMIC_PAGES = (
    Page(
        "index.html",
        DYNAMIC_TITLE,
        '<header><h1>Ministry of Dynamic Affairs</h1>'
        '<nav><a href="/news.html?sid=$request_id">News</a> '
        '<a href="/services.html?sid=$request_id">Services</a> '
        '<a href="/contact.html">Contact</a></nav></header>\n'
        "<main>\n"
        + "".join(
            f"<h2>{h}</h2><p>{t}</p>\n" for h, t in (
                ("Services for citizens", "Apply for permits, renew documents and book"
                 " appointments online. Most services are available around the clock."),
                ("News", "The ministry publishes its annual report on public infrastructure"
                 " and invites comments from residents until the end of the quarter."),
                ("Open data", "Statistics on roads, schools and clinics are published every"
                 " month in open formats, with documentation and change logs."),
                ("Contact", "Write to the citizens' office or visit one of the regional"
                 " service centres; opening hours are listed on each centre's page."),
            )
        )
        + '<form method="post" action="/search.html">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="$request_id">'
        '<input type="text" name="q"><button type="submit">Search</button></form>\n'
        '<ul class="featured"><li id="item-$msec">Featured: item-$msec</li></ul>\n'
        "</main>\n"
        '<footer><p>Page generated at $time_iso8601 ($msec) for request $request_id.</p>'
        '<script nonce="$request_id">window.csrfToken = "$request_id";</script></footer>',
        head='<meta name="csrf-token" content="$request_id">'
             '<meta name="generator" content="LabCMS 4.2">',
        dynamic=True,
    ),
    *(Page(f"{p}.html", f"{t} - {DYNAMIC_TITLE}", f"<h1>{t}</h1><p>{t} of the ministry.</p>"
           '<p><a href="/">Home</a></p>')
      for p, t in (("news", "News"), ("services", "Services"), ("contact", "Contact"))),
)

#: the ``stale-aaaa`` scenario: the current site and the one a forgotten AAAA still points at
STALE_CURRENT = (
    Page("index.html", "stale-aaaa site",
         "<h1>Example Trading Company</h1>"
         + "<p>Our 2026 catalogue: garden tools, kitchenware and spare parts, shipped in two days.</p>"
         * 8),
)
STALE_OLD = (
    Page("index.html", "Example Trading - old website (2019)",
         "<h1>Website under reconstruction</h1><p>This server is no longer maintained.</p>"
         + "<p>Please call our office during business hours; the online shop is closed.</p>" * 3),
)

#: the Strict-Transport-Security header the ``hsts`` scenarios send (one year, includeSubDomains)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")

#: the sites of the cdn-bad-N scenarios: one CDN edge serves them all
CDN_BAD_SITES = ("cdnbad1.gov.test", "cdnbad2.edu.test", "cdnbad3.com.test")

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "healthy",
        "healthy.gov.test",
        "gov",
        "north",
        "dual-stack, valid TLS on every address, same page on v4 and v6, www CNAME, MX with v6",
        records=(
            ("healthy.gov.test", "AAAA", _v6(0x10)),
            ("healthy.gov.test", "A", _v4(70)),
            ("www.healthy.gov.test", "CNAME", "healthy.gov.test."),
            ("healthy.gov.test", "MX", "10 mx1.mail.com.test."),
        ),
        web=_dual("healthy", "healthy.gov.test", 0x10, 70, extra_names=("www.healthy.gov.test",)),
        expect=_merge(
            {
                "dns": {
                    "healthy.gov.test AAAA": (_v6(0x10),),
                    "healthy.gov.test A": (_v4(70),),
                    "www.healthy.gov.test AAAA": ("healthy.gov.test.", _v6(0x10)),
                    "healthy.gov.test MX": ("10 mx1.mail.com.test.",),
                    "gov.test NS": ("ns1.gov.test.", "ns2.gov.test."),
                }
            },
            _ok_expect("healthy.gov.test", _v6(0x10), _v4(70), "healthy site"),
            {"tls": {f"{_v6(0x10)} www.healthy.gov.test": "valid"}},
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "v4only",
        "v4only.com.test",
        "com",
        "south",
        "IPv4 only: no AAAA at all; null MX",
        records=(("v4only.com.test", "A", _v4(71)), ("v4only.com.test", "MX", "0 .")),
        web=(
            Endpoint(_v4(71), ("v4only.com.test",), http="redirect:https://v4only.com.test/",
                     pages=(_page("v4only"),)),
        ),
        expect=_merge(
            {"dns": {"v4only.com.test AAAA": "NODATA", "v4only.com.test A": (_v4(71),),
                     "v4only.com.test MX": ("0 .",)}},
            _ok_expect("v4only.com.test", None, _v4(71), "v4only site"),
            {"verdict": "absent"},
        ),
    ),
    Scenario(
        "dropped",
        "dropped.gov.test",
        "gov",
        "east",
        "AAAA whose address silently drops every packet; IPv4 works",
        records=(("dropped.gov.test", "AAAA", "2001:db8:80::dead"), ("dropped.gov.test", "A", _v4(72))),
        web=(
            Endpoint("2001:db8:80::dead", ("dropped.gov.test",), drop=True),
            Endpoint(_v4(72), ("dropped.gov.test",), http="redirect:https://dropped.gov.test/",
                     pages=(_page("dropped"),)),
        ),
        expect=_merge(
            {"dns": {"dropped.gov.test AAAA": ("2001:db8:80::dead",)}},
            _ok_expect("dropped.gov.test", None, _v4(72), "dropped site"),
            {"tcp": {"[2001:db8:80::dead]:80": "timeout", "[2001:db8:80::dead]:443": "timeout"}},
            {"verdict": "broken"},
        ),
    ),
    Scenario(
        "refused",
        "refused.edu.test",
        "edu",
        "west",
        "AAAA whose ports 80 and 443 are refused (TCP RST); IPv4 works",
        records=(("refused.edu.test", "AAAA", _v6(0x12)), ("refused.edu.test", "A", _v4(73))),
        web=(
            Endpoint(_v6(0x12), ("refused.edu.test",), http="refuse", https="refuse"),
            Endpoint(_v4(73), ("refused.edu.test",), http="redirect:https://refused.edu.test/",
                     pages=(_page("refused"),)),
        ),
        expect=_merge(
            _ok_expect("refused.edu.test", None, _v4(73), "refused site"),
            {"tcp": {f"[{_v6(0x12)}]:80": "refused", f"[{_v6(0x12)}]:443": "refused"}},
            {"verdict": "broken"},
        ),
    ),
    Scenario(
        "tarpit",
        "tarpit.com.test",
        "com",
        "north",
        "AAAA that accepts TCP but never answers (listen without accept); IPv4 works",
        records=(("tarpit.com.test", "AAAA", _v6(0x13)), ("tarpit.com.test", "A", _v4(74))),
        web=(
            Endpoint(_v6(0x13), ("tarpit.com.test",), http="tarpit", https="tarpit"),
            Endpoint(_v4(74), ("tarpit.com.test",), http="redirect:https://tarpit.com.test/",
                     pages=(_page("tarpit"),)),
        ),
        expect=_merge(
            _ok_expect("tarpit.com.test", None, _v4(74), "tarpit site"),
            {"tcp": {f"[{_v6(0x13)}]:80": "open", f"[{_v6(0x13)}]:443": "open"},
             "tls": {f"{_v6(0x13)} tarpit.com.test": "stall"}},
            {"verdict": "broken"},
        ),
    ),
    Scenario(
        "diffcontent",
        "diffcontent.gov.test",
        "gov",
        "south",
        "a different site on IPv6 (other title and body) than on IPv4",
        records=(("diffcontent.gov.test", "AAAA", _v6(0x14)), ("diffcontent.gov.test", "A", _v4(75))),
        web=(
            Endpoint(_v6(0x14), ("diffcontent.gov.test",),
                     http="redirect:https://diffcontent.gov.test/",
                     pages=(Page("index.html", "Default nginx page",
                                 "<p>It works! This is a placeholder on the IPv6 server.</p>"),)),
            Endpoint(_v4(75), ("diffcontent.gov.test",),
                     http="redirect:https://diffcontent.gov.test/",
                     pages=(_page("diffcontent", body="<h1>Ministry of Examples</h1>"
                                  + "<p>News, services and contacts for citizens.</p>" * 20),)),
        ),
        expect=_merge(
            {"http": {f"https://diffcontent.gov.test/@{_v6(0x14)}": "200 title=Default nginx page",
                      f"https://diffcontent.gov.test/@{_v4(75)}": "200 title=diffcontent site"}},
            {"verdict": "broken"},
        ),
    ),
    Scenario(
        "pmtu",
        "pmtu.edu.test",
        "edu",
        "east",
        "PMTU blackhole over IPv6: narrow hop, ICMPv6 Packet Too Big dropped, big chain and page",
        records=(("pmtu.edu.test", "AAAA", "2001:db8:1280::10"), ("pmtu.edu.test", "A", "203.0.113.200")),
        web=(
            Endpoint("2001:db8:1280::10", ("pmtu.edu.test",), cert="big", host="pmtu",
                     http="redirect:https://pmtu.edu.test/",
                     pages=(_page("pmtu", pad=200_000),)),
            Endpoint("203.0.113.200", ("pmtu.edu.test",), cert="big", host="pmtu",
                     http="redirect:https://pmtu.edu.test/",
                     pages=(_page("pmtu", pad=200_000),)),
        ),
        expect=_merge(
            {"tcp": {"[2001:db8:1280::10]:443": "open", "203.0.113.200:443": "open"},
             "tls": {"203.0.113.200 pmtu.edu.test": "valid"},
             "pmtu": {"2001:db8:1280::10 pmtu.edu.test": "blackhole"},
             "http": {"https://pmtu.edu.test/@203.0.113.200": "200 title=pmtu site"}},
            {"verdict": "broken"},
        ),
    ),
    Scenario(
        "redir6",
        "redir6.com.test",
        "com",
        "west",
        "redirects (on both families) to a host that has no IPv6",
        records=(("redir6.com.test", "AAAA", _v6(0x15)), ("redir6.com.test", "A", _v4(76))),
        web=(
            Endpoint(_v6(0x15), ("redir6.com.test",), http="redirect:https://v4only.com.test/",
                     https="redirect:https://v4only.com.test/"),
            Endpoint(_v4(76), ("redir6.com.test",), http="redirect:https://v4only.com.test/",
                     https="redirect:https://v4only.com.test/"),
        ),
        expect=_merge(
            {"tls": {f"{_v6(0x15)} redir6.com.test": "valid"},
             "http": {f"https://redir6.com.test/@{_v6(0x15)}": "301 https://v4only.com.test/"}},
            {"verdict": "broken"},
        ),
    ),
    Scenario(
        "links",
        "links.edu.test",
        "edu",
        "north",
        "homepage whose 2nd- and 3rd-level links and subresources mix v6-capable and v4-only hosts",
        records=(
            ("links.edu.test", "AAAA", _v6(0x16)),
            ("links.edu.test", "A", _v4(77)),
            ("v6sub.links.edu.test", "AAAA", _v6(0x17)),
            ("v6sub.links.edu.test", "A", _v4(78)),
            ("v4sub.links.edu.test", "A", _v4(79)),
        ),
        web=(
            *_dual("links", "links.edu.test", 0x16, 77, pages=LINK_PAGES),
            *_dual("links-v6sub", "v6sub.links.edu.test", 0x17, 78, pages=LINK_PAGES),
            Endpoint(_v4(79), ("v4sub.links.edu.test",), http="redirect:https://v4sub.links.edu.test/",
                     pages=LINK_PAGES),
        ),
        expect=_merge(
            _ok_expect("links.edu.test", _v6(0x16), _v4(77), "links site"),
            {"http": {f"https://v6sub.links.edu.test/page2.html@{_v6(0x17)}": "200 title=page 2",
                      f"https://v4sub.links.edu.test/page3.html@{_v4(79)}": "200 title=page 3"},
             "dns": {"v4sub.links.edu.test AAAA": "NODATA"}},
            {"verdict": "partial"},
        ),
    ),
    *(
        Scenario(
            f"cert-{kind}",
            f"cert-{kind}.gov.test",
            "gov",
            region,
            f"certificate problem on IPv6 only ({kind}); IPv4 has a valid certificate",
            records=((f"cert-{kind}.gov.test", "AAAA", _v6(n)), (f"cert-{kind}.gov.test", "A", _v4(m))),
            web=(
                Endpoint(_v6(n), (f"cert-{kind}.gov.test",), cert=kind,  # type: ignore[arg-type]
                         http=f"redirect:https://cert-{kind}.gov.test/",
                         pages=(_page(f"cert-{kind}"),)),
                Endpoint(_v4(m), (f"cert-{kind}.gov.test",),
                         http=f"redirect:https://cert-{kind}.gov.test/",
                         pages=(_page(f"cert-{kind}"),)),
            ),
            expect=_merge(
                {"tls": {f"{_v6(n)} cert-{kind}.gov.test": verdict,
                         f"{_v4(m)} cert-{kind}.gov.test": "valid"}},
                {"verdict": "broken"},
            ),
        )
        for kind, verdict, n, m, region in (
            ("expired", "expired", 0x18, 80, "south"),
            ("wrong-name", "mismatch", 0x19, 81, "east"),
            ("untrusted", "untrusted", 0x1A, 82, "west"),
        )
    ),
    Scenario(
        "httponly",
        "httponly.edu.test",
        "edu",
        "south",
        "plain HTTP only: port 80 serves on both families, 443 refused on both",
        records=(("httponly.edu.test", "AAAA", _v6(0x1B)), ("httponly.edu.test", "A", _v4(83))),
        web=tuple(
            Endpoint(a, ("httponly.edu.test",), https="refuse", pages=(_page("httponly"),))
            for a in (_v6(0x1B), _v4(83))
        ),
        expect=_merge(
            {"tcp": {f"[{_v6(0x1B)}]:443": "refused", f"{_v4(83)}:443": "refused",
                     f"[{_v6(0x1B)}]:80": "open"},
             "http": {f"http://httponly.edu.test/@{_v6(0x1B)}": "200 title=httponly site"}},
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "twoaaaa",
        "twoaaaa.com.test",
        "com",
        "east",
        "two AAAA records, one serving and one dead (drops packets)",
        records=(
            ("twoaaaa.com.test", "AAAA", _v6(0x1C)),
            ("twoaaaa.com.test", "AAAA", "2001:db8:80::dead:2"),
            ("twoaaaa.com.test", "A", _v4(84)),
        ),
        web=(
            *_dual("twoaaaa", "twoaaaa.com.test", 0x1C, 84),
            Endpoint("2001:db8:80::dead:2", ("twoaaaa.com.test",), drop=True),
        ),
        expect=_merge(
            {"dns": {"twoaaaa.com.test AAAA": tuple(sorted((_v6(0x1C), "2001:db8:80::dead:2")))}},
            _ok_expect("twoaaaa.com.test", _v6(0x1C), _v4(84), "twoaaaa site"),
            {"tcp": {"[2001:db8:80::dead:2]:443": "timeout"}},
            {"verdict": "partial"},
        ),
    ),
    Scenario(
        "cdn-v6",
        "cdnv6.gov.test",
        "gov",
        "west",
        "CNAME into the CDN zone, edge has AAAA and A",
        records=(
            ("cdnv6.gov.test", "CNAME", "edge-v6.cdn.test."),
            ("edge-v6.cdn.test", "AAAA", _v6(0x1D)),
            ("edge-v6.cdn.test", "A", _v4(85)),
        ),
        web=_dual("cdn-v6", "cdnv6.gov.test", 0x1D, 85),
        expect=_merge(
            {"dns": {"cdnv6.gov.test AAAA": ("edge-v6.cdn.test.", _v6(0x1D)),
                     "cdnv6.gov.test A": ("edge-v6.cdn.test.", _v4(85))}},
            _ok_expect("cdnv6.gov.test", _v6(0x1D), _v4(85), "cdn-v6 site"),
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "cdn-v4",
        "cdnv4.edu.test",
        "edu",
        "north",
        "CNAME into the CDN zone, edge has only A",
        records=(("cdnv4.edu.test", "CNAME", "edge-v4.cdn.test."), ("edge-v4.cdn.test", "A", _v4(86))),
        web=(Endpoint(_v4(86), ("cdnv4.edu.test",), http="redirect:https://cdnv4.edu.test/",
                      pages=(_page("cdn-v4"),)),),
        expect=_merge(
            {"dns": {"cdnv4.edu.test AAAA": ("edge-v4.cdn.test.",),
                     "cdnv4.edu.test A": ("edge-v4.cdn.test.", _v4(86))}},
            _ok_expect("cdnv4.edu.test", None, _v4(86), "cdn-v4 site"),
            {"verdict": "absent"},
        ),
    ),
    *(
        Scenario(
            f"bogus-{kind}",
            f"bogus-{kind}.com.test",
            "com",
            "south",
            f"AAAA is not a global address ({kind}: {addr}); IPv4 works",
            records=((f"bogus-{kind}.com.test", "AAAA", addr), (f"bogus-{kind}.com.test", "A", _v4(87))),
            # all four share one IPv4 web server (name-based virtual hosts)
            web=(Endpoint(_v4(87), (f"bogus-{kind}.com.test",), http=f"redirect:https://bogus-{kind}.com.test/",
                          pages=(_page(f"bogus-{kind}"),)),),
            expect=_merge(
                {"dns": {f"bogus-{kind}.com.test AAAA": (addr,)}},
                _ok_expect(f"bogus-{kind}.com.test", None, _v4(87), f"bogus-{kind} site"),
                {"verdict": "absent"},
            ),
        )
        for kind, addr in (
            ("mapped", "::ffff:127.0.0.1"),
            ("linklocal", "fe80::1"),
            ("ula", "fd12:3456:789a::1"),
            ("nat64", "64:ff9b::a00:1"),
        )
    ),
    Scenario(
        "nxdomain",
        "nxdomain.gov.test",
        "gov",
        "east",
        "the name does not exist",
        expect={"dns": {"nxdomain.gov.test AAAA": "NXDOMAIN", "nxdomain.gov.test A": "NXDOMAIN"},
                "verdict": "error"},
    ),
    Scenario(
        "lame",
        "lame.edu.test",
        "edu",
        "west",
        "lame delegation: the zone's only name server does not serve it (resolver SERVFAIL)",
        zone=ChildZone("lame.edu.test", (("ns.lame.edu.test", ("2001:db8:53::31", "203.0.113.31")),),
                       served=False),
        expect={"dns": {"lame.edu.test AAAA": "SERVFAIL"}, "verdict": "error"},
    ),
    Scenario(
        "v4ns",
        "v4ns.com.test",
        "com",
        "north",
        "the zone's name servers have no AAAA (reachable over IPv4 only); the site itself is dual-stack",
        zone=ChildZone("v4ns.com.test", (("ns1.v4ns.com.test", ("203.0.113.41",)),
                                         ("ns2.v4ns.com.test", ("203.0.113.42",))), nsd="v4ns"),
        records=(("v4ns.com.test", "AAAA", _v6(0x1E)), ("v4ns.com.test", "A", _v4(88))),
        web=_dual("v4ns", "v4ns.com.test", 0x1E, 88),
        expect=_merge(
            {"dns": {"v4ns.com.test AAAA": (_v6(0x1E),), "v4ns.com.test NS":
                     ("ns1.v4ns.com.test.", "ns2.v4ns.com.test."),
                     "ns1.v4ns.com.test AAAA": "NODATA"}},
            _ok_expect("v4ns.com.test", _v6(0x1E), _v4(88), "v4ns site"),
            {"verdict": "partial"},
        ),
    ),
    Scenario(
        "deadns",
        "deadns.gov.test",
        "gov",
        "south",
        "one of the zone's two name servers does not answer on its IPv6 address (v4 works)",
        zone=ChildZone("deadns.gov.test", (("ns1.deadns.gov.test", ("2001:db8:53::32", "203.0.113.32")),
                                           ("ns2.deadns.gov.test", ("2001:db8:53::dead", "203.0.113.33")))),
        records=(("deadns.gov.test", "AAAA", _v6(0x1F)), ("deadns.gov.test", "A", _v4(89))),
        web=_dual("deadns", "deadns.gov.test", 0x1F, 89),
        expect=_merge(
            {"dns": {"deadns.gov.test AAAA": (_v6(0x1F),),
                     "ns2.deadns.gov.test AAAA": ("2001:db8:53::dead",)},
             "tcp": {"[2001:db8:53::dead]:53": "timeout", "203.0.113.33:53": "open",
                     "[2001:db8:53::32]:53": "open"}},
            _ok_expect("deadns.gov.test", _v6(0x1F), _v4(89), "deadns site"),
            {"verdict": "partial"},
        ),
    ),
    Scenario(
        "bigdns",
        "bigdns.com.test",
        "com",
        "east",
        "an AAAA RRset too big for a 1232-byte UDP answer (50 records: TC, then TCP)",
        records=(*(("bigdns.com.test", "AAAA", a) for a in BIG_AAAA), ("bigdns.com.test", "A", _v4(90))),
        web=(
            *(Endpoint(a, ("bigdns.com.test",), http="redirect:https://bigdns.com.test/",
                       pages=(_page("bigdns"),)) for a in BIG_AAAA),
            Endpoint(_v4(90), ("bigdns.com.test",), http="redirect:https://bigdns.com.test/",
                     pages=(_page("bigdns"),)),
        ),
        expect=_merge(
            {"dns": {"bigdns.com.test AAAA": tuple(sorted(BIG_AAAA))}},
            _ok_expect("bigdns.com.test", BIG_AAAA[0], _v4(90), "bigdns site"),
            _ok_expect("bigdns.com.test", BIG_AAAA[-1], None, "bigdns site"),
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "mail",
        "mail.com.test",
        "com",
        "west",
        "MX set: mx1 greets over v6 and v4, mx2 is silent over v6 (greets over v4), mx3 has no AAAA",
        records=(
            ("mail.com.test", "AAAA", _v6(0x22)),
            ("mail.com.test", "A", _v4(91)),
            ("mail.com.test", "MX", "10 mx1.mail.com.test."),
            ("mail.com.test", "MX", "20 mx2.mail.com.test."),
            ("mail.com.test", "MX", "30 mx3.mail.com.test."),
            ("mx1.mail.com.test", "AAAA", _v6(0x20)),
            ("mx1.mail.com.test", "A", _v4(92)),
            ("mx2.mail.com.test", "AAAA", _v6(0x21)),
            ("mx2.mail.com.test", "A", _v4(93)),
            ("mx3.mail.com.test", "A", _v4(94)),
        ),
        web=_dual("mail", "mail.com.test", 0x22, 91),
        smtp=(
            Smtp(_v6(0x20), "greets", "mx1.mail.com.test"),
            Smtp(_v4(92), "greets", "mx1.mail.com.test"),
            Smtp(_v6(0x21), "silent", "mx2.mail.com.test"),
            Smtp(_v4(93), "greets", "mx2.mail.com.test"),
            Smtp(_v4(94), "greets", "mx3.mail.com.test"),
        ),
        expect=_merge(
            {"dns": {"mail.com.test MX": ("10 mx1.mail.com.test.", "20 mx2.mail.com.test.",
                                          "30 mx3.mail.com.test.")},
             "smtp": {_v6(0x20): "greets", _v4(92): "greets", _v6(0x21): "silent",
                      _v4(93): "greets", _v4(94): "greets"}},
            _ok_expect("mail.com.test", _v6(0x22), _v4(91), "mail site"),
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "v6only",
        "v6only.edu.test",
        "edu",
        "east",
        "IPv6 only: AAAA and no A",
        records=(("v6only.edu.test", "AAAA", _v6(0x23)),),
        web=(Endpoint(_v6(0x23), ("v6only.edu.test",), http="redirect:https://v6only.edu.test/",
                      pages=(_page("v6only"),)),),
        expect=_merge(
            {"dns": {"v6only.edu.test A": "NODATA"}},
            _ok_expect("v6only.edu.test", _v6(0x23), None, "v6only site"),
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "hostile",
        "hostile.com.test",
        "com",
        "east",
        "a healthy site whose title is markup meant to run in a report: it must show as text",
        records=(("hostile.com.test", "AAAA", _v6(0x24)), ("hostile.com.test", "A", _v4(95))),
        web=_dual("hostile", "hostile.com.test", 0x24, 95, pages=(Page("index.html", HOSTILE_TITLE),)),
        expect=_merge(
            _ok_expect("hostile.com.test", _v6(0x24), _v4(95), HOSTILE_TITLE),
            {"verdict": "ready"},
        ),
    ),
    *(
        Scenario(
            f"forbidden-{kind}",
            f"forbidden-{kind}.com.test",
            "com",
            "west",
            f"records pointing at addresses a scanner must never contact ({kind})",
            records=tuple((f"forbidden-{kind}.com.test", "AAAA" if ":" in a else "A", a) for a in addrs),
            expect={"dns": {f"forbidden-{kind}.com.test {t}": tuple(a for a in addrs if (":" in a) == (t == "AAAA"))
                            for t in ("AAAA", "A") if any((":" in a) == (t == "AAAA") for a in addrs)},
                    "verdict": "absent"},
        )
        for kind, addrs in FORBIDDEN.items()
    ),
    Scenario(
        "redir-meta",
        "redir-meta.com.test",
        "com",
        "west",
        "a dual-stack site that redirects to a host resolving to cloud metadata endpoints",
        records=(("redir-meta.com.test", "AAAA", _v6(0x25)), ("redir-meta.com.test", "A", _v4(96))),
        web=tuple(Endpoint(a, ("redir-meta.com.test",),
                           http="redirect:http://forbidden-meta.com.test/latest/meta-data/",
                           https="redirect:http://forbidden-meta.com.test/latest/meta-data/")
                  for a in (_v6(0x25), _v4(96))),
        expect=_merge(
            {"http": {f"https://redir-meta.com.test/@{_v6(0x25)}":
                      "301 http://forbidden-meta.com.test/latest/meta-data/"}},
            {"verdict": "broken"},
        ),
    ),
    *(
        Scenario(
            f"hostile-{kind}",
            f"hostile-{kind}.com.test",
            "com",
            "north",
            f"a hostile web server ({what}); the scan must give a clear result within the deadline",
            records=((f"hostile-{kind}.com.test", "AAAA", _v6(0x60 + i)),
                     (f"hostile-{kind}.com.test", "A", _v4(100 + i))),
            hostile=tuple((a, port, kind) for a in (_v6(0x60 + i), _v4(100 + i))),
            expect={"tcp": {f"[{_v6(0x60 + i)}]:{port}": "open", f"{_v4(100 + i)}:{port}": "open"},
                    "verdict": verdict},
        )
        for i, (kind, port, what, verdict) in enumerate((
            ("body1g", 80, "a 1 GiB body", "ready"),
            ("gzipbomb", 80, "1 GiB of zeros gzipped to about 1 MiB", "ready"),
            ("stacked", 80, "stacked content-encodings gzip, gzip", "broken"),
            ("headers10k", 80, "10,000 response headers", "broken"),
            ("endless", 80, "an endless redirect chain", "broken"),
            ("loop", 80, "a redirect loop", "broken"),
            ("trickle", 80, "a body at 1 byte/s", "broken"),
            ("tls-stall", 443, "TLS that stalls mid-handshake", "broken"),
            ("reset", 443, "a reset after the TLS handshake", "broken"),
            ("markup", 80, "markup and script in its headers and redirect", "broken"),
        ))
    ),
    Scenario(
        "garbage-dns",
        "garbage.com.test",
        "com",
        "north",
        "the zone's only name server answers garbage (malformed DNS messages over UDP and TCP)",
        zone=ChildZone("garbage.com.test", (("ns.garbage.com.test", (_v6(0x6F), _v4(111))),), served=False),
        garbage_dns=(_v6(0x6F), _v4(111)),
        expect={"dns": {"garbage.com.test AAAA": "SERVFAIL"}, "verdict": "error"},
    ),
    Scenario(
        "cnameloop",
        "cnameloop.com.test",
        "com",
        "north",
        "a CNAME loop (a -> b -> a)",
        records=(("cnameloop.com.test", "CNAME", "loop2.com.test."),
                 ("loop2.com.test", "CNAME", "cnameloop.com.test.")),
        expect={"dns": {"cnameloop.com.test AAAA": "SERVFAIL"}, "verdict": "error"},
    ),
    Scenario(
        "v6only-https",
        "v6only443.edu.test",
        "edu",
        "north",
        "IPv6 only (AAAA, no A), HTTPS only: 443 serves the page, nothing listens on 80",
        records=(("v6only443.edu.test", "AAAA", _v6(0x26)),),
        web=(Endpoint(_v6(0x26), ("v6only443.edu.test",), http="refuse",
                      pages=(_page("v6only-https"),)),),
        expect=_merge(
            {"dns": {"v6only443.edu.test AAAA": (_v6(0x26),), "v6only443.edu.test A": "NODATA"},
             "tcp": {f"[{_v6(0x26)}]:80": "refused", f"[{_v6(0x26)}]:443": "open"},
             "tls": {f"{_v6(0x26)} v6only443.edu.test": "valid"},
             "http": {f"https://v6only443.edu.test/@{_v6(0x26)}": "200 title=v6only-https site"}},
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "v6only-http",
        "v6only80.edu.test",
        "edu",
        "south",
        "IPv6 only (AAAA, no A), plain HTTP only: 80 serves the page, nothing listens on 443",
        records=(("v6only80.edu.test", "AAAA", _v6(0x27)),),
        web=(Endpoint(_v6(0x27), ("v6only80.edu.test",), https="refuse",
                      pages=(_page("v6only-http"),)),),
        expect=_merge(
            {"dns": {"v6only80.edu.test AAAA": (_v6(0x27),), "v6only80.edu.test A": "NODATA"},
             "tcp": {f"[{_v6(0x27)}]:80": "open", f"[{_v6(0x27)}]:443": "refused"},
             "http": {f"http://v6only80.edu.test/@{_v6(0x27)}": "200 title=v6only-http site"}},
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "dynamic",
        "dynamic.gov.test",
        "gov",
        "east",
        "dual-stack CMS-like page that differs on every request (CSRF tokens, nonces, timestamps,"
        " session ids in links, a rotating item); same template on both families",
        records=(("dynamic.gov.test", "AAAA", _v6(0x28)), ("dynamic.gov.test", "A", _v4(97))),
        web=_dual("dynamic", "dynamic.gov.test", 0x28, 97, pages=DYNAMIC_PAGES),
        expect=_merge(
            {"dns": {"dynamic.gov.test AAAA": (_v6(0x28),), "dynamic.gov.test A": (_v4(97),)}},
            _ok_expect("dynamic.gov.test", _v6(0x28), _v4(97), DYNAMIC_TITLE),
            {"dynamic": {f"https://dynamic.gov.test/@{_v6(0x28)}": "differs",
                         f"https://dynamic.gov.test/@{_v4(97)}": "differs"}},
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "stale-aaaa",
        "stale.com.test",
        "com",
        "west",
        "two AAAA and one A: the first AAAA and the A serve the current site, the second AAAA"
        " a stale, different one (some IPv6 users get another site)",
        records=(
            ("stale.com.test", "AAAA", _v6(0x29)),
            ("stale.com.test", "AAAA", _v6(0x2A)),
            ("stale.com.test", "A", _v4(98)),
        ),
        web=(
            *_dual("stale-aaaa", "stale.com.test", 0x29, 98, pages=STALE_CURRENT),
            Endpoint(_v6(0x2A), ("stale.com.test",), http="redirect:https://stale.com.test/",
                     pages=STALE_OLD),
        ),
        expect=_merge(
            {"dns": {"stale.com.test AAAA": tuple(sorted((_v6(0x29), _v6(0x2A)))),
                     "stale.com.test A": (_v4(98),)}},
            _ok_expect("stale.com.test", _v6(0x29), _v4(98), STALE_CURRENT[0].title),
            _ok_expect("stale.com.test", _v6(0x2A), None, STALE_OLD[0].title),
            {"verdict": "partial"},
        ),
    ),
    Scenario(
        "hsts",
        "hsts.gov.test",
        "gov",
        "east",
        "dual-stack, HTTPS on both families sends HSTS (Strict-Transport-Security, one year, includeSubDomains)",
        records=(("hsts.gov.test", "AAAA", _v6(0x2B)), ("hsts.gov.test", "A", _v4(99))),
        web=_dual("hsts", "hsts.gov.test", 0x2B, 99, headers=(HSTS,)),
        expect=_merge(
            {"dns": {"hsts.gov.test AAAA": (_v6(0x2B),), "hsts.gov.test A": (_v4(99),)}},
            _ok_expect("hsts.gov.test", _v6(0x2B), _v4(99), "hsts site"),
            {"verdict": "ready"},  # HSTS weighs nothing: web.hsts_v6 is informational
        ),
    ),
    Scenario(
        "hsts-v4-only",
        "hsts-v4.edu.test",
        "edu",
        "south",
        "dual-stack, the same site on both, but only the IPv4 address's HTTPS sends HSTS (IPv6 users lose it)",
        records=(("hsts-v4.edu.test", "AAAA", _v6(0x2C)), ("hsts-v4.edu.test", "A", _v4(110))),
        web=(
            Endpoint(_v6(0x2C), ("hsts-v4.edu.test",), http="redirect:https://hsts-v4.edu.test/",
                     pages=(_page("hsts-v4-only"),)),
            Endpoint(_v4(110), ("hsts-v4.edu.test",), http="redirect:https://hsts-v4.edu.test/",
                     pages=(_page("hsts-v4-only"),), headers=(HSTS,)),
        ),
        expect=_merge(
            {"dns": {"hsts-v4.edu.test AAAA": (_v6(0x2C),), "hsts-v4.edu.test A": (_v4(110),)}},
            _ok_expect("hsts-v4.edu.test", _v6(0x2C), _v4(110), "hsts-v4-only site"),
            {"verdict": "ready"},  # a warning of web.hsts_v6 (weight 0, not required) changes no verdict
        ),
    ),
    Scenario(
        "svcb",
        "svcb.gov.test",
        "gov",
        "north",
        "dual-stack with an HTTPS record (RFC 9460): alpn h2, ipv6hint and ipv4hint equal to the AAAA and A records",
        records=(("svcb.gov.test", "AAAA", _v6(0x5A)), ("svcb.gov.test", "A", _v4(120)),
                 ("svcb.gov.test", "HTTPS", SVCB_RDATA["svcb"])),
        web=_dual("svcb", "svcb.gov.test", 0x5A, 120),
        expect=_merge(
            {"dns": {"svcb.gov.test AAAA": (_v6(0x5A),), "svcb.gov.test A": (_v4(120),),
                     "svcb.gov.test HTTPS": (SVCB_RDATA["svcb"],)}},
            _ok_expect("svcb.gov.test", _v6(0x5A), _v4(120), "svcb site"),
            {"verdict": "ready"},  # web.svcb is informational (weight 0)
        ),
    ),
    Scenario(
        "svcb-stale",
        "svcb-stale.com.test",
        "com",
        "east",
        "dual-stack with an HTTPS record whose ipv6hint names, beside the AAAA address, an old address nothing"
        " serves (clients that use the hint may connect to a dead address)",
        records=(("svcb-stale.com.test", "AAAA", _v6(0x5B)), ("svcb-stale.com.test", "A", _v4(121)),
                 ("svcb-stale.com.test", "HTTPS", SVCB_RDATA["svcb-stale"])),
        web=_dual("svcb-stale", "svcb-stale.com.test", 0x5B, 121),
        expect=_merge(
            {"dns": {"svcb-stale.com.test AAAA": (_v6(0x5B),), "svcb-stale.com.test A": (_v4(121),),
                     "svcb-stale.com.test HTTPS": (SVCB_RDATA["svcb-stale"],)}},
            _ok_expect("svcb-stale.com.test", _v6(0x5B), _v4(121), "svcb-stale site"),
            {"verdict": "ready"},  # a warning of web.svcb (weight 0, not required) changes no verdict
        ),
    ),
    Scenario(
        "starttls",
        "starttls.gov.test",
        "gov",
        "west",
        "dual-stack site whose MX offers STARTTLS over IPv6 and IPv4, with a valid certificate for its name",
        records=(("starttls.gov.test", "AAAA", _v6(0x2D)), ("starttls.gov.test", "A", _v4(112)),
                 ("starttls.gov.test", "MX", "10 mx.starttls.gov.test."),
                 ("mx.starttls.gov.test", "AAAA", _v6(0x2E)), ("mx.starttls.gov.test", "A", _v4(113))),
        web=_dual("starttls", "starttls.gov.test", 0x2D, 112),
        smtp=(Smtp(_v6(0x2E), "starttls", "mx.starttls.gov.test"),
              Smtp(_v4(113), "starttls", "mx.starttls.gov.test")),
        expect=_merge(
            {"dns": {"starttls.gov.test MX": ("10 mx.starttls.gov.test.",),
                     "mx.starttls.gov.test AAAA": (_v6(0x2E),), "mx.starttls.gov.test A": (_v4(113),)},
             "smtp": {_v6(0x2E): "greets", _v4(113): "greets"}},
            _ok_expect("starttls.gov.test", _v6(0x2D), _v4(112), "starttls site"),
            {"verdict": "ready"},  # mail.starttls is informational (weight 0)
        ),
    ),
    Scenario(
        "starttls-v4-only",
        "starttls-v4.edu.test",
        "edu",
        "north",
        "dual-stack site whose MX greets over both families but offers STARTTLS over IPv4 only (IPv6 mail"
        " travels unencrypted)",
        records=(("starttls-v4.edu.test", "AAAA", _v6(0x2F)), ("starttls-v4.edu.test", "A", _v4(114)),
                 ("starttls-v4.edu.test", "MX", "10 mx.starttls-v4.edu.test."),
                 ("mx.starttls-v4.edu.test", "AAAA", _v6(0x30)), ("mx.starttls-v4.edu.test", "A", _v4(115))),
        web=_dual("starttls-v4-only", "starttls-v4.edu.test", 0x2F, 114),
        smtp=(Smtp(_v6(0x30), "greets", "mx.starttls-v4.edu.test"),
              Smtp(_v4(115), "starttls", "mx.starttls-v4.edu.test")),
        expect=_merge(
            {"dns": {"starttls-v4.edu.test MX": ("10 mx.starttls-v4.edu.test.",),
                     "mx.starttls-v4.edu.test AAAA": (_v6(0x30),), "mx.starttls-v4.edu.test A": (_v4(115),)},
             "smtp": {_v6(0x30): "greets", _v4(115): "greets"}},
            _ok_expect("starttls-v4.edu.test", _v6(0x2F), _v4(114), "starttls-v4-only site"),
            {"verdict": "ready"},  # a warning of mail.starttls (weight 0, not required) changes no verdict
        ),
    ),
    # three sites behind one CDN edge whose IPv6 address refuses connections (issue 20: root causes)
    *(
        Scenario(
            f"cdn-bad-{i}",
            f"cdnbad{i}.{sector}.test",
            sector,
            region,
            "CNAME into the CDN zone; the edge (shared by three sites) refuses TCP on its IPv6 address, IPv4 works",
            records=(
                (f"cdnbad{i}.{sector}.test", "CNAME", "edge-bad.cdn.test."),
                *((("edge-bad.cdn.test", "AAAA", _v6(0x70)), ("edge-bad.cdn.test", "A", _v4(122))) if i == 1 else ()),
            ),
            web=(
                Endpoint(_v6(0x70), CDN_BAD_SITES, http="refuse", https="refuse"),
                Endpoint(_v4(122), CDN_BAD_SITES, http="redirect:https://$host/",
                         pages=(_page("cdn-bad", "cdn edge site"),)),
            ) if i == 1 else (),
            expect=_merge(
                {"dns": {f"cdnbad{i}.{sector}.test AAAA": ("edge-bad.cdn.test.", _v6(0x70))}},
                _ok_expect(f"cdnbad{i}.{sector}.test", None, _v4(122), "cdn edge site"),
                {"tcp": {f"[{_v6(0x70)}]:443": "refused"}},
                {"verdict": "broken"},
            ),
        )
        for i, sector, region in ((1, "gov", "east"), (2, "edu", "west"), (3, "com", "north"))
    ),
)

# --------------------------------------------------------------------------- hardening (issue 15)
#
# Sites whose *content* attacks the scanner: pathological markup, a name with 64 AAAA records, 20,000
# subresource hosts, response headers that trickle in forever, URLs no client may use, redirects to
# ports no client may connect to, and names on the user's exclusion list.  tests/test_hardening_lab.py
# checks the scanner against them one by one (and benchmarks/hostile.py times them).
#
# Every lab builds, serves and self-checks them like SCENARIOS, but they are not in SCENARIOS: the
# lab's target list (targets/lab.csv) and the tests that sweep or score every scenario (the CLI and
# cluster sweeps, the field runs under loss, internet.nl's golden table) leave them out.


def _h6(n: int) -> str:
    return f"2001:db8:80::15:{n:x}"


def _h4(n: int) -> str:
    return f"203.0.113.{128 + n}"


#: the 64 IPv6 addresses of ``many-aaaa.gov.test`` (each really assigned and served by nginx)
MANY_AAAA = tuple(f"2001:db8:80::2:{i:x}" for i in range(64))
MANY_AAAA_V4 = (_h4(5), _h4(6))
#: distinct subresource hosts on the ``many-res`` homepage (names that do not exist)
MANY_RES_HOSTS = 20_000
#: the words that tell the IPv6 server's copy of a pathological page from the IPv4 one: words, not
#: numbers (after normalisation every run of digits compares equal, and equal texts are never diffed)
VARIANT = {"v6": "alpha", "v4": "bravo"}
#: ``badurl.gov.test``'s links and subresources no client may follow, each for its own reason
BAD_URLS: dict[str, str] = {
    "invalid port": "https://badurl.gov.test:99999/",
    "port 0": "https://badurl.gov.test:0/",
    "bad port": "http://badurl.gov.test:6379/",
    "IPv6 literal": "http://[2001:db8::1]/",
    "IPv4 literal": "http://198.51.100.1/",
    "javascript": "javascript:alert(1)",
    "data": "data:text/html,hi",
    "over-long": "https://badurl.gov.test/long/" + "a" * (5000 - len("https://badurl.gov.test/long/")),
    "control character": "http://bad\x07host.gov.test/",
    "undecodable IDN": "http://xn--a.gov.test/",
}
#: the port browsers refuse (Fetch "bad port") that ``badport`` redirects to and ``badurl`` links to
BAD_PORT = 6379


def _variant(family: str) -> str:
    """The top of a pathological page: a first line that differs between the families (30 words),
    then about 1,800 words of prose both share.  However the scanner compares (markup or text,
    words or characters, the first 512 kB or all), the copies differ by a few per cent at most."""
    word = VARIANT[family]
    return (f"<p>Served by the {word} server: {' '.join([word] * 30)}.</p>\n"
            f"<p>{_words(15_000, 14)}</p>\n")


def _words(n_bytes: int, seed: int) -> str:
    """Plain words, no newline: a long run of text from a small vocabulary."""
    vocab = ("ministry", "publishes", "annual", "report", "public", "infrastructure", "invites", "comments",
             "residents", "quarter", "services", "citizens", "apply", "permits", "renew", "documents", "book",
             "appointments", "online", "available", "around", "clock", "statistics", "roads", "schools",
             "clinics", "open", "formats", "documentation", "change", "logs", "write", "office", "visit",
             "regional", "centre", "opening", "hours", "listed", "each", "page")
    rnd = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_bytes:
        w = rnd.choice(vocab)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def _patho_title(family: str) -> str:
    # a title that never closes, then 50,000 start tags that never close either
    return (_variant(family) + '<html><head><a href="/about.html">About</a><title>'
            + "<a lorem ipsum sit " * 50_000)


def _patho_line(family: str) -> str:
    # about 1 MB on one line: no newline anywhere
    return (_variant(family).replace("\n", " ") + "<html><head><title>patho-line site</title></head><body>"
            '<a href="/about.html">About</a><p>' + _words(975_000, 15) + "</p></body></html>")


def _patho_nest(family: str) -> str:
    # 100,000 nested tags (34,000 of the 50,000 pairs closed), links at the top, in the middle and deep down
    return (_variant(family) + "<html><head><title>patho-nest site</title></head><body>"
            '<a href="/about.html">About</a> <a href="/news.html">News</a>\n'
            + "<div><span>" * 25_000 + '<a href="/middle.html">Middle</a>' + "<div><span>" * 25_000
            + '<a href="/deep.html">Deep</a><p>The deepest paragraph.</p>' + "</span></div>" * 34_000
            + "</body></html>\n")


def _patho_quote(family: str) -> str:
    # 50,000 attribute values that never end, then a comment that never ends
    return (_variant(family) + "<html><head><title>patho-quote site</title></head><body>"
            '<a href="/about.html">About</a>\n' + '<a href="' * 50_000 + _words(50_000, 16)
            + "<!-- " + _words(470_000, 17) + "\n")


def _patho(sid: str, n: int, body: Callable[[str], str]) -> Scenario:
    """A dual-stack site whose homepage is ~1 MB of pathological markup, slightly different per family."""
    name = f"{sid}.gov.test"
    extra = (Page("about.html", "about", "<p>About this site.</p>"),
             Page("news.html", "news", "<p>News.</p>"), Page("middle.html", "middle", "<p>Middle.</p>"),
             Page("deep.html", "deep", "<p>Deep.</p>"))
    eps = tuple(Endpoint(a, (name,), http=f"redirect:https://{name}/",
                         pages=(Page("index.html", "", body(fam), raw=True), *extra))
                for a, fam in ((_h6(n), "v6"), (_h4(n), "v4")))
    title = "" if sid == "patho-title" else f"{sid} site"  # the lab's probe reads up to </title>
    return Scenario(
        sid, name, "gov", "north",
        f"pathological homepage ({sid}): about 1 MB, one word per family different so it is really compared",
        records=((name, "AAAA", _h6(n)), (name, "A", _h4(n))),
        web=eps,
        expect=_merge(
            _ok_expect(name, _h6(n), _h4(n), title),
            {"http": {f"https://{name}/about.html@{_h6(n)}": "200 title=about"}},
            {"verdict": "ready"},
        ),
    )


def _badurl_body() -> str:
    links = "".join(f'<li><a href="{u}">{why}</a></li>' for why, u in BAD_URLS.items())
    res = "".join(f'<img src="{u}" alt="{why}">' for why, u in BAD_URLS.items())
    return (f"<p>Links no client may follow.</p><ul>{links}"
            '<li><a href="/about.html">About (works)</a></li></ul>'
            f'{res}<img src="/logo.png" alt="logo (works)">')


HARDENING: tuple[Scenario, ...] = (
    _patho("patho-title", 1, _patho_title),
    _patho("patho-line", 2, _patho_line),
    _patho("patho-nest", 3, _patho_nest),
    _patho("patho-quote", 4, _patho_quote),
    Scenario(
        "many-aaaa",
        "many-aaaa.gov.test",
        "gov",
        "south",
        "64 AAAA records (all served, same page) and two A records: probes are capped per family",
        records=(*(("many-aaaa.gov.test", "AAAA", a) for a in MANY_AAAA),
                 *(("many-aaaa.gov.test", "A", a) for a in MANY_AAAA_V4)),
        web=tuple(Endpoint(a, ("many-aaaa.gov.test",), http="redirect:https://many-aaaa.gov.test/",
                           pages=(_page("many-aaaa"),)) for a in (*MANY_AAAA, *MANY_AAAA_V4)),
        expect=_merge(
            {"dns": {"many-aaaa.gov.test AAAA": tuple(sorted(MANY_AAAA)),
                     "many-aaaa.gov.test A": tuple(sorted(MANY_AAAA_V4))},
             "tcp": {f"[{a}]:443": "open" for a in MANY_AAAA}},
            _ok_expect("many-aaaa.gov.test", MANY_AAAA[0], MANY_AAAA_V4[0], "many-aaaa site"),
            _ok_expect("many-aaaa.gov.test", MANY_AAAA[-1], MANY_AAAA_V4[1], "many-aaaa site"),
            {"verdict": "ready"},
        ),
    ),
    Scenario(
        "many-res",
        "many-res.gov.test",
        "gov",
        "east",
        f"a homepage with {MANY_RES_HOSTS:,} distinct subresource hosts (names that do not exist)",
        records=(("many-res.gov.test", "AAAA", _h6(7)), ("many-res.gov.test", "A", _h4(7))),
        web=tuple(Endpoint(a, ("many-res.gov.test",), http="redirect:https://many-res.gov.test/", pages=(
            Page("index.html", "many-res site", '<p><a href="/about.html">About</a></p>\n' + "".join(
                f'<img src="https://r{i}.many-res.gov.test/x.png">\n' for i in range(MANY_RES_HOSTS))),
            Page("about.html", "about", "<p>About this site.</p>"),
        )) for a in (_h6(7), _h4(7))),
        expect=_merge(
            _ok_expect("many-res.gov.test", _h6(7), _h4(7), "many-res site"),
            {"dns": {"r0.many-res.gov.test AAAA": "NXDOMAIN", "r19999.many-res.gov.test A": "NXDOMAIN"}},
            {"verdict": "partial"},  # the resource hosts have no AAAA (nor any record)
        ),
    ),
    Scenario(
        "trickle",
        "trickle.gov.test",
        "gov",
        "west",
        "response headers that trickle in one byte every 0.5 s and never end (ports 80 and 443, both families)",
        records=(("trickle.gov.test", "AAAA", _h6(8)), ("trickle.gov.test", "A", _h4(8))),
        hostile=tuple((a, port, "trickle-headers") for a in (_h6(8), _h4(8)) for port in (80, 443)),
        expect={"tcp": {f"[{_h6(8)}]:80": "open", f"{_h4(8)}:80": "open"},
                "tls": {f"{_h6(8)} trickle.gov.test": "valid", f"{_h4(8)} trickle.gov.test": "valid"},
                "verdict": "broken"},
    ),
    Scenario(
        "badurl",
        "badurl.gov.test",
        "gov",
        "central",
        "a homepage whose links and subresources include URLs no client may use (bad ports, IP literals,"
        " javascript: and data:, 5,000 characters, a control character, undecodable IDN), and one good link",
        records=(("badurl.gov.test", "AAAA", _h6(9)), ("badurl.gov.test", "A", _h4(9))),
        web=tuple(Endpoint(a, ("badurl.gov.test",), http="redirect:https://badurl.gov.test/", pages=(
            Page("index.html", "badurl site", _badurl_body()),
            Page("about.html", "about", "<p>About this site.</p>"),
            Page("logo.png", "", "PNG"),
        )) for a in (_h6(9), _h4(9))),
        expect=_merge(
            _ok_expect("badurl.gov.test", _h6(9), _h4(9), "badurl site"),
            {"http": {f"https://badurl.gov.test/about.html@{_h6(9)}": "200 title=about"},
             "tcp": {f"[{_h6(9)}]:{BAD_PORT}": "refused"}},
            # the bad URLs are findings, not fetched; the one to an IPv4 literal (a link and an image) is an
            # IPv4-only link and resource: partial
            {"verdict": "partial"},
        ),
    ),
    *(
        Scenario(
            sid,
            f"{sid}.gov.test",
            "gov",
            "central",
            f"the homepage redirects (302) to {location}: {why}",
            records=((f"{sid}.gov.test", "AAAA", _h6(n)), (f"{sid}.gov.test", "A", _h4(n))),
            web=tuple(Endpoint(a, (f"{sid}.gov.test",), http=f"redirect302:{location}",
                               https=f"redirect302:{location}") for a in (_h6(n), _h4(n))),
            expect={"http": {f"https://{sid}.gov.test/@{a}": f"302 {location}" for a in (_h6(n), _h4(n))},
                    "tcp": {f"[{_h6(n)}]:{BAD_PORT}": "refused"},
                    "verdict": "broken"},
        )
        for sid, n, location, why in (
            ("badloc", 10, "https://badloc.gov.test:99999/", "a port out of range"),
            ("badport", 11, f"http://badport.gov.test:{BAD_PORT}/", "a port browsers refuse to connect to"),
        )
    ),
    Scenario(
        "excl-redir",
        "excl-redir.gov.test",
        "gov",
        "north",
        "the homepage redirects to x.excl-redir.gov.test, a host of its own (own addresses) that an"
        " exclusion list can name",
        records=(("excl-redir.gov.test", "AAAA", _h6(12)), ("excl-redir.gov.test", "A", _h4(12)),
                 ("x.excl-redir.gov.test", "AAAA", _h6(13)), ("x.excl-redir.gov.test", "A", _h4(13))),
        web=(
            *(Endpoint(a, ("excl-redir.gov.test",), http="redirect:https://x.excl-redir.gov.test/",
                       https="redirect:https://x.excl-redir.gov.test/") for a in (_h6(12), _h4(12))),
            *(Endpoint(a, ("x.excl-redir.gov.test",), http="redirect:https://x.excl-redir.gov.test/",
                       pages=(_page("x-excl-redir"),)) for a in (_h6(13), _h4(13))),
        ),
        expect=_merge(
            {"http": {f"https://excl-redir.gov.test/@{a}": "301 https://x.excl-redir.gov.test/"
                      for a in (_h6(12), _h4(12))}},
            _ok_expect("x.excl-redir.gov.test", _h6(13), _h4(13), "x-excl-redir site"),
            {"verdict": "ready"},  # without an exclusion list: a redirect to a dual-stack host
        ),
    ),
    Scenario(
        "excl-link",
        "excl-link.gov.test",
        "gov",
        "north",
        "the homepage links to a page and loads an image on x.excl-link.gov.test, a host of its own (own"
        " addresses) that an exclusion list can name; one more link and image on the site itself",
        records=(("excl-link.gov.test", "AAAA", _h6(14)), ("excl-link.gov.test", "A", _h4(14)),
                 ("x.excl-link.gov.test", "AAAA", _h6(15)), ("x.excl-link.gov.test", "A", _h4(15))),
        web=(
            *_pair("excl-link.gov.test", _h6(14), _h4(14), (
                Page("index.html", "excl-link site",
                     '<p><a href="https://x.excl-link.gov.test/page">A page on x</a>'
                     ' <a href="/about.html">About</a></p>'
                     '<img src="https://x.excl-link.gov.test/i.png" alt="x"><img src="/logo.png" alt="logo">'),
                Page("about.html", "about", "<p>About this site.</p>"),
                Page("logo.png", "", "PNG"),
            )),
            *_pair("x.excl-link.gov.test", _h6(15), _h4(15), (
                _page("x-excl-link"), Page("page", "", "<title>page on x</title><p>A page.</p>"),
                Page("i.png", "", "PNG"),
            )),
        ),
        expect=_merge(
            _ok_expect("excl-link.gov.test", _h6(14), _h4(14), "excl-link site"),
            _ok_expect("x.excl-link.gov.test", _h6(15), _h4(15), "x-excl-link site"),
            {"http": {f"https://x.excl-link.gov.test/page@{_h6(15)}": "200 title=page on x"}},
            {"verdict": "ready"},  # without an exclusion list: both hosts are dual-stack
        ),
    ),
)

# issue 19, below HTTP: each family's scenarios in a module of its own (they import this one's types)
from tests.lab.scenarios_dnssec import DNSSEC  # noqa: E402
from tests.lab.scenarios_path import PATH  # noqa: E402

SCENARIOS = SCENARIOS + PATH + DNSSEC

#: every scenario a lab builds and self-checks
ALL_SCENARIOS: tuple[Scenario, ...] = SCENARIOS + HARDENING

#: the address a scanner's ``--self-check`` can probe: nginx answers on port 80
SELF_CHECK = Endpoint("2001:db8:80::1", ("selfcheck.test",), http="page", https="refuse",
                      pages=(Page("index.html", "self-check"),))


def by_id() -> dict[str, Scenario]:
    """Every scenario a lab builds (:data:`SCENARIOS` and :data:`HARDENING`) by id."""
    return {s.id: s for s in ALL_SCENARIOS}
