"""Lab scenarios of dns.dnssec: signed, broken and unsigned zones (issue 19).

Each is a healthy dual-stack site in a zone of its own, delegated from ``gov.test`` (signed) to the
child NSD (``2001:db8:53::31`` and ``::32``); :data:`SIGNING` says how :mod:`tests.lab.dnssec` signs
each zone:

* ``dnssec``: signed (ECDSA P-256), DS at ``gov.test``: the chain validates from the lab root.
* ``dnssec-bogus``: signed, DS at ``gov.test``, but every signature expired two days ago: bogus (a
  validating resolver answers SERVFAIL; the lab's resolver does not validate, so the site works).
* ``dnssec-unsigned``: delegated, not signed, no DS (``gov.test`` proves the absence with NSEC):
  insecure.
* ``dnssec-bigkey``: signed with two RSA-2048 KSKs and a ZSK (a KSK rollover), every key signing the
  DNSKEY RRset: the DNSKEY answer (about 1.7 kB) does not fit a 1232-byte UDP answer: truncated,
  then TCP.

dns.dnssec weighs nothing in every built-in policy: each site's verdict is ``ready``.
"""

from __future__ import annotations

from tests.lab.dnssec import Signing
from tests.lab.scenarios import ChildZone, Page, Scenario, _ok_expect, _pair

__all__ = ["DNSSEC", "SIGNING", "dnssec_v4", "dnssec_v6"]


def dnssec_v6(n: int) -> str:
    return f"2001:db8:80::5ec:{n:x}"


def dnssec_v4(n: int) -> str:
    return f"203.0.113.{149 + n}"


#: zone -> how it is signed (a zone not named here is not signed)
SIGNING: dict[str, Signing] = {
    "dnssec.gov.test": Signing(),
    "dnssec-bogus.gov.test": Signing(expired=True),
    "dnssec-bigkey.gov.test": Signing(algorithm="RSASHA256", bits=2048, ksks=2, zsks=1, sign_all=True),
}


def _site(sid: str, n: int, summary: str) -> Scenario:
    """A healthy dual-stack site on dnssec_v6(n)/dnssec_v4(n), in a zone of its own below gov.test."""
    name = f"{sid}.gov.test"
    a6, a4 = dnssec_v6(n), dnssec_v4(n)
    web = _pair(name, a6, a4, (Page("index.html", f"{sid} site", f"<p>Welcome to {sid}.</p>"),))
    zone = ChildZone(name, ((f"ns1.{name}", ("2001:db8:53::31", "203.0.113.31")),
                            (f"ns2.{name}", ("2001:db8:53::32", "203.0.113.32"))))
    return Scenario(sid, name, "gov", "east", summary, records=((name, "AAAA", a6), (name, "A", a4)), web=web,
                    zone=zone, expect={"dns": {f"{name} AAAA": (a6,), f"{name} A": (a4,)},
                                       **_ok_expect(name, a6, a4, f"{sid} site"), "verdict": "ready"})


DNSSEC: tuple[Scenario, ...] = (
    _site("dnssec", 1, "a signed zone (ECDSA P-256) with its DS at gov.test: validates from the root over IPv6"),
    _site("dnssec-bogus", 2, "a signed zone with its DS at gov.test whose signatures all expired: bogus"
          " (validating resolvers answer SERVFAIL)"),
    _site("dnssec-unsigned", 3, "a delegated zone that is not signed (no DS at gov.test): insecure"),
    _site("dnssec-bigkey", 4, "a signed zone whose DNSKEY RRset (two RSA-2048 KSKs and a ZSK, each signing it)"
          " is too big for a 1232-byte UDP answer: truncated, then TCP"),
)
