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
import ipaddress
import itertools
import json
import os
import signal
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from v6scan import __version__, eventloop
from v6scan.checks import CHECKS
from v6scan.cluster import ClusterError
from v6scan.context import Context
from v6scan.engine import TargetResult, scan_target
from v6scan.output import FORMATS, Outcome, gate, github, render
from v6scan.report import (
    build_report,
    export_csv,
    export_json,
    export_jsonl,
    export_markdown,
    render_html,
    result_records,
)
from v6scan.resolver import parse_server
from v6scan.scoring import VERDICTS, Policy, SiteVerdict, load_policy, score_target
from v6scan.settings import Settings
from v6scan.store import Store, StoreError
from v6scan.sweep import resume_sweep, retryable, run_sweep
from v6scan.targets import Target, TargetError, TargetList, iter_targets, parse_target, read_targets

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
CONFIG_PLACES = (Path("v6scan.toml"), Path.home() / ".config" / "v6scan" / "config.toml")


def _load_config(path: Path | None) -> dict[str, Any]:
    for p in ([path] if path else [p for p in CONFIG_PLACES if p.is_file()]):
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
    commands = ("check", "scan", "report", "export", "diff", "rescore")
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
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
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
    ctx.default_map = _default_map(_load_config(config_file))


def _scan_options(f: F) -> F:
    opts = [
        click.option("--resolver", "resolvers", multiple=True, metavar="ADDR[:PORT]", envvar="V6SCAN_RESOLVER",
                     help="Recursive resolver to use (repeatable; default: /etc/resolv.conf)."),
        click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     envvar="V6SCAN_CA_BUNDLE", help="Trust these CAs instead of the system store."),
        click.option("--allow-net", "allow_nets", multiple=True, metavar="PREFIX", envvar="V6SCAN_ALLOW_NET",
                     help="Allow connecting to this special-purpose prefix (repeatable)."),
        click.option("--exclude", "exclude_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     envvar="V6SCAN_EXCLUDE", help="File of names and prefixes never to contact."),
        click.option("--self-check", metavar="ADDR[:PORT]", envvar="V6SCAN_SELF_CHECK",
                     help="An IPv6 address:port the scanner connects to, to prove its own IPv6."),
        click.option("--no-self-check", is_flag=True, help="Skip the scanner's own IPv6 check."),
        click.option("--root-hints", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     envvar="V6SCAN_ROOT_HINTS", help="Root hints for the IPv6-only resolution path."),
        click.option("--timeout", type=click.FloatRange(0.1, 300), default=5.0, show_default=True,
                     envvar="V6SCAN_TIMEOUT", help="Seconds for one network step."),
        click.option("--www", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
                     help="Also check www.<domain> (auto: for registrable domains)."),
        click.option("--public-suffix", "suffixes", multiple=True, metavar="SUFFIX",
                     envvar="V6SCAN_PUBLIC_SUFFIX", help="Extra public suffix (e.g. a lab's gov.test)."),
        click.option("--checks", "check_ids", metavar="IDS", envvar="V6SCAN_CHECKS",
                     help=f"Comma-separated check ids to run (default all: {', '.join(CHECKS)})."),
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
        click.option("--user-agent", envvar="V6SCAN_USER_AGENT", metavar="TEXT",
                     help="User-Agent to send (default names v6scan, its version and a contact URL)."),
        click.option("--dry-run", is_flag=True,
                     help="Resolve the names and list every address that would be contacted; contact none."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _split_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    ids = tuple(x.strip() for x in value.split(",") if x.strip())
    unknown = [i for i in ids if i not in CHECKS]
    if unknown:
        raise click.BadParameter(f"unknown check id(s): {', '.join(unknown)}", param_hint="--checks")
    return ids


def _exclusions(path: Path | None) -> tuple[tuple[str, ...], set[str]]:
    nets: list[str] = []
    names: set[str] = set()
    if path is None:
        return (), names
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            nets.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            try:
                names.add(parse_target(item).name)
            except TargetError as e:
                raise click.BadParameter(f"{path}:{no}: {e.reason}", param_hint="--exclude") from None
    return tuple(nets), names


def _settings(kw: dict[str, Any]) -> tuple[Settings, Policy, set[str]]:
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
    settings = Settings(
        resolvers=many("resolvers"), allow_nets=many("allow_nets"), exclude_nets=nets,
        root_hints=kw.get("root_hints"), timeout=float(kw.get("timeout") or 5.0), www=kw.get("www") or "auto",
        extra_suffixes=many("suffixes"), ca_bundle=kw.get("ca_bundle"), self_check=kw.get("self_check"),
        self_check_enabled=not kw.get("no_self_check"), check_ids=_split_ids(kw.get("check_ids")),
        user_agent=kw.get("user_agent") or None, per_address_concurrency=int(kw.get("per_address") or 4),
        per_prefix_concurrency=int(kw.get("per_prefix") or 16),
    )
    return settings, policy, names


def _stream_targets(args: Sequence[str], excluded: set[str], skipped: list[Target]) -> Iterator[Target]:
    """The targets of the files, read lazily; bad lines are reported, excluded names set aside."""
    for a in args:
        if a != "-" and not Path(a).is_file():
            raise click.BadParameter(f"{a}: no such file (give target files, or - for stdin)")
    for a in args:
        with contextlib.nullcontext(sys.stdin) if a == "-" else \
                Path(a).open(encoding="utf-8", errors="replace", newline="") as f:
            for item in iter_targets(f, "<stdin>" if a == "-" else a):
                if isinstance(item, TargetError):
                    click.echo(f"skipped: {item}", err=True)
                elif item.name in excluded:
                    click.echo(f"excluded: {item.name} (recorded, not contacted)", err=True)
                    skipped.append(item)
                else:
                    yield item


def _read_target_args(args: Sequence[str]) -> TargetList:
    out = TargetList()
    for a in args:
        if a == "-":
            part = read_targets(sys.stdin, "<stdin>")
        elif Path(a).is_file():
            with Path(a).open(encoding="utf-8", errors="replace", newline="") as f:
                part = read_targets(f, a)
        else:
            raise click.BadParameter(f"{a}: no such file (give target files, or - for stdin)")
        out.targets += part.targets
        out.errors += part.errors
        out.duplicates += part.duplicates
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


def _gate_options(f: F) -> F:
    f = click.option("--min-score", type=click.IntRange(0, 100), envvar="V6SCAN_MIN_SCORE",
                     help="Exit 1 if a site scores below N.")(f)
    f = click.option("--fail-on", type=click.Choice(VERDICTS[2:]), envvar="V6SCAN_FAIL_ON",
                     help="Exit 1 if a site's verdict is this or worse.")(f)
    return f


@cli.command()
@click.argument("hosts", nargs=-1, required=True)
@_scan_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Output format.")
@_gate_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here, not stdout.")
def check(hosts: tuple[str, ...], fmt: str, fail_on: str | None, min_score: int | None,
          output: Path | None, **kw: Any) -> None:
    """Check one or a few sites now and say what is wrong and how to fix it.

    \b
    HOSTS are names or URLs.  Examples:
      v6scan check example.org
      v6scan check https://www.example.org/ --format json
      v6scan check example.org --fail-on partial --min-score 80 --format junit -o v6.xml
      v6scan check example.org --format github   # annotations + $GITHUB_STEP_SUMMARY
    """
    settings, policy, excluded = _settings(kw)
    targets: list[Target] = []
    for h in hosts:
        try:
            t = parse_target(h)
        except TargetError as e:
            raise click.BadParameter(f"{h!r}: {e.reason}", param_hint="HOSTS") from None
        if t.name in excluded:
            raise click.BadParameter(f"{t.name} is on the exclusion list", param_hint="HOSTS")
        targets.append(t)
    if kw.get("dry_run"):
        _dry_run(settings, targets)
        return
    fail_on, min_score = _gates(policy, fail_on, min_score)

    async def go() -> list[Outcome]:
        async with Context.create(settings) as ctx:
            results = await asyncio.gather(*(scan_target(ctx, t) for t in targets))
        return [Outcome(r, score_target(r.target.name, r.observations, policy)) for r in results]

    outcomes = eventloop.run(go())
    text = render(fmt, outcomes, kw["lang"], color=output is None and sys.stdout.isatty())
    if fmt == "github" and os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(github(outcomes, kw["lang"])[1])
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    code, msgs = gate(outcomes, fail_on, min_score)
    for m in msgs:
        click.echo(m, err=True)
    sys.exit(code)


class _Progress:
    """The progress line: targets back from the scanners, by verdict, and those to retry (the
    scanner was at fault: recorded without a verdict, as in the database)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0, self.last = total, 0, time.monotonic(), 0.0
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


@cli.command()
@click.argument("target_files", nargs=-1)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), required=True, envvar="V6SCAN_DB",
              help="SQLite file of sweeps (created if missing).")
@click.option("--resume", "resume_id", type=int, metavar="SWEEP", help="Finish an interrupted sweep.")
@click.option("--format", "fmt", type=click.Choice(["none", "jsonl"]), default="none", show_default=True,
              help="Also print one JSON line per finished target.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, envvar="V6SCAN_WORKERS",
              help="Scanning processes (one event loop each; about one per core for big sweeps).")
@click.option("--cluster", metavar="tcp://HOST:8786|local:N", envvar="V6SCAN_CLUSTER",
              help="Run on a Dask distributed scheduler (or a local cluster of N worker processes);"
                   " needs pip install 'v6scan[cluster]'.")
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=200, show_default=True,
              envvar="V6SCAN_CHUNK_SIZE", help="Targets per cluster task (with --cluster).")
@_gate_options
@_scan_options
def scan(target_files: tuple[str, ...], db: Path, resume_id: int | None, fmt: str, fail_on: str | None,
         min_score: int | None, **kw: Any) -> None:
    """Sweep many sites into a database; interrupt with Ctrl-C and --resume later.

    \b
    TARGET_FILES: plain lists or CSV (host,sector,region,organisation); - reads stdin.
      v6scan scan targets/gov.csv targets/edu.csv --db sweep.db --concurrency 200
      v6scan scan --db sweep.db --resume 3
      v6scan scan targets/gov.csv --db sweep.db --fail-on broken --min-score 60

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
         answer, its own IPv6 self-check failed); or, with a gate, targets are
         inconclusive; continue with --resume SWEEP
      4  internal error
    """
    settings, policy, excluded = _settings(kw)
    fail_on, min_score = _gates(policy, fail_on, min_score)
    if kw.get("cluster"):
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise click.UsageError("--cluster needs Dask distributed: pip install 'v6scan[cluster]'") from None
    store = Store(db)
    progress: _Progress
    lang = kw["lang"]
    options = {"concurrency": kw["concurrency"], "workers": kw["workers"], "cluster": kw.get("cluster"),
               "chunk_size": kw["chunk_size"], "grace": STOP_GRACE}
    try:
        if resume_id is not None:
            if target_files:
                raise click.UsageError("--resume takes the targets from the database: give no files")
            left = store.pending_count(resume_id)
            progress = _Progress(left)
            click.echo(f"resuming sweep {resume_id}: {left} targets left", err=True)

            async def again() -> int:
                with _stop_on_signals() as (stop, abort):
                    return await resume_sweep(store, resume_id, settings, policy, progress=_emit(progress, fmt, lang),
                                              stop=stop, abort=abort, **options)

            eventloop.run(again())
            sweep_id = resume_id
        else:
            if not target_files:
                raise click.UsageError("give target files (or - for stdin), or --resume SWEEP")
            if kw.get("dry_run"):
                tl = _read_target_args(target_files)
                for e in tl.errors:
                    click.echo(f"skipped: {e}", err=True)
                _dry_run(settings, [t for t in tl.targets if t.name not in excluded])
                return
            skipped: list[Target] = []  # filled while the targets stream into the store, then recorded
            stream = _stream_targets(target_files, excluded, skipped)
            first = next(stream, None)
            if first is None:
                raise click.UsageError("no valid target to scan")
            progress = _Progress(0)

            def loaded(sid: int) -> None:
                progress.total = store.pending_count(sid)
                click.echo(f"sweep {sid}: {progress.total} targets", err=True)

            async def go() -> int:
                with _stop_on_signals() as (stop, abort):
                    return await run_sweep(store, itertools.chain([first], stream), settings, policy,
                                           progress=_emit(progress, fmt, lang), stop=stop, abort=abort,
                                           excluded=skipped, loaded=loaded, **options)

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
                    host = await check_host(ctx, v.name)
                    if not host.resolved:
                        click.echo(f"{v.name}\t-\tnot contacted: {host.observations[0].error}")
                    for a in [*host.aaaa.values, *host.a.values]:
                        d = ctx.policy.decide(a)
                        probes = "TCP 80/443, TLS, HTTP" + (", ICMPv6 echo" if ":" in a else "")
                        what = f"would contact ({probes})" if d.allowed else "never contacted"
                        click.echo(f"{v.name}\t{a}\t{what}: {d.reason}")
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


def _emit(progress: _Progress, fmt: str, lang: str) -> Callable[[TargetResult, SiteVerdict], None]:
    def cb(result: TargetResult, verdict: SiteVerdict) -> None:
        # the verdict the sweep stores, not a second scoring; a target to retry has none yet
        if fmt == "jsonl" and not retryable(result.observations):
            click.echo(render("jsonl", [Outcome(result, verdict)], lang), nl=False)
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
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write (default: reports/v6scan-sweep-N[.lang].html).")
def report(db: Path, sweep_id: int | None, policy: str | None, lang: str, output: Path | None) -> None:
    """Write a self-contained HTML report of a sweep.

    \b
      v6scan report --db sweep.db
      v6scan report --db sweep.db --sweep 2 --lang zh-CN -o reports/2.zh.html
    """
    with _open(db) as store:
        sid = _sweep(store, sweep_id)
        data = build_report(store, sid, _policy_name(store, sid, policy), lang)
    out = output or Path("reports") / f"v6scan-sweep-{sid}{'' if lang == 'en' else '.' + lang}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data), encoding="utf-8")
    click.echo(str(out))


@cli.command()
@_db_option
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl", "csv", "md"]), default="jsonl",
              show_default=True)
@click.option("--policy", metavar="NAME|FILE", help="Policy whose verdicts to export (default: the sweep's).")
@click.option("--lang", type=click.Choice(["en", "zh-CN"]), default="en", show_default=True, envvar="V6SCAN_LANG")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout).")
def export(db: Path, sweep_id: int | None, fmt: str, policy: str | None, lang: str, output: Path | None) -> None:
    """Export a sweep: json, jsonl (one contract record a line), csv (spreadsheet-safe), md.

    \b
      v6scan export --db sweep.db --format csv -o sweep.csv
      v6scan export --db sweep.db --format jsonl | jq .verdict
    """
    with _open(db) as store:
        sid = _sweep(store, sweep_id)
        pol = _policy_name(store, sid, policy)
        out = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
        try:
            if fmt == "md":
                export_markdown(build_report(store, sid, pol, lang, evidence=False), out)
            else:
                recs = result_records(store, sid, pol, lang)
                {"json": lambda: export_json(recs, out, {"sweep": sid, "policy": pol}),
                 "jsonl": lambda: export_jsonl(recs, out), "csv": lambda: export_csv(recs, out)}[fmt]()
        finally:
            if output:
                out.close()


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
    for e in tl.errors:
        click.echo(f"error: {e}")
    for d in tl.duplicates:
        click.echo(f"duplicate: {d}")
    click.echo(f"{len(tl.targets)} valid targets, {len(tl.errors)} bad lines, {len(tl.duplicates)} duplicates")
    sys.exit(1 if tl.errors else 0)


def main() -> None:
    """Console-script entry point: exit 4 on an internal error, with the reason."""
    try:
        cli.main(standalone_mode=True)
    except SystemExit:
        raise
    except Exception as e:  # a bug: say so, with a code CI can tell from a failed gate
        click.echo(f"v6scan: internal error: {e.__class__.__name__}: {e}", err=True)
        sys.exit(4)
