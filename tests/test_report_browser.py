"""The report of a real run, opened in headless Chromium: every figure drew, the titles are there,
light and dark both render, the page fits a laptop screen, no two texts of a figure overlap at
laptop widths, and it made no network request."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from browser_helpers import Browser, find_chromium
from conftest import ALPACA_EVAL
from mosaicit.cli import main

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")
CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.heavy,
    pytest.mark.skipif(
        CHROMIUM is None, reason="needs headless Chromium (Debian package 'chromium'; .ci/run installs it)"
    ),
]

TITLES = [
    "Run",
    "Tokens per sample",
    "Records per sample",
    "Strategy mix",
    "Rule mix",
    "Numbering mix",
    "Tag mix",
    "Passthrough and mosaics",
    "Rejects by reason",
    "Training cost",
]
FIGURES_JS = """[...document.images].map(i => {const r = i.getBoundingClientRect();
  return {alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight,
          x: r.left + scrollX, y: r.top + scrollY, rw: r.width, rh: r.height};})"""


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A real run's report (augment --report), and a two-run comparison page."""
    folder = tmp_path_factory.mktemp("report_browser")
    a, b = folder / "seed42.jsonl", folder / "seed7.parquet"
    common = ("--max-length", 400, "--epochs", 2, "-q")
    invoke("augment", ALPACA_EVAL, "-o", a, "--report", *common)
    invoke("augment", ALPACA_EVAL, "-o", b, "--seed", 7, "--version", "order", *common)
    invoke("report", a, b, "-o", folder / "compare.html")
    return folder / "seed42.jsonl.report.html", folder / "compare.html"


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "srcset", "poster", "action", "data")]


def test_the_page_refers_to_nothing_outside_itself(pages):
    for page in pages:
        html = page.read_text(encoding="utf-8")
        parser = _Refs()
        parser.feed(html)
        assert parser.refs and all(r.startswith(("data:image/png;base64,", "#")) for r in parser.refs)
        assert not parser.tags & {"script", "link", "iframe", "object", "embed"}
        assert not re.search(r"@import|@font-face|url\(", html)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def _luminance(pixels: np.ndarray) -> float:
    return float(pixels.mean())


def _check_page(browser: Browser, page: Path, scheme: str, titles: list[str]) -> np.ndarray:
    """Open ``page``; check its requests, titles, figures and layout; return the screenshot."""
    browser.open(page, scheme)
    assert browser.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent)") == titles
    requests = browser.requests
    assert requests[0] == page.resolve().as_uri()
    offsite = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert offsite == [], "the page made network requests"
    # readable at laptop width: nothing wider than the window at 1280 or 820 CSS pixels
    for width in (1280, 820):
        browser.open(page, scheme, width)
        assert browser.evaluate("document.documentElement.scrollWidth <= innerWidth")
    browser.open(page, scheme)
    figures = browser.evaluate(FIGURES_JS)
    assert len(figures) == 9 and all(f["complete"] and f["w"] > 500 and f["h"] > 100 for f in figures)
    shot = _pixels(browser.screenshot())
    assert shot.std() > 20  # the screenshot is not blank
    corner = _luminance(shot[:10, :10])
    assert corner > 200 if scheme == "light" else corner < 40  # the page follows the colour scheme
    for f in figures:  # every figure drew where it stands: varied pixels, in the scheme's colours
        x, y = int(f["x"]), int(f["y"])
        region = shot[y : y + int(f["rh"]), x : x + int(f["rw"])]
        assert region.size and region.std() > 15, f["alt"]
        mean = _luminance(region)
        assert mean > 180 if scheme == "light" else mean < 90, (f["alt"], mean)
    return shot


def test_the_report_renders_in_chromium_light_and_dark(pages, tmp_path):
    page, compare = pages
    with Browser(CHROMIUM) as browser:
        light = _check_page(browser, page, "light", TITLES)
        dark = _check_page(browser, page, "dark", TITLES)
        _check_page(browser, compare, "light", ["Runs", *TITLES[1:], "Differences between the runs"])
        dom = browser.evaluate("document.body.innerText")
    assert light.shape == dark.shape
    assert "A: seed42.jsonl" in dom and "B: seed7.parquet" in dom and "saving, packing" in dom


#: Every figure's text boxes as the page shows them, in CSS pixels (data-text-boxes are PNG pixels).
LABELS_JS = """[...document.images].map(i => {const r = i.getBoundingClientRect(), k = r.width / i.naturalWidth;
  return {alt: i.alt, left: r.left, right: r.right, inner: innerWidth,
          boxes: i.dataset.textBoxes.split(';').map(b => b.split(' ').map(Number))
                  .map(([x0, y0, x1, y1]) => [r.left + x0 * k, r.top + y0 * k, r.left + x1 * k, r.top + y1 * k])};})"""


def _overlapping(boxes):
    return [
        (a, b)
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5
    ]


@pytest.mark.parametrize("width", [1024, 1280, 1440])
def test_no_label_of_a_figure_overlaps_another_at_laptop_widths(pages, width):
    """The training-cost axis labels ran into each other ("6,000,000" beside "12,000,000"): at
    laptop widths every text of every figure stands apart, inside its figure, inside the window,
    and is large enough to read."""
    with Browser(CHROMIUM) as browser:
        for page in pages:
            browser.open(page, "light", width)
            figures = browser.evaluate(LABELS_JS)
            assert len(figures) == 9
            for f in figures:
                assert 0 <= f["left"] and f["right"] <= f["inner"], f["alt"]
                boxes = f["boxes"]
                assert len(boxes) > 5 and _overlapping(boxes) == [], (f["alt"], _overlapping(boxes))
                assert all(f["left"] <= x0 and x1 <= f["right"] for x0, _, x1, _ in boxes), f["alt"]
                assert min(y1 - y0 for _, y0, _, y1 in boxes) >= 9, f["alt"]  # 8 pt bar labels, readable
    assert _overlapping([[0, 0, 10, 10], [5, 5, 20, 20]])  # the check can fail


def test_every_embedded_figure_is_a_drawn_png_saved_beside_the_page(pages):
    page = pages[0]
    html = page.read_text(encoding="utf-8")
    embedded = [base64.b64decode(d) for d in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]
    folder = page.with_name("seed42.jsonl.report")
    files = sorted(folder.glob("*.png"))
    assert len(embedded) == len(files) == 9
    assert sorted(embedded) == sorted(f.read_bytes() for f in files)
    for png in embedded:
        pixels = _pixels(png)
        assert pixels.shape[1] == 900 and pixels.std() > 15


def test_the_network_check_sees_a_remote_request(tmp_path):
    """The check above can fail: a page that loads a remote image is caught."""
    page = tmp_path / "remote.html"
    page.write_text('<!DOCTYPE html><h2>x</h2><img src="https://example.com/x.png">', encoding="utf-8")
    with Browser(CHROMIUM) as browser:
        browser.open(page)
        assert "https://example.com/x.png" in browser.requests
