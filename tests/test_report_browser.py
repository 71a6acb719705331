"""The demo's HTML report, opened in headless Chromium: every table value and every figure is there.

The report is Snakemake's single-page app; the check script runs inside it, after its own
scripts, and reads what the app holds: each HTML table page (decoded and parsed as the
browser parses it) and each figure (decoded by the browser as an image). A screenshot of
the front page is kept in test-artifacts/ (or $SYNESTHESIA_TEST_ARTIFACTS).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from browser import BrowserUnavailable, chromium, dump_dom, element_text, screenshot, with_script
from conftest import ROOT
from PIL import Image

ARTIFACTS = Path(os.environ.get("SYNESTHESIA_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHECK_ID = "synesthesia-check"
# Runs in the report: what each result of the app shows, as JSON in <pre id=CHECK_ID>.
CHECK_SCRIPT = """
(function () {
  var checks = {}, waiting = 1;
  function finished() {
    if (--waiting > 0) return;
    var pre = document.createElement("pre");
    pre.id = "%s";
    pre.textContent = JSON.stringify(checks);
    document.body.appendChild(pre);
  }
  function decode(uri) {
    var comma = uri.indexOf(","), data = uri.slice(comma + 1);
    if (!/;base64$/.test(uri.slice(0, comma))) return decodeURIComponent(data);
    return new TextDecoder().decode(Uint8Array.from(atob(data), function (c) { return c.charCodeAt(0); }));
  }
  Object.keys(results).forEach(function (path) {
    var entry = results[path];
    if (entry.mime_type === "image/png") {
      waiting++;
      var image = new Image();
      image.onload = function () {
        checks[path] = {width: image.naturalWidth, height: image.naturalHeight, labels: entry.labels};
        finished();
      };
      image.onerror = function () { checks[path] = {error: "not decodable"}; finished(); };
      image.src = entry.data_uri;
    } else if (entry.mime_type === "text/html") {
      var page = new DOMParser().parseFromString(decode(entry.data_uri), "text/html");
      checks[path] = {cells: Array.prototype.map.call(page.querySelectorAll("th, td"),
                                                      function (c) { return c.textContent; }),
                      labels: entry.labels};
    } else {
      checks[path] = {mime_type: entry.mime_type, labels: entry.labels};
    }
  });
  finished();
})();
""" % CHECK_ID


@pytest.fixture(scope="module")
def browser():
    try:
        return chromium()
    except BrowserUnavailable as reason:
        pytest.skip(f"no headless Chromium here: {reason}")


def build_report(workdir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synesthesia", "report", "--configfile",
                           str(workdir / "config.test.yaml"), "-d", str(workdir)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def demo_report(demo_run) -> Path:
    result = build_report(demo_run)
    assert result.returncode == 0, result.stderr[-3000:]
    report = Path(result.stdout.strip().splitlines()[-1])
    assert report == demo_run / "results/report.html" and report.stat().st_size > 0
    return report


def test_every_table_value_and_figure_of_the_demo_shows_in_the_browser(browser, demo_run, demo_report, tmp_path):
    checked = with_script(demo_report, CHECK_SCRIPT, tmp_path / "report-checked.html")
    shown = json.loads(element_text(dump_dom(browser, checked), CHECK_ID))

    tables = sorted((demo_run / "results/tables/paper").glob("*.html"))
    assert {t.stem for t in tables} >= {"text_understanding_general", "text_understanding_vision_centric",
                                        "retrieval_shapes", "concepts_shapes-concepts", "t2i_shapes",
                                        "concept_factors_shapes-concepts", "concept_similarity_shapes-concepts",
                                        "concept_train_fractions_shapes-concepts"}
    for table in tables:
        entry = shown[str(table.relative_to(demo_run))]
        assert entry["labels"]["result"].startswith("table: ")
        cells = set(entry["cells"])
        values = pd.read_csv(table.with_suffix(".csv"), dtype=str).fillna("")
        for column in values.columns.drop(["group"], errors="ignore"):
            assert column in cells or column == "group", (table.name, column)
            for value in values[column]:
                assert value.rstrip("*") in cells, (table.name, column, value)

    figures = sorted((demo_run / "results/figures").glob("*.png"))
    assert len(figures) >= 9
    for figure in figures:
        entry = shown[str(figure.relative_to(demo_run))]
        with Image.open(figure) as image:
            assert (entry.get("width"), entry.get("height")) == image.size, figure.name
        assert entry["labels"]["result"].startswith("figure: ")
        assert figure.with_suffix(".pdf").read_bytes().startswith(b"%PDF")

    front = dump_dom(browser, demo_report)
    assert "none: every table and figure of the config is in this report" in front
    assert "tiny-bert" in front and "22.7M" in front  # the grid, with minilm's parameter count
    for category in ("1 Text understanding", "2 Vision-centric text understanding", "3 Text-to-image generation",
                     "4 Concept alignment", "5 What makes concepts align", "6 Similarity"):
        assert category in front
    shot = screenshot(browser, demo_report, ARTIFACTS / "demo-report.png")
    with Image.open(shot) as image:
        assert image.size == (1400, 1000)
        darkest, lightest = image.convert("L").getextrema()
        assert lightest - darkest > 128  # rendered, not a blank page


def test_a_table_page_sorts_by_the_clicked_column(browser, demo_run, tmp_path):
    table = demo_run / "results/tables/paper/text_understanding_general.html"
    clicked = with_script(table, """
        document.querySelector('th[data-column="1"]').click();
        var pre = document.createElement("pre"); pre.id = "order";
        pre.textContent = JSON.stringify(Array.prototype.map.call(document.querySelectorAll("tbody tr.row"),
            function (row) { return [row.children[0].textContent, Number(row.children[1].dataset.value)]; }));
        document.body.appendChild(pre);""", tmp_path / "clicked.html")
    rows = json.loads(element_text(dump_dom(browser, clicked, budget_ms=2000), "order"))
    groups = re.findall(r"<tbody>(.*?)</tbody>", table.read_text(), flags=re.S)
    start = 0
    for group in groups:  # each style's rows sorted descending on their own
        count = group.count('class="row"')
        values = [value for _, value in rows[start:start + count]]
        assert values == sorted(values, reverse=True) and count > 0
        start += count
    assert start == len(rows)


def test_the_report_of_a_partial_run_shows_what_exists_and_lists_the_pending(browser, demo_run, tmp_path):
    figure = demo_run / "results/figures/concept_factors_shapes-concepts.png"
    aside = tmp_path / figure.name
    shutil.move(figure, aside)
    try:
        result = build_report(demo_run)
    finally:
        shutil.move(aside, figure)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 table jobs pending" in result.stderr and "concept_factors_table" in result.stderr
    front = dump_dom(browser, demo_run / "results/report.html")
    assert "Pending</strong> (1 table jobs" in front
    # docutils sets each word of an inline literal in its own span: compare the text alone
    text = " ".join(re.sub(r"<[^>]+>", " ", front).split())
    assert "concept_factors_table: results/tables/concept_factors_shapes-concepts.csv" in text
    assert "4 Concept alignment" in front
    assert "concept_factors_shapes-concepts.html" not in front
