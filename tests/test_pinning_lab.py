"""Pre-launch pinning (``check --address NAME=IP``): a CI job gates a launch before the AAAA record
is published.  The pinned addresses replace the name's A/AAAA records everywhere the scanner
resolves the name (its own checks, redirect hops, links to it); the DNS results say so.

Unit tests of the option's parsing and of :meth:`Context.pinned`; lab tests of ``v6scan check``
with pins that are right (ready, exit 0), wrong (the IPv6 server is not set up for the name: the
gate fails) and absent (the published state).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from tests.lab import Lab
from tests.lab.scenarios import by_id
from tests.test_cli_lab import common, v6scan
from v6scan.cli import cli
from v6scan.context import Context
from v6scan.model import Status
from v6scan.settings import Settings, parse_pin, parse_pins


def _addr(scenario: str, qtype: str) -> str:
    (value,) = [r[2] for r in by_id()[scenario].records if r[1] == qtype and r[0] == by_id()[scenario].target]
    return value


# --------------------------------------------------------------------------- parsing, no network


def test_a_pin_is_a_name_and_a_canonical_address() -> None:
    assert parse_pin("WWW.Example.ORG.=2001:DB8:0::10") == ("www.example.org", "2001:db8::10")
    assert parse_pin("example.org=[2001:db8::1]") == ("example.org", "2001:db8::1")
    assert parse_pin("bücher.example=192.0.2.7") == ("xn--bcher-kva.example", "192.0.2.7")
    assert parse_pins(("a.test=2001:db8::1", "a.test=198.51.100.1", "A.test=2001:db8::1")) == {
        "a.test": ("2001:db8::1", "198.51.100.1")}


@pytest.mark.parametrize("spec", ["example.org", "=2001:db8::1", "example.org=", "example.org=not-an-ip",
                                  "exa mple.org=2001:db8::1", "example.org=2001:db8::1/64"])
def test_a_bad_pin_is_refused_with_the_reason(spec: str) -> None:
    with pytest.raises(ValueError, match=r"expected NAME=IP|not an IP address|not allowed in a host name"):
        parse_pin(spec)
    r = CliRunner().invoke(cli, ["check", "example.org", "--address", spec])
    assert r.exit_code == 2 and "--address" in r.output


def test_context_answers_a_pinned_name_from_its_pins_only() -> None:
    ctx = Context.create(Settings(pins=("a.test=2001:db8::1", "a.test=2001:db8::2", "b.test=198.51.100.9")))
    aaaa = ctx.pinned("A.test.", "AAAA")
    assert aaaa is not None and aaaa.status is Status.OK and aaaa.values == ["2001:db8::1", "2001:db8::2"]
    a = ctx.pinned("a.test", "A")
    assert a is not None and a.status is Status.NODATA and not a.values  # pinned: no other address
    b = ctx.pinned("b.test", "AAAA")
    assert b is not None and b.status is Status.NODATA
    assert ctx.pinned("c.test", "AAAA") is None and ctx.pinned("a.test", "MX") is None


# --------------------------------------------------------------------------- the lab


def _check(lab: Lab, name: str, *pins: str) -> tuple[int, dict[str, Any]]:
    args = ["check", name, *common(lab), "--www", "never", "--format", "json", "--fail-on", "partial"]
    for p in pins:
        args += ["--address", p]
    r = v6scan(lab, *args)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    return r.returncode, json.loads(r.stdout)


def _evidence(doc: dict[str, Any], check: str, name: str) -> dict[str, Any]:
    ev: dict[str, Any] = doc["checks"][check]["details"]["names"][name]["evidence"]
    return ev


def test_pins_that_are_right_pass_the_gate_and_say_so(lab: Lab) -> None:
    v6, v4 = _addr("healthy", "AAAA"), _addr("healthy", "A")
    code, doc = _check(lab, "healthy.gov.test", f"healthy.gov.test={v6}", f"healthy.gov.test={v4}")
    assert code == 0 and doc["verdict"] == "ready", doc["reasons"]
    assert _evidence(doc, "dns.resolve", "healthy.gov.test")["pinned"] == [v6, v4]
    aaaa = _evidence(doc, "dns.aaaa", "healthy.gov.test")
    assert aaaa["pinned"] is True and aaaa["usable"] == [v6]
    assert "addresses_pinned" in [r["code"] for r in doc["reasons"]]


def test_a_launch_whose_ipv6_server_is_not_ready_fails_the_gate(lab: Lab) -> None:
    # v4only.com.test publishes no AAAA; the launch would add one pointing at a server that does not
    # serve the name yet (another site's address: another certificate, another page)
    published_code, published = _check(lab, "v4only.com.test")
    assert published["verdict"] == "absent" and published_code == 1
    wrong_v6, v4 = _addr("healthy", "AAAA"), _addr("v4only", "A")
    code, doc = _check(lab, "v4only.com.test", f"v4only.com.test={wrong_v6}", f"v4only.com.test={v4}")
    assert code == 1 and doc["verdict"] in ("broken", "partial"), doc["verdict"]
    assert _evidence(doc, "dns.aaaa", "v4only.com.test")["usable"] == [wrong_v6]
    assert doc["checks"]["dns.aaaa"]["result"] == "pass"
    assert doc["checks"]["web.tls"]["result"] == "fail" or doc["checks"]["web.same_site"]["result"] == "fail"


def test_a_pinned_address_that_refuses_fails_the_gate(lab: Lab) -> None:
    dead_v6, v4 = _addr("refused", "AAAA"), _addr("healthy", "A")
    code, doc = _check(lab, "healthy.gov.test", f"healthy.gov.test={dead_v6}", f"healthy.gov.test={v4}")
    assert code == 1 and doc["verdict"] == "broken"
    assert doc["checks"]["web.reach"]["result"] == "fail"
