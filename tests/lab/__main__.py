"""Command line of the lab: ``python -m tests.lab up|down|status|verify|loss|exec -- CMD``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from tests.lab.lab import STATE_ROOT, Lab, LabError, all_labs

CURRENT = STATE_ROOT / "current"


def _pick(lab_id: str | None) -> Lab:
    labs = {lab.id: lab for lab in all_labs()}
    if lab_id is None and CURRENT.exists():
        lab_id = CURRENT.read_text().strip()
    # without an id, only a lab made by `up` is ever chosen: never a test run's lab
    persistent = [i for i, lab in labs.items() if lab.persistent]
    if lab_id is None and len(persistent) == 1:
        lab_id = persistent[0]
    if lab_id is None or lab_id not in labs:
        known = ", ".join(labs) or "none"
        raise SystemExit(f"no such lab: {lab_id!r} (running labs: {known}); use --id")
    return labs[lab_id]


def _up_with_keeper(scale: int, verify: bool, lab_id: str | None, loss: int = 0) -> dict[str, object]:
    """Build a persistent lab from a forked *keeper* process and return its description.

    The keeper is the parent (and subreaper) of every lab server, so when
    ``down`` kills them they are reaped instead of lingering as zombies; it
    exits by itself once its last child is gone.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the keeper
        os.close(r)
        os.setsid()
        try:
            lab = Lab.up(scale=scale, persistent=True, verify=verify, lab_id=lab_id, loss=loss)
            msg: dict[str, object] = {"ok": True, "lab": lab.describe()}
        except BaseException as e:  # reported to the parent, which exits non-zero
            msg = {"ok": False, "error": str(e)}
        os.write(w, json.dumps(msg).encode())
        os.close(w)
        if not msg["ok"]:
            os._exit(1)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        while True:
            try:
                os.wait()
            except ChildProcessError:
                os._exit(0)
            except InterruptedError:
                continue
    os.close(w)
    chunks = []
    while chunk := os.read(r, 65536):
        chunks.append(chunk)
    os.close(r)
    msg = json.loads(b"".join(chunks) or b'{"ok": false, "error": "keeper died"}')
    if not msg["ok"]:
        os.waitpid(pid, 0)
        raise LabError(str(msg["error"]))
    return dict(msg["lab"])


def _percent(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= 100:
        raise argparse.ArgumentTypeError(f"not a percentage 0..100: {text!r}")
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab", description=__doc__)
    p.add_argument("--id", help="lab id (default: the one `up` made last)")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build the lab, start its servers, verify it, keep it running")
    up.add_argument("--scale", type=int, default=0, metavar="N", help="add N generated sites")
    up.add_argument("--no-verify", action="store_true", help="skip the self-check")
    up.add_argument("--loss", type=_percent, default=0, metavar="N",
                    help="drop N %% of forwarded packets at random (after the self-check)")
    down = sub.add_parser("down", help="tear a lab down (idempotent)")
    down.add_argument("--all", action="store_true", help="every lab on this machine")
    sub.add_parser("status", help="print the lab's description and health as JSON")
    sub.add_parser("demo", help="up, self-check, sweep the lab with v6scan, report, down")
    sub.add_parser("verify", help="run the self-check again")
    loss = sub.add_parser("loss", help="set the random packet loss at the router (0 removes it)")
    loss.add_argument("percent", type=_percent, metavar="N")
    ex = sub.add_parser("exec", help="run a command in the client namespace")
    ex.add_argument("--ns", default="client", help="client|router|srv|dns|pmtu")
    ex.add_argument("argv", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)

    try:
        if args.cmd == "up":
            info = _up_with_keeper(args.scale, not args.no_verify, args.id, args.loss)
            CURRENT.write_text(info["id"])
            print(json.dumps(info, indent=2))
            print(f"lab {info['id']} is up; run commands in its client namespace with:\n"
                  f"  python -m tests.lab exec -- CMD", file=sys.stderr)
        elif args.cmd == "down":
            labs = all_labs() if args.all else [_pick(args.id)]
            for lab in labs:
                lab.down()
                print(f"lab {lab.id} is down", file=sys.stderr)
            if CURRENT.exists() and (args.all or CURRENT.read_text().strip() in
                                     {lab.id for lab in labs}):
                CURRENT.unlink()
        elif args.cmd == "demo":
            from tests.lab.demo import run_demo

            return run_demo()
        elif args.cmd == "status":
            print(json.dumps(_pick(args.id).status(), indent=2))
        elif args.cmd == "verify":
            failures = _pick(args.id).verify()
            print("\n".join(failures) or "lab self-check: every scenario behaves as expected")
            return 1 if failures else 0
        elif args.cmd == "loss":
            lab = _pick(args.id)
            lab.set_loss(args.percent)
            print(f"lab {lab.id}: {args.percent} % loss at the router"
                  f" ({lab.loss_drops()} packets dropped so far)", file=sys.stderr)
        elif args.cmd == "exec":
            cmd = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
            if not cmd:
                raise SystemExit("exec needs a command after --")
            lab = _pick(args.id)
            os.execvp("ip", ["ip", "netns", "exec", lab.ns[args.ns], *cmd])
    except LabError as e:
        print(f"lab error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
