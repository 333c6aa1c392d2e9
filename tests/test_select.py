"""Picking boxes on a page: ``cftrack select`` and ``track --select``, in a real browser too."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from headless_browser import HeadlessChromium, find_chromium
from test_track_cli import SRC, read_csv

ADDRESS = re.compile(r"(http://127\.0\.0\.1:\d+/[\w-]+/)")


def start_cli(*args: str) -> subprocess.Popen[str]:
    # No desktop: the page is never opened in a real browser by the command itself.
    env = {**os.environ, "PYTHONPATH": str(SRC), "DISPLAY": "", "WAYLAND_DISPLAY": ""}
    env.pop("BROWSER", None)
    return subprocess.Popen(
        [sys.executable, "-m", "cftrack_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def page_address(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    """The address the command prints on stderr, and the stderr read so far."""
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([proc.stderr], [], [], 0.2)[0]:
            continue
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        found = ADDRESS.search(line)
        if found:
            return found.group(1), seen
    proc.kill()
    raise AssertionError(f"no address printed; stderr so far: {seen!r}")


def post(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_select_prints_the_boxes_the_page_sends(square_video):
    video, _ = square_video
    proc = start_cli("select", str(video), "--at", "3", "--no-browser")
    url, message = page_address(proc)
    assert "open it in a browser" in message and "Ctrl-C" in message
    with urllib.request.urlopen(url, timeout=10) as page:
        assert b"square, frame 3" in page.read()
    with urllib.request.urlopen(url + "frame.png", timeout=10) as image:
        assert image.read()[:8] == b"\x89PNG\r\n\x1a\n"
    wrong = url.replace(url.split("/")[-2], "not-the-token")
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(wrong, timeout=10)
    status, answer = post(url + "boxes", {"boxes": [[500, 500, 10, 10]]})
    assert status == 400 and "outside" in answer["error"]  # refused; the page may retry
    status, answer = post(url + "boxes", {"boxes": [[20, 30, 40, 50], [1.5, 2, 8, 9]]})
    assert (status, answer) == (200, {"ok": True})
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == "--start-frame 3 --box 20,30,40,50 --box 1.5,2,8,9\n"


def test_select_timeout_and_cancel_are_one_line(square_video):
    video, _ = square_video
    proc = start_cli("select", str(video), "--timeout", "1", "--no-browser")
    page_address(proc)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == ""
    assert err.strip() == "cftrack: error: no box was chosen within 1 s"
    proc = start_cli("select", str(video), "--no-browser")
    url, _ = page_address(proc)
    assert post(url + "cancel", {})[0] == 200
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == ""
    assert "cancelled" in err and "Traceback" not in err


def test_select_ctrl_c_stops_cleanly(square_video):
    import signal

    video, _ = square_video
    proc = start_cli("select", str(video), "--no-browser")
    page_address(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and out == ""
    assert err.strip() == "cftrack: error: interrupted"


def test_track_select_tracks_what_was_drawn(tmp_path, square_video):
    video, boxes = square_video
    proc = start_cli(
        "track", str(video), "--select", "--no-browser", "-t", "dcf", "--start-frame", "2",
        "--max-frames", "3", "--csv", "-",
    )  # fmt: skip
    url, _ = page_address(proc)
    drawn = [int(v) for v in boxes[2]]
    assert post(url + "boxes", {"boxes": [drawn, [100, 70, 30, 30]]})[0] == 200
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"selected: --box {','.join(map(str, drawn))} --box 100,70,30,30" in err
    lines = out.splitlines()
    assert lines[0] == "frame,id,x,y,w,h,score,lost"
    assert lines[1].startswith("2,1,") and lines[2].startswith("2,2,100.00,70.00,30.00,30.00,")
    assert len(lines) == 1 + 3 * 2


# -- the page itself, in a real headless browser --------------------------------------------------


@pytest.fixture
def browser(tmp_path):
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium)")
    chromium = HeadlessChromium(executable, tmp_path / "profile")
    yield chromium
    chromium.close()


def test_dragging_boxes_in_a_browser_prints_them(browser, square_video):
    video, _ = square_video
    proc = start_cli("select", str(video), "--no-browser", "--timeout", "120")
    try:
        url, _ = page_address(proc)
        browser.open(url)
        browser.wait_for("document.body.dataset.ready === '1'")
        rect = browser.evaluate(
            "JSON.stringify(document.getElementById('canvas').getBoundingClientRect())"
        )
        left, top, width = (json.loads(rect)[k] for k in ("left", "top", "width"))
        assert width == 160  # shown at its own size in an 800x600 window: 1 px = 1 frame px
        browser.drag((left + 20, top + 30), (left + 70, top + 90))
        browser.drag((left + 150, top + 110), (left + 100, top + 80))  # dragged up-left
        browser.drag((left + 5, top + 5), (left + 5.5, top + 5))  # a click: no box
        shown = browser.evaluate("document.getElementById('args').textContent")
        assert shown == "--box 20,30,50,60 --box 100,80,50,30"
        done = json.loads(
            browser.evaluate(
                "JSON.stringify(document.getElementById('done').getBoundingClientRect())"
            )
        )
        browser.click(done["left"] + done["width"] / 2, done["top"] + done["height"] / 2)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out == "--box 20,30,50,60 --box 100,80,50,30\n"
    status = browser.wait_for("document.getElementById('status').textContent")
    assert "Sent" in status


def test_track_after_selection_in_a_browser_follows_the_target(browser, tmp_path, square_video):
    """End to end: draw the square's box in the page, then track it."""
    video, boxes = square_video
    proc = start_cli(
        "track", str(video), "--select", "--no-browser", "-t", "dcf", "--csv", "-", "-q"
    )
    try:
        url, _ = page_address(proc)
        browser.open(url)
        browser.wait_for("document.body.dataset.ready === '1'")
        rect = json.loads(
            browser.evaluate(
                "JSON.stringify(document.getElementById('canvas').getBoundingClientRect())"
            )
        )
        x, y, w, h = boxes[0]
        browser.drag(
            (rect["left"] + x, rect["top"] + y), (rect["left"] + x + w, rect["top"] + y + h)
        )
        browser.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rows = read_csv(out)
    assert rows.shape == (40, 7)
    np.testing.assert_allclose(rows[0, 1:5], boxes[0])
    np.testing.assert_allclose(rows[-1, 1:3], boxes[-1][:2], atol=4)  # followed to the end


def test_page_asset_is_packaged():
    assert (SRC / "cftrack_cli" / "picker" / "page.html").is_file()
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"picker/*.html"' in pyproject
