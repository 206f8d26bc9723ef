"""The lab's scenario catalogue: one row per behaviour, as data.

Each :class:`Scenario` says which DNS records exist, how the servers behind
them behave, and what a plain probe from the lab's client namespace must
observe (``expect``).  The lab builds zones, nginx, the misbehaving peers and
firewall rules from this table, and verifies every ``expect`` entry before it
hands itself to tests (see :mod:`tests.lab.verify`).

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

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "DYNAMIC_PAGES",
    "DYNAMIC_TITLE",
    "SCENARIOS",
    "SECTOR_ZONES",
    "STALE_CURRENT",
    "STALE_OLD",
    "ChildZone",
    "Endpoint",
    "Page",
    "Scenario",
    "Smtp",
    "by_id",
]

PortMode = Literal["page", "refuse", "tarpit"] | str  # or "redirect:URL"
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


@dataclass(frozen=True)
class Endpoint:
    """How the web server on one address behaves, per port.

    ``http``/``https``: ``"page"`` (nginx serves ``pages``), ``"refuse"``
    (nothing listens: RST), ``"tarpit"`` (listens, never accepts) or
    ``"redirect:URL"`` (301 to URL).  ``drop`` makes the address drop every
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


@dataclass(frozen=True)
class Smtp:
    """An SMTP peer on port 25: ``greets`` (banner, EHLO, QUIT) or ``silent``."""

    addr: str
    mode: Literal["greets", "silent"] = "greets"
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
)

#: the address a scanner's ``--self-check`` can probe: nginx answers on port 80
SELF_CHECK = Endpoint("2001:db8:80::1", ("selfcheck.test",), http="page", https="refuse",
                      pages=(Page("index.html", "self-check"),))


def by_id() -> dict[str, Scenario]:
    return {s.id: s for s in SCENARIOS}
