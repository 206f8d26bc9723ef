"""A small driver for headless Chromium over the Chrome DevTools Protocol (CDP), standard library only.

The web UI's pages forbid every script with a strict Content-Security-Policy, so a test that wants to fill in
and submit a form, follow the redirect and read the resulting page needs a real browser.  This module starts
``chromium --headless --remote-debugging-pipe`` (CDP messages are JSON objects ending in a NUL byte; Chromium
reads them from its fd 3 and writes to its fd 4), attaches to the one page over a flattened session, and does
the work with ``Runtime.evaluate``, which the page's CSP does not block.  Every wait has a deadline::

    with Browser(user_data_dir=tmp_path / "profile") as b:
        b.open("http://127.0.0.1:8000/")
        b.fill("input[name=host]", "example.org")
        b.submit("form")                      # waits for the next page's load event (after any redirects)
        b.wait_for("document.querySelector('#done') !== null", timeout=60)
        assert "example.org" in b.html()
        print(b.url(), b.console())           # console messages, including CSP violation reports

It also runs as a script, so that a test can run the browser inside a network namespace
(``ip netns exec NS python -m tests.cdp steps.json``).  The JSON file holds a list of steps::

    [{"open": "http://192.0.2.1/"}, {"fill": ["#host", "example.org"]}, {"submit": "form", "timeout": 60},
     {"wait_for": "!document.querySelector('meta[http-equiv=refresh]')", "timeout": 60},
     {"html": "result"}, {"url": "result"}]

and the script prints one JSON object, ``{"html": {name: ...}, "url": {name: ...}, "console": [...]}``, and
exits 0; or, when a step fails, the same with ``"error"`` (and ``"step"``, the failed step's index) and
exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["Browser", "BrowserError", "CDPError", "JSError", "NavigationError", "find_chromium", "main"]

LAUNCH_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)
POLL_INTERVAL = 0.1  # seconds between two evaluations of a wait_for() predicate
EXCERPT_CHARS = 2000  # how much of the page or of Chromium's stderr an error message quotes

_FILL_JS = """(sel, value) => {
  const el = document.querySelector(sel);
  if (!el) throw new Error("fill: nothing matches " + sel);
  if (el instanceof HTMLSelectElement) {
    if (![...el.options].some((o) => o.value === value))
      throw new Error("fill: " + sel + " has no option with the value " + JSON.stringify(value));
    el.value = value;
  } else if (el instanceof HTMLInputElement && (el.type === "checkbox" || el.type === "radio")) {
    el.checked = !["", "0", "false", "off"].includes(value.toLowerCase());
  } else if ((el instanceof HTMLInputElement && el.type !== "file") || el instanceof HTMLTextAreaElement) {
    el.value = value;
  } else {
    throw new Error("fill: " + sel + " is a <" + el.localName + (el.type ? " type=" + el.type : "")
                    + ">, not an input, select or textarea");
  }
  el.dispatchEvent(new Event("input", {bubbles: true}));
  el.dispatchEvent(new Event("change", {bubbles: true}));
}"""

_SUBMIT_JS = """(sel) => {
  const el = document.querySelector(sel);
  if (!el) throw new Error("submit: nothing matches " + sel);
  const isButton = (el instanceof HTMLButtonElement && el.type === "submit")
    || (el instanceof HTMLInputElement && (el.type === "submit" || el.type === "image"));
  const form = el instanceof HTMLFormElement ? el : (isButton ? el.form : null);
  if (!form) { el.click(); return; }
  if (!form.noValidate && !(isButton && el.formNoValidate) && !form.checkValidity()) {
    const bad = [...form.elements].filter((e) => e.willValidate && !e.checkValidity())
      .map((e) => (e.name || e.id || e.localName) + ": " + e.validationMessage);
    throw new Error("submit: the form does not validate: " + bad.join("; "));
  }
  form.requestSubmit(isButton ? el : null);
}"""

_HTML_JS = "document.documentElement ? document.documentElement.outerHTML : ''"


class BrowserError(RuntimeError):
    """Chromium could not be started, exited, or the page went away (crashed, closed)."""


class CDPError(RuntimeError):
    """A DevTools command returned an error."""


class JSError(CDPError):
    """JavaScript run with ``Runtime.evaluate`` threw."""


class NavigationError(RuntimeError):
    """A navigation failed (for instance ``net::ERR_CONNECTION_REFUSED``): Chromium shows its error page."""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable on ``PATH``, or None (for ``pytest.mark.skipif``)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


def _tail(path: Path, chars: int = EXCERPT_CHARS) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - chars))
            return f.read().decode(errors="replace")
    except OSError as e:
        return f"({path}: {e})"


def _excerpt(text: str, chars: int = EXCERPT_CHARS) -> str:
    return text if len(text) <= chars else text[:chars] + f"... ({len(text) - chars} more characters)"


def _describe(obj: dict[str, Any]) -> str:
    """A console argument (a CDP ``Runtime.RemoteObject``) as text."""
    if "value" in obj:
        value = obj["value"]
        return value if isinstance(value, str) else json.dumps(value)
    return str(obj.get("unserializableValue") or obj.get("description") or obj.get("type", "?"))


def _hold_low_fds() -> list[int]:
    """Occupy every free descriptor from 0 to 4 (with /dev/null) until the child is started.

    The child's end of the pipes is moved onto fds 3 and 4 after the fork.  Holding them in the parent keeps
    ``Popen``'s own error-reporting pipe off fds 3 and 4 (else it would be overwritten), and lets 3 and 4 be
    ``pass_fds``, which must be open in the parent.  ``os.open`` and ``os.dup`` return the lowest free
    descriptor, so this fills the gaps without touching any descriptor in use."""
    held = [os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)]
    try:
        while held[-1] <= 4:
            held.append(os.dup(held[-1]))
    except BaseException:
        for fd in held:
            os.close(fd)
        raise
    return held


class Browser:
    """Headless Chromium with a single page, driven over ``--remote-debugging-pipe``.

    ``timeout`` (seconds) bounds every operation unless the call gives its own.  Chromium's stderr goes to
    ``chromium-stderr.log`` in ``user_data_dir``; its tail is quoted when Chromium dies.
    """

    def __init__(
        self,
        exe: str | None = None,
        *,
        user_data_dir: Path,
        timeout: float = 30.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.timeout = timeout
        self.user_data_dir = Path(user_data_dir)
        self.log_path = self.user_data_dir / "chromium-stderr.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._to_chromium = -1  # our end of the pipe Chromium reads as fd 3
        self._from_chromium = -1  # our end of the pipe Chromium writes as fd 4
        self._buf = bytearray()
        self._next_id = 0
        self._pending: set[int] = set()
        self._responses: dict[int, dict[str, Any]] = {}
        self._nav: list[dict[str, Any]] = []  # main-frame Page.frameNavigated and Page.loadEventFired, in order
        self._console: list[str] = []
        self._session = ""
        self._gone = ""  # why the page is unusable (renderer crashed, target closed)
        self.user_data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._launch(exe or find_chromium() or "/usr/bin/chromium", extra_args)
            self._attach()
        except BaseException:
            self.close()
            raise

    # -- the page ------------------------------------------------------------------------------------------

    def open(self, url: str, timeout: float | None = None) -> None:
        """Navigate to ``url`` and wait for the new document's load event.

        Raises NavigationError when the page cannot be fetched (Chromium then shows its error page)."""
        deadline = self._deadline(timeout)
        mark = len(self._nav)
        try:  # Chromium answers once the response has arrived (or the navigation failed)
            result = self._call("Page.navigate", {"url": url}, deadline=deadline)
        except TimeoutError:
            waited = self.timeout if timeout is None else timeout
            raise TimeoutError(f"{url}: no response within {waited:g}s") from None
        if result.get("errorText"):
            raise NavigationError(f"{url}: {result['errorText']}")
        if loader := result.get("loaderId"):  # none for a same-document navigation (only the fragment changed)
            self._wait_load(mark, deadline, f"the load of {url}", loader)

    def fill(self, selector: str, value: str) -> None:
        """Set the value of the input, select or textarea ``document.querySelector(selector)`` finds, and
        dispatch ``input`` and ``change`` events.  A <select> must have an option with that value; a checkbox
        or radio button is checked unless ``value`` is "", "0", "false" or "off"."""
        self.evaluate(f"({_FILL_JS})({json.dumps(selector)}, {json.dumps(value)})")

    def submit(self, selector: str, timeout: float | None = None) -> None:
        """Submit a form and wait for the next page's load event (after any redirects).

        ``selector`` finds a <form> (``form.requestSubmit()``) or a submit button (``form.requestSubmit(button)``,
        so the button's name and value are sent); anything else, a link say, is clicked.  A form that does not
        validate raises JSError rather than waiting; NavigationError if the next page cannot be fetched."""
        deadline = self._deadline(timeout)
        mark = len(self._nav)
        self.evaluate(f"({_SUBMIT_JS})({json.dumps(selector)})", timeout=self._remaining(deadline))
        frame = self._wait_load(mark, deadline, f"a new page after submitting {selector!r}")
        if frame.get("unreachableUrl"):
            raise NavigationError(f"{frame['unreachableUrl']}: could not be loaded (Chromium shows its error page)")

    def html(self) -> str:
        """``document.documentElement.outerHTML`` (without the doctype)."""
        return str(self.evaluate(_HTML_JS))

    def url(self) -> str:
        """``location.href``."""
        return str(self.evaluate("location.href"))

    def wait_for(self, predicate_js: str, timeout: float | None = None) -> None:
        """Evaluate the JavaScript expression ``predicate_js`` every 0.1 s until it is truthy.

        Evaluation errors (the document being replaced, say by a ``<meta http-equiv=refresh>``) are retried.
        Raises TimeoutError, quoting the last error and the start of the page, if the deadline passes."""
        deadline = self._deadline(timeout)
        expression = f"!!(\n{predicate_js}\n)"
        last_error = ""
        while True:
            try:
                if self.evaluate(expression, timeout=max(self._remaining(deadline), 0.5)):
                    return
                last_error = ""
            except (CDPError, TimeoutError) as e:
                last_error = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                break
            self._idle(min(deadline, time.monotonic() + POLL_INTERVAL))
        try:
            page = _excerpt(str(self.evaluate(_HTML_JS, timeout=2.0)))
        except (CDPError, TimeoutError) as e:
            page = f"(unavailable: {e})"
        waited = self.timeout if timeout is None else timeout
        raise TimeoutError(
            f"{predicate_js!r} still false after {waited:g}s"
            + (f" (last error: {last_error})" if last_error else "")
            + f"; at {self._last_url()}:\n{page}"
        )

    def evaluate(self, expression: str, timeout: float | None = None) -> Any:
        """Evaluate a JavaScript expression in the page (the page's CSP does not apply) and return its value,
        converted to JSON; promises are awaited.  Raises JSError if it throws."""
        result = self._call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True, "userGesture": True},
            deadline=self._deadline(timeout),
        )
        if details := result.get("exceptionDetails"):
            exception = details.get("exception", {})
            raise JSError(exception.get("description") or details.get("text") or json.dumps(details))
        return result.get("result", {}).get("value")

    def console(self) -> list[str]:
        """The console messages seen so far, oldest first: ``"console.TYPE: ..."`` for ``console.*`` calls,
        ``"exception: ..."`` for uncaught exceptions, and ``"SOURCE.LEVEL: TEXT (URL)"`` for log entries, such as
        Chromium 156's CSP violation reports: ``"security.error: Executing inline script violates the following
        Content Security Policy directive ..."`` or ``"security.error: Sending form data to '...' violates ..."``
        (older versions said "Refused to ...")."""
        with contextlib.suppress(BrowserError):
            self._idle(time.monotonic())  # take in what has already arrived
        return list(self._console)

    # -- lifetime --------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop Chromium (politely, then with SIGKILL to its process group) and close the pipes."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None and self._to_chromium >= 0:
            with contextlib.suppress(OSError, TimeoutError, BrowserError):
                self._send("Browser.close", None, session=False, deadline=time.monotonic() + 1.0)
        for fd in (self._to_chromium, self._from_chromium):
            if fd >= 0:
                os.close(fd)
        self._to_chromium = self._from_chromium = -1
        if proc is None:
            return
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            # Chromium's own session (start_new_session): its helpers (zygote, renderers) share the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10.0)

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------------------------

    def _launch(self, exe: str, extra_args: Sequence[str]) -> None:
        child_in, self._to_chromium = os.pipe()
        self._from_chromium, child_out = os.pipe()
        os.set_blocking(self._to_chromium, False)  # so that a write never blocks past its deadline
        try:
            # Well above 4, so that moving them onto 3 and 4 in the child cannot overwrite one with the other.
            high_in = fcntl.fcntl(child_in, fcntl.F_DUPFD_CLOEXEC, 10)
            try:
                high_out = fcntl.fcntl(child_out, fcntl.F_DUPFD_CLOEXEC, 10)
            except BaseException:
                os.close(high_in)
                raise
        finally:
            os.close(child_in)
            os.close(child_out)

        def child_fds() -> None:  # in the child, between fork and exec: Chromium reads fd 3, writes fd 4
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        argv = [exe, *LAUNCH_ARGS, f"--user-data-dir={self.user_data_dir}", *extra_args, "about:blank"]
        try:
            held = _hold_low_fds()
            try:
                with self.log_path.open("ab") as log:
                    self._proc = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                        pass_fds=(3, 4),
                        preexec_fn=child_fds,
                        start_new_session=True,
                    )
            finally:
                for fd in held:
                    os.close(fd)
        except OSError as e:
            raise BrowserError(f"cannot start {exe}: {e}") from e
        finally:
            os.close(high_in)
            os.close(high_out)

    def _attach(self) -> None:
        deadline = self._deadline(None)
        targets = self._call("Target.getTargets", None, session=False, deadline=deadline)["targetInfos"]
        page = next((t["targetId"] for t in targets if t.get("type") == "page"), None)
        if page is None:
            page = self._call("Target.createTarget", {"url": "about:blank"}, session=False, deadline=deadline)[
                "targetId"
            ]
        attached = self._call(
            "Target.attachToTarget", {"targetId": page, "flatten": True}, session=False, deadline=deadline
        )
        self._session = attached["sessionId"]
        for domain in ("Inspector", "Page", "Runtime", "Log"):
            self._call(f"{domain}.enable", None, deadline=deadline)

    def _deadline(self, timeout: float | None) -> float:
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    @staticmethod
    def _remaining(deadline: float) -> float:
        return max(0.0, deadline - time.monotonic())

    def _died(self, what: str) -> BrowserError:
        code = None if self._proc is None else self._proc.poll()
        status = "still running" if code is None else f"exit status {code}"
        return BrowserError(f"{what} (chromium {status}); the end of {self.log_path}:\n{_tail(self.log_path)}")

    def _send(self, method: str, params: dict[str, Any] | None, *, session: bool, deadline: float) -> int:
        if self._to_chromium < 0:
            raise BrowserError("the browser is closed")
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        data = json.dumps(message).encode() + b"\0"
        while data:
            if not select.select([], [self._to_chromium], [], self._remaining(deadline))[1]:
                raise TimeoutError(f"chromium does not read its DevTools pipe ({method})")
            try:
                data = data[os.write(self._to_chromium, data) :]
            except BlockingIOError:
                continue
            except BrokenPipeError:
                raise self._died(f"chromium closed its DevTools pipe ({method})") from None
        return self._next_id

    def _call(
        self, method: str, params: dict[str, Any] | None, *, session: bool = True, deadline: float
    ) -> dict[str, Any]:
        """Send a command and wait for its answer (taking in the events that come before it)."""
        msg_id = self._send(method, params, session=session, deadline=deadline)
        self._pending.add(msg_id)
        try:
            while msg_id not in self._responses:
                if self._gone and session:
                    raise BrowserError(f"{method}: {self._gone}")
                if not self._pump(deadline):
                    raise TimeoutError(f"no answer to {method} from chromium")
        finally:
            self._pending.discard(msg_id)
        response = self._responses.pop(msg_id)
        if error := response.get("error"):
            raise CDPError(f"{method}: {error.get('message')}" + (f" ({error['data']})" if "data" in error else ""))
        result: dict[str, Any] = response.get("result", {})
        return result

    def _pump(self, deadline: float) -> bool:
        """Read what Chromium has written, waiting until ``deadline`` at most; False if nothing came."""
        if self._from_chromium < 0:
            raise BrowserError("the browser is closed")
        if not select.select([self._from_chromium], [], [], self._remaining(deadline))[0]:
            return False
        data = os.read(self._from_chromium, 1 << 20)
        if not data:
            raise self._died("chromium closed its DevTools pipe")
        self._buf += data
        while (end := self._buf.find(b"\0")) >= 0:
            message = json.loads(self._buf[:end])
            del self._buf[: end + 1]
            self._dispatch(message)
        return True

    def _idle(self, until: float) -> None:
        """Take in events until the time ``until``."""
        while self._pump(until):
            pass

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            if message["id"] in self._pending:  # else the answer to a command that timed out
                self._responses[message["id"]] = message
            return
        method, params = message.get("method", ""), message.get("params", {})
        if method == "Target.detachedFromTarget" and params.get("sessionId") == self._session:
            self._gone = "the page was closed"
        if message.get("sessionId") != self._session:
            return
        main_frame = method == "Page.frameNavigated" and not params["frame"].get("parentId")
        if main_frame or method == "Page.loadEventFired":
            self._nav.append(message)
        elif method == "Runtime.consoleAPICalled":
            args = " ".join(_describe(a) for a in params.get("args", []))
            self._console.append(f"console.{params.get('type', 'log')}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self._console.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            where = f" ({entry['url']})" if entry.get("url") else ""
            self._console.append(f"{entry.get('source')}.{entry.get('level')}: {str(entry.get('text')).strip()}{where}")
        elif method == "Inspector.targetCrashed":
            self._gone = "the page's renderer crashed"
        elif method == "Inspector.detached":
            self._gone = f"DevTools detached from the page ({params.get('reason')})"

    def _wait_load(self, mark: int, deadline: float, what: str, loader: str | None = None) -> dict[str, Any]:
        """Wait for a main-frame commit after ``self._nav[mark]`` (by ``loader`` if given), then for the load
        event after it; return the committed frame."""
        frame: dict[str, Any] | None = None
        seen = mark
        while True:
            for event in self._nav[seen:]:
                if event["method"] == "Page.frameNavigated":
                    if loader is None or event["params"]["frame"].get("loaderId") == loader:
                        frame = event["params"]["frame"]
                elif frame is not None:
                    return frame
            seen = len(self._nav)
            if self._gone:
                raise BrowserError(f"waiting for {what}: {self._gone}")
            if not self._pump(deadline):
                state = "the page committed but did not finish loading" if frame else "no new page committed"
                recent = "; ".join(self._console[-5:]) or "none"
                raise TimeoutError(f"waiting for {what}: {state}; last console messages: {recent}")

    def _last_url(self) -> str:
        for event in reversed(self._nav):
            if event["method"] == "Page.frameNavigated":
                return str(event["params"]["frame"].get("url"))
        return "about:blank"


# -- script mode ---------------------------------------------------------------------------------------------

_ACTIONS = ("open", "fill", "submit", "wait_for", "html", "url")


def _run_step(browser: Browser, step: object, out: dict[str, Any]) -> None:
    if not isinstance(step, dict):
        raise ValueError(f"a step is a JSON object, not {step!r}")
    actions = [k for k in step if k in _ACTIONS]
    unknown = [k for k in step if k not in (*_ACTIONS, "timeout")]
    if len(actions) != 1 or unknown:
        raise ValueError(f"a step has exactly one of {', '.join(_ACTIONS)} (and maybe a timeout): {step!r}")
    action, arg = actions[0], step[actions[0]]
    timeout = step.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise ValueError(f"timeout is a number of seconds: {step!r}")
    if action == "fill":
        if not (isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg)):
            raise ValueError(f"fill takes [selector, value]: {step!r}")
        browser.fill(arg[0], arg[1])
        return
    if not isinstance(arg, str):
        raise ValueError(f"{action} takes a string: {step!r}")
    if action == "open":
        browser.open(arg, timeout=timeout)
    elif action == "submit":
        browser.submit(arg, timeout=timeout)
    elif action == "wait_for":
        browser.wait_for(arg, timeout=timeout)
    elif action == "html":
        out["html"][arg] = browser.html()
    else:
        out["url"][arg] = browser.url()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.cdp",
        description="Run a list of browser steps (a JSON file) in headless Chromium; print what they recorded.",
    )
    parser.add_argument("steps", help='JSON list of steps, e.g. [{"open": URL}, {"html": "page"}]; - for stdin')
    parser.add_argument("--chromium", help="the browser executable (default: chromium on PATH)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for each step (default: %(default)s)")
    parser.add_argument("--user-data-dir", type=Path, help="profile directory (default: a temporary one)")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"html": {}, "url": {}, "console": []}
    index = -1
    try:
        with contextlib.ExitStack() as stack:
            text = sys.stdin.read() if args.steps == "-" else Path(args.steps).read_text(encoding="utf-8")
            steps = json.loads(text)
            if not isinstance(steps, list):
                raise ValueError("the steps file holds a JSON list")
            profile = args.user_data_dir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="cdp-", ignore_cleanup_errors=True))
            )
            browser = stack.enter_context(Browser(args.chromium, user_data_dir=profile, timeout=args.timeout))
            try:
                for index in range(len(steps)):
                    _run_step(browser, steps[index], out)
            finally:
                out["console"] = browser.console()
    except Exception as e:
        failed = {"error": f"{type(e).__name__}: {e}", **({"step": index} if index >= 0 else {}), **out}
        print(json.dumps(failed), flush=True)
        return 1
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
