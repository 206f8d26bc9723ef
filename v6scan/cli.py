"""The v6scan command line: a thin click layer over the library.

Exit codes: 0 every gate passed, 1 a gate failed, 2 usage error, 3 incomplete
(``check``: a site could not be judged, inconclusive or error; ``scan``: targets
remain unmeasured, the sweep interrupted or targets to retry), 4 internal error.
A ``scan`` whose every target got a verdict exits 0 whatever the verdicts,
unless a gate (``--fail-on``, ``--min-score`` or the policy's) fails: 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import itertools
import json
import logging
import os
import select
import signal
import sqlite3
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from v6scan import __version__, eventloop
from v6scan.addresses import AddressPolicy
from v6scan.cluster import ClusterError
from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target
from v6scan.errors import configure_logging
from v6scan.listfiles import ListFileError, list_lines
from v6scan.options import TIMEOUT_TYPE, OptionError, excluded_note, parse_hosts, select_checks
from v6scan.output import FORMATS, Outcome, gate, github, render
from v6scan.providers import ProviderTable, ProviderTableError
from v6scan.registry import CHECKS, sweep_checks
from v6scan.report import (
    build_report,
    render_html,
)
from v6scan.report.export import export_targets_csv
from v6scan.report.pages import SINGLE_FILE_MAX, write_report_dir
from v6scan.report.remediation import write_remediation_dir, write_remediation_file
from v6scan.report.rows import count_verdicts
from v6scan.report.sweep_export import EXPORT_FORMATS, export_sweep
from v6scan.resolver import parse_server
from v6scan.scoring import BUILTIN_POLICIES, VERDICTS, Policy, SiteVerdict, load_policy, policy_from_json, score_target
from v6scan.settings import Settings, parse_pins
from v6scan.store import Store, StoreError
from v6scan.sweep import DEFAULT_MAX_RETRIES, resume_sweep, retryable, run_sweep, settings_config, stored_config
from v6scan.targets import (
    NameExclusions,
    Target,
    TargetError,
    TargetList,
    iter_targets,
    parse_exclusion,
    read_targets,
)

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
CONFIG_PLACES = (Path("v6scan.toml"), Path.home() / ".config" / "v6scan" / "config.toml")


def _load_config(path: Path | None) -> dict[str, Any]:
    """The config file given (--config, $V6SCAN_CONFIG), else the first of CONFIG_PLACES, which is
    announced on stderr: a file picked up from the working directory must not act unseen."""
    for p in ([path] if path else [p for p in CONFIG_PLACES if p.is_file()]):
        if path is None:
            click.echo(f"v6scan: using config file {p if p.is_absolute() else f'./{p}'}", err=True)
        try:
            return tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise click.BadParameter(f"{p}: {e}", param_hint="--config") from None
    return {}


#: config keys are the long option names; these are stored under another parameter name
_PARAM = {"format": "fmt", "sweep": "sweep_id", "resolver": "resolvers", "allow_net": "allow_nets",
          "public_suffix": "suffixes", "checks": "check_ids", "exclude": "exclude_file", "resume": "resume_id"}


def _key(k: str) -> str:
    k = k.replace("-", "_")
    return _PARAM.get(k, k)


def _default_map(config: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys apply to every command; a [command] table to that command only."""
    shared = {_key(k): v for k, v in config.items() if not isinstance(v, dict)}
    commands = ("check", "scan", "report", "export", "diff", "rescore", "serve")
    out: dict[str, Any] = {c: dict(shared) for c in commands}
    for name, table in config.items():
        if isinstance(table, dict) and name in commands:
            out[name].update({_key(k): v for k, v in table.items()})
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="v6scan")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              envvar="V6SCAN_CONFIG", help="TOML file of defaults (else ./v6scan.toml or"
              " ~/.config/v6scan/config.toml).")
@click.option("-v", "--verbose", count=True, envvar="V6SCAN_VERBOSE",
              help="Log more on stderr: -v what sweeps do (INFO), -vv each target (DEBUG).")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), envvar="V6SCAN_LOG_FILE",
              help="Append the log to FILE instead of stderr.")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, verbose: int, log_file: Path | None) -> None:
    """v6scan: measure how ready websites are for IPv6, and explain what to fix.

    \b
    Examples:
      v6scan check example.org                      # one site, a report for people
      v6scan check example.org --format junit --fail-on partial > v6.xml
      v6scan scan targets/gov.csv --db sweep.db     # a sweep, resumable
      v6scan report --db sweep.db --lang zh-CN -o reports/sweep.html
      v6scan export --db sweep.db --format csv -o sweep.csv
      v6scan diff 1 2 --db sweep.db

    Every option can also come from the environment (V6SCAN_RESOLVER,
    V6SCAN_POLICY, ...) or from a TOML config file.

    -v/--verbose and --log-file go before the command (v6scan -vv check
    example.org); the log never goes to stdout, which keeps the output.

    \b
    Shell completion: eval "$(_V6SCAN_COMPLETE=bash_source v6scan)"

    \b
    Exit codes:
      0  done, every gate passed (scan: every target has a verdict, whatever it is)
      1  a gate failed (--fail-on, --min-score, or the policy's gates)
      2  usage error
      3  incomplete: check: a site could not be judged (inconclusive, error);
         scan: targets remain unmeasured (interrupted, targets to retry) -> --resume
      4  internal error
    """
    level = logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING
    try:
        ctx.call_on_close(configure_logging(level, log_file))
    except OSError as e:
        raise click.BadParameter(f"{log_file}: {e.strerror or e}", param_hint="--log-file") from None
    ctx.default_map = _default_map(_load_config(config_file))


#: what --checks' help adds about the checks a sweep runs only when named
_NOT_IN_SWEEPS = (f"; scan leaves out {', '.join(i for i in CHECKS if i not in sweep_checks())} unless"
                  " named (e.g. --checks +path.mtu)" if sweep_checks() else "")


def _scan_options(f: F, leave_out: tuple[str, ...] = ()) -> F:
    opts = [
        click.option("--resolver", "resolvers", multiple=True, metavar="ADDR[:PORT]", envvar="V6SCAN_RESOLVER",
                     help="Recursive resolver to use (repeatable; default: /etc/resolv.conf)."),
        click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     envvar="V6SCAN_CA_BUNDLE", help="Trust these CAs instead of the system store."),
        click.option("--allow-net", "allow_nets", multiple=True, metavar="PREFIX", envvar="V6SCAN_ALLOW_NET",
                     help="Allow connecting to this special-purpose prefix (repeatable)."),
        click.option("--exclude", "exclude_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     envvar="V6SCAN_EXCLUDE",
                     help="File of prefixes and names never to contact, one a line: example.org (that name),"
                          " .example.org or *.example.org (it and every name below it), 2001:db8::/32."),
        click.option("--self-check", metavar="ADDR[:PORT]", envvar="V6SCAN_SELF_CHECK",
                     help="An IPv6 address:port the scanner connects to, to prove its own IPv6 (an address"
                          " the address policy allows: --allow-net, never a metadata endpoint)."),
        click.option("--no-self-check", is_flag=True, help="Skip the scanner's own IPv6 check."),
        click.option("--root-hints", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     envvar="V6SCAN_ROOT_HINTS", help="Root hints for the IPv6-only resolution path."),
        click.option("--trust-anchor", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     envvar="V6SCAN_TRUST_ANCHOR",
                     help="DNSSEC trust anchors of the root (DS or DNSKEY records) instead of IANA's."),
        click.option("--timeout", type=TIMEOUT_TYPE, default=5.0, show_default=True,
                     envvar="V6SCAN_TIMEOUT", help="Seconds for one network step."),
        click.option("--www", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                     help="Also check www.<domain> (auto: for registrable domains)."),
        click.option("--public-suffix", "suffixes", multiple=True, metavar="SUFFIX",
                     envvar="V6SCAN_PUBLIC_SUFFIX", help="Extra public suffix (e.g. a lab's gov.test)."),
        click.option("--checks", "check_ids", metavar="IDS", envvar="V6SCAN_CHECKS",
                     help=f"Comma-separated check ids to run, 'all', or +ID,... added to the default (all:"
                          f" {', '.join(CHECKS)}){_NOT_IN_SWEEPS}."),
        click.option("--policy", default="default", show_default=True, metavar="NAME|FILE",
                     envvar="V6SCAN_POLICY", help="default, internetnl, cn-gov, or a JSON policy file."),
        click.option("--lang", type=click.Choice(["en", "zh-CN"]), default="en", show_default=True,
                     envvar="V6SCAN_LANG", help="Language of reasons and fix hints."),
        click.option("--concurrency", type=click.IntRange(1, 10_000), default=64, show_default=True,
                     envvar="V6SCAN_CONCURRENCY",
                     help="Names connecting (TCP/TLS/HTTP) at once; as many targets again resolve ahead."),
        click.option("--per-address", "per_address", type=click.IntRange(1, 1000), default=4, show_default=True,
                     envvar="V6SCAN_PER_ADDRESS", help="Connections at once to one server address (politeness)."),
        click.option("--per-prefix", "per_prefix", type=click.IntRange(1, 10_000), default=16, show_default=True,
                     envvar="V6SCAN_PER_PREFIX",
                     help="Connections at once to one IPv6 /64 or IPv4 /24 (politeness)."),
        click.option("--latency-probes", "latency_probes", type=click.IntRange(1, 20), default=3, show_default=True,
                     envvar="V6SCAN_LATENCY_PROBES",
                     help="web.latency: homepage fetches per family (the access success rate is over these)."),
        click.option("--user-agent", envvar="V6SCAN_USER_AGENT", metavar="TEXT",
                     help="User-Agent to send (default names v6scan, its version and a contact URL)."),
        click.option("--dry-run", is_flag=True,
                     help="Resolve the names and list every address that would be contacted; contact none."),
        click.option("--show-settings", is_flag=True,
                     help="Print, as JSON, every setting that shapes a measurement (scan settings, HTTP fetch"
                          " limits, the policy's name, thresholds and checks) as the options, config file and"
                          " environment resolved them; then exit 0 without scanning."),
    ]
    for o in reversed(opts):
        if _param_name(o) not in leave_out:
            f = o(f)
    return f


def _param_name(option: Callable[[Any], Any]) -> str:
    """The parameter name an option decorator declares (``--check-ids`` → ``check_ids``)."""
    def probe() -> None: ...

    params: list[click.Parameter] = option(probe).__click_params__
    return str(params[0].name)


def _check_trust_anchor(path: Path) -> None:
    """A usage error (exit 2) when ``--trust-anchor`` holds no usable DS or DNSKEY record of the root."""
    from v6scan.checks.dns_dnssec import parse_anchors  # dnspython's rdata classes load only when used

    try:
        parse_anchors(path.read_text(encoding="utf-8", errors="replace"), str(path))
    except (OSError, ValueError) as e:
        raise click.BadParameter(f"{path}: {e}", param_hint="--trust-anchor") from None


def _command() -> str | None:
    """The name of the command being run (``check``, ``scan``, ...)."""
    ctx = click.get_current_context(silent=True)
    return ctx.info_name if ctx is not None else None


def _select_checks(value: str | None, sweep: bool) -> tuple[str, ...]:
    try:
        return select_checks(value, sweep)
    except OptionError as e:
        raise click.BadParameter(e.message, param_hint=e.option) from None


def _exclusions(path: Path | None) -> tuple[tuple[str, ...], NameExclusions]:
    """The prefixes and the name entries (normal form, see :mod:`v6scan.targets`) of an exclusion file."""
    nets: list[str] = []
    names: list[str] = []
    if path is None:
        return (), NameExclusions(())
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            nets.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            try:
                names.append(parse_exclusion(item))
            except TargetError as e:
                raise click.BadParameter(f"{path}:{no}: {e.reason}", param_hint="--exclude") from None
    return tuple(nets), NameExclusions(names)


def _check_self_check(spec: str, allow_nets: Sequence[str], exclude_nets: Sequence[str]) -> None:
    """The self-check address obeys the address policy like every other connection."""
    try:
        addr, _ = parse_server(spec)
        decision = AddressPolicy.from_strings(allow_nets, exclude_nets).decide(addr)
    except ValueError as e:
        raise click.BadParameter(str(e).replace("bad resolver", "bad address"), param_hint="--self-check") from None
    if not decision.allowed:
        raise click.BadParameter(f"{spec} is not an address the scanner may contact: {decision.reason}",
                                 param_hint="--self-check")


def _settings(kw: dict[str, Any]) -> tuple[Settings, Policy, NameExclusions]:
    """The settings of a scan, the policy, and the exclusion list's names (matched against targets)."""
    nets, names = _exclusions(kw.get("exclude_file"))

    def many(key: str) -> tuple[str, ...]:
        out: list[str] = []
        for v in kw.get(key) or ():
            out += [x for x in str(v).replace(",", " ").split() if x]
        return tuple(out)

    try:
        policy = load_policy(kw.get("policy") or "default")
    except (ValueError, OSError, json.JSONDecodeError) as e:
        raise click.BadParameter(str(e), param_hint="--policy") from None
    try:
        for r in many("resolvers"):
            parse_server(r)
        for n in many("allow_nets"):
            ipaddress.ip_network(n, strict=False)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if kw.get("self_check"):
        _check_self_check(str(kw["self_check"]), many("allow_nets"), nets)
    if kw.get("trust_anchor"):  # refused here, not once per target
        _check_trust_anchor(Path(kw["trust_anchor"]))
    pins = tuple(str(p) for p in kw.get("pins") or ())
    try:
        parse_pins(pins)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--address") from None
    settings = Settings(
        resolvers=many("resolvers"), allow_nets=many("allow_nets"), exclude_nets=nets, exclude_names=names.entries,
        root_hints=kw.get("root_hints"), trust_anchor=kw.get("trust_anchor"),
        timeout=float(kw.get("timeout") or 5.0), www=kw.get("www") or "auto",
        extra_suffixes=many("suffixes"), ca_bundle=kw.get("ca_bundle"), self_check=kw.get("self_check"),
        self_check_enabled=not kw.get("no_self_check"),
        check_ids=_select_checks(kw.get("check_ids"), sweep=_command() == "scan"),
        user_agent=kw.get("user_agent") or None, per_address_concurrency=int(kw.get("per_address") or 4),
        per_prefix_concurrency=int(kw.get("per_prefix") or 16), pins=pins,
        latency_probes=int(kw.get("latency_probes") or 3),
    )
    return settings, policy, names


def _resolved_settings(settings: Settings, policy: Policy) -> dict[str, Any]:
    """What ``--show-settings`` prints: every field of the settings, the fetch limits the scan's
    context derives from them (built exactly as a scan builds them), and the policy."""

    async def limits() -> dict[str, Any]:
        async with Context.create(settings) as ctx:
            return asdict(ctx.fetcher.limits)

    return {"settings": settings.to_json(), "limits": eventloop.run(limits()),
            "policy": {"name": policy.name, "thresholds": dict(policy.thresholds), "score": dict(policy.score),
                       "checks": {k: dict(v) for k, v in policy.checks.items()}}}


def _maybe_show_settings(kw: Mapping[str, Any], settings: Settings, policy: Policy) -> None:
    """With ``--show-settings``: print the resolved settings as JSON and exit 0, scanning nothing."""
    if kw.get("show_settings"):
        click.echo(json.dumps(_resolved_settings(settings, policy), indent=1, sort_keys=True,
                              default=str))
        click.get_current_context().exit(0)


def _stream_targets(args: Sequence[str], excluded: NameExclusions, skipped: list[Target]) -> Iterator[Target]:
    """The targets of the files, read lazily; bad lines are reported, excluded names set aside."""
    for a in args:
        if a != "-" and not Path(a).is_file():
            raise click.BadParameter(f"{a}: no such file (give target files, or - for stdin)")
    for a in args:
        for item in iter_targets(sys.stdin if a == "-" else _list_lines(a), "<stdin>" if a == "-" else a):
            if isinstance(item, TargetError):
                click.echo(f"skipped: {item}", err=True)
            elif (entry := excluded.match(item.name)) is not None:
                click.echo(f"excluded: {item.name} (recorded, not contacted{excluded_note(item.name, entry)})",
                           err=True)
                skipped.append(item)
            else:
                yield item


def _list_lines(path: str) -> Iterator[str]:
    """The lines of a target list file (CSV or text in any common encoding, or a workbook)."""
    try:
        yield from list_lines(Path(path))
    except ListFileError as e:
        raise click.BadParameter(str(e)) from None


def _read_target_args(args: Sequence[str], normalise: bool | None = None) -> TargetList:
    """The targets of the files, deduplicated across them (the first occurrence is kept)."""
    out = TargetList()
    for a in args:
        if a != "-" and not Path(a).is_file():
            raise click.BadParameter(f"{a}: no such file (give target files, or - for stdin)")
    for a in args:
        read_targets(sys.stdin if a == "-" else _list_lines(a), "<stdin>" if a == "-" else a,
                     normalise=normalise, into=out)
    return out


def _gates(policy: Policy, fail_on: str | None, min_score: int | None) -> tuple[str | None, int | None]:
    """The gates: the options, else the policy file's ``score.gates`` (``fail_on``, ``min_score``)."""
    gates = policy.score.get("gates") if isinstance(policy.score, Mapping) else None
    gates = gates if isinstance(gates, Mapping) else {}
    fail_on = fail_on or gates.get("fail_on")
    if fail_on is not None and fail_on not in VERDICTS[2:]:
        raise click.BadParameter(f"gate fail_on {fail_on!r} in policy {policy.name!r} is not one of"
                                 f" {', '.join(VERDICTS[2:])}", param_hint="--policy")
    if min_score is None and gates.get("min_score") is not None:
        min_score = int(gates["min_score"])
    return fail_on, min_score


def _provider_table(ctx: click.Context, param: click.Parameter, files: tuple[Path, ...]) -> ProviderTable | None:
    if not files:
        return None
    try:
        return ProviderTable.load(files)
    except ProviderTableError as e:
        raise click.BadParameter(str(e), ctx, param) from None


def _providers_option(f: F) -> F:
    return click.option(
        "--providers", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
        callback=_provider_table, metavar="FILE",
        help="More CDN, cloud and DNS-operator rows (CSV match,provider,provider_zh,kind,country,source, or a"
             " JSON list of such objects) over the shipped table, to attribute sites with (repeatable).")(f)


def _gate_options(f: F) -> F:
    f = click.option("--min-score", type=click.IntRange(0, 100), envvar="V6SCAN_MIN_SCORE",
                     help="Exit 1 if a site scores below N.")(f)
    f = click.option("--fail-on", type=click.Choice(VERDICTS[2:]), envvar="V6SCAN_FAIL_ON",
                     help="Exit 1 if a site's verdict is this or worse.")(f)
    return f


@cli.command()
@click.argument("hosts", nargs=-1)
@_scan_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Output format.")
@_gate_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout.")
@click.option("--address", "pins", multiple=True, metavar="NAME=IP",
              help="Use IP for NAME instead of its A/AAAA records (repeatable: every address NAME is to have), to"
                   " gate a launch before the records are published; the DNS results say the name was pinned.")
@_providers_option
@click.option("--remote", metavar="URL", envvar="V6SCAN_REMOTE",
              help="Run the check on this v6scan serve server (its network and configuration) and print it here.")
@click.option("--token", metavar="TOKEN", envvar="V6SCAN_TOKEN",
              help="API token for --remote (or $V6SCAN_TOKEN, or token in the config file).")
def check(hosts: tuple[str, ...], fmt: str, fail_on: str | None, min_score: int | None,
          output: Path | None, providers: ProviderTable | None, remote: str | None, token: str | None,
          **kw: Any) -> None:
    """Check one or a few sites now and say what is wrong and how to fix it.

    \b
    HOSTS are names or URLs.  Examples:
      v6scan check example.org
      v6scan check https://www.example.org/ --format json
      v6scan check example.org --fail-on partial --min-score 80 --format junit -o v6.xml
      v6scan check example.org --format github   # annotations + $GITHUB_STEP_SUMMARY
      V6SCAN_TOKEN=... v6scan check example.org --remote https://v6scan.example.net --fail-on partial

    \b
    --remote URL runs the check on a `v6scan serve` server (from its network, with
    its resolvers and address policy: a CI runner without IPv6 still gets a
    verdict) and prints exactly what a local check prints, with the same exit
    codes.  The server's configuration options (--resolver, --allow-net,
    --self-check, ...) are refused with it.
    """
    settings, policy, excluded = _settings(kw)
    if not hosts and not kw.get("show_settings"):  # HOSTS is required but for --show-settings
        raise click.UsageError("Missing argument 'HOSTS...' (a name or URL to check).")
    try:
        targets = parse_hosts(hosts, excluded)
    except OptionError as e:
        raise click.BadParameter(e.message, param_hint=e.option) from None
    if remote:
        outcomes = _remote_outcomes(remote, token, list(zip(hosts, targets, strict=True)), kw, providers)
        fail_on, min_score = _gates(policy, fail_on, min_score)
    else:
        _maybe_show_settings(kw, settings, policy)
        if kw.get("dry_run"):
            _dry_run(settings, targets)
            return
        fail_on, min_score = _gates(policy, fail_on, min_score)

        async def go() -> list[Outcome]:
            async with Context.create(settings) as ctx:
                results = await asyncio.gather(*(scan_target(ctx, t) for t in targets))
            return [Outcome(r, score_target(r.target.name, r.observations, policy), providers=providers)
                    for r in results]

        outcomes = eventloop.run(go())
    text = render(fmt, outcomes, kw["lang"], color=output is None and sys.stdout.isatty())
    if fmt == "github" and os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(github(outcomes, kw["lang"])[1])
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        write_stdout(text)
    code, msgs = gate(outcomes, fail_on, min_score)
    for m in msgs:
        click.echo(m, err=True)
    sys.exit(code)


#: options of ``check`` that are the server's configuration with ``--remote`` (refused when given)
_SERVER_SIDE = ("resolvers", "ca_bundle", "allow_nets", "exclude_file", "self_check", "no_self_check", "root_hints",
                "trust_anchor", "suffixes", "concurrency", "per_address", "per_prefix", "latency_probes",
                "user_agent", "dry_run", "show_settings")


def _remote_outcomes(url: str, token: str | None, asked: Sequence[tuple[str, Target]], kw: Mapping[str, Any],
                     providers: ProviderTable | None) -> list[Outcome]:
    """The outcomes of the check run on the server at ``url`` (:mod:`v6scan.remote`) of the names or
    URLs ``asked`` (each with the target it names)."""
    from v6scan.remote import RemoteError, remote_check  # (httpx: only a remote check needs it)
    from v6scan.wire import WireError, outcome_from_json

    ctx = click.get_current_context()
    given = [p for p in _SERVER_SIDE if ctx.get_parameter_source(p) is ParameterSource.COMMANDLINE]
    if given:
        opt = next(o for o in ctx.command.params if o.name == given[0])
        raise click.UsageError(f"{opt.opts[0]} is the server's configuration: it cannot be given with --remote")
    policy: Any = kw.get("policy") or "default"
    if policy not in BUILTIN_POLICIES:  # a policy file: its JSON goes with the request
        try:
            policy = json.loads(Path(policy).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise click.BadParameter(f"{policy}: {e}", param_hint="--policy") from None
    first: dict[str, str] = {}  # each name once, as it was first given
    for host, target in asked:
        first.setdefault(target.name, host)
    request: dict[str, Any] = {"names": list(first.values()), "policy": policy,
                               "addresses": [str(p) for p in kw.get("pins") or ()], "lang": kw.get("lang") or "en"}
    for param, key in (("timeout", "timeout"), ("www", "www"), ("check_ids", "checks")):
        if ctx.get_parameter_source(param) is not ParameterSource.DEFAULT and kw.get(param) is not None:
            request[key] = kw[param]  # else the server's default
    try:
        found = [outcome_from_json(o, providers) for o in remote_check(url, token or "", request)]
        by_name = {o.result.target.name: o for o in found}
        # in the order given, a name given twice printed twice (as a local check prints them)
        return [by_name[t.name] for _, t in asked]
    except RemoteError as e:
        click.echo(f"v6scan: --remote {url}: {e}", err=True)
        sys.exit(e.code)
    except WireError as e:
        click.echo(f"v6scan: --remote {url}: {e}", err=True)
        sys.exit(4)
    except KeyError as e:
        click.echo(f"v6scan: --remote {url}: the server's answer lacks {e}", err=True)
        sys.exit(4)


def write_stdout(text: str) -> None:
    """All of ``text`` on standard output, or an OSError (exit 4): a partial write is continued and a
    descriptor that another program sharing it left non-blocking is waited for, so a CI job never
    reads a cut document from a command that exited 0."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, io.UnsupportedOperation):  # captured (CliRunner): no descriptor to mind
        click.echo(text, nl=False)
        return
    sys.stdout.flush()
    view = memoryview(text.encode(sys.stdout.encoding or "utf-8", errors="replace"))
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [], 1.0)


class _Progress:
    """The progress line: targets back from the scanners, by verdict, and those to retry (the
    scanner was at fault: recorded without a verdict, as in the database)."""

    def __init__(self, total: int, sweep: int | None = None) -> None:
        self.total, self.done, self.t0, self.last = total, 0, time.monotonic(), 0.0
        self.sweep = sweep  # the sweep's id once known (its jsonl records carry it)
        self.counts: Counter[str] = Counter()
        self.tty = sys.stderr.isatty()

    def __call__(self, result: TargetResult, verdict: SiteVerdict) -> None:
        self.done += 1
        self.counts[RETRY if retryable(result.observations) else verdict.verdict] += 1
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 5.0) and self.done != self.total:
            return
        self.last = now
        rate = self.done / max(now - self.t0, 1e-9)
        eta = (self.total - self.done) / rate if rate else 0
        line = f"{self.done}/{self.total} targets  {rate:.1f}/s  eta {eta:.0f}s  {_counts(self.counts)}"
        click.echo(("\r\x1b[2K" + line) if self.tty else line, err=True, nl=not self.tty)


RETRY = "to-retry"  # the progress line's and summary's name for targets recorded with status retry


def _counts(counts: Mapping[str, int]) -> str:
    keys = [*reversed(VERDICTS), RETRY, "not-measured"]
    return " ".join(f"{k}={counts[k]}" for k in keys if counts.get(k))


#: seconds the targets in flight get to finish after the first Ctrl-C / SIGTERM, before they are
#: cancelled (and left pending for --resume); the whole stop takes well under 5 s
STOP_GRACE = 2.0


#: the options of ``scan`` that make a sweep's configuration, stored with it: ``--resume`` continues
#: with the stored values, and an option given again must say the same (parameter: option, config keys)
_SWEEP_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "resolvers": ("--resolver", ("resolvers",)), "ca_bundle": ("--ca-bundle", ("ca_bundle",)),
    "allow_nets": ("--allow-net", ("allow_nets",)), "exclude_file": ("--exclude", ("exclude_nets", "exclude_names")),
    "self_check": ("--self-check", ("self_check",)), "no_self_check": ("--no-self-check", ("self_check_enabled",)),
    "root_hints": ("--root-hints", ("root_hints",)),
    "trust_anchor": ("--trust-anchor", ("trust_anchor",)), "timeout": ("--timeout", ("timeout",)),
    "www": ("--www", ("www",)), "suffixes": ("--public-suffix", ("extra_suffixes",)),
    "check_ids": ("--checks", ("check_ids",)), "user_agent": ("--user-agent", ("user_agent",)),
    "policy": ("--policy", ("policy",)), "max_retries": ("--max-retries", ("max_retries",)),
    "latency_probes": ("--latency-probes", ("latency_probes",)),
}
#: ... and those that only say how fast and how politely the sweep runs, not what it measures: stored
#: too (``--resume`` reuses them), but an option given again may differ and holds for that run
_RUN_OPTIONS = {"concurrency": "--concurrency", "workers": "--workers", "cluster": "--cluster",
                "chunk_size": "--chunk-size"}
_POLITENESS = {"per_address": ("--per-address", "per_address_concurrency"),
               "per_prefix": ("--per-prefix", "per_prefix_concurrency")}
_PATHS = ("root_hints", "ca_bundle", "trust_anchor")


def _absolute(settings: Settings) -> Settings:
    """File names as absolute paths: a sweep resumed from another directory finds them again."""
    paths: dict[str, Any] = {k: Path(v).resolve() for k in _PATHS if (v := getattr(settings, k)) is not None}
    return replace(settings, **paths)


def _sweep_config(settings: Settings, policy: Policy, max_retries: int) -> dict[str, Any]:
    """What a sweep stores of its configuration (the exclusion list's names are in the settings)."""
    return {**settings_config(settings), "max_retries": max_retries,
            "exclude_names": sorted(settings.exclude_names), "policy": policy.to_json()}


def _canonical(key: str, v: Any) -> str:
    if key in _PATHS and v is not None:
        v = str(Path(str(v)).resolve())
    return json.dumps(v, sort_keys=True, default=str)


def _show(key: str, v: Any) -> str:
    if key == "policy" and isinstance(v, Mapping):
        return str(v.get("name"))
    if key == "self_check_enabled":
        return "the self-check on" if v else "--no-self-check"
    if isinstance(v, list | tuple):
        return " ".join(str(x) for x in v) if v else "none"
    if isinstance(v, float):
        return f"{v:g}"
    return "none" if v is None else str(v)


def _given(ctx: click.Context, param: str) -> str | None:
    """Whether an option was given (on the command line, in the environment, in a config file), and where."""
    source = ctx.get_parameter_source(param)
    if source in (None, ParameterSource.DEFAULT):
        return None
    if source is ParameterSource.ENVIRONMENT:
        envvar = next((p.envvar for p in ctx.command.params if p.name == param), None)
        return f" (from ${envvar})" if isinstance(envvar, str) else " (from the environment)"
    if source is ParameterSource.DEFAULT_MAP:
        return " (from the config file)"
    return ""


def _resumed(ctx: click.Context, store: Store, sweep_id: int, kw: Mapping[str, Any], settings: Settings,  # noqa: C901, PLR0912  # one refusal rule per kind of stored option, read top to bottom
             policy: Policy) -> tuple[Settings, Policy, dict[str, Any]]:
    """The settings, policy and run options to resume ``sweep_id`` with: the sweep's own, stored when
    it started; options given now must match them (a usage error names the first that does not),
    but for how fast and how politely it runs (``_RUN_OPTIONS``, ``_POLITENESS``)."""
    try:
        info = store.sweep(sweep_id)
    except StoreError as e:
        raise click.UsageError(str(e)) from None
    stored = stored_config(store, sweep_id)
    mine = _sweep_config(settings, policy, int(kw["max_retries"]))
    for param, (option, keys) in _SWEEP_OPTIONS.items():
        where = _given(ctx, param)
        if where is None:
            continue
        for key in keys:
            if key == "policy" and key not in stored:  # a sweep started before policies were stored
                before, now = str(info["policy"]), policy.name
            elif key not in stored:
                continue
            else:
                before, now = stored[key], mine[key]
            if _canonical(key, before) != _canonical(key, now):
                a, b = _show(key, before), _show(key, now)
                if a == b:
                    a, b = f"{a} (another version of it)", f"{b} (this version)"
                raise click.UsageError(
                    f"{option} differs: sweep {sweep_id} was started with {a}, this command says {b}{where}."
                    f" Resume it with no options to continue with its own configuration (or start a new sweep)")
    resumed = Settings.from_json(stored)
    for param, (option, key) in _POLITENESS.items():
        if _given(ctx, param) is not None and getattr(settings, key) != getattr(resumed, key):
            click.echo(f"resuming with {option} {getattr(settings, key)} (sweep {sweep_id} was started with"
                       f" {getattr(resumed, key)})", err=True)
            resumed = replace(resumed, **{key: getattr(settings, key)})
    if "policy" in stored and isinstance(stored["policy"], Mapping):
        pol = policy_from_json(stored["policy"])
    elif _given(ctx, "policy") is not None:
        pol = policy
    else:
        try:
            pol = load_policy(str(info["policy"]))
        except (ValueError, OSError, json.JSONDecodeError):
            raise click.UsageError(f"sweep {sweep_id} was scored with policy {info['policy']!r}, which this"
                                   " sweep did not store: give it again with --policy FILE") from None
    run_stored = stored.get("run")
    run: Mapping[str, Any] = run_stored if isinstance(run_stored, Mapping) else {}
    options: dict[str, Any] = {}
    for param, option in _RUN_OPTIONS.items():
        if _given(ctx, param) is not None or param not in run:
            options[param] = kw.get(param)
            if param in run and run[param] != options[param]:
                click.echo(f"resuming with {option} {options[param]} (sweep {sweep_id} was started with"
                           f" {run[param]})", err=True)
        else:
            options[param] = run[param]
    return resumed, pol, options


def _need_dask(cluster: str | None) -> None:
    if cluster:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise click.UsageError("--cluster needs Dask distributed: pip install 'v6scan[cluster]'") from None


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not (value.startswith(("http://", "https://")) and len(value) > 8):
        raise click.BadParameter(f"{value}: give an http:// or https:// URL", ctx, param)
    return value


def _every(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        from v6scan.schedule import parse_every  # (httpx, for the webhook: only --every needs it)

        return parse_every(value)
    except ValueError as e:
        raise click.BadParameter(str(e), ctx, param) from None


@cli.command()
@click.argument("target_files", nargs=-1)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True, envvar="V6SCAN_DB",
              help="SQLite file of sweeps (created if missing).")
@click.option("--resume", "resume_id", type=int, metavar="SWEEP",
              help="Finish an interrupted or incomplete sweep, with the configuration it was started with.")
@click.option("--format", "fmt", type=click.Choice(["none", "jsonl"]), default="none", show_default=True,
              help="Also print one JSON line per finished target.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, envvar="V6SCAN_WORKERS",
              help="Scanning processes (one event loop each; about one per core for big sweeps).")
@click.option("--cluster", metavar="tcp://HOST:8786|local:N", envvar="V6SCAN_CLUSTER",
              help="Run on a Dask distributed scheduler (or a local cluster of N worker processes);"
                   " needs pip install 'v6scan[cluster]'.")
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=200, show_default=True,
              envvar="V6SCAN_CHUNK_SIZE", help="Targets per cluster task (with --cluster).")
@click.option("--max-retries", type=click.IntRange(0, 100), default=DEFAULT_MAX_RETRIES, show_default=True,
              envvar="V6SCAN_MAX_RETRIES",
              help="Times a target the scanner could not measure (its resolver, its own IPv6) is retried"
                   " across resumes; then it gets its verdict.")
@click.option("--every", metavar="INTERVAL", callback=_every,
              help="Sweep the lists again every INTERVAL (30m, 24h, 7d, 1h30m) until interrupted, comparing each"
                   " sweep with the one before: sites whose verdict got worse are printed (and sent to --webhook).")
@click.option("--times", type=click.IntRange(1, 1_000_000), metavar="N", help="With --every: stop after N sweeps.")
@click.option("--webhook", metavar="URL", callback=_http_url,
              help="With --every: POST a JSON message here when sites got worse between two sweeps.")
@_gate_options
@_scan_options
@_providers_option
def scan(target_files: tuple[str, ...], db: Path, resume_id: int | None, fmt: str,  # noqa: C901, PLR0915  # the sweep's life (new, resumed, stopped), in order
         fail_on: str | None, min_score: int | None, **kw: Any) -> None:
    """Sweep many sites into a database; interrupt with Ctrl-C and --resume later.

    \b
    TARGET_FILES: plain lists or CSV (host,sector,region,organisation); - reads stdin.
      v6scan scan targets/gov.csv targets/edu.csv --db sweep.db --concurrency 200
      v6scan scan --db sweep.db --resume 3
      v6scan scan targets/gov.csv --db sweep.db --fail-on broken --min-score 60

    \b
    --resume continues a sweep with the configuration it was started with (stored
    in the database): give no other option, or only ones that say the same; how
    fast and how politely it runs (--concurrency, --workers, --cluster,
    --chunk-size, --per-address, --per-prefix) may differ, and gates, --format
    and --lang apply to this command.

    \b
    Ctrl-C (or SIGTERM): no new target starts, those in flight get 2 s to finish,
    then they are cancelled and left for --resume (never given a verdict); a second
    Ctrl-C cancels them at once.  Finished targets are always kept.

    \b
    Exit codes:
      0  every target has a verdict, whatever it is (and every gate passed)
      1  every target has a verdict and a gate failed (--fail-on, --min-score,
         or the policy's gates); an error verdict (the name does not resolve)
         fails any gate
      2  usage error
      3  targets remain unmeasured: the sweep was interrupted, or targets are to
         be retried because the scanner was at fault (its resolver did not
         answer, its own IPv6 self-check failed; at most --max-retries times,
         then they get their verdict); or, with a gate, targets are
         inconclusive; continue with --resume SWEEP
      4  internal error
    """
    every, times, webhook = kw.pop("every"), kw.pop("times"), kw.pop("webhook")
    if every is not None:
        _scan_every(click.get_current_context(), db, every, times, webhook)
    if times is not None or webhook is not None:
        raise click.UsageError("--times and --webhook go with --every")
    settings, policy, excluded = _settings(kw)
    settings = _absolute(settings)
    if resume_id is None:
        _maybe_show_settings(kw, settings, policy)  # before the database is created
    gates_given = fail_on, min_score
    fail_on, min_score = _gates(policy, fail_on, min_score)  # again below with a resumed sweep's policy
    _need_dask(kw.get("cluster"))
    store = Store(db)
    given: ProviderTable | None = kw.pop("providers")
    store.providers = given or store.providers
    progress: _Progress
    lang = kw["lang"]
    options: dict[str, Any] = {k: kw.get(k) for k in _RUN_OPTIONS}
    try:
        if resume_id is not None:
            if target_files:
                raise click.UsageError("--resume takes the targets from the database: give no files")
            settings, policy, options = _resumed(click.get_current_context(), store, resume_id, kw, settings,
                                                 policy)
            _attribute_with(store, resume_id, given)  # the sweep's table (--providers: a new one from now on)
            _maybe_show_settings(kw, settings, policy)  # the sweep's stored configuration
            _need_dask(options.get("cluster"))
            fail_on, min_score = _gates(policy, *gates_given)
        run_options = {**options, "grace": STOP_GRACE}
        if resume_id is not None:
            left = store.pending_count(resume_id)
            progress = _Progress(left, resume_id)
            click.echo(f"resuming sweep {resume_id}: {left} targets left", err=True)

            async def again() -> int:
                with _stop_on_signals() as (stop, abort):
                    return await resume_sweep(store, resume_id, settings, policy,
                                              progress=_emit(progress, fmt, lang, store), stop=stop, abort=abort,
                                              **run_options)

            eventloop.run(again())
            sweep_id = resume_id
        else:
            if not target_files:
                raise click.UsageError("give target files (or - for stdin), or --resume SWEEP")
            if kw.get("dry_run"):
                tl = _read_target_args(target_files)
                for e in tl.errors:
                    click.echo(f"skipped: {e}", err=True)
                _dry_run(settings, [t for t in tl.targets if excluded.match(t.name) is None])
                return
            skipped: list[Target] = []  # filled while the targets stream into the store, then recorded
            stream = _stream_targets(target_files, excluded, skipped)
            first = next(stream, None)
            if first is None:
                raise click.UsageError("no valid target to scan")
            progress = _Progress(0)
            max_retries = int(kw["max_retries"])
            extra = {k: v for k, v in _sweep_config(settings, policy, max_retries).items()
                     if k in ("exclude_names", "policy")}
            extra["run"] = dict(options)

            def loaded(sid: int) -> None:
                if given is not None:
                    store.set_providers(sid, given)  # kept with the sweep: a resume attributes alike
                progress.total, progress.sweep = store.pending_count(sid), sid
                click.echo(f"sweep {sid}: {progress.total} targets", err=True)

            async def go() -> int:
                with _stop_on_signals() as (stop, abort):
                    return await run_sweep(store, itertools.chain([first], stream), settings, policy,
                                           progress=_emit(progress, fmt, lang, store), stop=stop, abort=abort,
                                           excluded=skipped, loaded=loaded, max_retries=max_retries,
                                           extra_config=extra, **run_options)

            sweep_id = eventloop.run(go())
    except StoreError as e:
        raise click.UsageError(str(e)) from None
    except ClusterError as e:
        last = store.latest_sweep() if resume_id is None else resume_id
        click.echo(f"\n{e}: finished targets are saved; continue with --resume {last}", err=True)
        sys.exit(3)
    except KeyboardInterrupt:
        last = store.latest_sweep() if resume_id is None else resume_id
        click.echo(f"\ninterrupted: finished targets are saved; continue with --resume {last}", err=True)
        sys.exit(3)
    finally:
        store.close()
    sys.exit(_scan_outcome(db, sweep_id, policy, fail_on, min_score))


def _scan_every(ctx: click.Context, db: Path, every: float, times: int | None, webhook: str | None) -> None:
    """``scan --every``: a new sweep of the lists at each interval (the lists are read again each
    time); after each, the sites whose verdict got worse since the sweep before are printed and, with
    ``--webhook``, posted (:mod:`v6scan.schedule`).  Ends (exit 3) when a sweep is interrupted, after
    ``--times`` sweeps with the last sweep's exit code, or at Ctrl-C between sweeps (exit 0)."""
    from v6scan.schedule import post_webhook, regressions, webhook_message

    if ctx.params.get("resume_id") is not None:
        raise click.UsageError("--every starts new sweeps: it does not go with --resume")
    previous: int | None = None
    for n in itertools.count(1):
        started = time.monotonic()
        params = {**ctx.params, "every": None, "times": None, "webhook": None}
        code: Any = 0
        try:
            ctx.invoke(scan, **params)
        except SystemExit as e:
            code = e.code
        with Store(db) as store:
            sid = store.latest_sweep()
            if sid is None or store.sweep(sid)["status"] == "interrupted":
                sys.exit(3)
            worse: list[dict[str, Any]] = []
            if previous is not None:
                try:
                    d = store.diff(previous, sid)
                    worse = regressions(d)
                except StoreError as e:
                    click.echo(f"sweeps {previous} and {sid} not compared: {e}", err=True)
        for r in worse:
            click.echo(f"got worse: {r['name']} {r['before']} -> {r['after']} (sweep {previous} -> {sid})", err=True)
        if worse and webhook:
            message = webhook_message(d, worse, {"command": "scan --every", "db": str(db)})
            if not eventloop.run(post_webhook(webhook, message)):
                click.echo(f"the webhook {webhook} did not take the message", err=True)
        previous = sid
        if times is not None and n >= times:
            sys.exit(code)
        wait = max(0.0, started + every - time.monotonic())
        click.echo(f"next sweep in {wait:.0f} s (Ctrl-C to stop)", err=True)
        try:
            time.sleep(wait)
        except KeyboardInterrupt:
            click.echo("\nstopped between sweeps", err=True)
            sys.exit(0)


def _scan_outcome(db: Path, sweep_id: int, policy: Policy, fail_on: str | None, min_score: int | None) -> int:
    """Say how the sweep ended, from the database, and return the exit code."""
    with Store(db) as st:
        info = st.sweep(sweep_id)
        status, note = str(info["status"]), info["note"] or ""
        targets = st.target_counts(sweep_id)
        counts: Counter[str] = Counter(st.verdict_counts(sweep_id, policy.name))
        counts[RETRY] = targets.get("retry", 0)
        counts["not-measured"] = targets.get("pending", 0)
        summary = _counts(counts)
        if status in ("interrupted", "incomplete"):
            click.echo(f"\nsweep {sweep_id} {status}: {note}; continue with --resume {sweep_id}", err=True)
            if summary:
                click.echo(f"so far: {summary} -> {db}", err=True)
            return 3
        click.echo(f"\nsweep {sweep_id} finished: {summary or 'no targets'} -> {db}", err=True)
        if fail_on is None and min_score is None:
            return 0
        # "this or worse", error included (the name does not resolve: a finding about the site);
        # inconclusive is not the site's doing (the scanner's own IPv6 failed): never a gate failure
        worst = [v for v in VERDICTS[:VERDICTS.index(fail_on) + 1] if v != "inconclusive"] if fail_on else []
        n, rows = st.gate_failures(sweep_id, policy.name, worst, min_score, unjudged=("inconclusive",))
    for r in rows:
        why = []
        if r["verdict"] in worst:
            why.append(f"is {r['verdict']} (--fail-on {fail_on})")
        if min_score is not None and r["score"] < min_score:
            why.append(f"scores {r['score']} < {min_score} (--min-score)")
        click.echo(f"gate failed: {r['name']} {' and '.join(why)}", err=True)
    if n > len(rows):
        click.echo(f"gate failed: ... and {n - len(rows)} more targets", err=True)
    if n:
        return 1
    if counts["inconclusive"]:
        click.echo(f"incomplete: {counts['inconclusive']} targets are inconclusive (the scanner's own IPv6 did"
                   " not work): they could not be judged against the gate", err=True)
        return 3
    return 0


def _dry_run(settings: Settings, targets: Sequence[Target]) -> None:
    """Print every address the scan would contact (or not, and why), after DNS only."""
    from v6scan.checks.dns import check_host
    from v6scan.targets import variants

    async def go() -> None:
        async with Context.create(settings) as ctx:
            for t in targets:
                for v in variants(t, settings.www, settings.extra_suffixes):
                    if v.name != t.name and (entry := ctx.excluded(v.name)) is not None:
                        click.echo(f"{v.name}\t-\tnever contacted: on the exclusion list ({entry})")
                        continue
                    host = await check_host(ctx, v.name)
                    if host.excluded:
                        click.echo(f"{v.name}\t-\tnever contacted: {host.excluded}")
                        continue
                    if not host.resolved:
                        click.echo(f"{v.name}\t-\tnot contacted: {host.error}")
                    probed = {"v6": 0, "v4": 0}
                    for a in [*host.aaaa.values, *host.a.values]:
                        d = ctx.policy.decide(a)
                        fam = "v6" if ":" in a else "v4"
                        probes = "TCP 80/443, TLS, HTTP" + (", ICMPv6 echo" if ":" in a else "")
                        if d.allowed and probed[fam] >= settings.max_addresses:
                            what, why = "not probed", f"beyond the max_addresses cap ({settings.max_addresses})"
                        else:
                            what, why = (f"would contact ({probes})" if d.allowed else "never contacted"), d.reason
                            probed[fam] += d.allowed
                        click.echo(f"{v.name}\t{a}\t{what}: {why}")
                click.echo(f"{t.name}\t-\tits name servers and mail servers are found and checked against the"
                           " same policy at scan time")

    eventloop.run(go())
    click.echo("dry run: only the resolver was contacted", err=True)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[tuple[asyncio.Event, asyncio.Event]]:
    """Ctrl-C or SIGTERM: the first sets ``stop`` (start nothing new; the targets in flight get
    STOP_GRACE seconds, then are cancelled and left for --resume), the second ``abort`` (cancel them
    now), a third interrupts for real.  Runs inside the event loop."""
    stop, abort = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def signalled() -> None:
        if not stop.is_set():
            stop.set()
            click.echo(f"\nstopping: no new targets; those in flight get {STOP_GRACE:g} s to finish, then are"
                       " cancelled and left for --resume (Ctrl-C again to stop now) ...", err=True)
        elif not abort.is_set():
            abort.set()
            click.echo("\naborting: cancelling the targets in flight now ...", err=True)
            loop.remove_signal_handler(signal.SIGINT)  # a third Ctrl-C interrupts for real

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, signalled)
    try:
        yield stop, abort
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _emit(progress: _Progress, fmt: str, lang: str, store: Store) -> Callable[[TargetResult, SiteVerdict], None]:
    def cb(result: TargetResult, verdict: SiteVerdict) -> None:
        # the verdict the sweep stores, not a second scoring; a target to retry has none yet
        if fmt == "jsonl" and not retryable(result.observations):
            outcome = Outcome(result, verdict, progress.sweep, providers=store.providers)
            click.echo(render("jsonl", [outcome], lang), nl=False)
        progress(result, verdict)

    return cb


def _db_option(f: F) -> F:
    f = click.option("--sweep", "sweep_id", type=int, help="Sweep id (default: the latest).")(f)
    f = click.option("--db", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
                     envvar="V6SCAN_DB", help="SQLite file of sweeps.")(f)
    return f


def _open(db: Path) -> Store:
    try:
        return Store(db)
    except StoreError as e:
        raise click.UsageError(str(e)) from None


def _attribute_with(store: Store, sweep_id: int, providers: ProviderTable | None) -> None:
    """The sweep's provider table; with ``--providers``, that table from now on (stored with the
    sweep, its sites attributed again)."""
    if providers is None:
        store.use_providers(sweep_id)
        return
    try:
        store.set_providers(sweep_id, providers)
    except sqlite3.OperationalError as e:
        raise click.UsageError(f"--providers stores the table with the sweep, and {store.path} cannot be"
                               f" written ({e})") from None


def _policy_name(store: Store, sweep_id: int, policy: str | None) -> str:
    if policy is None:
        return str(store.sweep(sweep_id)["policy"])
    name = load_policy(policy).name
    if name not in store.policies(sweep_id):
        raise click.UsageError(f"sweep {sweep_id} has no verdicts under {name!r}: run"
                               f" `v6scan rescore --sweep {sweep_id} --policy {policy}` first")
    return name


def _sweep(store: Store, sweep_id: int | None) -> int:
    sid = sweep_id if sweep_id is not None else store.latest_sweep()
    if sid is None:
        raise click.UsageError(f"{store.path} holds no sweep yet")
    try:
        store.sweep(sid)
    except StoreError as e:
        raise click.UsageError(str(e)) from None
    return sid


@cli.command()
@_db_option
@click.option("--policy", metavar="NAME|FILE", help="Policy whose verdicts to show (default: the sweep's).")
@click.option("--lang", type=click.Choice(["en", "zh-CN"]), default="en", show_default=True, envvar="V6SCAN_LANG")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="File (one-file layout) or directory (directory layout) to write; a directory named "
                   "X.html is written as X (default: reports/v6scan-sweep-N[.lang].html, or that name "
                   "without .html for a directory).")
@click.option("--layout", type=click.Choice(["auto", "file", "dir"]), default="auto", show_default=True,
              help="One self-contained file, or a directory (entry page index.html, a page per sector, region, "
                   f"organisation and site); auto: one file up to {SINGLE_FILE_MAX} sites.")
@click.option("--by", "by", type=click.Choice(["site", "organisation"]), default="site", show_default=True,
              help="organisation: the remediation lists alone, one organisation per printed page (its sites, each"
                   " failing check in plain words with evidence and fix hint); the directory layout has them too.")
@_providers_option
def report(db: Path, sweep_id: int | None, policy: str | None, lang: str, output: Path | None, layout: str,
           by: str, providers: ProviderTable | None) -> None:
    """Write a self-contained HTML report of a sweep: one file, or a directory for a big sweep.

    \b
      v6scan report --db sweep.db
      v6scan report --db sweep.db --sweep 2 --lang zh-CN -o reports/2.zh.html
      v6scan report --db nationwide.db -o reports/nationwide     # reports/nationwide/index.html
      v6scan report --db sweep.db --by organisation --lang zh-CN   # remediation lists, to print
    """
    with _open(db) as store:
        sid = _sweep(store, sweep_id)
        _attribute_with(store, sid, providers)
        pol = _policy_name(store, sid, policy)
        kind = "-remediation" if by == "organisation" else ""
        out = output or Path("reports") / f"v6scan-sweep-{sid}{kind}{'' if lang == 'en' else '.' + lang}.html"
        if layout == "dir" or (layout == "auto" and count_verdicts(store, sid, pol) > SINGLE_FILE_MAX):
            folder = out.with_suffix("") if out.suffix == ".html" else out
            if folder.exists() and not folder.is_dir():
                raise click.UsageError(f"{folder} exists and is not a directory")
            entry = (write_remediation_dir(store, sid, pol, lang, folder) if by == "organisation" else
                     write_report_dir(store, sid, pol, lang, folder).entry)
            click.echo(str(entry))
            return
        if out.is_dir():
            raise click.UsageError(f"{out} is a directory: give a file name, or --layout dir")
        if by == "organisation":
            write_remediation_file(store, sid, pol, lang, out)
            click.echo(str(out))
            return
        data = build_report(store, sid, pol, lang)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data), encoding="utf-8")
    click.echo(str(out))


@cli.command()
@_db_option
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="jsonl",
              show_default=True)
@click.option("--policy", metavar="NAME|FILE", help="Policy whose verdicts to export (default: the sweep's).")
@click.option("--lang", type=click.Choice(["en", "zh-CN"]), default="en", show_default=True, envvar="V6SCAN_LANG")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout).")
@_providers_option
def export(db: Path, sweep_id: int | None, fmt: str, policy: str | None, lang: str, output: Path | None,
           providers: ProviderTable | None) -> None:
    """Export a sweep: json (with who serves the sites and the root causes), jsonl (one contract
    record a line), csv (spreadsheet-safe), md, xlsx (a workbook: summary, sectors, regions,
    organisations, providers, sites, failures, root causes; needs -o).

    \b
      v6scan export --db sweep.db --format csv -o sweep.csv
      v6scan export --db sweep.db --format jsonl | jq .verdict
      v6scan export --db sweep.db --format xlsx --lang zh-CN -o sweep.xlsx
    """
    if fmt == "xlsx" and output is None:
        raise click.UsageError("--format xlsx writes a file: give -o FILE.xlsx")
    with _open(db) as store:
        sid = _sweep(store, sweep_id)
        _attribute_with(store, sid, providers)
        pol = _policy_name(store, sid, policy)
        if output is not None:
            export_sweep(store, sid, pol, lang, fmt, output)
        else:
            export_sweep(store, sid, pol, lang, fmt, sys.stdout)


@cli.command()
@click.argument("sweep_a", type=int)
@click.argument("sweep_b", type=int)
@click.option("--db", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              envvar="V6SCAN_DB")
@click.option("--policy", metavar="NAME|FILE", help="Compare verdicts under this policy (default: B's).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def diff(sweep_a: int, sweep_b: int, db: Path, policy: str | None, fmt: str) -> None:
    """What changed between two sweeps: sites that gained or lost readiness, and changed checks.

    \b
      v6scan diff 1 2 --db sweep.db
    """
    with _open(db) as store:
        try:
            d = store.diff(sweep_a, sweep_b, load_policy(policy).name if policy else None)
        except StoreError as e:
            raise click.UsageError(str(e)) from None
    if fmt == "json":
        click.echo(json.dumps({"a": d.a, "b": d.b, "policy": d.policy, "gained": d.gained, "lost": d.lost,
                               "changed": d.changed, "checks": d.checks, "only_a": d.only_a,
                               "only_b": d.only_b}, indent=1))
        return
    click.echo(f"sweep {d.a} -> {d.b} (policy {d.policy}): {len(d.gained)} gained readiness, "
               f"{len(d.lost)} lost it, {len(d.changed)} changed verdict")
    for r in d.changed:
        click.echo(f"  {r['name']}: {r['before']} -> {r['after']} (score {r['score_before']} ->"
                   f" {r['score_after']})")
    for c in d.checks:
        click.echo(f"    {c['name']} {c['check']}: {c['before']} -> {c['after']}")
    for n in d.only_a:
        click.echo(f"  only in {d.a}: {n}")
    for n in d.only_b:
        click.echo(f"  only in {d.b}: {n}")


@cli.command()
@_db_option
@click.option("--policy", required=True, metavar="NAME|FILE", help="default, internetnl, cn-gov or a file.")
def rescore(db: Path, sweep_id: int | None, policy: str) -> None:
    """Score a stored sweep again with another policy, without rescanning.

    \b
      v6scan rescore --db sweep.db --policy internetnl
    """
    try:
        pol = load_policy(policy)
    except (ValueError, OSError) as e:
        raise click.BadParameter(str(e), param_hint="--policy") from None
    with _open(db) as store:
        sid = _sweep(store, sweep_id)
        n = store.rescore(sid, pol)
    click.echo(f"sweep {sid}: {n} targets scored with {pol.name}")


def _scan_options_for_serve(f: F) -> F:
    return _scan_options(f, leave_out=("check_ids", "policy", "lang", "dry_run"))


def _listen(spec: str) -> tuple[str, int]:
    host, sep, port = spec.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("give ADDR:PORT, e.g. [::]:8080 or 127.0.0.1:8080")
        ipaddress.ip_address(host)
    except ValueError as e:
        raise click.BadParameter(f"{spec}: {e}", param_hint="--listen") from None
    return host, int(port)


@cli.command()
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True, envvar="V6SCAN_DB",
              help="SQLite file of sweeps (created if missing): every check and sweep the server runs is kept.")
@click.option("--listen", default="[::]:8080", show_default=True, metavar="ADDR:PORT", envvar="V6SCAN_LISTEN",
              help="Address and port to serve on.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              envvar="V6SCAN_TOKEN_FILE",
              help="API tokens, one NAME:SECRET a line (secrets of 16 characters or more).")
@click.option("--webhook", metavar="URL", envvar="V6SCAN_WEBHOOK", callback=_http_url,
              help="POST a JSON message here when a scheduled sweep finds sites whose verdict got worse.")
@click.option("--public-url", metavar="URL", envvar="V6SCAN_PUBLIC_URL", callback=_http_url,
              help="The address users reach the server at (links in webhook messages).")
@click.option("--max-jobs", type=click.IntRange(1, 64), default=2, show_default=True, envvar="V6SCAN_MAX_JOBS",
              help="Checks and sweeps running at once (the others wait their turn).")
@click.option("--rate-limit", type=click.IntRange(1, 100_000), default=120, show_default=True,
              envvar="V6SCAN_RATE_LIMIT", help="Requests a minute per token.")
@click.option("--max-body", type=click.IntRange(1024, 1 << 31), default=10 << 20, show_default=True,
              envvar="V6SCAN_MAX_BODY", help="Bytes a request body (a sweep's target list) may have.")
@click.option("--min-interval", type=click.FloatRange(1, 366 * 86400), default=300, show_default=True,
              envvar="V6SCAN_MIN_INTERVAL", help="Seconds: the shortest interval a schedule may have.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS with this certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="... and this private key.")
@_scan_options_for_serve
def serve(db: Path, listen: str, token_file: Path, **kw: Any) -> None:
    """Serve checks and sweeps over HTTP: an API under /api/v1 and web pages.

    \b
      v6scan serve --db /var/lib/v6scan/v6scan.db --token-file /etc/v6scan/tokens
      v6scan serve --db v6.db --token-file tokens --listen 127.0.0.1:8080 --webhook https://hooks.example/v6

    \b
    The scan options (--resolver, --allow-net, --exclude, --self-check, --ca-bundle,
    --root-hints, --trust-anchor, --timeout, --concurrency, politeness) are the
    server's configuration: no request can change them.  A request chooses only
    the names or the list, the policy, the checks, the timeout, www and pinned
    addresses, as `check` and `scan` do.  The API is documented at
    /api/v1/openapi.json; `v6scan check HOST --remote URL --token T` uses it.
    """
    import uvicorn

    from v6scan.serve.app import create_app
    from v6scan.serve.auth import TokenError, Tokens
    from v6scan.serve.config import ServerConfig

    settings, policy, excluded = _settings(kw)
    settings = _absolute(settings)
    _maybe_show_settings(kw, settings, policy)
    host, port = _listen(listen)
    tls_cert, tls_key = kw.get("tls_cert"), kw.get("tls_key")
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        tokens = Tokens.load(token_file)
    except TokenError as e:
        raise click.BadParameter(str(e), param_hint="--token-file") from None
    try:
        Store(db).close()  # created or migrated now: a file that is no sweep database is refused here
    except StoreError as e:
        raise click.UsageError(str(e)) from None
    config = ServerConfig(db=db.absolute(), settings=settings, excluded=excluded, tokens=tokens,
                          webhook=kw.get("webhook"), max_jobs=int(kw["max_jobs"]),
                          concurrency=int(kw.get("concurrency") or 64), rate_per_minute=int(kw["rate_limit"]),
                          max_body=int(kw["max_body"]), public_url=kw.get("public_url"),
                          min_interval=float(kw["min_interval"]))
    server = uvicorn.Server(uvicorn.Config(
        create_app(config), host=host, port=port, lifespan="on", log_config=None, proxy_headers=False,
        server_header=False, timeout_graceful_shutdown=10, ssl_certfile=tls_cert, ssl_keyfile=tls_key))
    click.echo(f"v6scan serve: http{'s' if tls_cert else ''}://{'[' + host + ']' if ':' in host else host}:{port}/"
               f" ({len(tokens.names)} tokens, database {db})", err=True)
    eventloop.run(server.serve())


@cli.group()
def targets() -> None:
    """Target lists."""


@targets.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Normalise target lists and report bad lines with their line numbers (exit 1 if any).

    \b
      v6scan targets validate targets/*.csv
    """
    tl = _read_target_args(files)
    _report_list(tl, err=False)
    sys.exit(1 if tl.errors else 0)


def _report_list(tl: TargetList, err: bool) -> None:
    for e in tl.errors:
        click.echo(f"error: {e}", err=err)
    for d in tl.duplicates:
        click.echo(f"duplicate: {d}", err=err)
    for t in tl.skipped:
        click.echo(f"title: {t.source}: {t.text!r} (not a target)", err=err)
    click.echo(f"{len(tl.targets)} valid targets, {len(tl.errors)} bad lines, {len(tl.duplicates)} duplicates",
               err=err)


@targets.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the list here (default: standard output).")
def import_(files: tuple[str, ...], output: str | None) -> None:
    """Convert target lists as regulators have them into v6scan's list (exit 1 if a row is bad).

    Reads CSV or text (UTF-8, UTF-16 or GB18030) and Excel workbooks (.xlsx, .xls) with Chinese or
    English column headers in any order: 网址/域名 (URL, domain, host), 主办单位 (organisation),
    地区/省份 (region, province), 行业/类别 (sector, category); 网站名称 (site name) is not kept.
    Sectors become gov, edu or com (政府, 高校, 企业, ...) and provinces their pinyin names (广东省:
    Guangdong; 中央, 全国: national); other values stay as they are.  Names are normalised (a URL
    gives its host), duplicates within and across files keep their first row, and bad rows are
    reported with their file and line (row) number.  "scan" and "targets validate" read such
    files directly, with the same result.

    \b
      v6scan targets import 政府网站名单.xlsx -o targets/gov.csv
      v6scan targets import list.csv other.xlsx > all.csv
    """
    tl = _read_target_args(files, normalise=True)
    _report_list(tl, err=True)
    if output:
        with Path(output).open("w", encoding="utf-8", newline="") as f:
            n = export_targets_csv(tl.targets, f)
        click.echo(f"{n} targets written to {output}", err=True)
    else:
        export_targets_csv(tl.targets, sys.stdout)
    sys.exit(1 if tl.errors else 0)


@cli.command("datasette-metadata")
@click.argument("databases", nargs=-1, type=click.Path(dir_okay=False))
def datasette_metadata(databases: tuple[str, ...]) -> None:
    """Datasette metadata for sweep databases (titles, facets, sort orders).

    \b
      datasette sweep.db --metadata "$(v6scan datasette-metadata)"
      v6scan datasette-metadata nationwide.db > meta.json && datasette nationwide.db --metadata meta.json
    """
    from v6scan.datasette import output

    click.echo(output(databases))


def main() -> None:
    """Console-script entry point: exit 4 on an internal error, with the reason."""
    try:
        cli.main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as e:  # a bug: say so, with a code CI can tell from a failed gate
        click.echo(f"v6scan: internal error: {e.__class__.__name__}: {e}", err=True)
        sys.exit(4)
