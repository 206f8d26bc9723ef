"""internet.nl's IPv6 scoring (v6scan/internetnl.py): each rule on hand-built evidence, and a golden
table of every lab scenario worked out by hand from the rules, checked against a real scan of the lab.

Rules are cited as ``FILE:LINES`` of github.com/internetstandards/Internet.nl at commit cec0e01d0b30
(2026-07-14); ``ipv6.py`` is ``checks/tasks/ipv6.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import lab_settings
from tests.lab import Lab
from tests.lab.netns import run_async_in_netns
from tests.lab.scenarios import SCENARIOS
from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target
from v6scan.internetnl import InternetNLScore, score_internetnl
from v6scan.model import JSON, Observation, Status
from v6scan.scoring import load_policy
from v6scan.targets import parse_target

NAME = "example.nl"
V6 = "2001:db8:1::1"
V4 = "192.0.2.1"

# --------------------------------------------------------------------------- hand-built evidence

#: name server -> (IPv6 addresses, IPv4 addresses)
Servers = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
TWO_NS: Servers = {"ns1.example.nl": (("2001:db8:53::1",), ("192.0.2.53",)),
                   "ns2.example.nl": (("2001:db8:53::2",), ("192.0.2.54",))}


def _row(address: str) -> dict[str, JSON]:
    return {"address": address, "usable": True, "public": True}


def probe(ns: str, address: str, transport: str, answer: str | None = "NOERROR", tc: bool = False,
          aa: bool = True) -> dict[str, JSON]:
    """A dns.ns_reach probe row as recorded today: ``answer`` is the rcode, None for silence."""
    row: dict[str, JSON] = {"ns": ns, "address": address, "family": "v6" if ":" in address else "v4",
                            "transport": transport, "status": "ok" if answer else "timeout", "rcode": answer,
                            "aa": aa if answer else False, "attempts": 1 if answer else 3,
                            "successes": 1 if answer else 0}
    if tc:
        row["tc"] = True
    row["answered"] = answer in ("NOERROR", "NXDOMAIN") and aa
    return row


def ns_observations(servers: Servers, probes: Iterable[dict[str, JSON]] | None = None,
                    answers: Mapping[str, Mapping[str, str | None]] | None = None,
                    name: str = NAME) -> list[Observation]:
    """dns.ns_aaaa and dns.ns_reach; ``answers[address][transport]`` overrides the default NOERROR."""
    ns_rows = [{"name": n, "aaaa": [_row(a) for a in v6], "a": [_row(a) for a in v4],
                "aaaa_status": "ok" if v6 else "nodata", "a_status": "ok" if v4 else "nodata"}
               for n, (v6, v4) in servers.items()]
    if probes is None:
        made = []
        for n, (v6, v4) in servers.items():
            for a in (*v6, *v4):
                for t in ("udp", "tcp"):
                    made.append(probe(n, a, t, (answers or {}).get(a, {}).get(t, "NOERROR")))
        probes = made
    return [
        Observation("dns.ns_aaaa", name, Status.OK, {"zone": "example.nl", "ns": ns_rows}),
        Observation("dns.ns_reach", name, Status.OK, {"zone": "example.nl", "probes": list(probes)}),
    ]


def chain(family: str, address: str, status: int | None = 200, *, start: str = f"https://{NAME}/",
          redirect_to: str | None = None, dead_end: str | None = None, error: str | None = None,
          hop_status: str = "ok") -> dict[str, JSON]:
    """A web.http chain: one hop to ``status`` (a final page), or a redirect to a dead end, or an error."""
    hops: list[dict[str, JSON]] = [{"url": start, "address": address, "status": hop_status,
                                    "http_status": None if error else (301 if redirect_to else status),
                                    **({"location": redirect_to} if redirect_to else {}),
                                    **({"error": error} if error else {})}]
    final = None if (error or redirect_to) else {"url": start, "http_status": status, "address": address}
    return {"family": family, "start": start, "status": "ok" if final else "unreachable", "hops": hops,
            "final": final, **({"dead_end": dead_end} if dead_end else {}), **({"error": error} if error else {})}


def site(*, v6: Mapping[str, Iterable[int]] | None = None, v4: Mapping[str, Iterable[int]] | None = None,
         servers: Servers | None = None, answers: Mapping[str, Mapping[str, str | None]] | None = None,
         chains: list[dict[str, JSON]] | None = None, quick_ratio: float = 1.0,
         same: dict[str, JSON] | None = None, blocked: Iterable[str] = (), name: str = NAME) -> list[Observation]:
    """Observations of one name: DNS, NS, web.reach (open ports per address), web.http, web.same_site."""
    v6 = {V6: (80, 443)} if v6 is None else v6
    v4 = {V4: (80, 443)} if v4 is None else v4
    obs = [Observation("dns.resolve", name, Status.OK if (v6 or v4 or blocked) else Status.NODATA, {}),
           Observation("dns.aaaa", name, Status.OK if v6 else Status.NODATA, {
               "addresses": [_row(a) for a in [*v6, *(b for b in blocked if ":" in b)]],
               "v4_addresses": [_row(a) for a in [*v4, *(b for b in blocked if ":" not in b)]]})]
    obs += ns_observations(TWO_NS if servers is None else servers, answers=answers, name=name)
    rows = [{"address": a, "family": "v6" if ":" in a else "v4",
             "ports": {str(p): {"status": "ok" if p in set(ports) else "refused"} for p in (80, 443)}}
            for a, ports in [*v6.items(), *v4.items()]]
    obs.append(Observation("web.reach", name, Status.OK, {
        "addresses": rows, "blocked": [{"address": b, "family": "v6" if ":" in b else "v4", "status": "blocked"}
                                       for b in blocked]}))
    if chains is None:
        chains = [chain(f, a, 200, start=f"{'https' if 443 in set(p) else 'http'}://{name}/")
                  for f, fam in (("v6", v6), ("v4", v4)) for a, p in fam.items() if set(p)]
    obs.append(Observation("web.http", name, Status.OK, {"chains": chains}))
    if same is None:
        finals6 = [c for c in chains if c["family"] == "v6" and c["final"]]
        finals4 = [c for c in chains if c["family"] == "v4" and c["final"]]
        if finals6 and finals4:
            same = {"v6": {"address": V6, "http_status": finals6[0]["final"]["http_status"]},
                    "v4": {"address": V4, "http_status": finals4[0]["final"]["http_status"]},
                    "similarity": quick_ratio, "quick_ratio": quick_ratio}
    if same is not None:
        obs.append(Observation("web.same_site", name, Status.OK, same))
    else:
        obs.append(Observation("web.same_site", name, Status.SKIPPED, {"v6": None, "v4": None}))
    return obs


def mail(hosts: Mapping[str, Mapping[str, str]] | None, *, null_mx: bool = False,
         status: Status = Status.OK, domain: str = NAME) -> list[Observation]:
    """mail.mx_aaaa and mail.mx_reach: ``hosts[host][address]`` is the SMTP row status over IPv6
    (``greets``, ``silent``, ``timeout``, ``refused``); None means no MX at all (implicit MX)."""
    implicit = hosts is None
    hosts = {domain: {}} if hosts is None else hosts
    mx_rows = [{"host": h, "preference": 10, "aaaa": [_row(a) for a in addrs], "a": ["192.0.2.25"]}
               for h, addrs in hosts.items()]
    servers = []
    for h, addrs in hosts.items():
        for a, st in addrs.items():
            step = {"greets": None, "silent": "greeting", "timeout": "connect", "refused": "connect"}[st]
            servers.append({"host": h, "address": a, "status": st, **({"step": step} if step else {})})
    return [
        Observation("mail.mx_aaaa", domain, status, {"mx": [] if null_mx else mx_rows, "null_mx": null_mx,
                                                     "implicit_mx": implicit}),
        Observation("mail.mx_reach", domain, Status.OK if servers else Status.SKIPPED, {"servers": servers}),
    ]


def score(obs: list[Observation]) -> InternetNLScore:
    s = score_internetnl(obs)
    json.dumps(s.to_json())  # always plain JSON
    return s


def ns_points(s: InternetNLScore) -> int:
    part = s.breakdown["ns_reach"]
    assert isinstance(part, dict)
    return int(part["points"])


def part(s: InternetNLScore, key: str) -> dict[str, Any]:
    p = s.breakdown[key]
    assert isinstance(p, dict)
    return p


# --------------------------------------------------------------------------- name servers


def test_healthy_site_scores_22_of_22() -> None:
    # ipv6.py:374-379 (all full), probes.py:311: int(100.0 / 22 * 22) = 100
    s = score(site())
    assert (s.points, s.max_points, s.percent) == (22.0, 22.0, 100)
    assert part(s, "ns_aaaa")["status"] == "good" and part(s, "web_ipv46")["status"] == "good"
    assert s.breakdown["differences"] == [] and s.testable and not s.inconclusive


@pytest.mark.parametrize("rcode", ["REFUSED", "SERVFAIL", "NXDOMAIN", "NOERROR-no-AA"])
def test_any_dns_answer_makes_a_name_server_address_good(rcode: str) -> None:
    # checks/resolver.py:106-112: udp_with_fallback returns any response; only Timeout/OSError is bad,
    # so a lame server (REFUSED, or NOERROR without AA) is "reachable" for internet.nl
    aa = rcode != "NOERROR-no-AA"
    code = rcode.split("-")[0]
    probes = [probe(n, a, t, code, aa=aa) for n, (v6, v4) in TWO_NS.items() for a in (*v6, *v4)
              for t in ("udp", "tcp")]
    s = score(site()[:2] + ns_observations(TWO_NS, probes) + site()[4:])
    assert ns_points(s) == 10 and part(s, "ns_reach")["status"] == "good"


def test_udp_silence_is_not_rescued_by_tcp() -> None:
    # resolver.py:109 udp_with_fallback: TCP is tried only when the UDP answer is truncated
    # (dnspython raises Truncated); a UDP timeout is a bad address even if TCP answers.
    s = score(site(answers={"2001:db8:53::2": {"udp": None, "tcp": "NOERROR"}}))
    servers = part(s, "ns_reach")["servers"]
    assert servers[1]["grade"] == "none" and servers[1]["v6_bad"] == ["2001:db8:53::2"]
    assert ns_points(s) == 5  # ipv6.py:487-488: (10 + 0) / 2
    assert any("TCP only" in n for n in servers[1]["notes"])


def test_tcp_silence_does_not_matter_when_udp_answers() -> None:
    # resolver.py:109: an untruncated UDP answer ends the probe; the default policy's TCP rule differs
    s = score(site(answers={"2001:db8:53::1": {"tcp": None}, "2001:db8:53::2": {"tcp": None}}))
    assert ns_points(s) == 10


@pytest.mark.parametrize(("tcp", "points"), [("NOERROR", 10), (None, 5)])
def test_truncated_udp_answer_falls_back_to_tcp(tcp: str | None, points: int) -> None:
    # resolver.py:109 + dnspython udp_with_fallback: Truncated -> the TCP query decides
    probes = [probe("ns1.example.nl", "2001:db8:53::1", "udp"), probe("ns1.example.nl", "2001:db8:53::1", "tcp"),
              probe("ns2.example.nl", "2001:db8:53::2", "udp", tc=True),
              probe("ns2.example.nl", "2001:db8:53::2", "tcp", tcp)]
    s = score(site()[:2] + ns_observations(TWO_NS, probes) + site()[4:])
    assert ns_points(s) == points


def test_a_name_server_with_one_dead_ipv6_address_is_partial() -> None:
    # ipv6.py:374-379: a good and a bad IPv6 address -> 2; ipv6.py:487-488, 496: int((10 + 2) / 2) = 6
    servers: Servers = {**TWO_NS, "ns2.example.nl": (("2001:db8:53::2", "2001:db8:53::3"), ())}
    s = score(site(servers=servers, answers={"2001:db8:53::3": {"udp": None, "tcp": None}}))
    assert [x["grade"] for x in part(s, "ns_reach")["servers"]] == ["full", "partial"]
    assert ns_points(s) == 6 and part(s, "ns_reach")["status"] == "bad"


def test_name_server_average_is_truncated() -> None:
    # ipv6.py:487-488 (sum / count) and 496 (int): (10 + 10 + 2) / 3 = 7.33 -> 7
    servers: Servers = {**TWO_NS, "ns3.example.nl": (("2001:db8:53::3", "2001:db8:53::4"), ())}
    s = score(site(servers=servers, answers={"2001:db8:53::4": {"udp": None}}))
    assert ns_points(s) == 7
    # probes.py:311: int(100.0 / 22 * (7 + 10 + 2)) = int(86.36) = 86
    assert (s.points, s.percent) == (19.0, 86)


def test_ipv4_only_name_servers_are_left_out_when_two_have_ipv6() -> None:
    # ipv6.py:477-482: with len(has_aaaa) > 1, name servers without AAAA leave the divisor
    servers: Servers = {**TWO_NS, "ns3.example.nl": ((), ("192.0.2.55",)), "ns4.example.nl": ((), ())}
    s = score(site(servers=servers))
    assert ns_points(s) == 10
    assert part(s, "ns_reach")["left_out"] == ["ns3.example.nl", "ns4.example.nl"]
    assert part(s, "ns_reach")["divisor"] == 2


def test_ipv4_only_name_servers_count_when_only_one_has_ipv6() -> None:
    # ipv6.py:477-479 does not apply (one AAAA): 10 / 2 = 5 (ipv6.py:487-488); ns_aaaa "only one" is a
    # fail with no points of its own (callback 222-223; categories.py:460-468 has no score field)
    servers: Servers = {"ns1.example.nl": TWO_NS["ns1.example.nl"], "ns2.example.nl": ((), ("192.0.2.54",))}
    s = score(site(servers=servers))
    assert ns_points(s) == 5 and part(s, "ns_aaaa")["status"] == "only_one"
    assert part(s, "ns_reach")["servers"][1]["conn_diff"] == [53]
    assert (s.points, s.percent) == (17.0, 77)  # int(100.0 / 22 * 17) = int(77.27)


def test_a_single_name_server_is_capped_at_half() -> None:
    # ipv6.py:484-486: dom_len == 1 -> min(10 / 2, score) = 5
    s = score(site(servers={"ns1.example.nl": TWO_NS["ns1.example.nl"]}))
    assert ns_points(s) == 5 and part(s, "ns_aaaa")["status"] == "only_one"
    # a single partial name server keeps its 2 (min(5, 2))
    servers: Servers = {"ns1.example.nl": (("2001:db8:53::1", "2001:db8:53::9"), ())}
    s = score(site(servers=servers, answers={"2001:db8:53::9": {"udp": None}}))
    assert ns_points(s) == 2


def test_no_name_server_with_ipv6_scores_zero_but_still_counts() -> None:
    # ipv6.py:474-488: all grades 0; callback 217-218: ns_aaaa bad, ns_reach left not-tested, yet its
    # worst status is FAIL, so it stays in the maximum (categories.py:48-61, 486-497): 12 / 22
    servers: Servers = {"ns1.example.nl": ((), ("192.0.2.53",)), "ns2.example.nl": ((), ("192.0.2.54",))}
    s = score(site(servers=servers))
    assert ns_points(s) == 0 and part(s, "ns_aaaa")["status"] == "bad"
    assert part(s, "ns_reach")["status"] == "not_tested"
    assert (s.points, s.max_points, s.percent) == (12.0, 22.0, 54)


def test_no_ns_observation_is_no_name_servers() -> None:
    # ipv6.py:444-474: no NS list -> score stays IPV6_NS_CONN_FAIL (0)
    obs = [o for o in site() if not o.check.startswith("dns.ns_")]
    s = score(obs)
    assert ns_points(s) == 0 and s.points == 12.0


def test_ipv4_mapped_name_server_addresses_are_dropped() -> None:
    # ipv6.py:363 and 296-309: IPv4-mapped AAAA are removed before testing
    servers: Servers = {"ns1.example.nl": (("::ffff:192.0.2.53",), ("192.0.2.53",)),
                        "ns2.example.nl": TWO_NS["ns2.example.nl"]}
    s = score(site(servers=servers))
    assert part(s, "ns_aaaa")["with_aaaa"] == ["ns2.example.nl"]
    assert ns_points(s) == 5  # (0 + 10) / 2: one name server with IPv6 of two


def test_blocked_name_server_address_counts_as_silent() -> None:
    # resolver.py:106-112 would query it; v6scan does not contact it: counted as not answering
    probes = [probe(n, a, t) for n, (v6, v4) in TWO_NS.items() for a in (*v6, *v4) for t in ("udp", "tcp")]
    for p in probes:
        if p["address"] == "2001:db8:53::2":
            p.update(status="blocked", rcode=None, answered=False)
    s = score(site()[:2] + ns_observations(TWO_NS, probes) + site()[4:])
    assert ns_points(s) == 5


# --------------------------------------------------------------------------- web server


def test_a_web_server_is_good_if_80_or_443_connects() -> None:
    # ipv6.py:318-339: each port tried, the address is good on any connect; ports equal on both families
    s = score(site(v6={V6: (443,)}, v4={V4: (443,)}))
    assert part(s, "web_reach")["server"]["grade"] == "full" and s.percent == 100


def test_a_port_open_over_ipv4_only_makes_the_web_server_partial() -> None:
    # ipv6.py:372 v6_conn_diff = v4_ports - v6_ports; 378-379 -> partial (2); callback 273-276 still
    # says "good" (no unreachable address); 619: not compared -> web_ipv46 0 (callback 284-285: bad)
    s = score(site(v6={V6: (443,)}, v4={V4: (80, 443)}))
    reach = part(s, "web_reach")
    assert (reach["points"], reach["status"], reach["server"]["conn_diff"]) == (2, "good", [80])
    assert part(s, "web_ipv46")["points"] == 0
    assert (s.points, s.percent) == (12.0, 54)


def test_one_dead_aaaa_makes_the_web_server_partial() -> None:
    # ipv6.py:347 (bad = not good), 378-379 -> 2; the similarity is still tested (619): 10 + 2 + 2 = 14
    s = score(site(v6={V6: (80, 443), "2001:db8:1::dead": ()}))
    reach = part(s, "web_reach")
    assert (reach["points"], reach["status"], reach["server"]["v6_bad"]) == (2, "bad", ["2001:db8:1::dead"])
    assert (s.points, s.percent) == (14.0, 63)


def test_no_aaaa_scores_the_name_servers_only() -> None:
    # callback 268-269: web_aaaa bad; web_reach and web_ipv46 stay not-tested but counted: 10 / 22
    s = score(site(v6={}))
    assert part(s, "web_aaaa")["status"] == "bad" and part(s, "web_reach")["status"] == "not_tested"
    assert (s.points, s.max_points, s.percent) == (10.0, 22.0, 45)


def test_no_ipv6_address_connects() -> None:
    # ipv6.py:376-377 -> 0; 619 not reached, web_ipv46 left not-tested (callback 278): 10 / 22
    s = score(site(v6={V6: ()}))
    assert part(s, "web_reach")["server"]["grade"] == "none"
    assert part(s, "web_ipv46")["status"] == "not_tested" and s.percent == 45


def test_ipv4_mapped_aaaa_is_no_aaaa() -> None:
    # ipv6.py:363, 296-309: the only AAAA is IPv4-mapped -> no AAAA at all
    s = score(site(v6={}, blocked=("::ffff:192.0.2.1",)))
    assert part(s, "web_aaaa")["status"] == "bad" and s.percent == 45


def test_an_aaaa_v6scan_may_not_contact_counts_as_not_connecting() -> None:
    # ipv6.py:325-345 would try it; v6scan never contacts it (address policy): not connecting
    s = score(site(v6={}, blocked=("fd00::1",)))
    reach = part(s, "web_reach")
    assert part(s, "web_aaaa")["status"] == "good" and reach["server"]["v6_bad"] == ["fd00::1"]
    assert s.percent == 45


# --------------------------------------------------------------------------- same website


def test_ipv6_only_site_is_scored_out_of_20() -> None:
    # ipv6.py:615-618 gives the similarity points, but callback 289 -> result_no_v4 sets web_ipv46's worst
    # status to NOT_TESTED (categories.py:583-584): it leaves the maximum and the sum (48-61): 20 / 20
    s = score(site(v4={}))
    sim = part(s, "web_ipv46")
    assert (sim["status"], sim["counted"]) == ("no_v4", False)
    assert (s.points, s.max_points, s.percent) == (20.0, 20.0, 100)


def test_ipv6_only_site_with_a_dead_aaaa() -> None:
    # ipv6.py:378-379 partial (2); out of 20: int(100.0 / 20 * 12) = 60
    s = score(site(v4={}, v6={V6: (443,), "2001:db8:1::dead": ()}))
    assert (s.points, s.max_points, s.percent) == (12.0, 20.0, 60)


@pytest.mark.parametrize(("ratio", "points", "status"), [(1.0, 2, "good"), (0.9, 2, "good"),
                                                         (0.89, 0, "notice")])
def test_same_website_threshold(ratio: float, points: int, status: str) -> None:
    # ipv6.py:581-584: distance = 100 - quick_ratio * 100 <= SIMHASH_MAX (10, settings.py:494) -> 2;
    # callback 286-287: a larger distance is a notice with 0 points, still counted
    s = score(site(quick_ratio=ratio))
    sim = part(s, "web_ipv46")
    assert (sim["points"], sim["status"]) == (points, status) and s.max_points == 22.0


def test_status_differs_still_gets_the_two_points() -> None:
    # ipv6.py:561-563 returns WEB_IPV6_WS_SIMHASH_OK (2) with distance "not calculable": the callback
    # shows fail (284-285), but totalscore adds every counted score field (models.py:156-167)
    chains = [chain("v6", V6, 404), chain("v4", V4, 200)]
    s = score(site(chains=chains))
    sim = part(s, "web_ipv46")
    assert (sim["status"], sim["points"]) == ("bad", 2) and s.percent == 100


def test_same_error_status_on_both_families_is_a_notice_with_points() -> None:
    # ipv6.py:580-584 distance ok -> 2; callback 280-283: status outside 200-400 -> notice_status_code
    s = score(site(chains=[chain("v6", V6, 503), chain("v4", V4, 503)]))
    assert (part(s, "web_ipv46")["status"], s.percent) == ("notice_status_code", 100)


def test_no_response_over_ipv6_means_no_similarity_points() -> None:
    # ipv6.py:550-552: v6_response None -> 0 (a tarpit: TCP connects, HTTP never answers)
    chains = [chain("v6", V6, error="timed out", hop_status="timeout"), chain("v4", V4, 200)]
    s = score(site(chains=chains))
    assert part(s, "web_ipv46")["points"] == 0 and part(s, "web_reach")["points"] == 10
    assert s.percent == 90


def test_different_answering_ports_mean_no_similarity_points() -> None:
    # ipv6.py:554-556: the sets of ports that answered differ (IPv6 also serves 80; no port gap, 372)
    s = score(site(v6={V6: (80, 443)}, v4={V4: (443,)}))
    assert part(s, "web_ipv46")["points"] == 0 and part(s, "web_reach")["points"] == 10


def test_a_redirect_to_an_ipv4_only_host_still_compares_equal() -> None:
    # checks/http_client.py:38-51: the redirect is followed with normal resolution (any family), so
    # both families end at the same page: distance 0 -> 2 points (ipv6.py:580-584)
    target = "https://v4only.example.org/"
    chains = [chain("v6", V6, redirect_to=target, dead_end="v4only.example.org"),
              {**chain("v4", V4, 200), "hops": [
                  {"url": f"https://{NAME}/", "address": V4, "status": "ok", "http_status": 301, "location": target},
                  {"url": target, "address": "192.0.2.80", "status": "ok", "http_status": 200}],
               "final": {"url": target, "http_status": 200, "address": "192.0.2.80"}}]
    s = score(site(chains=chains, same={}))
    assert (part(s, "web_ipv46")["points"], s.percent) == (2, 100)


def test_an_unverified_certificate_leaves_the_page_uncompared() -> None:
    # checks/http_client.py:96-116: internet.nl fetches without verifying; v6scan did not fetch the page,
    # so it cannot compare it: 0 points and the difference is named
    chains = [chain("v6", V6, error="certificate not valid: certificate has expired", hop_status="tls_error"),
              chain("v4", V4, 200)]
    s = score(site(chains=chains))
    assert part(s, "web_ipv46")["points"] == 0 and s.breakdown["differences"]


@pytest.mark.parametrize(("v4_status", "points"), [(200, 0), (500, 2)])
def test_a_response_whose_body_v6scan_refused(v4_status: int, points: int) -> None:
    # ipv6.py:561-563 compares the status before the body is read (566-571): a differing status still
    # gives 2; with the same status the body v6scan refused to read is not compared (0, a named difference)
    chains = [chain("v6", V6, 200, error="stacked content-encodings refused: gzip, gzip", hop_status="http_error"),
              chain("v4", V4, v4_status)]
    chains[0]["hops"][0]["http_status"] = 200
    s = score(site(chains=chains))
    assert part(s, "web_ipv46")["points"] == points
    assert bool(s.breakdown["differences"]) is (points == 0)


def test_first_answering_ipv6_address_is_compared() -> None:
    # checks/http_client.py:132-134: the first address (DNS order) that answers gives the response
    chains = [chain("v6", V6, 200), chain("v6", "2001:db8:1::2", 200), chain("v4", V4, 200)]
    same = {"v6": {"address": "2001:db8:1::2"}, "similarity": 0.1, "quick_ratio": 0.5,
            "addresses": [{"address": V6, "final_address": V6, "similarity": 1.0},
                          {"address": "2001:db8:1::2", "final_address": "2001:db8:1::2", "similarity": 0.1}]}
    s = score(site(v6={V6: (80, 443), "2001:db8:1::2": (80, 443)}, chains=chains, same=same))
    assert part(s, "web_ipv46")["points"] == 2
    s = score(site(v6={V6: (80, 443), "2001:db8:1::2": (80, 443)}, chains=chains[1:], same=same))
    assert part(s, "web_ipv46")["points"] == 0  # top-level quick_ratio 0.5 is that address's


# --------------------------------------------------------------------------- mail


def test_mail_servers_are_graded_and_averaged() -> None:
    # ipv6.py:407-415: TCP 25 only (a silent server connects: full); an MX without AAAA: 0;
    # 421-422, 432: int((10 + 10 + 0) / 3) = 6; mail = (10 + 6) / 20 -> 80 (probes.py:311)
    obs = site() + mail({"mx1.example.nl": {"2001:db8:25::1": "greets"},
                         "mx2.example.nl": {"2001:db8:25::2": "silent"}, "mx3.example.nl": {}})
    s = score(obs)
    assert (s.mail_points, s.mail_max_points, s.mail_percent) == (16.0, 20.0, 80)
    m = part(s, "mail")
    assert m["mx_aaaa"]["status"] == "bad" and m["mx_reach"]["points"] == 6


def test_mail_server_with_a_dead_ipv6_address_is_partial() -> None:
    # ipv6.py:378-379 -> 2; int(2 / 1) = 2; mail = 12 / 20 -> 60
    s = score(site() + mail({"mx.example.nl": {"2001:db8:25::1": "greets", "2001:db8:25::2": "timeout"}}))
    assert (s.mail_points, s.mail_percent) == (12.0, 60)


def test_mail_servers_without_any_aaaa_still_count() -> None:
    # callback 246-248: mx_aaaa bad, mx_reach.result_not_tested_bad() -> counted with 0: 10 / 20
    s = score(site() + mail({"mx.example.nl": {}}))
    assert (s.mail_points, s.mail_max_points, s.mail_percent) == (10.0, 20.0, 50)


@pytest.mark.parametrize("null_mx", [False, True])
def test_no_mx_or_null_mx_scores_the_name_servers_only(null_mx: bool) -> None:
    # shared.py:149-177 -> no mail servers; ipv6.py:423-425 score 10 but mx_reach stays a notice
    # (categories.py:638-649): not counted, the mail category is out of 10
    s = score(site(servers={"ns1.example.nl": TWO_NS["ns1.example.nl"]})
              + mail({} if null_mx else None, null_mx=null_mx))
    assert (s.mail_points, s.mail_max_points, s.mail_percent) == (5.0, 10.0, 50)


def test_localhost_mx_is_ignored_and_ten_hosts_at_most() -> None:
    # shared.py:162-164 (localhost ignored), 181 (sorted by name, at most MAX_MAILSERVERS = 10, line 27)
    hosts = {f"mx{i:02d}.example.nl": {f"2001:db8:25::{i:x}": "greets"} for i in range(12)}
    hosts["localhost"] = {}
    hosts["mx99.example.nl"] = {}  # sorted last: cut off
    s = score(site() + mail(hosts))
    m = part(s, "mail")["mx_reach"]
    assert m["divisor"] == 10 and m["points"] == 10


def test_mail_not_tested_when_the_domain_does_not_resolve() -> None:
    # interface/views/shared.py:281-294: NXDOMAIN/SERVFAIL/timeout -> no mail test
    s = score(site() + mail(None, status=Status.NXDOMAIN))
    assert s.mail_percent is None and s.mail_points is None
    s = score(site())
    assert s.mail_percent is None and s.breakdown["mail"] is None


# --------------------------------------------------------------------------- the whole


def test_not_testable_without_a_or_aaaa() -> None:
    # interface/views/shared.py:266-278: the website test needs an A or AAAA answer
    obs = [Observation("dns.resolve", NAME, Status.NXDOMAIN, {}), *site()[1:]]
    assert score(obs).testable is False


def test_scanner_without_ipv6_is_inconclusive() -> None:
    s = score([*site(), Observation("self.v6", NAME, Status.UNREACHABLE, {}, "no route")])
    assert s.inconclusive and "inconclusive" in s.breakdown


def test_truncated_percentage() -> None:
    # probes.py:311: int(100.0 / 22 * 17) = 77, not round(77.27)
    s = score(site(answers={"2001:db8:53::2": {"udp": None, "tcp": None}}))
    assert (s.points, s.percent) == (17.0, 77)


def test_policy_names_the_method() -> None:
    p = load_policy("internetnl")
    assert p.score["method"] == "internetnl" and p.score["max"] == 22


def test_empty_and_encoded_evidence_never_raise() -> None:
    # a per-target deadline leaves observations with empty evidence: everything unmeasured counts as bad
    obs = [Observation(c, NAME, Status.TIMEOUT, {}) for c in
           ("dns.resolve", "dns.aaaa", "dns.ns_aaaa", "dns.ns_reach", "web.reach", "web.http", "web.same_site",
            "mail.mx_aaaa", "mail.mx_reach")]
    s = score(obs)
    assert (s.points, s.percent, s.testable, s.mail_percent) == (0.0, 0, False, None)
    again = score([Observation.from_json(json.loads(json.dumps(o.to_json()))) for o in site()])
    assert again.percent == 100


# --------------------------------------------------------------------------- the lab, by hand

# Legend of the rules (checks/... of Internet.nl@cec0e01d0b30):
#   GRADE  ipv6.py:374-379      per server: no good IPv6 address 0; a bad one or a port gap 2; else 10
#   WEB    ipv6.py:325-345      a web address is good if TCP 80 or 443 connects (4 s)
#   NSQ    resolver.py:106-112  a name-server address is good on any answer (UDP; TCP only if truncated)
#   NSAVG  ipv6.py:474-488,496  name servers averaged, truncated; IPv4-only left out with >= 2 IPv6 NS
#   SIM    ipv6.py:499-586      same website: responses on both families, same ports, same status,
#                               quick_ratio distance <= 10 (settings.py:494) -> 2; status differs -> 2 too
#   V6ONLY ipv6.py:615-618+289, categories.py:583-584  IPv6-only: web_ipv46 not counted, out of 20
#   NOWEB  views/shared.py:266-278  no A/AAAA: no website test;  NOMAIL views/shared.py:281-294
#   MX     ipv6.py:392-432      MX hosts graded on TCP 25 and averaged; no MX / null MX: NS only (/10)
#   PCT    probes.py:311        int(100.0 / max * total)
# The lab's sector zones (gov/edu/com/cdn.test) have two name servers whose IPv6 addresses answer: 10.
# Addresses v6scan may not contact are assumed unreachable for internet.nl too (not routed on the
# internet: ULA, link-local, loopback, NAT64/6to4 of such, metadata endpoints).


@dataclass(frozen=True)
class Golden:
    #: internet.nl's website IPv6 percentage (None: the test is not started); a tuple: internet.nl
    #: itself gives either (it depends on the order of the AAAA RRset)
    web: int | tuple[int, ...] | None
    #: internet.nl's mail IPv6 percentage (None: not tested)
    mail: int | None
    #: where v6scan's evidence cannot show what internet.nl's probe sees: what the module yields
    evidence_web: int | None = None


GOLDEN: dict[str, Golden] = {
    # NS 10 (NSAVG); web 10 (WEB, GRADE); SIM same page 2 -> 22/22 = 100. Mail: mx1.mail.com.test
    # connects on [::20]:25 -> 10 (MX); 10 + 10 = 20/20 = 100 (PCT)
    "healthy": Golden(100, 100),
    # no AAAA: web_reach and web_ipv46 0 but counted (callback 268-269) -> 10/22 = 45; null MX -> NS
    # only (MX: shared.py:150-157) 10/10 = 100
    "v4only": Golden(45, 100),
    # the only AAAA drops packets: GRADE 0, no SIM (619) -> 10/22 = 45; no MX -> 100
    "dropped": Golden(45, 100),
    # the only AAAA refuses 80 and 443: GRADE 0 -> 45; no MX -> 100
    "refused": Golden(45, 100),
    # TCP connects on the tarpit (WEB): 10; SIM: no HTTP response over IPv6 (550-552) 0 -> 20/22 = 90
    "tarpit": Golden(90, 100),
    # WEB 10; SIM: both 200, quick_ratio of a short placeholder vs a long page ~0.26, distance ~74 > 10
    # -> notice 0 (586, callback 286-287) -> 90
    "diffcontent": Golden(90, 100),
    # TCP handshakes pass the narrow hop (WEB 10); the TLS handshake and the page stall over IPv6, also
    # via 80's redirect (forced to the same address, http_client.py:106) -> no response, SIM 0 -> 90
    "pmtu": Golden(90, 100),
    # WEB 10; SIM: both families redirect to https://v4only.com.test/, which the redirected request
    # reaches over IPv4 (http_client.py:38-51): same page -> 2 -> 100 (internet.nl does not see it)
    "redir6": Golden(100, 100),
    # the homepage is the same on both: 22 -> 100 (links are not part of the category)
    "links": Golden(100, 100),
    # internet.nl does not verify certificates (http_client.py:96-116): the same page -> SIM 2 -> 100.
    # v6scan refuses the unverified page, so it cannot compare it: 0 -> 90 (a listed difference)
    "cert-expired": Golden(100, 100, evidence_web=90),
    "cert-wrong-name": Golden(100, 100, evidence_web=90),
    "cert-untrusted": Golden(100, 100, evidence_web=90),
    # 80 only on both (WEB: 80 suffices, no port gap): 10; SIM over port 80: same -> 2 -> 100
    "httponly": Golden(100, 100),
    # one of two AAAA dead: GRADE partial 2; SIM compares the first answering address: 2 -> 14/22 = 63
    "twoaaaa": Golden(63, 100),
    # CNAME to an edge with AAAA and A: like healthy -> 100
    "cdn-v6": Golden(100, 100),
    # CNAME to an IPv4-only edge: no AAAA -> 45 (NS of edu.test found by climbing, shared.py:251-256)
    "cdn-v4": Golden(45, 100),
    # CNAME to an edge whose only AAAA refuses 80 and 443: GRADE 0 -> 45, like refused; no MX -> 100
    "cdn-bad-1": Golden(45, 100),
    "cdn-bad-2": Golden(45, 100),
    "cdn-bad-3": Golden(45, 100),
    # IPv4-mapped AAAA dropped (ipv6.py:296-309): no AAAA -> 45
    "bogus-mapped": Golden(45, 100),
    # link-local, ULA, NAT64 AAAA: internet.nl tries them, they do not connect: GRADE 0 -> 45
    "bogus-linklocal": Golden(45, 100),
    "bogus-ula": Golden(45, 100),
    "bogus-nat64": Golden(45, 100),
    # NXDOMAIN: neither the website test (NOWEB) nor the mail test (NOMAIL) starts
    "nxdomain": Golden(None, None),
    # SERVFAIL: not tested (NOWEB, NOMAIL)
    "lame": Golden(None, None),
    # no NS has an AAAA: NSAVG 0, still counted (categories.py:486-497); web 10 + SIM 2 -> 12/22 = 54;
    # no MX -> NS only: 0/10 = 0
    "v4ns": Golden(54, 0),
    # ns1 full 10, ns2's IPv6 silent -> 0 (NSQ, GRADE); (10 + 0) / 2 = 5 (NSAVG); 5 + 10 + 2 = 17/22
    # = 77 (PCT truncates 77.27); mail: no MX -> 5/10 = 50
    "deadns": Golden(77, 50),
    # 50 AAAA (TC, the resolver retries over TCP), all connect: 10; SIM 2 -> 100
    "bigdns": Golden(100, 100),
    # web like healthy: 100. Mail (MX): mx1 connects 10; mx2 is silent but TCP 25 connects 10
    # (internet.nl does not wait for the banner); mx3 has no AAAA 0; int(20 / 3) = 6; 16/20 = 80
    "mail": Golden(100, 80),
    # IPv6-only (V6ONLY): 10 + 10 out of 20 = 100
    "v6only": Golden(100, 100),
    # the title is markup, the site is healthy -> 100
    "hostile": Golden(100, 100),
    # AAAA fd00:ec2::254 (ULA) does not connect: GRADE 0 -> 45
    "forbidden-meta": Golden(45, 100),
    # AAAA ::1: assumed not to connect from internet.nl's test server -> 45
    "forbidden-loop": Golden(45, 100),
    # link-local and ULA AAAA -> 45
    "forbidden-private": Golden(45, 100),
    # mapped (dropped), NAT64 and 6to4 of IPv4 special addresses: do not connect -> 45
    "forbidden-wrapped": Golden(45, 100),
    # WEB 10; both families redirect to metadata addresses, which do not answer: no response (550-552)
    # -> SIM 0 -> 90
    "redir-meta": Golden(90, 100),
    # 1 GiB body on port 80, both families: internet.nl reads 500 kB (SIMHASH_MAX_RESPONSE_SIZE, 29)
    # of the same zeros -> SIM 2 -> 100
    "hostile-body1g": Golden(100, 100),
    # gzip bomb: requests decodes, 500 kB of zeros on both -> 100
    "hostile-gzipbomb": Golden(100, 100),
    # "gzip, gzip": urllib3 decodes stacked encodings -> the same tiny page on both -> SIM 2 -> 100.
    # v6scan refuses stacked encodings on both families: no response -> 0 -> 90 (a listed difference)
    "hostile-stacked": Golden(100, 100, evidence_web=90),
    # 10,000 headers: http.client refuses (> 100 headers) -> no response on either -> SIM 0 -> 90
    "hostile-headers10k": Golden(90, 100),
    # endless redirects and a loop: requests' TooManyRedirects -> no response -> 90
    "hostile-endless": Golden(90, 100),
    "hostile-loop": Golden(90, 100),
    # 1 byte/s: never a read timeout; the task's soft time limit ends simhash, do_web keeps web 10 and
    # SIM 0 (ipv6.py:622-633) -> 90
    "hostile-trickle": Golden(90, 100),
    # TLS stalls / resets on 443 (80 closed): no response -> 90
    "hostile-tls-stall": Golden(90, 100),
    "hostile-reset": Golden(90, 100),
    # both families follow the 301 to hostile.com.test and get the same 404: SIM 2 (distance 0;
    # callback 283 notice-status-code) -> 100
    "hostile-markup": Golden(100, 100),
    # SERVFAIL (garbage name server) and a CNAME loop: not tested (NOWEB, NOMAIL)
    "garbage-dns": Golden(None, None),
    "cnameloop": Golden(None, None),
    # IPv6-only, 443 only: WEB good (443 suffices), no A -> V6ONLY 20/20 = 100
    "v6only-https": Golden(100, 100),
    # IPv6-only, 80 only -> 100
    "v6only-http": Golden(100, 100),
    # the page differs per request (tokens, timestamps): quick_ratio stays far above 0.9 -> SIM 2 -> 100
    "dynamic": Golden(100, 100),
    # two AAAA both connect: 10; SIM compares the first IPv6 address that answers (http_client.py:132-134):
    # the current site (2 -> 100) or the stale one (quick_ratio ~0.66, 0 -> 90): the RRset order decides
    "stale-aaaa": Golden((90, 100), 100),
    # healthy dual-stack sites (HSTS on both families' HTTPS; on IPv4's only): internet.nl's IPv6
    # category does not read HSTS -> like healthy: 100; no MX -> NS only 100
    "hsts": Golden(100, 100),
    "hsts-v4-only": Golden(100, 100),
    # healthy dual-stack sites with an HTTPS record (ipv6hint equal to the AAAA; naming a stale address too):
    # internet.nl's IPv6 category does not read HTTPS/SVCB records -> like healthy: 100; no MX -> NS only 100
    "svcb": Golden(100, 100),
    "svcb-stale": Golden(100, 100),
    # healthy dual-stack sites whose MX has IPv6 (STARTTLS on both families; on IPv4's only): internet.nl's
    # IPv6 category does not read STARTTLS -> web like healthy: 100; mail: the MX connects on [v6]:25 ->
    # NS 10 + MX 10 = 100
    "starttls": Golden(100, 100),
    "starttls-v4-only": Golden(100, 100),
    # issue 19's path scenarios: healthy dual-stack sites behind narrow hops, or whose addresses drop
    # fragments, destination-options headers or echo: no part of internet.nl's IPv6 category -> like
    # healthy: 100; no MX -> NS only 100
    "mtu-ptb": Golden(100, 100),
    "mtu-1280": Golden(100, 100),
    "frag-drop": Golden(100, 100),
    "dstopt-drop": Golden(100, 100),
    "mtu-noecho": Golden(100, 100),
    "frag-dns": Golden(100, 100),
    # healthy dual-stack sites in zones of their own below gov.test (signed; expired signatures; unsigned; a
    # DNSKEY RRset that needs TCP): internet.nl's IPv6 category does not read DNSSEC -> like healthy: 100;
    # no MX -> NS only 100
    "dnssec": Golden(100, 100),
    "dnssec-bogus": Golden(100, 100),
    "dnssec-unsigned": Golden(100, 100),
    "dnssec-bigkey": Golden(100, 100),
}


def test_every_lab_scenario_has_a_golden_row() -> None:
    assert sorted(GOLDEN) == sorted(s.id for s in SCENARIOS)


LAB_CHECKS = ("dns.resolve", "dns.aaaa", "dns.ns_aaaa", "dns.ns_reach", "web.reach", "web.tls", "web.http",
              "web.same_site", "mail.mx_aaaa", "mail.mx_reach", "self.v6")


@pytest.fixture(scope="module")
def lab_scores(lab: Lab) -> dict[str, InternetNLScore]:
    """Every scenario scanned from the lab's client, its observations scored the internet.nl way."""
    settings = lab_settings(lab, ca_bundle=lab.ca_file, self_check=lab.self_check, www="never",
                            check_ids=LAB_CHECKS)

    async def go() -> list[TargetResult]:
        async with Context.create(settings) as ctx:
            return list(await asyncio.gather(*(scan_target(ctx, parse_target(s.target)) for s in SCENARIOS)))

    results = run_async_in_netns(lab.client, go)
    by_target = {r.target.name: r for r in results}
    return {s.id: score_internetnl(by_target[s.target].observations) for s in SCENARIOS}


@pytest.mark.parametrize("sid", [s.id for s in SCENARIOS])
def test_lab_scenario_matches_the_golden_table(lab_scores: dict[str, InternetNLScore], sid: str) -> None:
    g = GOLDEN.get(sid)
    if g is None:
        pytest.fail(f"no golden row for the lab scenario {sid!r}")
    s = lab_scores[sid]
    detail = json.dumps(s.to_json(), indent=1)[:4000]
    assert not s.inconclusive, detail
    if g.web is None:
        assert s.testable is False, detail
    else:
        assert s.testable, detail
        expected = g.evidence_web if g.evidence_web is not None else g.web
        allowed = expected if isinstance(expected, tuple) else (expected,)
        assert s.percent in allowed, detail
        if g.evidence_web is not None:
            assert s.breakdown["differences"], "an evidence gap must be named in the breakdown"
    assert s.mail_percent == g.mail, detail
