"""What a check or a sweep may be asked for, validated in one place for the command line and the API.

``v6scan check`` and ``v6scan scan`` turn an :class:`OptionError` into a usage error (exit 2) naming
the option; ``v6scan serve`` turns it into a 400 response naming the field.  So a name, a check
list, a policy, a timeout or a pinned address the command line refuses is refused by the API with
the same words, and the other way round.

The options a caller of the API may give are :data:`REQUEST_OPTIONS`; everything else that shapes
a measurement (resolvers, the address policy and its allow-list, exclusions, the self-check, CA
bundle, root hints, trust anchors, concurrency and politeness) is the server's configuration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import click

from v6scan.errors import V6scanError
from v6scan.registry import CHECKS, sweep_checks
from v6scan.scoring import BUILTIN_POLICIES, Policy, load_policy, policy_from_file_data
from v6scan.settings import Settings, parse_pins
from v6scan.targets import NameExclusions, Target, TargetError, parse_target

__all__ = [
    "MAX_HOSTS",
    "MAX_PINS",
    "REQUEST_OPTIONS",
    "TIMEOUT_RANGE",
    "TIMEOUT_TYPE",
    "WWW_CHOICES",
    "OptionError",
    "Seconds",
    "check_timeout",
    "excluded_note",
    "parse_hosts",
    "request_policy",
    "request_settings",
    "select_checks",
]

#: --timeout's range, seconds
TIMEOUT_RANGE = (0.1, 300.0)
WWW_CHOICES = ("auto", "always", "never")
#: names one check request may hold (a sweep is for more)
MAX_HOSTS = 50
#: pinned addresses (NAME=IP) one request may give
MAX_PINS = 64


class Seconds(click.FloatRange):
    """A number of seconds in a range: ``--timeout``'s type, for the command line and the API (not
    NaN or infinite, which a range lets through)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, bool) or (value is not None and not isinstance(value, int | float | str)):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        v = super().convert(value, param, ctx)  # type: ignore[arg-type]  # a string is converted too
        if not math.isfinite(v):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return v


#: --timeout's type
TIMEOUT_TYPE = Seconds(*TIMEOUT_RANGE)
#: the fields of a check or sweep request to the API: the per-request options of ``check``
REQUEST_OPTIONS = frozenset({"names", "policy", "checks", "timeout", "www", "addresses", "lang"})


class OptionError(V6scanError, ValueError):
    """An option's value is refused: ``option`` is its name (``--checks`` on the command line,
    ``checks`` in a request), ``message`` says why."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option, self.message = option, message


def select_checks(value: str | None, sweep: bool, option: str = "--checks") -> tuple[str, ...]:
    """What ``--checks`` selects (empty: every check): those ids only; ``all``; or ``+ID,...`` added to
    the command's default (``check``: every check; ``scan``: :func:`~v6scan.registry.sweep_checks`, which
    is also what ``scan`` runs without the option)."""
    default = sweep_checks() if sweep else ()
    items = [x.strip() for x in (value or "").split(",") if x.strip()]
    if not items:
        return default
    if items == ["all"]:
        return ()
    plus = [x[1:] for x in items if x.startswith("+")]
    if plus and len(plus) != len(items):
        raise OptionError(option, "give check ids, or +ID additions to the default, not both")
    unknown = [i for i in (plus or items) if i not in CHECKS]
    if unknown:
        raise OptionError(option, f"unknown check id(s): {', '.join(unknown)}")
    if not plus:
        return tuple(items)
    chosen = set(default or CHECKS) | set(plus)
    return () if chosen == set(CHECKS) else tuple(i for i in CHECKS if i in chosen)


def excluded_note(name: str, entry: str) -> str:
    return "" if entry == name else f"; it matches {entry}"


def parse_hosts(hosts: Iterable[str], excluded: NameExclusions, option: str = "HOSTS") -> list[Target]:
    """The targets of names or URLs given to ``check``; a name that does not parse, or that the
    exclusion list holds, is refused."""
    targets: list[Target] = []
    for h in hosts:
        try:
            t = parse_target(h)
        except TargetError as e:
            raise OptionError(option, f"{h!r}: {e.reason}") from None
        if (entry := excluded.match(t.name)) is not None:
            raise OptionError(option, f"{t.name} is on the exclusion list{excluded_note(t.name, entry)}")
        targets.append(t)
    return targets


def _convert(kind: click.ParamType[Any], value: Any, option: str) -> Any:
    """``value`` converted by the click type the command line uses for it, with its words."""
    try:
        return kind.convert(value, None, None)
    except click.BadParameter as e:
        raise OptionError(option, e.message) from None
    except (TypeError, ValueError):
        raise OptionError(option, f"{value!r} is not a valid value") from None


def check_timeout(value: Any, option: str = "--timeout") -> float:
    return float(_convert(TIMEOUT_TYPE, value, option))


def request_policy(value: Any, option: str = "policy") -> Policy:
    """A policy given by name (``default``, ``internetnl``, ``cn-gov``) or as a policy file's JSON
    object; never a path on the server."""
    try:
        if isinstance(value, Mapping):
            return policy_from_file_data(dict(value))
        if value in BUILTIN_POLICIES:
            return load_policy(str(value))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        raise OptionError(option, f"not a policy: {e}") from None
    if isinstance(value, str) and value:  # the command line's words for a name it does not know
        raise OptionError(option, f"unknown policy {value!r} (built in: {', '.join(BUILTIN_POLICIES)}); a request"
                          " may also give a policy file's JSON object, never a file on the server")
    raise OptionError(option, f"give a policy name ({', '.join(BUILTIN_POLICIES)}) or a policy file's JSON object")


def request_settings(base: Settings, request: Mapping[str, Any], excluded: NameExclusions, *,
                     sweep: bool) -> tuple[Settings, Policy, list[Target]]:
    """The settings, policy and targets of an API request: the server's settings ``base`` with the
    request's :data:`REQUEST_OPTIONS` applied, each validated as the command line validates it.  A
    field outside those (``resolver``, ``allow_net``, ``self_check``, ...) is refused: it is the
    server's configuration."""
    unknown = sorted(set(request) - REQUEST_OPTIONS)
    if unknown:
        raise OptionError(unknown[0], "not an option a request may give (the server's configuration decides"
                          f" it); a request takes {', '.join(sorted(REQUEST_OPTIONS))}")
    names = request.get("names", [])
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise OptionError("names", "give a list of names or URLs")
    if not sweep and not names:
        raise OptionError("names", "give at least one name or URL to check")
    if len(names) > MAX_HOSTS:
        raise OptionError("names", f"at most {MAX_HOSTS} names per check (submit a sweep for more)")
    targets = parse_hosts(names, excluded, "names")
    policy = request_policy(request.get("policy", "default"))
    checks = request.get("checks")
    if checks is not None and not isinstance(checks, str):
        raise OptionError("checks", "give comma-separated check ids, 'all' or +ID,... as one string")
    www = _convert(click.Choice(WWW_CHOICES), request.get("www", base.www), "www")
    pins = request.get("addresses", [])
    if not isinstance(pins, list) or not all(isinstance(p, str) for p in pins):
        raise OptionError("addresses", "give a list of NAME=IP")
    if len(pins) > MAX_PINS:
        raise OptionError("addresses", f"at most {MAX_PINS} NAME=IP a request")
    try:
        parse_pins(tuple(pins))
    except ValueError as e:
        raise OptionError("addresses", str(e)) from None
    _convert(click.Choice(["en", "zh-CN"]), request.get("lang", "en"), "lang")
    timeout = check_timeout(request["timeout"], "timeout") if "timeout" in request else base.timeout
    settings = replace(base, timeout=timeout, www=str(www), pins=tuple(pins),
                       check_ids=select_checks(checks, sweep, "checks"))
    return settings, policy, targets
