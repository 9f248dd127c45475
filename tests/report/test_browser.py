"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``).

Two launches with fresh profiles: ``--dump-dom`` on a copy of the page with a probe
script (allowed by a CSP nonce; it records script errors, failed loads, CSP
violations and each image's natural size into the DOM after ``load``), and
``--screenshot`` of the unmodified page. Chromium's own console log (stderr) must
show no message from either page: the report has no scripts, so any is an error.
Skipped when Chromium is missing, except under CI (``CI`` set), which installs it.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import subprocess

import pytest
from PIL import Image

from saliency_core.report import render_report

from .conftest import EXPECTED_FIGURES, SECTION_IDS

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
CSP = "default-src 'none';"
PROBE = """<script nonce="probe">(function () {
  var errors = [];
  document.addEventListener("securitypolicyviolation", function (e) {
    errors.push("CSP blocked " + e.blockedURI + " (" + e.violatedDirective + ")"); });
  window.addEventListener("error", function (e) {
    var t = e.target || {};
    errors.push(e.message || ("failed to load " + (t.src || t.href || t.tagName))); }, true);
  window.addEventListener("unhandledrejection", function (e) { errors.push(String(e.reason)); });
  var original = console.error;
  console.error = function () {
    errors.push(Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments); };
  window.addEventListener("load", function () {
    var images = Array.prototype.map.call(document.images, function (i) {
      return {complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}; });
    var sections = Array.prototype.map.call(document.querySelectorAll("section[id]"),
      function (s) { return s.id; });
    var out = document.createElement("pre");
    out.id = "probe-result";
    out.textContent = JSON.stringify({errors: errors, images: images, sections: sections});
    document.body.appendChild(out);
  });
})();</script>"""


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI must `apt-get install chromium`)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def _launch(chromium: str, profile, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def chromium() -> str:
    return _chromium()


@pytest.fixture(scope="module")
def report_html(stored_run, tmp_path_factory):
    store, run_id = stored_run
    out = tmp_path_factory.mktemp("report")
    return render_report(store, run_id, out, formats=("html",))["html"]


def test_page_loads_without_errors_and_images_decode(chromium, report_html, tmp_path):
    page = report_html.read_text(encoding="utf-8")
    assert CSP in page
    probed = page.replace(CSP, CSP + " script-src 'nonce-probe';", 1)
    probed = probed.replace("<head>", "<head>\n" + PROBE, 1)
    probe_file = report_html.with_name("probe.html")
    probe_file.write_text(probed, encoding="utf-8")

    proc = _launch(chromium, tmp_path / "profile-dom", "--dump-dom", probe_file.as_uri())

    found = re.search(r'<pre id="probe-result">(.*?)</pre>', proc.stdout, re.S)
    assert found, f"no probe result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    result = json.loads(html.unescape(found.group(1)))
    assert result["errors"] == []
    assert _console(proc.stderr) == []
    assert result["sections"] == list(SECTION_IDS)
    assert len(result["images"]) == EXPECTED_FIGURES
    for image in result["images"]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image


def test_screenshot(chromium, report_html, tmp_path):
    shot = tmp_path / "page.png"
    proc = _launch(
        chromium,
        tmp_path / "profile-shot",
        "--hide-scrollbars",
        "--window-size=1280,2000",
        f"--screenshot={shot}",
        report_html.as_uri(),
    )

    assert shot.is_file(), f"no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    assert _console(proc.stderr) == []
    with Image.open(io.BytesIO(shot.read_bytes())) as img:
        assert img.size == (1280, 2000)
        gray = img.convert("L")
        lo, hi = gray.getextrema()
        assert hi - lo > 100  # text and figures, not a blank page
        colours = img.convert("RGB").getcolors(maxcolors=1 << 24)
        assert len(colours) > 50
