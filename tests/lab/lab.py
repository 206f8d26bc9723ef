"""Build, describe and tear down the lab: a hermetic mini-internet of network namespaces.

Topology (every run has its own id, so namespace names never collide)::

    <id>-client ── eth0 ══ r-client ─┐            (router forwards at most 1280 bytes: the narrow hop)
                                     <id>-router ── r-srv   ══ eth0 ── <id>-srv   (nginx, peers)
                                                 ├─ r-dns   ══ eth0 ── <id>-dns   (NSD x5, Unbound)
                                                 └─ r-pmtu  ══ eth0 ── <id>-pmtu  (nginx; drops ICMPv6 PTB)

Only 2001:db8::/32, 198.51.100.0/24 and 203.0.113.0/24 are used.  The router
knows routes to the lab's prefixes and nothing else, so the client has no
way out of the lab.  Servers' service addresses live on their namespace's
``lo`` as /128 and /32 routes on the router point at them.

The narrow hop towards the client is the router's IPv6 MTU of ``r-client`` (and a locked route
MTU for IPv4), not the link MTU: the client can still send 1500-byte packets into the router, and
the router answers the servers' bigger packets towards the client with Packet Too Big, as a real
router does.  (A veth whose far end has a smaller link MTU drops bigger frames silently.)  The
path scenarios (:mod:`tests.lab.scenarios_path`) add narrower hops towards some server addresses
(locked route MTUs: the router sends the client Packet Too Big) and firewalls dropping fragments
or destination-options headers.

Field conditions for tests (all nftables, all reversible while the lab runs):

* ``Lab.set_loss(N)`` drops N % of the packets the router forwards, both
  families alike (``numgen random mod 100 < N``); ``Lab.loss_drops()`` reads
  the drop counter.
* ``Lab.unreachable_root_hints`` names the lab roots with their real IPv4
  addresses and IPv6 addresses the router drops: no root is reachable over IPv6.
* ``Lab.cut_client_v6(True)`` cuts the client's IPv6 off from everything but
  the lab resolver (a vantage point whose IPv6 fails mid-sweep).

Packet counters in the client namespace (nftables, output hook): ``Lab.forbidden_packets()``
counts what goes to the addresses no scanner may contact; ``Lab.watch_packets(NAME, addresses,
port)`` counts, under NAME, the packets sent to any lab addresses (any protocol) and/or to a
TCP/UDP port, read with ``Lab.watched_packets()``; ``Lab.reset_counters()`` zeroes them all.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.lab import dnssec
from tests.lab import scale as scale_mod
from tests.lab.pki import make_ca
from tests.lab.scenarios import ALL_SCENARIOS, FORBIDDEN, SCENARIOS, SELF_CHECK, Endpoint, Page, Scenario
from tests.lab.scenarios_path import BIG_EDNS, DROP_DSTOPT, DROP_ECHO, DROP_FRAGMENTS, NARROW_HOPS, NS_DROP_FRAGMENTS
from tests.lab.zones import (
    DROPPED_DNS,
    NSDS,
    RESOLVER,
    UNREACHABLE_ROOT_HINTS,
    build_zones,
    root_hints_text,
)

__all__ = ["STATE_ROOT", "Lab", "LabError", "all_labs", "lab_unavailable_reason"]

STATE_ROOT = Path(os.environ.get("V6SCAN_LAB_STATE", "/run/v6scan-lab"))
REPO = Path(__file__).resolve().parents[2]
ROLES = ("client", "router", "srv", "dns", "pmtu")
REQUIRED_BINARIES = ("ip", "nft", "nsd", "unbound", "nginx", "ss")

# (role, router-side v6, peer v6, router-side v4, peer v4, the MTU the router forwards at towards the peer)
LINKS = (
    ("client", "2001:db8:ffff:1::1", "2001:db8:ffff:1::2", "198.51.100.1", "198.51.100.2", 1280),
    ("srv", "2001:db8:ffff:2::1", "2001:db8:ffff:2::2", "198.51.100.5", "198.51.100.6", 1500),
    ("dns", "2001:db8:ffff:3::1", "2001:db8:ffff:3::2", "198.51.100.9", "198.51.100.10", 1500),
    ("pmtu", "2001:db8:ffff:4::1", "2001:db8:ffff:4::2", "198.51.100.13", "198.51.100.14", 1500),
)
# service prefixes per server namespace (routed by the router)
PREFIXES = {
    "srv": ("2001:db8:80::/48", "203.0.113.64/26", "203.0.113.128/26", "198.51.100.128/25"),
    "dns": ("2001:db8:53::/48", "203.0.113.0/26"),
    "pmtu": ("2001:db8:1280::/48", "203.0.113.192/26"),
}
#: more addresses to count in the client (metadata endpoints not published by any scenario)
FORBIDDEN_EXTRA = ("169.254.170.2", "168.63.129.16", "fd20:ce::254")
CLIENT_V6 = "2001:db8:ffff:1::2"
CLIENT_V4 = "198.51.100.2"
#: the router's firewall: dropped root addresses (``unreachable_root_hints``) and the loss chain
ROUTER_TABLE = "v6lab"
LOSS_CHAIN = "loss"
LOSS_COUNTER = "loss_drops"
#: the table of the path scenarios' firewalls (srv, router): fragments, destination options, echo
PATH_TABLE = "v6lab_path"
#: the client's table for ``cut_client_v6`` (apart from the forbidden-address counters' table)
CUT_TABLE = "v6lab_cut"
#: the client's table of packet counters a test asks for (``watch_packets``)
WATCH_TABLE = "v6lab_watch"
_WATCH_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class LabError(RuntimeError):
    """The lab could not be built, or does not behave as its scenarios say."""


def lab_unavailable_reason() -> str | None:
    """Why this machine cannot build a lab, or None if it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, nftables)"
    missing = [b for b in REQUIRED_BINARIES if shutil.which(b) is None]
    if missing:
        return "missing programs: " + ", ".join(missing) + " (run `make deps`)"
    return None


def _run(argv: Sequence[str], *, input: str | None = None, check: bool = True,
         timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _fam(addr: str) -> str:
    return "ip6" if ":" in addr.split("/")[0] else "ip"


@dataclass
class Lab:
    """A running lab.  Serialisable to ``state.json`` so other processes can use it."""

    id: str
    directory: Path
    scale: int = 0
    persistent: bool = False
    owner_pid: int = field(default_factory=os.getpid)
    pids: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    #: percent of forwarded packets the router drops at random (``set_loss``)
    loss: int = 0
    #: the client's IPv6 is cut off from everything but the resolver (``cut_client_v6``)
    v6_cut: bool = False
    #: packet counters of the client (``watch_packets``): name -> {"addresses": [...], "port": N | None}
    watches: dict[str, dict[str, Any]] = field(default_factory=dict)

    # ----------------------------------------------------------------- naming
    @property
    def ns(self) -> dict[str, str]:
        return {r: f"{self.id}-{r}" for r in ROLES}

    @property
    def client(self) -> str:
        """Name of the client namespace: run the scanner here."""
        return self.ns["client"]

    @property
    def resolver(self) -> tuple[str, ...]:
        return RESOLVER

    @property
    def ca_file(self) -> Path:
        return self.directory / "pki" / "ca.pem"

    @property
    def root_hints(self) -> Path:
        return self.directory / "root.hints"

    @property
    def trust_anchor(self) -> Path:
        """The lab root's DNSSEC trust anchor (``--trust-anchor``)."""
        return dnssec.anchor_file(self.directory)

    @property
    def unreachable_root_hints(self) -> Path:
        """Root hints like :attr:`root_hints`, but whose IPv6 root addresses never answer.

        The roots keep their real IPv4 addresses; their IPv6 addresses are unused ones the
        router drops, so a resolution walk over IPv6 only from these hints times out at the
        root, as on a network that cannot reach the root servers over IPv6.  The lab resolver
        and every other server are unaffected.
        """
        return self.directory / "root-unreachable.hints"

    @property
    def targets_file(self) -> Path:
        return self.directory / "targets.csv"

    @property
    def self_check(self) -> str:
        return f"[{SELF_CHECK.addr}]:80"

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        return SCENARIOS

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "namespaces": self.ns,
            "client": self.client,
            "client_addresses": [CLIENT_V6, CLIENT_V4],
            "resolver": list(self.resolver),
            "ca_file": str(self.ca_file),
            "root_hints": str(self.root_hints),
            "unreachable_root_hints": str(self.unreachable_root_hints),
            "self_check": self.self_check,
            "targets_file": str(self.targets_file),
            "scale": self.scale,
            "persistent": self.persistent,
            "directory": str(self.directory),
            "scenarios": len(SCENARIOS),
            "loss": self.loss,
            "v6_cut": self.v6_cut,
        }

    def save(self) -> None:
        data = asdict(self)
        data["directory"] = str(self.directory)
        self.state_file.write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, state_file: Path) -> Lab:
        data = json.loads(state_file.read_text())
        data["directory"] = Path(data["directory"])
        return cls(**data)

    # --------------------------------------------------------------- commands
    def exec(self, argv: Sequence[str], *, ns: str = "client", timeout: float = 120,
             check: bool = False, env: dict[str, str] | None = None,
             input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside a lab namespace (``client`` by default) and capture it."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns[ns], *argv],
            capture_output=True, text=True, timeout=timeout, check=check, env=env, input=input,
            cwd=REPO,
        )

    def python(self, *args: str, ns: str = "client", timeout: float = 120,
               check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run this interpreter (``sys.executable``) with ``args`` inside a namespace."""
        return self.exec([sys.executable, *args], ns=ns, timeout=timeout, check=check)

    def _ns_sh(self, role: str, script: str) -> None:
        _run(["ip", "netns", "exec", self.ns[role], "sh", "-ec", script])

    def _start(self, role: str, name: str, argv: Sequence[str]) -> None:
        log = open(self.directory / "logs" / f"{name}.log", "ab")  # noqa: SIM115
        with log:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns[role], *argv],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=REPO,
            )
        self.pids[name] = proc.pid

    # ------------------------------------------------------------------- up
    @classmethod
    def up(cls, *, scale: int = 0, persistent: bool = False, verify: bool = True,
           lab_id: str | None = None, loss: int = 0) -> Lab:
        """Build a lab, start its servers, verify it, and return it (or raise LabError).

        ``loss`` turns random packet loss on at the router (see :meth:`set_loss`) once the lab
        has verified itself without it.
        """
        _check_percent(loss)
        reason = lab_unavailable_reason()
        if reason:
            raise LabError(reason)
        become_subreaper()
        reap_stale()
        lab_id = lab_id or "v6l" + secrets.token_hex(3)
        lab = cls(lab_id, STATE_ROOT / lab_id, scale=scale, persistent=persistent)
        if lab.directory.exists():
            raise LabError(f"a lab with id {lab_id} exists already ({lab.directory})")
        lab.directory.mkdir(parents=True)
        for sub in ("logs", "pki", "www", "nginx", "nsd", "unbound", "tmp"):
            (lab.directory / sub).mkdir()
        lab.save()
        if not persistent:
            _register_cleanup(lab)
        try:
            lab._build_network()
            lab._build_services()
            lab.save()
            lab._wait_listening()
            if verify:
                failures = lab.verify(retries=4)
                if failures:
                    raise LabError("lab self-check failed:\n" + "\n".join(failures))
            if loss:
                lab.set_loss(loss)
        except BaseException:
            lab.down()
            raise
        return lab

    def _build_network(self) -> None:
        for role in ROLES:
            _run(["ip", "netns", "add", self.ns[role]])
        for role in ROLES:
            forwarding = "1" if role == "router" else "0"
            self._ns_sh(role, f"""
                echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad
                echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
                echo 0 > /proc/sys/net/ipv6/conf/default/accept_ra
                echo {forwarding} > /proc/sys/net/ipv6/conf/all/forwarding
                echo {forwarding} > /proc/sys/net/ipv4/ip_forward
                echo 0 > /proc/sys/net/ipv6/icmp/ratelimit
                ip link set lo up
            """)
        batch: dict[str, list[str]] = defaultdict(list)
        rns = self.ns["router"]
        narrow: list[str] = []
        for role, r6, p6, r4, p4, mtu in LINKS:
            _run(["ip", "-n", rns, "link", "add", f"r-{role}", "type", "veth", "peer", "name",
                  "eth0", "netns", self.ns[role]])
            batch["router"] += [
                f"link set r-{role} up",
                f"addr add {r6}/64 dev r-{role} nodad",
                f"addr add {r4}/30 dev r-{role}",
            ]
            if mtu < 1500:  # the router forwards at most mtu bytes (the link stays 1500: see the module doc)
                net4 = ipaddress.ip_interface(f"{r4}/30").network
                narrow += [f"echo {mtu} > /proc/sys/net/ipv6/conf/r-{role}/mtu",
                           f"ip -4 route replace {net4} dev r-{role} proto kernel scope link src {r4} mtu lock {mtu}"]
            batch[role] += [
                "link set eth0 up",
                f"addr add {p6}/64 dev eth0 nodad",
                f"addr add {p4}/30 dev eth0",
                f"route add default via {r6}",
                f"route add default via {r4}",
            ]
            for prefix in PREFIXES.get(role, ()):
                batch["router"].append(f"route add {prefix} via {p6 if ':' in prefix else p4}")
        srv6 = next(p6 for role, _, p6, _, _, _ in LINKS if role == "srv")
        for addr, mtu in sorted(NARROW_HOPS.items()):  # path scenarios: a narrower hop, announced by PTB
            batch["router"].append(f"route add {addr}/128 via {srv6} mtu lock {mtu}")
        for role, addrs in self._service_addresses().items():
            for a in sorted(addrs):
                batch[role].append(f"addr add {a}/{128 if ':' in a else 32} dev lo"
                                   + (" nodad" if ":" in a else ""))
        for role, lines in batch.items():
            _run(["ip", "-n", self.ns[role], "-batch", "-"], input="\n".join(lines) + "\n")
        if narrow:
            self._ns_sh("router", "\n".join(narrow))
        for role, rules in self._nft_rules().items():
            _run(["ip", "netns", "exec", self.ns[role], "nft", "-f", "-"], input=rules)
        etc = Path("/etc/netns") / self.client
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(
            "# v6scan lab resolver (Unbound)\n"
            + "".join(f"nameserver {a}\n" for a in self.resolver)
            + "options timeout:2 attempts:2\n"
        )

    # the endpoints of the scenarios plus the self-check and the scale mode
    def endpoints(self) -> list[tuple[str, Endpoint]]:
        eps: list[tuple[str, Endpoint]] = [("selfcheck", SELF_CHECK)]
        for s in ALL_SCENARIOS:
            eps += [(f"{s.id}-{i}", e) for i, e in enumerate(s.web)]
        eps += [(f"scale-{i}", e) for i, e in enumerate(scale_mod.endpoints(self.scale))]
        return eps

    def _service_addresses(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for _, e in self.endpoints():
            out[e.host].add(e.addr)
        for s in ALL_SCENARIOS:
            for m in s.smtp:
                out["srv"].add(m.addr)
            out["srv"].update(a for a, _, _ in s.hostile)
            out["srv"].update(s.garbage_dns)
        out["srv"].update(a for a, _, _ in BIG_EDNS)
        for nsd in NSDS.values():
            out["dns"].update(nsd.addrs)
        out["dns"].update(RESOLVER)
        return out

    def _nft_rules(self) -> dict[str, str]:
        dropped: dict[str, set[str]] = defaultdict(set)
        for _, e in self.endpoints():
            if e.drop:
                dropped[e.host].add(e.addr)
        dropped["dns"].update(DROPPED_DNS)
        rules: dict[str, str] = {}
        for role, addrs in dropped.items():
            lines = []
            for fam in ("ip6", "ip"):
                sel = sorted(a for a in addrs if _fam(a) == fam)
                if sel:
                    lines.append(f"    {fam} daddr {{ {', '.join(sel)} }} counter drop")
            rules[role] = _nft_table("input", lines)
        # the narrow hop: Packet Too Big never reaches the PMTU server
        rules["pmtu"] = _nft_table("input", ["    icmpv6 type packet-too-big counter drop"])
        # the client counts every packet it sends to an address a scanner must never contact
        lines = [f"    {_fam(a)} daddr {a} counter comment \"forbidden {a}\""
                 for a in sorted({a for addrs in FORBIDDEN.values() for a in addrs} | set(FORBIDDEN_EXTRA))]
        rules["client"] = _nft_table("output", lines)
        # the router: roots nobody reaches over IPv6 (unreachable_root_hints), and an empty
        # loss chain that set_loss fills
        unreachable = sorted(a for _, addrs in UNREACHABLE_ROOT_HINTS for a in addrs if ":" in a)
        for role, table in _path_rules().items():
            rules[role] = rules.get(role, "") + table
        rules["router"] = rules.get("router", "") + (
            f"table inet {ROUTER_TABLE} {{\n"
            f"  counter {LOSS_COUNTER} {{ }}\n"
            "  chain forward {\n"
            "    type filter hook forward priority 0; policy accept;\n"
            f"    ip6 daddr {{ {', '.join(unreachable)} }} counter drop comment \"unreachable roots\"\n"
            f"    jump {LOSS_CHAIN}\n"
            "  }\n"
            f"  chain {LOSS_CHAIN} {{\n  }}\n"
            "}\n"
        )
        return rules

    def _build_services(self) -> None:
        d = self.directory
        ca = make_ca(d / "pki")
        # --- DNS: one NSD per role, then Unbound
        extra = scale_mod.records(self.scale)
        zones = dnssec.sign_zones(build_zones(ALL_SCENARIOS, extra), d / "dnssec")
        for name, nsd in NSDS.items():
            zdir = d / "nsd" / name
            (zdir / "xfr").mkdir(parents=True)
            conf = ["server:"]
            conf += [f'  ip-address: {a}' for a in nsd.addrs]
            conf += [
                '  username: ""', '  chroot: ""', '  database: ""',
                f'  zonesdir: "{zdir}"', f'  zonelistfile: "{zdir}/zone.list"',
                f'  xfrdfile: "{zdir}/xfrd.state"', f'  xfrdir: "{zdir}/xfr"',
                f'  pidfile: "{zdir}/nsd.pid"', f'  cookie-secret-file: "{zdir}/cookie.secret"',
                "  server-count: 1", "  verbosity: 2", "  hide-version: yes",
                "  tcp-count: 256", "  reuseport: no",
                "remote-control:", "  control-enable: no",
            ]
            for zname, text in zones.get(name, {}).items():
                fname = "root.zone" if zname == "." else f"{zname}.zone"
                (zdir / fname).write_text(text)
                conf += ["zone:", f'  name: "{zname}"', f'  zonefile: "{fname}"']
            (zdir / "nsd.conf").write_text("\n".join(conf) + "\n")
            self._start("dns", f"nsd-{name}", ["nsd", "-d", "-c", str(zdir / "nsd.conf")])
        self.root_hints.write_text(root_hints_text())
        self.unreachable_root_hints.write_text(root_hints_text(UNREACHABLE_ROOT_HINTS))
        udir = d / "unbound"
        (udir / "unbound.conf").write_text("\n".join([
            "server:",
            *(f"  interface: {a}" for a in RESOLVER),
            "  port: 53", "  do-daemonize: no", '  username: ""', '  chroot: ""',
            f'  directory: "{udir}"', f'  pidfile: "{udir}/unbound.pid"',
            "  use-syslog: no", f'  logfile: "{udir}/unbound.log"', "  verbosity: 1",
            f'  root-hints: "{self.root_hints}"',
            "  access-control: 0.0.0.0/0 allow", "  access-control: ::/0 allow",
            *dnssec.unbound_lines(d / "dnssec"), '  local-zone: "test." nodefault',
            "  qname-minimisation: no", "  harden-referral-path: no",
            "  do-ip4: yes", "  do-ip6: yes", "  num-threads: 1", "  so-reuseport: no",
            "  msg-cache-size: 64m", "  rrset-cache-size: 128m",
            "  outgoing-range: 1024", "  num-queries-per-thread: 1024",
            "  infra-host-ttl: 60", "  serve-expired: no",
            "remote-control:", "  control-enable: no",
        ]) + "\n")
        self._start("dns", "unbound", ["unbound", "-d", "-c", str(udir / "unbound.conf")])
        # --- web: nginx per server namespace
        by_host: dict[str, list[tuple[str, Endpoint]]] = defaultdict(list)
        for label, e in self.endpoints():
            by_host[e.host].append((label, e))
        certs: dict[tuple[tuple[str, ...], str], tuple[Path, Path]] = {}
        for host, eps in by_host.items():
            blocks: list[str] = []
            for label, e in eps:
                if e.drop:
                    continue
                root = d / "www" / label
                _write_pages(root, e.pages)
                for port, mode in ((80, e.http), (443, e.https)):
                    if mode in ("refuse", "tarpit"):
                        continue
                    listen = f"[{e.addr}]:{port}" if ":" in e.addr else f"{e.addr}:{port}"
                    lines = [f"    listen {listen}{' ssl' if port == 443 else ''};",
                             f"    server_name {' '.join(e.names)};"]
                    if port == 443:
                        key = (e.names, e.cert)
                        if key not in certs:
                            certs[key] = ca.issue(f"{label}-{e.cert}", e.names, e.cert)
                        crt, k = certs[key]
                        lines += [f"    ssl_certificate {crt};", f"    ssl_certificate_key {k};"]
                        lines += add_headers(e.headers)
                    if mode.startswith(("redirect:", "redirect302:")):
                        code = 302 if mode.startswith("redirect302:") else 301
                        lines.append(f"    location / {{ return {code} {mode.split(':', 1)[1]}; }}")
                    else:
                        lines += [f"    root {root};", "    index index.html;"]
                        lines += _dynamic_locations(e.pages)
                        lines.append("    location / { try_files $uri $uri/ =404; }")
                    blocks.append("  server {\n" + "\n".join(lines) + "\n  }")
            ndir = d / "nginx" / host
            (ndir / "tmp").mkdir(parents=True)
            conf = f"""
daemon off;
user root root;
master_process on;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {ndir}/nginx.pid;
error_log {ndir}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log {ndir}/access.log;
  client_body_temp_path {ndir}/tmp/body;
  proxy_temp_path {ndir}/tmp/proxy;
  fastcgi_temp_path {ndir}/tmp/fastcgi;
  uwsgi_temp_path {ndir}/tmp/uwsgi;
  scgi_temp_path {ndir}/tmp/scgi;
  types {{ text/html html; application/javascript js; text/css css; image/png png; }}
  default_type application/octet-stream;
  charset utf-8;
  server_tokens off;
  server_names_hash_bucket_size 128;
  ssl_protocols TLSv1.2 TLSv1.3;
  keepalive_timeout 10;
{chr(10).join(blocks)}
}}
"""
            (ndir / "nginx.conf").write_text(conf)
            _run(["ip", "netns", "exec", self.ns[host], "nginx", "-t", "-q", "-p", str(ndir),
                  "-c", str(ndir / "nginx.conf")])
            self._start(host, f"nginx-{host}", ["nginx", "-p", str(ndir), "-c",
                                                str(ndir / "nginx.conf")])
        # --- misbehaving peers
        peers: dict[str, list[list[object]]] = {"tarpit": [], "smtp": []}
        for _, e in self.endpoints():
            for port, mode in ((80, e.http), (443, e.https)):
                if mode == "tarpit" and not e.drop:
                    peers["tarpit"].append([e.addr, port])
        peers["hostile"], peers["garbage_dns"] = [], []
        for s in ALL_SCENARIOS:
            for m in s.smtp:
                pem: list[object] = []
                if m.mode == "starttls":
                    key = ((m.banner_name,), "valid")
                    if key not in certs:
                        certs[key] = ca.issue(f"smtp-{m.banner_name}", (m.banner_name,), "valid")
                    pem = [str(x) for x in certs[key]]
                peers["smtp"].append([m.addr, m.mode, m.banner_name, *pem])
            for addr, port, kind in s.hostile:
                cert: list[object] = ["", ""]
                if port == 443 and kind != "tls-stall":
                    key = ((s.target,), "valid")
                    if key not in certs:
                        certs[key] = ca.issue(f"{s.id}-peer", (s.target,), "valid")
                    cert = [str(x) for x in certs[key]]
                peers["hostile"].append([addr, port, kind, *cert])
            peers["garbage_dns"] += [[a] for a in s.garbage_dns]
        peers["big_edns"] = [list(x) for x in BIG_EDNS]
        (d / "peers.json").write_text(json.dumps(peers))
        self._start("srv", "peers", [sys.executable, "-m", "tests.lab.peers", str(d / "peers.json")])
        self.targets_file.write_text(targets_csv(self.scale))

    def _expected_listeners(self) -> dict[str, set[tuple[str, int]]]:
        out: dict[str, set[tuple[str, int]]] = defaultdict(set)
        for _, e in self.endpoints():
            if e.drop:
                continue
            for port, mode in ((80, e.http), (443, e.https)):
                if mode != "refuse":
                    out[e.host].add((e.addr, port))
        for s in ALL_SCENARIOS:
            for m in s.smtp:
                out["srv"].add((m.addr, 25))
            out["srv"].update((a, p) for a, p, _ in s.hostile)
            out["srv"].update((a, 53) for a in s.garbage_dns)
        out["srv"].update((a, 53) for a, _, _ in BIG_EDNS)
        for nsd in NSDS.values():
            out["dns"].update((a, 53) for a in nsd.addrs)
        out["dns"].update((a, 53) for a in RESOLVER)
        return out

    def _wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        missing: set[tuple[str, int]] = set()
        for role, want in self._expected_listeners().items():
            while True:
                out = _run(["ip", "netns", "exec", self.ns[role], "ss", "-Hltn"]).stdout
                have = set()
                for line in out.splitlines():
                    local = line.split()[3]
                    addr, _, port = local.rpartition(":")
                    have.add((addr.strip("[]").split("%")[0], int(port)))
                missing = want - have
                if not missing:
                    break
                dead = [n for n, pid in self.pids.items() if not _alive(pid)]
                if dead or time.monotonic() > deadline:
                    logs = "\n".join(self._log_tail(n) for n in (dead or list(self.pids)))
                    raise LabError(f"servers in {role} not listening on {sorted(missing)[:5]}"
                                   f" (dead: {dead})\n{logs}")
                time.sleep(0.1)

    def restart(self, name: str, down_for: float = 0.0) -> None:
        """Kill one lab server (e.g. ``unbound``) and start it again after ``down_for`` seconds."""
        pid = self.pids[name]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(down_for)
        if name == "unbound":
            conf = self.directory / "unbound" / "unbound.conf"
            self._start("dns", "unbound", ["unbound", "-d", "-c", str(conf)])
        else:
            raise LabError(f"restart of {name} is not supported")
        self.save()
        self._wait_listening()

    def _log_tail(self, name: str, lines: int = 15) -> str:
        p = self.directory / "logs" / f"{name}.log"
        if not p.exists():
            return f"[{name}: no log]"
        return f"[{name}]\n" + "\n".join(p.read_text(errors="replace").splitlines()[-lines:])

    # --------------------------------------------------------------- verify
    def verify(self, retries: int = 1) -> list[str]:
        """Probe every scenario from the client namespace; return the mismatches."""
        failures: list[str] = []
        for attempt in range(retries):
            proc = self.python("-m", "tests.lab.verify", str(self.state_file), timeout=180)
            try:
                report = json.loads(proc.stdout)
            except json.JSONDecodeError:
                failures = [f"verifier crashed ({proc.returncode}): {proc.stderr[-2000:]}"]
            else:
                failures = [
                    f"{f['scenario']}: {f['probe']} {f['key']}: expected {f['expected']!r},"
                    f" got {f['got']!r}" for f in report["failures"]
                ]
            if not failures:
                return []
            if attempt + 1 < retries:
                time.sleep(1.5)
        return failures

    def forbidden_packets(self) -> dict[str, int]:
        """Packets the client namespace has sent to each forbidden address (nftables counters)."""
        out = json.loads(self.exec(["nft", "-j", "list", "ruleset"], check=True).stdout)
        counts: dict[str, int] = {}
        for item in out.get("nftables", []):
            rule = item.get("rule")
            if rule and str(rule.get("comment", "")).startswith("forbidden "):
                packets = next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
                counts[rule["comment"].split(" ", 1)[1]] = int(packets)
        return counts

    def reset_counters(self) -> None:
        """Zero the client's counters: the forbidden addresses' (anonymous rule counters: the table
        is loaded again) and every :meth:`watch_packets` counter."""
        rules = self._nft_rules()["client"]
        self.exec(["nft", "-f", "-"], input="delete table inet v6lab\n" + rules, check=True)
        self._load_watches()

    def watch_packets(self, name: str, addresses: Iterable[str] = (), port: int | None = None) -> None:
        """Count, under ``name``, the packets the client namespace sends to ``addresses`` (any
        protocol: TCP, UDP, ICMP) and/or to TCP or UDP ``port``.

        With addresses only: every packet to them; with a port only: every TCP or UDP packet to
        that port of any address; with both: packets to that port of those addresses.  The
        counters are nftables named counters in a table of their own (``inet v6lab_watch``,
        output hook, before the other client tables), so they count what the kernel sends even
        when a later rule drops it.  Defining or removing a watch zeroes every watch counter (the
        table is loaded again); read them with :meth:`watched_packets`.
        """
        if not _WATCH_NAME.fullmatch(name):
            raise ValueError(f"a watch name is a letter, then letters, digits, - or _: {name!r}")
        addrs = sorted({str(ipaddress.ip_address(a)) for a in addresses})
        if port is not None and not (isinstance(port, int) and 0 <= port <= 65535):
            raise ValueError(f"not a port: {port!r}")
        if not addrs and port is None:
            raise ValueError("watch what? give addresses, a port, or both")
        self.watches[name] = {"addresses": addrs, "port": port}
        self._load_watches()
        self.save()

    def unwatch_packets(self, *names: str) -> None:
        """Remove these watches (all of them without names); the others are zeroed."""
        for n in names or list(self.watches):
            self.watches.pop(n, None)
        self._load_watches()
        self.save()

    def watched_packets(self) -> dict[str, int]:
        """Packets counted by each :meth:`watch_packets` watch since it was defined or reset."""
        if not self.watches:
            return {}
        out = json.loads(_run(["ip", "netns", "exec", self.client, "nft", "-j", "list", "counters", "table",
                               "inet", WATCH_TABLE]).stdout)
        counts = {str(c["name"]): int(c["packets"]) for item in out.get("nftables", [])
                  if (c := item.get("counter")) is not None}
        return {n: counts[n] for n in self.watches}

    def _load_watches(self) -> None:
        script = f"table inet {WATCH_TABLE} {{ }}\ndelete table inet {WATCH_TABLE}\n"
        if self.watches:
            rules: list[str] = []
            for name, w in sorted(self.watches.items()):
                port = w.get("port")
                what = f" meta l4proto {{ tcp, udp }} th dport {port}" if port is not None else ""
                addrs = list(w.get("addresses") or [])
                for fam in ("ip6", "ip"):
                    sel = [a for a in addrs if _fam(a) == fam]
                    if sel:
                        rules.append(f"    {fam} daddr {{ {', '.join(sel)} }}{what} counter name \"{name}\"")
                if not addrs:
                    rules.append(f"   {what} counter name \"{name}\"")
            script += (
                f"table inet {WATCH_TABLE} {{\n"
                + "".join(f"  counter {name} {{ }}\n" for name in sorted(self.watches))
                + "  chain output {\n    type filter hook output priority -10; policy accept;\n"
                + "\n".join(rules) + "\n  }\n}\n"
            )
        self._nft("client", script)

    # ------------------------------------------------------- field conditions
    def _nft(self, role: str, script: str) -> None:
        _run(["ip", "netns", "exec", self.ns[role], "nft", "-f", "-"], input=script)

    def set_loss(self, percent: int) -> None:
        """Drop ``percent`` % of the packets the router forwards, at random, both families.

        nftables ``numgen random mod 100 < N`` on the router's forward hook; 0 removes the
        rule.  Idempotent, and can be changed while the lab runs; the drop counter
        (:meth:`loss_drops`) keeps counting across changes.
        """
        _check_percent(percent)
        script = f"flush chain inet {ROUTER_TABLE} {LOSS_CHAIN}\n"
        if percent:
            script += (f"add rule inet {ROUTER_TABLE} {LOSS_CHAIN} numgen random mod 100 < {percent}"
                       f" counter name {LOSS_COUNTER} drop\n")
        self._nft("router", script)
        self.loss = percent
        self.save()

    def loss_drops(self) -> int:
        """Packets the router has dropped for :meth:`set_loss` since the lab started."""
        out = _run(["ip", "netns", "exec", self.ns["router"], "nft", "-j", "list", "counter",
                    "inet", ROUTER_TABLE, LOSS_COUNTER]).stdout
        for item in json.loads(out).get("nftables", []):
            if "counter" in item:
                return int(item["counter"]["packets"])
        raise LabError(f"no counter {LOSS_COUNTER} on the router")

    def cut_client_v6(self, cut: bool) -> None:
        """Cut the client's IPv6 off from everything but the lab resolver (and restore it).

        Packets the client sends over IPv6 are dropped (connections time out) unless they
        go to the lab resolver, over loopback, or are neighbour discovery; IPv4 is
        untouched.  So the scanner's own IPv6 fails (the self-check address too) while its
        resolver still answers.  A table of its own (``inet v6lab_cut``, hooked after the
        forbidden-address counters, which keep counting).  Idempotent.
        """
        script = f"table inet {CUT_TABLE} {{ }}\ndelete table inet {CUT_TABLE}\n"
        if cut:
            allow = ", ".join(a for a in self.resolver if ":" in a)
            script += (
                f"table inet {CUT_TABLE} {{\n"
                "  chain output {\n"
                "    type filter hook output priority 10; policy accept;\n"
                '    oif "lo" accept\n'
                "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit }"
                " accept\n"
                f"    ip6 daddr {{ {allow} }} accept\n"
                '    meta nfproto ipv6 counter drop comment "v6 cut"\n'
                "  }\n"
                "}\n"
            )
        self._nft("client", script)
        self.v6_cut = cut
        self.save()

    def status(self) -> dict[str, Any]:
        existing = set(_run(["ip", "netns", "list"]).stdout.split())
        return {
            **self.describe(),
            "namespaces_present": {r: n in existing for r, n in self.ns.items()},
            "processes": {n: _alive(p) for n, p in self.pids.items()},
        }

    # ------------------------------------------------------------------ down
    def down(self) -> None:
        """Tear the lab down: kill every process in its namespaces, delete them. Idempotent."""
        existing = set(_run(["ip", "netns", "list"], check=False).stdout.split())
        victims: set[int] = set(p for p in self.pids.values() if _alive(p))
        for name in self.ns.values():
            if name in existing:
                out = _run(["ip", "netns", "pids", name], check=False).stdout
                victims.update(int(x) for x in out.split() if x.isdigit())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 3
            while any(_alive(p) for p in victims) and time.monotonic() < deadline:
                time.sleep(0.05)
            victims = {p for p in victims if _alive(p)}
            if not victims:
                break
        for name in self.ns.values():
            if name in existing:
                _run(["ip", "netns", "del", name], check=False)
            shutil.rmtree(Path("/etc/netns") / name, ignore_errors=True)
        shutil.rmtree(self.directory, ignore_errors=True)
        if self in _CLEANUPS:
            _CLEANUPS.remove(self)


def _path_rules() -> dict[str, str]:
    """The path scenarios' firewalls (table ``inet v6lab_path`` per namespace): fragments,
    destination-options headers and echo requests dropped in prerouting before any reassembly (priority -450: the
    fragments themselves are seen), per address."""
    def table(lines: list[str]) -> str:
        return (f"table inet {PATH_TABLE} {{\n  chain pre {{\n    type filter hook prerouting priority -450;"
                " policy accept;\n" + "\n".join(lines) + "\n  }\n}\n")

    def each(addrs: Iterable[str], what: str, key: str = "daddr") -> list[str]:
        return [f'    ip6 {key} {a} {what} counter drop comment "path {a}"' for a in sorted(addrs)]

    return {
        "srv": table(each((*DROP_FRAGMENTS, *NS_DROP_FRAGMENTS), "exthdr frag exists")
                     + each(DROP_DSTOPT, "exthdr dst exists") + each(DROP_ECHO, "icmpv6 type echo-request")),
        # a name server fragments its big UDP answers after its own hooks saw them whole: drop them on the way
        "router": table(each(NS_DROP_FRAGMENTS, "exthdr frag exists", "saddr")),
    }


def _nft_table(hook: str, lines: Iterable[str]) -> str:
    body = "\n".join(lines)
    return (f"table inet v6lab {{\n  chain {hook} {{\n    type filter hook {hook} priority 0;"
            f" policy accept;\n{body}\n  }}\n}}\n")


def _html(p: Page) -> str:
    pad = ""
    if p.pad:
        unit = "<p>Filler text so that the page is large enough to need many packets.</p>\n"
        pad = unit * (p.pad // len(unit) + 1)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{p.title}</title>{p.head}</head>\n<body>\n{p.body}\n{pad}</body></html>\n"
    )


def _write_pages(root: Path, pages: Iterable[Page]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for p in pages:
        if p.dynamic:  # served by nginx's return directive (_dynamic_locations)
            continue
        f = root / p.path
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(_html(p) if p.path.endswith(".html") and not p.raw else p.body)


def nginx_string(text: str) -> str:
    """``text`` as an nginx double-quoted string; ``$variables`` stay live."""
    return '"' + (text.replace("\\", "\\\\").replace('"', '\\"')
                  .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")) + '"'


def add_headers(headers: Iterable[tuple[str, str]]) -> list[str]:
    """nginx directives adding the response headers ``headers`` to every response of a server block
    (errors and redirects too); no ``location`` of the lab sets its own, so every one inherits them."""
    out: list[str] = []
    for name, value in headers:
        if not re.fullmatch(r"[A-Za-z0-9-]+", name):
            raise ValueError(f"not a header name: {name!r}")
        out.append(f"    add_header {name} {nginx_string(value)} always;")
    return out


def _dynamic_locations(pages: Iterable[Page]) -> list[str]:
    """nginx locations rendering the dynamic pages with core ``return 200``, per request."""
    out: list[str] = []
    for p in pages:
        if not p.dynamic:
            continue
        body = nginx_string(_html(p) if p.path.endswith(".html") else p.body)
        ctype = "text/html" if p.path.endswith(".html") else "text/plain"
        paths = [f"/{p.path}"] + (["/"] if p.path == "index.html" else [])
        out += [f"    location = {path} {{ default_type {ctype}; return 200 {body}; }}" for path in paths]
    return out


def _check_percent(percent: int) -> None:
    if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
        raise ValueError(f"loss must be an integer percentage 0..100, not {percent!r}")


def become_subreaper() -> None:
    """Adopt orphaned descendants (prctl PR_SET_CHILD_SUBREAPER) so they can be reaped.

    PID 1 of these machines does not reap zombies: without this, servers whose
    parent went away would linger as ``<defunct>`` entries after ``down``.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as dead: reap it
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def targets_csv(scale: int = 0) -> str:
    """The lab's sites as a v6scan target list (``host,sector,region,organisation``)."""
    lines = ["host,sector,region,organisation"]
    for s in SCENARIOS:
        lines.append(f"{s.target},{s.sector},{s.region},lab scenario {s.id}")
    lines += [f"{h},{sec},{reg},lab scale" for h, sec, reg, _ in scale_mod.sites(scale)]
    return "\n".join(lines) + "\n"


def all_labs() -> list[Lab]:
    labs = []
    if STATE_ROOT.is_dir():
        for f in sorted(STATE_ROOT.glob("*/state.json")):
            with contextlib.suppress(OSError, ValueError, TypeError):
                labs.append(Lab.load(f))
    return labs


def reap_stale() -> None:
    """Tear down non-persistent labs whose owning process died (e.g. a SIGKILLed test run)."""
    for lab in all_labs():
        if not lab.persistent and not _alive(lab.owner_pid):
            lab.down()


_CLEANUPS: list[Lab] = []
#: the process that registered the cleanups: a forked child (the report's page workers) inherits the
#: list, the atexit hook and the signal handlers, and must not tear down its parent's labs
_CLEANUP_PID = 0


def _cleanup_all() -> None:
    if os.getpid() != _CLEANUP_PID:
        return
    while _CLEANUPS:
        _CLEANUPS.pop().down()


def _register_cleanup(lab: Lab) -> None:
    """Make sure an ephemeral lab goes away at exit, on SIGTERM/SIGHUP too (in this process only)."""
    global _CLEANUP_PID
    if not _CLEANUPS:
        _CLEANUP_PID = os.getpid()
        atexit.register(_cleanup_all)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            prev = signal.getsignal(sig)

            def handler(signum: int, frame: Any, prev: Any = prev) -> None:
                _cleanup_all()
                if callable(prev):
                    prev(signum, frame)
                else:
                    raise SystemExit(128 + signum)

            with contextlib.suppress(ValueError):  # not in the main thread
                signal.signal(sig, handler)
    _CLEANUPS.append(lab)
