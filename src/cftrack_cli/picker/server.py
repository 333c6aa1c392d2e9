"""A local page to draw target boxes on one frame, served by the standard library.

The headless OpenCV cftrack depends on has no ``cv2.selectROI``, and a browser is the one GUI
almost every machine has. The server listens on 127.0.0.1 only, on a port the system picks, and
answers only under a random token in the path, so another user of the machine cannot read the
frame or send boxes. It serves three things: the page (``page.html``), the frame as PNG, and
``POST boxes`` (or ``cancel``), after which it stops.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import secrets
import signal
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import cv2
import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.errors import UsageError

#: The most a page may post (a list of boxes is a few hundred bytes).
MAX_BODY = 1 << 16


def browser_available() -> bool:
    """Whether opening a browser can show something: a desktop session (or ``$BROWSER``).

    Without one, Python's :mod:`webbrowser` would fall back to a text browser that takes over
    the terminal, so the address is printed instead.
    """
    if os.environ.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _boxes_from(payload: Any, width: int, height: int) -> list[Box]:
    """The posted ``{"boxes": [[x, y, w, h], ...]}`` as boxes, or a ValueError saying why."""
    if not isinstance(payload, dict) or not isinstance(payload.get("boxes"), list):
        raise ValueError('expected {"boxes": [[x, y, w, h], ...]}')
    boxes = []
    for item in payload["boxes"]:
        if not (isinstance(item, list) and len(item) == 4):
            raise ValueError("a box is [x, y, w, h]")
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in item):
            raise ValueError("a box holds four finite numbers")
        box = Box(*(float(v) for v in item))
        if box.w <= 0 or box.h <= 0 or not box.overlaps_frame(width, height):
            raise ValueError(f"box {item} is empty or outside the {width}x{height} frame")
        boxes.append(box)
    if not boxes:
        raise ValueError("no box drawn")
    return boxes


@contextlib.contextmanager
def _ctrl_c_ends(finished: threading.Event) -> Iterator[threading.Event]:
    """While waiting for the page, Ctrl-C only ends the wait (the caller raises
    KeyboardInterrupt once the server is down): an exception raised wherever the signal
    lands, inside an Event's wait or a write to stderr, could leave the wait stuck."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def on_sigint(signum: int, frame: object) -> None:
        interrupted.set()
        finished.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def pick_boxes(
    frame: np.ndarray,
    *,
    title: str,
    timeout: float,
    open_browser: bool,
    ready: Callable[[str], None],
) -> list[Box]:
    """Serve ``frame`` (RGB) on a page where the user drags one or more boxes; return them in
    0-based pixels, in the order drawn.

    ``ready(url)`` is called once the page can be loaded (to print the address); with
    ``open_browser`` the default browser is asked to open it. A :class:`UsageError` when
    nothing is chosen within ``timeout`` seconds or the page's Cancel is pressed; Ctrl-C
    (KeyboardInterrupt) stops the server too.
    """
    height, width = frame.shape[:2]
    ok, png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    if not ok:
        raise UsageError("the frame could not be encoded for the page")
    token = secrets.token_urlsafe(16)
    page = (resources.files(__package__) / "page.html").read_text(encoding="utf-8")
    page = page.replace("{{TITLE}}", html.escape(title))
    files = {
        f"/{token}/": ("text/html; charset=utf-8", page.encode("utf-8")),
        f"/{token}/frame.png": ("image/png", png.tobytes()),
    }
    finished = threading.Event()
    outcome: dict[str, list[Box]] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the command's stderr carries only its own messages."""

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, value: dict[str, Any]) -> None:
            self._send(status, "application/json", json.dumps(value).encode())

        def do_GET(self) -> None:
            if self.path == f"/{token}":  # the page's links are relative to /token/
                self.send_response(301)
                self.send_header("Location", f"/{token}/")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path in files:
                self._send(200, *files[self.path])
            else:
                self._send(404, "text/plain", b"not found\n")

        def do_POST(self) -> None:
            if self.path == f"/{token}/cancel":
                self._json(200, {"ok": True})
                finished.set()
                return
            if self.path != f"/{token}/boxes" or finished.is_set():
                self._send(404, "text/plain", b"not found\n")
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= MAX_BODY:
                    raise ValueError("no body, or too large a body")
                boxes = _boxes_from(json.loads(self.rfile.read(length)), width, height)
            except ValueError as exc:  # json's errors are ValueErrors too
                self._json(400, {"ok": False, "error": str(exc)})
                return
            outcome["boxes"] = boxes
            self._json(200, {"ok": True})
            finished.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="cftrack-picker", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{token}/"
    with _ctrl_c_ends(finished) as interrupted:
        try:
            ready(url)
            if open_browser:
                with contextlib.suppress(webbrowser.Error):  # the address is printed anyway
                    webbrowser.open(url)
            deadline = time.monotonic() + timeout
            while not finished.wait(0.2):
                if time.monotonic() > deadline:
                    raise UsageError(f"no box was chosen within {timeout:g} s")
        finally:
            server.shutdown()
            server.server_close()
    if interrupted.is_set():
        raise KeyboardInterrupt
    if "boxes" not in outcome:
        raise UsageError("the selection was cancelled in the browser")
    return outcome["boxes"]
