"""The lab's self-check: probe every scenario's ``expect`` with plain sockets.

The path scenarios' behaviours (:mod:`tests.lab.scenarios_path`: narrower hops, fragments and
destination options dropped) are checked from their tables with raw sockets (:func:`probe_path`):
Packet Too Big from the router, fragmented echo and echo with destination options answered or not.

Runs *inside the client namespace* (``ip netns exec <client> python -m
tests.lab.verify STATE.json``) and prints a JSON report.  Uses only the
standard library and dnspython, never the scanner, so the lab is checked
independently of the code it tests.

On a lab with random loss (``Lab.set_loss``) a probe that does not see what
its scenario expects is tried again a few times: a lost packet must not pass
for a misbehaving server.
"""

from __future__ import annotations

import functools
import json
import os
import re
import select
import socket
import ssl
import struct
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from tests.lab import scale as scale_mod
from tests.lab.scenarios import ALL_SCENARIOS
from tests.lab.scenarios_path import (
    DROP_DSTOPT,
    DROP_ECHO,
    DROP_FRAGMENTS,
    FRAGDNS,
    FRAGDNS_NS,
    NARROW_HOPS,
    NS_DROP_FRAGMENTS,
    path_v6,
)

__all__ = ["probe_dns", "probe_dynamic", "probe_http", "probe_path", "probe_smtp", "probe_tcp", "probe_tls", "run"]

TIMEOUT = 2.5


def _sock(addr: str, port: int, timeout: float = TIMEOUT, mss: int | None = None) -> socket.socket:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if mss:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
    try:
        s.connect((addr, port))
    except BaseException:
        s.close()
        raise
    return s


def probe_dns(resolver: str, key: str) -> object:
    name, rtype = key.split()
    q = dns.message.make_query(name, rtype)
    r, _ = dns.query.udp_with_fallback(q, resolver, timeout=6)
    if r.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(r.rcode())
    out = []
    for rrset in r.answer:
        for rd in rrset:
            if rd.rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS):
                out.append(rd.target.to_text())
            else:
                out.append(rd.to_text())
    if not out:
        return "NODATA"
    return tuple(sorted(out))


def probe_tcp(key: str) -> str:
    m = re.fullmatch(r"\[?([^\]]+?)\]?:(\d+)", key)
    assert m, key
    try:
        _sock(m.group(1), int(m.group(2))).close()
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    except OSError as e:
        return f"error:{e.strerror}"
    return "open"


def _ctx(ca: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_verify_locations(cafile=ca)
    return ctx


def _handshake(addr: str, sni: str, ca: str, mss: int | None = None) -> str:
    try:
        s = _sock(addr, 443, mss=mss)
    except OSError as e:
        return f"connect:{e.__class__.__name__}"
    try:
        with _ctx(ca).wrap_socket(s, server_hostname=sni):
            return "valid"
    except ssl.SSLCertVerificationError as e:
        code = e.verify_code
        if code == 10:
            return "expired"
        if code == 62:
            return "mismatch"
        if code in (18, 19, 20, 21):
            return "untrusted"
        return f"verify:{code}"
    except TimeoutError:
        return "stall"
    except (ssl.SSLError, OSError) as e:
        return f"tls:{e.__class__.__name__}"
    finally:
        s.close()


def probe_tls(ca: str, key: str) -> str:
    addr, sni = key.split()
    return _handshake(addr, sni, ca)


def probe_pmtu(ca: str, key: str) -> str:
    addr, sni = key.split()
    full, clamped = _handshake(addr, sni, ca), _handshake(addr, sni, ca, mss=1220)
    if full == "stall" and clamped == "valid":
        return "blackhole"
    return f"full-mss={full} clamped={clamped}"


def fetch(ca: str, key: str) -> tuple[str, list[str], bytes] | str:
    """GET ``URL@ADDR``: (status, header lines, body), or an error string."""
    url, addr = key.rsplit("@", 1)
    u = urlsplit(url)
    assert u.hostname
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        s = _sock(addr, port)
        if u.scheme == "https":
            s = _ctx(ca).wrap_socket(s, server_hostname=u.hostname)
        req = f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.hostname}\r\nConnection: close\r\n" \
              "User-Agent: v6scan-lab-verify\r\n\r\n"
        s.sendall(req.encode())
        data = b""
        while len(data) < 1 << 20:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
    except (OSError, ssl.SSLError) as e:
        return f"error:{e.__class__.__name__}"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split()[1] if lines and len(lines[0].split()) > 1 else "?"
    return status, lines[1:], body


def _title(body: bytes) -> str:
    m = re.search(rb"<title>(.*?)</title>", body, re.S | re.I)
    return m.group(1).decode() if m else ""


def probe_http(ca: str, key: str) -> str:
    got = fetch(ca, key)
    if isinstance(got, str):
        return got
    status, lines, body = got
    if status.startswith("3"):
        loc = next((ln.split(":", 1)[1].strip() for ln in lines
                    if ln.lower().startswith("location:")), "")
        return f"{status} {loc}"
    return f"{status} title={_title(body)}"


def probe_dynamic(ca: str, key: str) -> str:
    """``"differs"`` if two GETs of ``URL@ADDR`` answer 200, same title, different bodies."""
    first, second = fetch(ca, key), fetch(ca, key)
    if isinstance(first, str) or isinstance(second, str):
        return f"error:{first if isinstance(first, str) else second}"
    if (first[0], second[0]) != ("200", "200"):
        return f"status {first[0]}/{second[0]}"
    if _title(first[2]) != _title(second[2]):
        return f"title {_title(first[2])!r} -> {_title(second[2])!r}"
    return "differs" if first[2] != second[2] else "same"


def probe_smtp(key: str) -> str:
    try:
        s = _sock(key, 25)
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return f"error:{e.__class__.__name__}"
    try:
        f = s.makefile("rb")
        banner = f.readline()
        if not banner.startswith(b"220"):
            return f"banner:{banner[:40]!r}"
        s.sendall(b"EHLO verify.lab\r\n")
        while (line := f.readline()).startswith(b"250-"):
            pass
        if not line.startswith(b"250 "):
            return f"ehlo:{line[:40]!r}"
        s.sendall(b"QUIT\r\n")
        return "greets" if f.readline().startswith(b"221") else "no-quit"
    except TimeoutError:
        return "silent"
    except OSError as e:
        return f"error:{e.__class__.__name__}"
    finally:
        s.close()


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _echo_packets(kind: str, src: str, dst: str, ident: int) -> list[bytes]:
    """An ICMPv6 echo request of 1048 bytes as whole IPv6 packets: in two fragments (``frag``) or
    with a destination-options header (``dstopt``)."""
    s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    body = b"lab-verify" * 100
    icmp = struct.pack("!BBHHH", 128, 0, 0, ident, 1) + body
    cs = _csum(s6 + d6 + struct.pack("!I3xB", len(icmp), 58) + icmp)
    icmp = icmp[:2] + struct.pack("!H", cs) + icmp[4:]

    def ip6(nh: int, payload: bytes) -> bytes:
        return struct.pack("!IHBB", 6 << 28, len(payload), nh, 64) + s6 + d6 + payload

    if kind == "dstopt":
        return [ip6(60, struct.pack("!BB", 58, 0) + b"\x01\x04\0\0\0\0" + icmp)]
    half = len(icmp) // 2 // 8 * 8
    return [ip6(44, struct.pack("!BBHI", 58, 0, 0 | 1, ident) + icmp[:half]),
            ip6(44, struct.pack("!BBHI", 58, 0, half, ident) + icmp[half:])]


def probe_path(kind: str, addr: str) -> str:
    """``ptb``: a 1500-byte echo request, whole (don't fragment, whatever the kernel's cached path MTU):
    "ROUTER MTU" of the Packet Too Big that comes back, "answered" or "silent".  ``frag``/``dstopt``:
    an echo request in two fragments / with a destination-options header: "answered" or "silent"."""
    ident = (os.getpid() + hash((kind, addr))) & 0xFFFF
    icmp = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        if kind == "ptb":
            icmp.setsockopt(socket.IPPROTO_IPV6, 23, 3)  # IPV6_MTU_DISCOVER: IPV6_PMTUDISC_PROBE
            icmp.setsockopt(socket.IPPROTO_IPV6, 62, 1)  # IPV6_DONTFRAG
            icmp.sendto(struct.pack("!BBHHH", 128, 0, 0, ident, 1) + b"\0" * 1452, (addr, 0))
        else:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
                u.connect((addr, 9))
                src = u.getsockname()[0]
            with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW) as raw:
                for pkt in _echo_packets(kind, src, addr, ident):
                    raw.sendto(pkt, (addr, 0))
        deadline = time.monotonic() + TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([icmp], [], [], left)[0]:
                break
            data, a = icmp.recvfrom(4096)
            if data[0] == 129 and a[0] == addr and struct.unpack("!H", data[4:6])[0] == ident:
                return "answered"
            if data[0] == 2 and len(data) >= 52 and data[32:48] == socket.inet_pton(socket.AF_INET6, addr) \
                    and data[48] == 128 and struct.unpack("!H", data[52:54])[0] == ident:
                return f"{a[0]} {struct.unpack('!I', data[4:8])[0]}"
        return "silent"
    finally:
        icmp.close()


def probe_big_dns(addr: str, zone: str) -> str:
    """The apex TXT of ``zone`` from ``addr`` over UDP with a 4096-byte EDNS buffer: "fragmented" (an
    answer bigger than 1280 bytes: it came in fragments), "small", "truncated" or "timeout"."""
    q = dns.message.make_query(zone, "TXT", use_edns=0, payload=4096)
    q.flags &= ~0x0100
    try:
        r = dns.query.udp(q, addr, timeout=TIMEOUT)
    except dns.exception.Timeout:
        return "timeout"
    if r.flags & 0x0200:
        return "truncated"
    return "fragmented" if len(r.to_wire()) > 1280 else "small"


def run(state: dict[str, object]) -> dict[str, object]:
    ca = str(Path(str(state["directory"])) / "pki" / "ca.pem")
    resolver = "2001:db8:53::53"
    jobs: list[tuple[str, str, str, object, Callable[[], object]]] = []

    def add(sid: str, probe: str, key: str, expected: object) -> None:
        fn: Callable[[], object]
        if probe == "dns":
            fn = lambda: probe_dns(resolver, key)  # noqa: E731
        elif probe == "tcp":
            fn = lambda: probe_tcp(key)  # noqa: E731
        elif probe == "tls":
            fn = lambda: probe_tls(ca, key)  # noqa: E731
        elif probe == "pmtu":
            fn = lambda: probe_pmtu(ca, key)  # noqa: E731
        elif probe == "http":
            fn = lambda: probe_http(ca, key)  # noqa: E731
        elif probe == "smtp":
            fn = lambda: probe_smtp(key)  # noqa: E731
        elif probe == "dynamic":
            fn = lambda: probe_dynamic(ca, key)  # noqa: E731
        else:
            raise ValueError(f"unknown probe {probe!r} in scenario {sid}")
        jobs.append((sid, probe, key, expected, fn))

    for s in ALL_SCENARIOS:
        for probe, table in s.expect.items():
            if probe == "verdict":
                continue
            assert isinstance(table, dict)
            for key, expected in table.items():
                add(s.id, probe, key, expected)
    # the path scenarios (their tables, not their expect: they are not a kind of expectation)
    for addr, mtu in NARROW_HOPS.items():
        jobs.append(("path", "ptb", addr, f"2001:db8:ffff:1::1 {mtu}", functools.partial(probe_path, "ptb", addr)))
    for addr in ("2001:db8:1280::10", *DROP_ECHO):  # the PMTU blackhole; echo ignored
        jobs.append(("path", "ptb", addr, "silent", functools.partial(probe_path, "ptb", addr)))
    frag_silent = {*DROP_FRAGMENTS, *NS_DROP_FRAGMENTS}
    for addr in (*frag_silent, *DROP_DSTOPT, FRAGDNS_NS[0][1]):
        want = "silent" if addr in frag_silent else "answered"
        jobs.append(("path", "frag", addr, want, functools.partial(probe_path, "frag", addr)))
    for addr in (*DROP_DSTOPT, *DROP_FRAGMENTS, path_v6(5)):
        want = "silent" if addr in DROP_DSTOPT else "answered"
        jobs.append(("path", "dstopt", addr, want, functools.partial(probe_path, "dstopt", addr)))
    for _, addr in FRAGDNS_NS:  # the 2.4 kB answer over UDP: in fragments, or lost on the way
        want = "timeout" if addr in NS_DROP_FRAGMENTS else "fragmented"
        jobs.append(("path", "bigdns", addr, want, functools.partial(probe_big_dns, addr, FRAGDNS)))
    # the resolver over IPv4 too, and the self-check endpoint
    add("lab", "tcp", "203.0.113.53:53", "open")
    add("lab", "http", "http://selfcheck.test/@2001:db8:80::1", "200 title=self-check")
    # scale mode: one sample of each behaviour
    seen: set[str] = set()
    for i, (host, _, _, verdict) in enumerate(scale_mod.sites(int(str(state.get("scale", 0))))):
        b = scale_mod.behaviour(i)
        if b in seen:
            continue
        seen.add(b)
        if b == "nxdomain":
            add(f"scale-{b}", "dns", f"{host} AAAA", "NXDOMAIN")
        elif b == "v4only":
            add(f"scale-{b}", "dns", f"{host} AAAA", "NODATA")
            add(f"scale-{b}", "http", f"https://{host}/@{scale_mod._v4(i)}", "200 title=scale site")
        else:
            six = {"healthy": scale_mod._v6, "dropped": scale_mod._dead6,
                   "refused": scale_mod._refused6}[b](i)
            add(f"scale-{b}", "dns", f"{host} AAAA", (six,))
            want = {"healthy": "open", "dropped": "timeout", "refused": "refused"}[b]
            add(f"scale-{b}", "tcp", f"[{six}]:443", want)
        del verdict

    # with random loss on the path a mismatch is tried again (a lost packet is not a finding)
    attempts = 5 if int(str(state.get("loss", 0))) else 1

    def attempt(fn: Callable[[], object], want: object) -> object:
        got: object = None
        for _ in range(attempts):
            try:
                got = fn()
            except Exception as e:  # a probe bug is a failure too
                got = f"exception:{e!r}"
            if got == want:
                break
        return got

    failures = []
    with ThreadPoolExecutor(max_workers=64) as pool:
        futures = []
        for job in jobs:
            exp = job[3]
            goal = tuple(sorted(exp)) if isinstance(exp, tuple) else exp
            futures.append((job, goal, pool.submit(attempt, job[4], goal)))
        for (sid, probe, key, _, _), goal, fut in futures:
            got = fut.result()
            if got != goal:
                failures.append({"scenario": sid, "probe": probe, "key": key,
                                 "expected": goal, "got": got})
    return {"checked": len(jobs), "failures": failures}


def main() -> None:
    state = json.loads(Path(sys.argv[1]).read_text())
    report = run(state)
    print(json.dumps(report, indent=1, default=list))
    sys.exit(1 if report["failures"] else 0)


if __name__ == "__main__":
    main()
