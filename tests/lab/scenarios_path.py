"""Lab scenarios of path.mtu and path.frag: fragments, extension headers, the path MTU (issue 19).

The behaviours live in the lab's routing and firewalls (:mod:`tests.lab.lab` reads the tables below):

* :data:`NARROW_HOPS`: the router forwards towards these addresses at a smaller MTU (a locked
  route MTU): a client's bigger packets get an ICMPv6 Packet Too Big from the router, which the
  client honours (``mtu-ptb``: 1400; ``mtu-1280``: 1280, the IPv6 minimum).
* :data:`DROP_FRAGMENTS`: the server namespace drops every IPv6 fragment sent to these addresses
  (nftables ``exthdr frag exists``, prerouting, before any reassembly).
* :data:`DROP_DSTOPT`: ... every packet carrying a destination-options header.
* :data:`DROP_ECHO`: ... every ICMPv6 echo request (path.mtu falls back to TCP).
* :data:`BIG_EDNS`: authoritative name servers (peers in the srv namespace, :mod:`tests.lab.peers`)
  whose EDNS buffer is 4096 bytes, serving ``fragdns.com.test`` with a 2.4 kB apex TXT RRset: their
  answers over UDP need fragments.  (The lab's NSD instances keep NSD's 1232-byte cap, which other
  scenarios rely on: a big DNSKEY answer truncated, then TCP.)  ``com.test`` delegates the zone to
  them (``ChildZone(served=False)``: no NSD serves it; the zone is the peers' :func:`fragdns_zone`).
* :data:`NS_DROP_FRAGMENTS`: name-server addresses whose path drops fragments both ways: the srv
  namespace drops fragments sent to them, and the router drops fragments coming from them (a
  server fragments its big UDP answers after its own firewall hooks have seen them whole, so the
  fragments can only be dropped on the way).

The way back to the client is narrow for every site (the router forwards at most 1280 bytes towards
the client, see :data:`tests.lab.lab.LINKS`): a server that honours Packet Too Big fragments its
bigger replies; the ``pmtu`` namespace drops Packet Too Big (a blackhole).
"""

from __future__ import annotations

from tests.lab.scenarios import ChildZone, Endpoint, Page, Scenario

__all__ = ["BIG_EDNS", "DROP_DSTOPT", "DROP_ECHO", "DROP_FRAGMENTS", "FRAGDNS", "FRAGDNS_NS", "FRAGDNS_TXT",
           "NARROW_HOPS", "NS_DROP_FRAGMENTS", "PATH", "fragdns_zone", "path_v4", "path_v6"]


def path_v6(n: int) -> str:
    return f"2001:db8:80::19:{n:x}"


def path_v4(n: int) -> str:
    return f"203.0.113.{121 + n}"


#: address -> the MTU the router forwards at towards it (a narrower hop that sends Packet Too Big)
NARROW_HOPS: dict[str, int] = {path_v6(1): 1400, path_v6(2): 1280}
DROP_FRAGMENTS: tuple[str, ...] = (path_v6(3),)
DROP_DSTOPT: tuple[str, ...] = (path_v6(4),)
DROP_ECHO: tuple[str, ...] = (path_v6(6),)
FRAGDNS = "fragdns.com.test"
#: its name servers (peers with a 4096-byte EDNS buffer), IPv6 only
FRAGDNS_NS = ((f"ns1.{FRAGDNS}", path_v6(0x10)), (f"ns2.{FRAGDNS}", path_v6(0x11)))
#: ns2.fragdns.com.test: fragments dropped on its path
NS_DROP_FRAGMENTS: tuple[str, ...] = (path_v6(0x11),)
#: the apex TXT of fragdns.com.test: about 2.4 kB, more than a 1232-byte EDNS buffer holds
FRAGDNS_TXT = tuple(f'"v6scan-lab-fragment-test-{i:02d} ' + "x" * 200 + '"' for i in range(10))


def fragdns_zone() -> str:
    """The zone file of fragdns.com.test, as its name servers (peers) serve it."""
    z = f"{FRAGDNS}."
    lines = ["$TTL 300", f"{z} IN SOA ns1.{z} hostmaster.{z} 1 3600 900 604800 60"]
    for ns, addr in FRAGDNS_NS:
        lines += [f"{z} IN NS {ns}.", f"{ns}. IN AAAA {addr}"]
    lines += [f"{z} IN TXT {t}" for t in FRAGDNS_TXT]
    lines += [f"{z} IN AAAA {path_v6(5)}", f"{z} IN A {path_v4(5)}"]
    return "\n".join(lines) + "\n"


#: the peers serving it: (address, zone, zone file)
BIG_EDNS: tuple[tuple[str, str, str], ...] = tuple((addr, FRAGDNS, fragdns_zone()) for _, addr in FRAGDNS_NS)


def _site(sid: str, name: str, n: int, summary: str, zone: ChildZone | None = None) -> Scenario:
    """A healthy dual-stack site on path_v6(n)/path_v4(n) whose path does something odd."""
    a6, a4 = path_v6(n), path_v4(n)
    pages = (Page("index.html", f"{sid} site", f"<p>Welcome to {sid}.</p>"),)
    web = tuple(Endpoint(a, (name,), http=f"redirect:https://{name}/", pages=pages) for a in (a6, a4))
    tcp: dict[str, object] = {}
    tls: dict[str, object] = {}
    http: dict[str, object] = {}
    for a in (a6, a4):
        hp = f"[{a}]" if ":" in a else a
        tcp.update({f"{hp}:80": "open", f"{hp}:443": "open"})
        tls[f"{a} {name}"] = "valid"
        http[f"https://{name}/@{a}"] = f"200 title={sid} site"
    # a zone of its own (served by peers) holds its records; else com.test does
    records = () if zone is not None else ((name, "AAAA", a6), (name, "A", a4))
    expect: dict[str, dict[str, object] | str] = {"tcp": tcp, "tls": tls, "http": http, "verdict": "ready"}
    if zone is not None:
        expect["dns"] = {f"{name} AAAA": (a6,), f"{name} A": (a4,)}
    return Scenario(sid, name, "com", "west", summary, records=records, web=web, zone=zone, expect=expect)


PATH: tuple[Scenario, ...] = (
    _site("mtu-ptb", "mtu-ptb.com.test", 1,
          "a 1400-byte hop on the IPv6 path: the router's Packet Too Big reaches the client (path.mtu)"),
    _site("mtu-1280", "mtu1280.com.test", 2,
          "a 1280-byte hop on the IPv6 path, announced by Packet Too Big (path.mtu: a 1280-byte path)"),
    _site("frag-drop", "fragdrop.com.test", 3,
          "the IPv6 web address drops fragmented packets (path.frag); TCP works"),
    _site("dstopt-drop", "dstopt.com.test", 4,
          "the IPv6 web address drops packets with a destination-options header (path.frag)"),
    _site("mtu-noecho", "mtu-noecho.com.test", 6,
          "the IPv6 web address ignores ICMPv6 echo: path.mtu measures over TCP, path.frag cannot tell"),
    _site("frag-dns", FRAGDNS, 5,
          "a zone with a 2.4 kB apex TXT on two name servers with a 4096-byte EDNS buffer; the path of ns2's "
          "IPv6 address drops fragments, so its big UDP answers never arrive (path.frag)",
          zone=ChildZone(FRAGDNS, tuple((ns, (addr,)) for ns, addr in FRAGDNS_NS), served=False)),
)
