"""`lathe monitor report`: drift between two files, per column, with Evidently's defaults; the
numbers themselves are checked against scipy in tests/monitoring."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np
import pandas as pd
from scipy import stats

from lathe_server import LATHE_BIN


def lathe(*args):
    return subprocess.run([LATHE_BIN, *args], capture_output=True, text=True, timeout=120)


class MonitorReportTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lathe-monitor-")
        rng = np.random.default_rng(0)
        n = 800  # up to 1000 reference rows: KS and chi-square
        self.reference = pd.DataFrame({
            "age": rng.normal(40, 10, n), "income": rng.normal(5e4, 1e4, n),
            "plan": rng.choice(["a", "b", "c"], n), "smoker": rng.choice(["yes", "no"], n),
            "empty": [None] * n, "gone": 1})
        self.current = pd.DataFrame({
            "age": rng.normal(47, 10, n), "income": rng.normal(5e4, 1e4, n),
            "plan": rng.choice(["a", "b", "c"], n, p=[0.6, 0.2, 0.2]), "smoker": rng.choice(["yes", "no"], n),
            "empty": [None] * n, "new": 2})
        self.current.loc[3, "age"] = np.nan
        self.ref_path = os.path.join(self.tmp, "reference.csv")
        self.cur_path = os.path.join(self.tmp, "current.csv")
        self.reference.to_csv(self.ref_path, index=False)
        self.current.to_csv(self.cur_path, index=False)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_report_per_column(self):
        out = os.path.join(self.tmp, "report.json")
        result = lathe("monitor", "report", "--reference", self.ref_path, "--current", self.cur_path, "--json", out)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out) as f:
            report = json.load(f)
        columns = {c["column"]: c for c in report["columns"]}
        self.assertEqual(columns["age"]["test"], "ks")
        expected = stats.ks_2samp(self.reference["age"], self.current["age"].dropna())
        self.assertAlmostEqual(columns["age"]["p_value"], expected.pvalue, delta=1e-9 * max(expected.pvalue, 1e-300))
        self.assertTrue(columns["age"]["drifted"])
        self.assertEqual(columns["age"]["dropped_current"], 1)
        self.assertFalse(columns["income"]["drifted"])
        self.assertEqual(columns["plan"]["test"], "chisquare")
        self.assertTrue(columns["plan"]["drifted"])
        self.assertEqual(columns["smoker"]["test"], "z")
        self.assertFalse(columns["smoker"]["drifted"])
        self.assertIn("no values", columns["empty"]["error"])
        self.assertEqual(report["missing_in_current"], ["gone"])
        self.assertEqual(report["unexpected_in_current"], ["new"])
        self.assertEqual(report["columns_drifted"], 2)
        self.assertTrue(report["dataset_drift"])  # 2 of 4 tested columns: a share of 0.5 is dataset drift
        self.assertIn("2 of 4 column(s) drifted: dataset drift", result.stdout)

    def test_kinds_given_on_the_command_line(self):
        out = os.path.join(self.tmp, "report.json")
        result = lathe("monitor", "report", "--reference", self.ref_path, "--current", self.cur_path, "--json", out,
                       "--kind", "plan:text", "--kind", "age:categorical")
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out) as f:
            columns = {c["column"]: c for c in json.load(f)["columns"]}
        self.assertEqual(columns["plan"]["kind"], "text")
        self.assertNotIn("test", columns["plan"])
        self.assertIn("text columns have no drift test", columns["plan"]["error"])
        self.assertEqual(columns["age"]["kind"], "categorical")
        self.assertRegex(result.stdout, r"plan\s+text\s+not tested: text columns have no drift test")
        result = lathe("monitor", "report", "--reference", self.ref_path, "--current", self.cur_path, "--kind", "plan:ordinal")
        self.assertEqual(result.returncode, 1)
        self.assertIn("column 'plan': kind must be numerical, categorical, text or datetime, not 'ordinal'", result.stderr)

    def test_bad_input(self):
        result = lathe("monitor", "report", "--reference", os.path.join(self.tmp, "nope.csv"), "--current", self.cur_path)
        self.assertEqual(result.returncode, 1)
        self.assertIn("reference file", result.stderr)
        self.assertIn("does not exist", result.stderr)
        self.assertEqual(result.stderr.count("\n"), 1)
        broken = os.path.join(self.tmp, "broken.parquet")
        with open(broken, "wb") as f:
            f.write(b"not a parquet file")
        result = lathe("monitor", "report", "--reference", broken, "--current", self.cur_path)
        self.assertEqual(result.returncode, 1)
        self.assertIn("cannot read reference file", result.stderr)


if __name__ == "__main__":
    unittest.main()
