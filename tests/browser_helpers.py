"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe``: open a local page in
headless Chromium, record every request it makes, read its DOM and take screenshots."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

#: Debian's package is ``chromium``; other names for the same browser.
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    return next((path for name in NAMES if (path := shutil.which(name))), None)


class Browser:
    """One headless Chromium with one page; ``requests`` lists every URL the page asked for."""

    def __init__(self, exe: str, width: int = 1280, height: int = 900) -> None:
        ours_read, theirs_write = os.pipe()  # chromium writes on its fd 4
        theirs_read, ours_write = os.pipe()  # chromium reads its fd 3
        # keep the child's ends away from 3 and 4 until they are moved there
        high_read = fcntl.fcntl(theirs_read, fcntl.F_DUPFD, 10)
        high_write = fcntl.fcntl(theirs_write, fcntl.F_DUPFD, 10)
        os.close(theirs_read)
        os.close(theirs_write)

        def child() -> None:
            os.dup2(high_read, 3)
            os.dup2(high_write, 4)

        flags = [
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing resolves, whatever asks
            "--remote-debugging-pipe",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            [exe, *flags],
            pass_fds=(3, 4),
            preexec_fn=child,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(high_read)
        os.close(high_write)
        self._out = os.fdopen(ours_write, "wb", buffering=0)
        self._in = os.fdopen(ours_read, "rb", buffering=0)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self._since = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.page("Network.enable")
        self.page("Page.enable")
        self.width, self.height = width, height

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            chunk = self._in.read(1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._out.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page."""
        return self.call(method, self.session, **params)

    def _wait(self, name: str, after: int, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while not any(e.get("method") == name for e in self.events[after:]):
            if time.monotonic() > end:
                raise TimeoutError(name)
            self.events.append(self._read())

    def open(self, path: Path, scheme: str = "light", width: int | None = None) -> None:
        """Load a local file with ``prefers-color-scheme: scheme`` at ``width`` CSS pixels."""
        self.page("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
        self.page(
            "Emulation.setDeviceMetricsOverride",
            width=width or self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self._since = len(self.events)
        self.page("Page.navigate", url=path.resolve().as_uri())
        self._wait("Page.loadEventFired", self._since)

    @property
    def requests(self) -> list[str]:
        """Every URL the page asked for since it was opened (the page itself, images, anything)."""
        return [
            e["params"]["request"]["url"]
            for e in self.events[self._since :]
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, full_page: bool = True) -> bytes:
        """A PNG of the page (the whole page, or the viewport)."""
        shot = self.page("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        """Close the browser and wait for it."""
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self._in.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
