"""DNSSEC in the lab: zone signing and the trust anchor (issue 19, dns.dnssec).

The lab's root ``.``, ``test.`` and ``gov.test`` are signed (ECDSA P-256, a KSK and a ZSK each, made
per lab with ``ldns-keygen`` in the lab's ``dnssec/`` directory, signed with ``ldns-signzone``, NSEC),
with a DS record at each parent, so the chain validates from the lab's own root anchor
(:func:`anchor_file`, a DS record of the root's KSK: what ``--trust-anchor`` reads).  The other
sector zones (``edu.test``, ``com.test``, ``cdn.test``) and the child zones stay unsigned: no DS at
their parent, insecure, as most of the field.  The dns.dnssec scenarios
(:mod:`tests.lab.scenarios_dnssec`, :data:`~tests.lab.scenarios_dnssec.SIGNING`) add child zones of
``gov.test`` signed in their own ways (valid, expired signatures, a DNSKEY RRset too big for a
1232-byte UDP answer) or left unsigned.

Zones are signed bottom-up (a child's DS goes into its parent's text before the parent is signed).
Signing is quick: the keys are made at once (the RSA keys of the big-DNSKEY zone take the most,
about 0.2 s), then each zone is signed in a few milliseconds: about 0.3 s per lab start.

The lab's Unbound does **not** validate (``module-config: "iterator"``): it is the scanner that
validates (dns.dnssec), whatever resolver it is given.  A validating lab resolver would answer
SERVFAIL for every name of the bogus zone, as validating resolvers do in the field: that site's
``dns.resolve`` would then be an ``error`` and hide every other check of it, and every scenario's
resolution would depend on the signatures.  Without validation the other checks see exactly the
DNS they saw before the zones were signed (the resolver does not ask with the DO bit, so NSD sends
no signatures to it).
"""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PARENT_SIGNED", "Signing", "anchor_file", "sign_zones", "unbound_lines"]


@dataclass(frozen=True)
class Signing:
    """How one lab zone is signed."""

    #: ldns-keygen algorithm
    algorithm: str = "ECDSAP256SHA256"
    bits: int | None = None
    #: key-signing keys and zone-signing keys made for it
    ksks: int = 1
    zsks: int = 1
    #: every key signs the DNSKEY RRset (ldns-signzone -A): a bigger DNSKEY answer
    sign_all: bool = False
    #: signatures whose validity ended two days ago (inception 30 days ago): bogus
    expired: bool = False
    #: its DS record is published at the parent (False: signed, but the chain of trust stops above it)
    ds: bool = True


#: the zones of the lab's hierarchy that are signed, whatever the scenarios add
PARENT_SIGNED: dict[str, Signing] = {".": Signing(), "test": Signing(), "gov.test": Signing()}


def _run(argv: list[str], cwd: Path) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _keygens(plan: dict[str, Signing], directory: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Every zone's keys, made at once (``ldns-keygen`` processes in parallel: the RSA keys take the
    longest): zone -> (KSK base names, ZSK base names)."""
    procs: list[tuple[str, bool, subprocess.Popen[str]]] = []
    for zone, s in plan.items():
        work = _work(directory, zone)
        work.mkdir(parents=True, exist_ok=True)
        for ksk in [True] * s.ksks + [False] * s.zsks:
            argv = ["ldns-keygen", "-a", s.algorithm, *(["-b", str(s.bits)] if s.bits else []),
                    *(["-k"] if ksk else []), f"{zone}." if zone != "." else "."]
            procs.append((zone, ksk, subprocess.Popen(argv, cwd=work, stdout=subprocess.PIPE,
                                                      stderr=subprocess.PIPE, text=True)))
    keys: dict[str, tuple[list[str], list[str]]] = {z: ([], []) for z in plan}
    for zone, ksk, proc in procs:
        out, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"ldns-keygen for {zone} failed ({proc.returncode}): {err.strip()}")
        keys[zone][0 if ksk else 1].append(out.strip())
    return keys


def _work(directory: Path, zone: str) -> Path:
    return directory / ("root" if zone == "." else zone)


def _date(days: int) -> str:
    return (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)).strftime("%Y%m%d%H%M%S")


def sign_zone(zone: str, text: str, s: Signing, directory: Path, keys: tuple[list[str], list[str]]
              ) -> tuple[str, list[str]]:
    """The zone ``text`` signed as ``s`` says with ``keys`` (:func:`_keygens`), and the DS records of its
    KSKs (zone-file lines)."""
    work = _work(directory, zone)
    ksks, zsks = keys
    (work / "zone").write_text(text)
    argv = ["ldns-signzone", "-f", "signed", *(["-A"] if s.sign_all else [])]
    if s.expired:
        argv += ["-i", _date(-30), "-e", _date(-2)]
    _run([*argv, "zone", *ksks, *zsks], work)
    ds = [line.strip() for k in ksks for line in (work / f"{k}.ds").read_text().splitlines() if line.strip()]
    return (work / "signed").read_text(), ds


def _parent(zone: str) -> str:
    return "." if "." not in zone else zone.split(".", 1)[1]


def _depth(zone: str) -> int:
    return 0 if zone == "." else zone.count(".") + 1


def sign_zones(zones: dict[str, dict[str, str]], directory: Path) -> dict[str, dict[str, str]]:
    """The zone texts per NSD instance (as :func:`tests.lab.zones.build_zones` gives them), signed
    where the scenarios want it; keys are made in ``directory``, the root's anchor written to
    ``directory / "root.anchor"``."""
    from tests.lab.scenarios_dnssec import SIGNING

    plan = {**PARENT_SIGNED, **SIGNING}
    where = {zname: nsd for nsd, zs in zones.items() for zname in zs}
    missing = sorted(z for z in plan if z not in where)
    if missing:
        raise ValueError(f"zones to sign that no NSD serves: {missing}")
    directory.mkdir(parents=True, exist_ok=True)
    texts = {z: zones[where[z]][z] for z in where}
    keys = _keygens(plan, directory)
    for zone in sorted(plan, key=_depth, reverse=True):  # children first: their DS goes into the parent
        signed, ds = sign_zone(zone, texts[zone], plan[zone], directory, keys[zone])
        texts[zone] = signed
        if zone == ".":
            (directory / "root.anchor").write_text("; the lab root's trust anchor (v6scan --trust-anchor)\n"
                                                   + "\n".join(ds) + "\n")
        elif plan[zone].ds:
            parent = _parent(zone)
            if parent in texts:
                texts[parent] = texts[parent].rstrip("\n") + "\n" + "\n".join(ds) + "\n"
    return {nsd: {z: texts[z] for z in zs} for nsd, zs in zones.items()}


def unbound_lines(directory: Path) -> list[str]:
    """Unbound's lines about validation: none (the lab resolver does not validate, see above)."""
    return ['  module-config: "iterator"']


def anchor_file(lab_directory: Path) -> Path:
    """The lab root's trust anchor (``--trust-anchor``)."""
    return lab_directory / "dnssec" / "root.anchor"
