"""Screenshot the 4D viewer (`one4d-view`) in headless Chromium, e.g. for the README:

    uv run python tools/viewer_screenshot.py runs/gen-demo docs/images/viewer.png

Serves the output folder on loopback (any free port), opens it in the system's Chromium (Debian's
`chromium` package) through Playwright, waits until the rendered scene stops changing and writes a PNG.
No browser is downloaded: Playwright drives /usr/bin/chromium (or $CHROMIUM). The viewer's test imports this
file for its browser part (`open_page`, `capture`, `wait_for`).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless without a GPU: WebGL through ANGLE on SwiftShader (software Vulkan). Recent Chromium no longer
# falls back to SwiftShader on its own; --enable-unsafe-swiftshader opts in.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
# viser's toasts (e.g. "Software WebGL rendering detected") would cover part of the scene.
HIDE_NOTIFICATIONS = ".mantine-Notifications-root { display: none !important; }"


def browser_missing() -> str | None:
    """Why the browser part cannot run here (None when it can)."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


@contextmanager
def open_page(
    url: str, *, width: int = 1280, height: int = 800, timeout_s: float = 60.0, log: list[str] | None = None
) -> Iterator[Any]:
    """A Playwright page with `url` loaded in headless Chromium, once viser's canvas exists. Console
    messages are appended to `log` when given (viser logs whether WebGL works)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            if log is not None:
                page.on("console", lambda message: log.append(message.text))
            page.goto(url, timeout=timeout_s * 1000)
            page.wait_for_selector("canvas", timeout=timeout_s * 1000)
            page.add_style_tag(content=HIDE_NOTIFICATIONS)
            yield page
        finally:
            browser.close()


def capture(page: Any) -> np.ndarray:
    """The page as an (H, W, 3) uint8 image."""
    from PIL import Image

    with Image.open(io.BytesIO(page.screenshot())) as image:
        return np.asarray(image.convert("RGB"))


def wait_for(
    page: Any, done: Callable[[np.ndarray], bool], timeout_s: float = 60.0, interval_s: float = 0.25
) -> tuple[np.ndarray, bool]:
    """Screenshots until `done(image)` or `timeout_s`: (the last screenshot, whether `done` held)."""
    deadline = time.monotonic() + timeout_s
    while True:
        image = capture(page)
        if done(image):
            return image, True
        if time.monotonic() > deadline:
            return image, False
        time.sleep(interval_s)


def wait_until_stable(page: Any, settle_s: float = 1.5, timeout_s: float = 60.0) -> np.ndarray:
    """The page once it has not changed for `settle_s` (the scene arrived and drew); TimeoutError if it
    keeps changing (e.g. while playing)."""
    last, since = None, time.monotonic()

    def stable(image: np.ndarray) -> bool:
        nonlocal last, since
        if last is None or not np.array_equal(image, last):
            last, since = image, time.monotonic()
            return False
        return time.monotonic() - since >= settle_s

    image, ok = wait_for(page, stable, timeout_s)
    if not ok:
        raise TimeoutError(f"the page kept changing for {timeout_s:.0f} s")
    return image


def screenshot(
    url: str, path: str | Path, *, width: int = 1280, height: int = 800, settle_s: float = 1.5
) -> Path:
    """Write a PNG of the viewer at `url` once its scene has settled."""
    from PIL import Image

    with open_page(url, width=width, height=height) as page:
        image = wait_until_stable(page, settle_s)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a one4d-generate output folder")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--stride", type=int, default=1, help="pixel stride of the points")
    parser.add_argument("--point-size", type=float, default=0.01)
    parser.add_argument("--frame", type=int, default=0, help="frame the time slider shows")
    args = parser.parse_args(argv)
    reason = browser_missing()
    if reason:
        print(f"viewer_screenshot: {reason}", file=sys.stderr)
        return 2
    from one4d_model.errors import ModelError
    from one4d_model.viz.viewer import serve

    try:
        viewer = serve(args.folder, "127.0.0.1", 0, stride=args.stride, point_size=args.point_size)
    except ModelError as error:
        print(f"viewer_screenshot: {error}", file=sys.stderr)
        return 2
    try:
        viewer.set_frame(args.frame)
        path = screenshot(viewer.url, args.out, width=args.width, height=args.height)
    finally:
        viewer.stop()
    print(f"viewer_screenshot: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
