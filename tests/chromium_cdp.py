"""Load a page in headless Chromium and report what a person would see, over the DevTools protocol.

Chromium is driven through --remote-debugging-pipe (JSON messages, NUL-terminated, on fds 3 and 4), so no
websocket client or chromedriver is needed. We collect console errors, uncaught exceptions, every network request
that is not file:/data:/about: (a self-contained report must make none), a DOM probe, and a full-page screenshot.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--remote-debugging-pipe"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    def __init__(self, binary: str, user_dir: str):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire():  # the child sees our pipes as fds 3 (commands in) and 4 (replies out)
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={user_dir}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=wire,
                                     pass_fds=(3, 4) if _fds_exist() else ())
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next = 0
        self.events: queue.Queue = queue.Queue()
        self._replies: dict[int, dict] = {}
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cv:
                        self._replies[msg["id"]] = msg
                        self._cv.notify_all()
                else:
                    self.events.put(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._next not in self._replies:
                if not self._cv.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"no reply to {method}")
            reply = self._replies.pop(self._next)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _fds_exist() -> bool:
    try:
        os.fstat(3)
        os.fstat(4)
        return True
    except OSError:
        return False


def inspect_page(url: str, probe_js: str, width: int = 1400, settle_s: float = 2.0, binary: str | None = None) -> dict:
    """Open `url`; return {console_errors, exceptions, external_requests, probe, png (bytes)}."""
    binary = binary or find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium not found")
    with tempfile.TemporaryDirectory(prefix="edgepick-chromium-") as user_dir:
        pipe = _Pipe(binary, user_dir)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Page", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                             "mobile": False}, session=session)
            pipe.send("Page.navigate", {"url": url}, session=session)
            out = {"console_errors": [], "exceptions": [], "external_requests": [], "loaded": False}
            deadline = time.monotonic() + 60
            settle_until = None
            while time.monotonic() < deadline and (settle_until is None or time.monotonic() < settle_until):
                try:
                    ev = pipe.events.get(timeout=0.2)
                except queue.Empty:
                    continue
                _record(ev, out)
                if ev.get("method") == "Page.loadEventFired" and settle_until is None:
                    out["loaded"] = True
                    settle_until = time.monotonic() + settle_s
            while not pipe.events.empty():
                _record(pipe.events.get(), out)
            probe = pipe.send("Runtime.evaluate", {"expression": probe_js, "returnByValue": True}, session=session)
            out["probe"] = probe.get("result", {}).get("value")
            shot = pipe.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                             session=session, timeout=60)
            out["png"] = base64.b64decode(shot["data"])
            return out
        finally:
            pipe.close()


def _record(ev: dict, out: dict) -> None:
    method, params = ev.get("method"), ev.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        out["console_errors"].append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
    elif method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        out["exceptions"].append((details.get("exception") or {}).get("description") or details.get("text"))
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        out["console_errors"].append(params["entry"].get("text"))
    elif method == "Network.requestWillBeSent":
        url = params.get("request", {}).get("url", "")
        if not url.startswith(("file:", "data:", "about:", "blob:")):
            out["external_requests"].append(url)
