"""Make docs/report.png, the screenshot of ``mosaicit report`` in docs/report.md, in headless Chromium.

The sample data is mosaicked with ``--report``; the left half of the image is the top of the page
in the light scheme, the right half its end (rejects, training cost) in the dark scheme. Needs Chromium
and Pillow (``pip install -e '.[test]'``)::

    python bench/report_screenshot.py [--out docs/report.png]
"""

from __future__ import annotations

import argparse
import base64
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_helpers import Browser, find_chromium  # noqa: E402

WIDTH, HEIGHT = 760, 1240


def clip(browser: Browser, top: int) -> bytes:
    """A PNG of the page from ``top`` down, WIDTH x HEIGHT."""
    shot = browser.page(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": max(top - 12, 0), "width": WIDTH, "height": HEIGHT, "scale": 1},
    )
    return base64.b64decode(shot["data"])


def main() -> None:
    """Run the sample with --report, then shoot it light and dark."""
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "report.png"))
    args = parser.parse_args()
    exe = find_chromium()
    if exe is None:
        sys.exit("needs Chromium (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:  # docs/report.md's command, run in a scratch folder
        (Path(tmp) / "examples").mkdir()
        shutil.copy(ROOT / "examples" / "sample_alpaca.jsonl", Path(tmp) / "examples")
        output = "out/sample_mosaic.jsonl"
        cmd = [sys.executable, "-m", "mosaicit", "augment", "examples/sample_alpaca.jsonl", "-o", output]
        subprocess.run([*cmd, "--report", "-q"], check=True, cwd=tmp)
        page = Path(tmp) / (output + ".report.html")
        with Browser(exe, WIDTH, HEIGHT) as browser:
            browser.open(page, "light")
            light = clip(browser, 0)
            browser.open(page, "dark")
            dark = clip(browser, int(browser.evaluate("document.documentElement.scrollHeight")) - HEIGHT + 12)
    halves = [Image.open(io.BytesIO(png)).convert("RGB") for png in (light, dark)]
    image = Image.new("RGB", (WIDTH * 2, HEIGHT), "white")
    for i, half in enumerate(halves):
        image.paste(half, (WIDTH * i, 0))
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(args.out, optimize=True)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
