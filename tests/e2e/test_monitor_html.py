"""`lathe monitor report --html`: the self-contained page as a person sees it, opened from the file
by a real headless Chromium: a screenshot that must show the charts and the highlighted rows, and
the DOM that must hold the drift table of the JSON report."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
from html.parser import HTMLParser

import numpy as np
import pandas as pd
from PIL import Image

from lathe_server import LATHE_BIN

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1280, 2000
ODD = '<script>alert("x")</script> & co'  # a column name that must stay text
TESTS = {"ks": "Kolmogorov–Smirnov", "chisquare": "chi-square", "z": "z-test"}
# The page's colours (src/monitoring/html_report.cc): current bars, reference bars, drifted rows.
CURRENT, REFERENCE, DRIFT_BACKGROUND = (232, 116, 59), (111, 134, 176), (253, 236, 234)


def chromium(profile, *args):
    return subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180)


class DriftTableRows(HTMLParser):
    """The rows of the drift table: (class, [cell texts]); and every start tag seen."""

    def __init__(self):
        super().__init__()
        self.rows, self.tags = [], []
        self._in_table = self._cell = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table" and attrs.get("class") == "drift-table":
            self._in_table = True
        elif self._in_table and tag == "tr" and attrs.get("class") is not None:
            self.rows.append((attrs["class"], []))
        elif self._in_table and tag == "td" and self.rows:
            self.rows[-1][1].append("")
            self._cell = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        if tag == "td":
            self._cell = False

    def handle_data(self, data):
        if self._in_table and self._cell:
            self.rows[-1][1][-1] += data


class MonitorHtmlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # scripts/install-deps.sh installs Chromium: without it this test fails, it does not skip.
        assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: run scripts/install-deps.sh"
        cls.tmp = tempfile.mkdtemp(prefix="lathe-monitor-html-")
        rng = np.random.default_rng(1)
        n = 900
        reference = pd.DataFrame({
            "age": rng.normal(40, 10, n), "income": rng.normal(5e4, 1e4, n), ODD: rng.normal(0, 1, n),
            "plan": rng.choice(["basic", "plus", "pro", "team"], n), "smoker": rng.choice(["yes", "no"], n),
            "empty": [None] * n, "gone": 1})
        current = pd.DataFrame({
            "age": rng.normal(52, 12, n), "income": rng.normal(5.5e4, 1e4, n), ODD: rng.normal(0, 1, n),
            "plan": rng.choice(["basic", "plus", "pro", "team"], n, p=[0.1, 0.2, 0.3, 0.4]),
            "smoker": rng.choice(["yes", "no"], n), "empty": [None] * n, "new": 2})
        current.loc[:9, "age"] = np.nan
        cls.reference_csv = os.path.join(cls.tmp, "reference.csv")
        cls.current_csv = os.path.join(cls.tmp, "current.csv")
        reference.to_csv(cls.reference_csv, index=False)
        current.to_csv(cls.current_csv, index=False)
        cls.html_path = os.path.join(cls.tmp, "report.html")
        json_path = os.path.join(cls.tmp, "report.json")
        cls.result = subprocess.run(
            [LATHE_BIN, "monitor", "report", "--reference", cls.reference_csv, "--current", cls.current_csv,
             "--html", cls.html_path, "--json", json_path], capture_output=True, text=True, timeout=120)
        assert cls.result.returncode == 0, cls.result.stderr
        with open(json_path) as f:
            cls.report = json.load(f)
        with open(cls.html_path, encoding="utf-8") as f:
            cls.html = f.read()
        cls.profile = os.path.join(cls.tmp, "chromium-profile")
        cls.url = "file://" + cls.html_path

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_file_is_self_contained(self):
        for reference in ("<script", "http://", "https://", "src=", "href=", "url(", "@import"):
            self.assertNotIn(reference, self.html)
        self.assertIn("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co", self.html)
        self.assertLess(len(self.html.encode()), 200_000)

    def test_screenshot_shows_charts_and_highlighted_rows(self):
        png = os.path.join(self.tmp, "report.png")
        shot = chromium(self.profile, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", self.url)
        self.assertEqual(shot.returncode, 0, shot.stderr)
        self.assertTrue(os.path.exists(png), shot.stderr)
        with Image.open(png) as image:
            self.assertEqual(image.format, "PNG")
            self.assertEqual(image.size, (WIDTH, HEIGHT))
            pixels = image.convert("RGB").getcolors(WIDTH * HEIGHT)
        counts = {color: count for count, color in pixels}
        # A blank or unstyled page has a handful of colours; this one has text, bars and shading.
        self.assertGreater(len(counts), 50)
        self.assertLess(counts.get((255, 255, 255), 0), 0.95 * WIDTH * HEIGHT)
        # The SVG bars of both sides were drawn, and the drifted rows shaded.
        self.assertGreater(counts.get(CURRENT, 0), 2000)
        self.assertGreater(counts.get(REFERENCE, 0), 2000)
        self.assertGreater(counts.get(DRIFT_BACKGROUND, 0), 5000)

    def test_dom_holds_the_drift_table_of_the_json_report(self):
        dump = chromium(self.profile, "--dump-dom", self.url)
        self.assertEqual(dump.returncode, 0, dump.stderr)
        parser = DriftTableRows()
        parser.feed(dump.stdout)
        self.assertNotIn("script", parser.tags)  # the odd column name stayed text
        self.assertEqual(parser.tags.count("svg"), 5)  # one histogram per column with values
        rows = {cells[0]: (css, cells) for css, cells in parser.rows}
        self.assertEqual(list(rows), [c["column"] for c in self.report["columns"]])
        drifted = {c["column"] for c in self.report["columns"] if c.get("drifted")}
        self.assertEqual(drifted, {"age", "income", "plan"})
        for column in self.report["columns"]:
            css, cells = rows[column["column"]]
            if "error" in column:
                self.assertEqual(css, "untested")
                self.assertEqual(cells[2], column["error"])
                self.assertEqual(cells[3], "Not tested")
                continue
            self.assertEqual(css, "drift" if column["drifted"] else "ok", column["column"])
            self.assertEqual(cells[1], column["kind"])
            self.assertEqual(cells[2], TESTS[column["test"]])
            value, unit = cells[3].rsplit(" ", 1)
            self.assertEqual(unit, "p-value")
            self.assertEqual(float(value.replace(",", "")), float(f"{column['p_value']:.4g}"))
            self.assertEqual(float(cells[4]), column["threshold"])
            self.assertEqual(cells[5], "Drift" if column["drifted"] else "No drift")
            self.assertEqual(cells[6], f"{column['reference_values']:,} / {column['current_values']:,}")
            self.assertEqual(cells[7], f"{column['dropped_reference']:,} / {column['dropped_current']:,}")
        self.assertEqual(rows["age"][1][7], "0 / 10")
        self.assertIn(ODD, rows)
        self.assertTrue(self.report["dataset_drift"])  # 3 of 5 tested columns
        for text in ("Missing in current (1)", "Unexpected in current (1)", "<b>Detected</b>", "<b>3 of 5</b>"):
            self.assertTrue(text in dump.stdout, text)


if __name__ == "__main__":
    unittest.main()
