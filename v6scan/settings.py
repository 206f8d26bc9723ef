"""Scan settings (what the user chose) and root hints."""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from v6scan.attempts import Retry
from v6scan.targets import TargetError, normalise_name

__all__ = ["CONNECT_ATTEMPT_MIN", "IANA_ROOT_HINTS", "RootServer", "Settings", "parse_pin", "parse_pins",
           "parse_root_hints"]

#: the shortest TCP connect attempt (seconds): Linux retransmits an unanswered SYN after 1 s
CONNECT_ATTEMPT_MIN = 1.5


@dataclass(frozen=True, slots=True)
class RootServer:
    name: str
    addresses: tuple[str, ...]


#: the IANA root servers (named.root); ``--root-hints FILE`` replaces them
IANA_ROOT_HINTS: tuple[RootServer, ...] = tuple(
    RootServer(f"{letter}.root-servers.net", (v4, v6))
    for letter, v4, v6 in (
        ("a", "198.41.0.4", "2001:503:ba3e::2:30"),
        ("b", "170.247.170.2", "2801:1b8:10::b"),
        ("c", "192.33.4.12", "2001:500:2::c"),
        ("d", "199.7.91.13", "2001:500:2d::d"),
        ("e", "192.203.230.10", "2001:500:a8::e"),
        ("f", "192.5.5.241", "2001:500:2f::f"),
        ("g", "192.112.36.4", "2001:500:12::d0d"),
        ("h", "198.97.190.53", "2001:500:1::53"),
        ("i", "192.36.148.17", "2001:7fe::53"),
        ("j", "192.58.128.30", "2001:503:c27::2:30"),
        ("k", "193.0.14.129", "2001:7fd::1"),
        ("l", "199.7.83.42", "2001:500:9f::42"),
        ("m", "202.12.27.33", "2001:dc3::35"),
    )
)


def parse_root_hints(text: str) -> tuple[RootServer, ...]:
    """Parse a root hints file (named.root / Unbound format): ``. NS x.`` and ``x. A|AAAA addr``."""
    names: list[str] = []
    addrs: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        tokens = [t for t in tokens if not t.isdigit() and t.upper() != "IN"]
        if len(tokens) < 3:
            raise ValueError(f"cannot parse root hints line: {raw!r}")
        owner, rtype, data = tokens[0].lower(), tokens[1].upper(), tokens[2]
        if rtype == "NS" and owner == ".":
            names.append(data.rstrip(".").lower())
        elif rtype in ("A", "AAAA"):
            addrs.setdefault(owner.rstrip("."), []).append(data)
    servers = tuple(RootServer(n, tuple(addrs.get(n, ()))) for n in names)
    if not servers or not any(s.addresses for s in servers):
        raise ValueError("root hints name no server with an address")
    return servers


def parse_pin(spec: str) -> tuple[str, str]:
    """``NAME=IP`` (``--address``) as (name in lower case without a trailing dot, canonical address);
    ValueError says what is wrong."""
    name, sep, addr = spec.partition("=")
    if not sep or not name.strip() or not addr.strip():
        raise ValueError(f"{spec!r}: expected NAME=IP, e.g. www.example.org=2001:db8::10")
    try:
        name = normalise_name(name.strip())[0]  # the ASCII (IDNA) form, as targets are named
    except TargetError as e:
        raise ValueError(f"{spec!r}: {e.reason}") from None
    try:
        ip = ipaddress.ip_address(addr.strip().strip("[]"))
    except ValueError:
        raise ValueError(f"{spec!r}: {addr.strip()!r} is not an IP address") from None
    return name, str(ip)


def parse_pins(specs: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Every ``NAME=IP`` of ``--address``, by name (a name may be given several addresses)."""
    out: dict[str, dict[str, None]] = {}  # (an ordered set per name: linear in the number of pins)
    for spec in specs:
        name, addr = parse_pin(spec)
        out.setdefault(name, {})[addr] = None
    return {n: tuple(a) for n, a in out.items()}


@dataclass(frozen=True)
class Settings:
    """Everything a scan needs to know, with the stable option names of DESIGN.md in comments."""

    resolvers: tuple[str, ...] = ()  # --resolver ADDR[:PORT]
    allow_nets: tuple[str, ...] = ()  # --allow-net PREFIX
    exclude_nets: tuple[str, ...] = ()  # from --exclude FILE
    exclude_names: tuple[str, ...] = ()  # ... its names and suffixes: never contacted, anywhere
    root_hints: Path | None = None  # --root-hints FILE
    #: --trust-anchor FILE: DNSSEC trust anchors (DS or DNSKEY records of the root, zone-file syntax)
    #: replacing the IANA root KSKs, for a private or lab root (dns.dnssec)
    trust_anchor: Path | None = None
    timeout: float = 5.0  # --timeout SECONDS: one network step
    dns_timeout: float = 2.0
    dns_retries: int = 2
    ns_timeout: float = 2.0
    #: ... over TCP: a lost segment is sent again after about a second (the initial RTO), so two lost
    #: on a lossy path would end a 2-second try (8 % loss failed whole TCP probes in the lab)
    ns_tcp_timeout: float = 4.0
    attempts: int = 3  # tries of a decisive probe (connect, handshake, fetch, greeting)
    udp_attempts: int = 5  # ... of a DNS query over UDP: one lost datagram is a lost try (TCP retransmits)
    retry_backoff: float = 0.25  # seconds before the second try, doubled before each later one
    #: dns.ns_reach: seconds before a name-server address silent over one transport and answering over
    #: the other is asked again (its silence fails every site of the zone: it is confirmed first)
    ns_confirm_gap: float = 2.0
    self_check_interval: float = 1.0  # seconds between two runs of the self-check canary
    max_cname: int = 16
    target_deadline: float = 120.0
    www: str = "auto"  # auto | always | never
    extra_suffixes: tuple[str, ...] = ()  # public suffixes beyond the PSL (a lab's gov.test)
    per_server_concurrency: int = 8
    per_address_concurrency: int = 4  # connections at once to one web server address
    per_prefix_concurrency: int = 16  # ... and to one IPv6 /64 (or IPv4 /24)
    max_loop_lag: float = 0.1  # seconds: new targets wait while the event loop lags more than this
    probe_ttl: float = 60.0  # seconds a TCP reachability probe of address:port serves every target
    v6_path: bool = True
    ca_bundle: Path | None = None  # --ca-bundle FILE (default: the system store)
    self_check: str | None = None  # --self-check ADDR[:PORT]
    self_check_enabled: bool = True  # --no-self-check turns it off
    latency_probes: int = 3
    max_http_addresses: int = 16  # per family: chains followed from this many addresses
    max_body: int = 1 << 20  # decoded bytes kept per page
    body_timeout: float = 20.0
    user_agent: str | None = None  # --user-agent (default: v6scan/VERSION with a contact URL)
    max_links_per_level: int = 50  # web.links: distinct internal URLs fetched per level
    link_delay: float = 0.2  # seconds between two fetches from one host (politeness)
    check_ids: tuple[str, ...] = field(default=())  # empty: all
    #: --address NAME=IP (check, repeatable): these addresses for NAME instead of its A/AAAA records
    #: (a launch gated before the records are published); the DNS checks say the name was pinned
    pins: tuple[str, ...] = ()
    # caps on what one site can make the scanner do (README, Safety); evidence says when one was hit
    max_addresses: int = 16  # addresses probed per name and family (reach, TLS, PMTU, ICMP)
    max_ns_hosts: int = 16  # name-server hosts per zone
    max_mx_hosts: int = 10  # MX hosts per domain
    max_resource_hosts: int = 50  # distinct subresource hosts judged per page
    max_external_hosts: int = 50  # distinct external link hosts judged per site
    max_parse: int = 512 * 1024  # characters of a page read for its title, links and comparison
    # how much of what was found is listed in the evidence
    max_listed_rejected: int = 100  # web.links: rejected URLs listed
    max_listed_v4_literals: int = 20  # IPv4-literal links (web.links) and literal hosts (web.resources) listed
    max_listed_resources: int = 20  # web.resources: subresource URLs listed per host
    max_svcb_targets: int = 8  # web.svcb: other target names of HTTPS records whose AAAA is looked up
    #: web.happy_eyeballs: the Connection Attempt Delay of the modelled client (RFC 8305 section 5: 250 ms)
    happy_eyeballs_delay_ms: float = 250.0
    max_listed_value_chars: int = 120  # web.svcb: characters of a record parameter's value kept
    # the shape of the path probes (path.pmtu, path.icmp)
    pmtu_max_read: int = 256 * 1024  # bytes of the homepage read per path.pmtu transfer
    trace_max_hops: int = 12  # path.icmp: hop limits tried by the traceroute of a silent address
    trace_hop_timeout: float = 2.0  # ... seconds each hop waits at most (never more than --timeout)
    trace_silent_hops: int = 3  # ... consecutive silent hops after which it gives up
    mtu_sizes: tuple[int, ...] = (1500, 1400)  # path.mtu: echo sizes (IPv6 packet bytes) tried above 1280
    mtu_max_probes: int = 4  # path.mtu: sizes tried above 1280 per address (Packet Too Big adds sizes)
    mtu_wait: float = 1.0  # path.mtu, path.frag: seconds one echo request waits for its answer (at most --timeout)
    #: path.mtu, path.frag: tries of an echo request (or path.frag's DNS query over UDP) before its silence
    #: counts against the address: a lost datagram is a lost try, and a probe compared with a baseline (a
    #: fragmented echo, a 1500-byte one answered in fragments) is more datagrams than the baseline
    echo_attempts: int = 6
    mtu_tcp_read: int = 64 * 1024  # path.mtu: bytes of the homepage read per TCP probe (addresses that ignore echo)
    frag_echo_size: int = 1048  # path.frag: bytes of the echo request sent whole, in two fragments, with dst options
    frag_dns_qtype: str = "TXT"  # path.frag: the zone apex's records asked of each name server, EDNS buffer...
    frag_dns_sizes: tuple[int, ...] = (4096, 1232)  # ... this big (an answer above 1232 bytes needs fragments)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (worker processes rebuild the settings with :meth:`from_json`)."""
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        kw: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            v = data[f.name]
            if isinstance(v, list):
                v = tuple(v)
            elif f.name in ("root_hints", "ca_bundle", "trust_anchor") and v is not None:
                v = Path(v)
            kw[f.name] = v
        return cls(**kw)

    @property
    def retry(self) -> Retry:
        return Retry(self.attempts, self.retry_backoff)

    @property
    def connect_attempt_timeout(self) -> float:
        """One TCP connect attempt: the attempts share the step's budget, each at least
        :data:`CONNECT_ATTEMPT_MIN` s so the kernel retransmits its SYN inside every attempt (more
        SYNs than one long connect, in the same time)."""
        return max(self.timeout / max(1, self.attempts), CONNECT_ATTEMPT_MIN)

    def roots(self) -> tuple[RootServer, ...]:
        if self.root_hints is None:
            return IANA_ROOT_HINTS
        return parse_root_hints(Path(self.root_hints).read_text())
