"""The check catalogue: stable ids (DESIGN.md section 2), one family module each."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHECKS", "CheckInfo", "family_enabled"]


@dataclass(frozen=True, slots=True)
class CheckInfo:
    id: str
    family: str
    title: str
    #: measured per site name (apex and www.) rather than once per target domain
    per_variant: bool = True


CHECKS: dict[str, CheckInfo] = {c.id: c for c in (
    CheckInfo("dns.resolve", "dns", "the host resolves"),
    CheckInfo("dns.aaaa", "dns", "AAAA records with global addresses"),
    CheckInfo("dns.ns_aaaa", "dns", "name servers have IPv6 addresses"),
    CheckInfo("dns.ns_reach", "dns", "every name server address answers over UDP and TCP"),
    CheckInfo("dns.v6_path", "dns", "the name resolves from the root over IPv6 only"),
    CheckInfo("web.reach", "web", "every address accepts TCP on 80 and 443"),
    CheckInfo("web.tls", "web", "a valid certificate on every IPv6 address"),
    CheckInfo("web.http", "web", "the site answers over IPv6, redirects included"),
    CheckInfo("web.same_site", "web", "the same site over IPv6 and IPv4"),
    CheckInfo("web.latency", "web", "IPv6 is about as fast and reliable as IPv4"),
    CheckInfo("web.links", "web", "the site's 2nd- and 3rd-level pages work over IPv6"),
    CheckInfo("web.resources", "web", "the homepage's subresources come from IPv6-capable hosts"),
    CheckInfo("path.pmtu", "path", "no PMTU blackhole on the IPv6 path"),
    CheckInfo("path.icmp", "path", "the IPv6 addresses answer ICMPv6 echo (else: where the path ends)"),
    CheckInfo("mail.mx_aaaa", "mail", "mail servers have IPv6 addresses", per_variant=False),
    CheckInfo("mail.mx_reach", "mail", "every mail server greets over IPv6 (SMTP on port 25)", per_variant=False),
    CheckInfo("self.v6", "self", "the scanner itself has working IPv6", per_variant=False),
)}


def family_enabled(selected: tuple[str, ...], *ids: str) -> bool:
    """Whether any of ``ids`` is selected (an empty selection means every check)."""
    return not selected or any(i in selected for i in ids)
