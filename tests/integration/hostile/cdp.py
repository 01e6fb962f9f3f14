"""A small Chrome DevTools Protocol client for the hostile-origin tests: headless Chromium (Debian's
`chromium`) driven over --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-separated JSON), one page
attached in flat mode. Stdlib only; waits are bounded by the protocol's own events, with a timeout."""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class CDPError(Exception):
    pass


class Chromium:
    def __init__(self, profile_dir: str, resolver_rules: str = "", extra_args: list[str] | None = None):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire():  # in the child: fd 3 = commands in, fd 4 = answers out
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        args = [chromium_path() or "chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-extensions",
                "--remote-debugging-pipe", f"--user-data-dir={profile_dir}"]
        if resolver_rules:
            args.append(f"--host-resolver-rules={resolver_rules}")
        args += list(extra_args or []) + ["about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=wire, close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.page("Page.enable")
        self.page("Runtime.enable")
        self.page("Network.enable")

    # ---- the wire
    def _write(self, msg: dict) -> None:
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self._to_child, data)
            data = data[n:]

    def _read_one(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("no answer from the browser in time")
            r, _, _ = select.select([self._from_child], [], [], left)
            if r:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise CDPError("the browser closed its pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        self._next_id += 1
        mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._write(msg)
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_one(deadline)
            if m.get("id") == mid:
                if "error" in m:
                    raise CDPError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def page(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        return self.send(method, params, self.session, timeout)

    def wait_event(self, method: str, timeout: float = 60, pred=lambda p: True) -> dict:
        deadline = time.monotonic() + timeout
        for i, m in enumerate(self.events):
            if m.get("method") == method and pred(m.get("params", {})):
                del self.events[: i + 1]
                return m["params"]
        self.events.clear()
        while True:
            m = self._read_one(deadline)
            if m.get("method") == method and pred(m.get("params", {})):
                return m["params"]

    # ---- what the tests do
    def navigate(self, url: str, timeout: float = 60) -> None:
        self.events.clear()
        r = self.page("Page.navigate", {"url": url})
        if r.get("errorText"):
            raise CDPError(f"navigating to {url}: {r['errorText']}")
        self.wait_event("Page.loadEventFired", timeout)

    def eval(self, expression: str, timeout: float = 60):
        r = self.page("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True,
                                           "timeout": int(timeout * 1000)}, timeout=timeout + 5)
        if "exceptionDetails" in r:
            raise CDPError(f"{expression[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def cookies(self, url: str) -> list[dict]:
        return self.page("Network.getCookies", {"urls": [url]})["cookies"]

    def set_cookie(self, **cookie) -> None:
        assert self.page("Network.setCookie", cookie).get("success", True)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except (CDPError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass
