"""The HTML report: one self-contained file, checked in headless Chromium (no console errors, charts in the DOM,
no network request, a screenshot that is not blank). Chromium missing is a failure unless EDGEPICK_SKIP_BROWSER=1."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.chromium_cdp import find_chromium, inspect_page

import edgepick

PROBE = """[document.querySelectorAll('.plotly-graph-div').length,
            document.querySelectorAll('.plotly-graph-div svg.main-svg').length,
            document.querySelectorAll('.plotly-graph-div .point, .plotly-graph-div .bars path, .plotly-graph-div .box').length,
            document.querySelector('.verdict') ? document.querySelector('.verdict').innerText : null]"""


@pytest.fixture
def chromium():
    found = find_chromium()
    if found is None:
        if os.environ.get("EDGEPICK_SKIP_BROWSER") == "1":
            pytest.skip("EDGEPICK_SKIP_BROWSER=1 and chromium is not installed")
        pytest.fail("chromium not found: `make test` installs it as root (apt-get install -y chromium); "
                    "set EDGEPICK_SKIP_BROWSER=1 to skip the browser checks")
    return found


@pytest.fixture
def report(home, tiny_onnx, fast, tmp_path):
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, batches=[1, 4], timing=fast,
                        budget="p90<=1s,size<=10MB", device="pi-class")
    out = tmp_path / "report.html"
    cli = str(Path(sys.executable).with_name("edgepick"))
    proc = subprocess.run([cli, "report", run.run_id, "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return run, out


def test_report_is_self_contained_and_renders_in_chromium(report, chromium, tmp_path):
    from PIL import Image, ImageStat

    run, out = report
    text = out.read_text()
    assert "<script src=" not in text and "<link " not in text  # nothing fetched: the JS is inline
    assert "Plotly.newPlot" in text and len(text) > 1_000_000  # plotly.js itself is embedded
    assert run.picked["key"] in text and "pi-class" in text
    for key, why in run.reasons.items():
        assert key in text and why.split(":")[0].replace(">", "&gt;") in text
    seen = inspect_page(out.as_uri(), PROBE, binary=chromium)
    assert seen["loaded"]
    assert seen["console_errors"] == [] and seen["exceptions"] == []
    assert seen["external_requests"] == []
    divs, svgs, marks, verdict = seen["probe"]
    assert divs == 5 and svgs >= 5 and marks > 5
    assert verdict.startswith("Pick:")
    png = Image.open(io.BytesIO(seen["png"])).convert("RGB")
    (tmp_path / "report.png").write_bytes(seen["png"])
    assert png.size[0] >= 1000 and png.size[1] > 2000  # the whole page, charts included
    assert max(ImageStat.Stat(png).stddev) > 20  # not a blank page
    assert len(png.getcolors(maxcolors=1 << 20)) > 100  # charts draw many colours; a blank or text-only page does not


def test_the_browser_check_can_fail(chromium, tmp_path):
    """The harness itself: a broken page is caught (console error, exception, network request, nothing drawn)."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><script>console.error("boom"); missingFunction();</script>'
                    '<img src="https://cdn.example.invalid/x.png"></body></html>')
    seen = inspect_page(page.as_uri(), PROBE, binary=chromium, settle_s=0.5)
    assert "boom" in seen["console_errors"]
    assert any("missingFunction" in e for e in seen["exceptions"])
    assert seen["external_requests"] == ["https://cdn.example.invalid/x.png"]
    assert seen["probe"][:2] == [0, 0]
