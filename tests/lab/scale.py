"""Scale mode: many generated sites over a few hundred addresses, for benchmarks.

Site ``i`` is named ``s{i:06d}.<sector>.test`` and behaves by ``i % 100``
(the proportions are fixed so a benchmark knows the expected verdict counts):

=========  =====  ==========================================  ========
behaviour  share  records                                     verdict
=========  =====  ==========================================  ========
healthy    70 %   AAAA + A, both serve the same page           ready
v4only     15 %   A only                                      absent
dropped     5 %   AAAA drops packets, A serves                broken
refused     5 %   AAAA refuses 80/443, A serves               broken
nxdomain    5 %   no records at all                           error
=========  =====  ==========================================  ========

Every page has a few internal links, so a sweep with ``web.links`` measures the crawl: the
homepage links three 2nd-level pages (and one external site), one of which links a 3rd-level
page; the others link back (already seen).  Every link works over both families, so the
verdicts above hold with or without the crawl.
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.lab.scenarios import Endpoint, Page

__all__ = ["BEHAVIOURS", "LINKS", "PAGE", "behaviour", "endpoints", "records", "sites"]

SECTORS = ("gov", "edu", "com")
REGIONS = ("north", "south", "east", "west", "central", "coast")
BEHAVIOURS = {"healthy": 70, "v4only": 15, "dropped": 5, "refused": 5, "nxdomain": 5}
VERDICT = {"healthy": "ready", "v4only": "absent", "dropped": "broken", "refused": "broken",
           "nxdomain": "error"}
N_V6, N_V4, N_BAD = 256, 128, 16
NAMES = tuple(f"*.{s}.test" for s in SECTORS)
_TEXT = "<p>A generated lab site.</p>" * 10
#: the pages of every scale site: the homepage, three 2nd-level pages, one 3rd-level page
PAGE = (
    Page("index.html", "scale site", _TEXT + '<p><a href="/about.html">About</a> <a href="/news.html">News</a>'
         ' <a href="/contact.html">Contact</a> <a href="https://www.example.org/">elsewhere</a></p>'),
    Page("about.html", "about", _TEXT + '<p><a href="/">Home</a></p>'),
    Page("news.html", "news", _TEXT + '<p><a href="/">Home</a> <a href="/news/1.html">First</a></p>'),
    Page("contact.html", "contact", _TEXT + '<p><a href="/">Home</a></p>'),
    Page("news/1.html", "first news", _TEXT + '<p><a href="/news.html">News</a></p>'),
)
#: the internal links a crawl of a scale site fetches per level (2nd, 3rd)
LINKS = (3, 1)


def behaviour(i: int) -> str:
    r, acc = i % 100, 0
    for name, share in BEHAVIOURS.items():
        acc += share
        if r < acc:
            return name
    raise AssertionError("shares must add up to 100")


# Each IPv6 server in its own /64 (sites of many hosters), so the per-/64 politeness limit
# throttles a sweep only as much as it would on the Internet.
def _v6(i: int) -> str:
    return f"2001:db8:80:{0x100 + i % N_V6:x}::1"


def _v4(i: int) -> str:
    return f"198.51.100.{128 + i % N_V4}"


def _dead6(i: int) -> str:
    return f"2001:db8:80:{0x200 + i % N_BAD:x}::1"


def _refused6(i: int) -> str:
    return f"2001:db8:80:{0x300 + i % N_BAD:x}::1"


def sites(n: int) -> Iterator[tuple[str, str, str, str]]:
    """(host, sector, region, expected verdict) of each generated site."""
    for i in range(n):
        sector = SECTORS[i % len(SECTORS)]
        yield f"s{i:06d}.{sector}.test", sector, REGIONS[i % len(REGIONS)], VERDICT[behaviour(i)]


def records(n: int) -> Iterator[tuple[str, str, str]]:
    for i, (host, _, _, _) in enumerate(sites(n)):
        b = behaviour(i)
        if b == "nxdomain":
            continue
        if b != "v4only":
            six = {"healthy": _v6, "dropped": _dead6, "refused": _refused6}[b](i)
            yield host, "AAAA", six
        yield host, "A", _v4(i)


def endpoints(n: int) -> list[Endpoint]:
    if n <= 0:
        return []
    eps = [Endpoint(_v6(i), NAMES, pages=PAGE) for i in range(min(n, N_V6))]
    eps += [Endpoint(_v4(i), NAMES, pages=PAGE) for i in range(min(n, N_V4))]
    eps += [Endpoint(_dead6(i), NAMES, drop=True) for i in range(min(n, N_BAD))]
    eps += [Endpoint(_refused6(i), NAMES, http="refuse", https="refuse")
            for i in range(min(n, N_BAD))]
    return eps
