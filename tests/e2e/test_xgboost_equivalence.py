"""Lathe's XGBoost predictions equal python3-xgboost's on 10,000 rows, for every objective it
serves, every saved format, the native evaluator and the C API fallback (dart)."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np
import xgboost as xgb

from lathe_server import LATHE_BIN
from model_fixtures import train, write_mlflow_model

ROWS = 10000
COLUMNS = [f"f{i}" for i in range(8)]


class XgboostEquivalenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lathe-xgb-")
        rng = np.random.default_rng(7)
        cls.X = rng.normal(size=(ROWS, len(COLUMNS))) * 3
        cls.X[rng.random(cls.X.shape) < 0.1] = np.nan
        cls.request = os.path.join(cls.tmp, "rows.json")
        with open(cls.request, "w") as f:
            rows = [[None if np.isnan(v) else float(v) for v in row] for row in cls.X]
            json.dump({"dataframe_split": {"columns": COLUMNS, "data": rows}}, f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def predict(self, directory):
        out = os.path.join(directory, "out.json")
        result = subprocess.run([LATHE_BIN, "models", "predict", directory, "--input", self.request, "--output", out],
                                capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out) as f:
            return np.asarray(json.load(f)["predictions"], dtype=np.float64)

    def check(self, booster, directory, label):
        expected = booster.predict(xgb.DMatrix(self.X)).astype(np.float64)
        # Outputs are FP32, printed in the shortest form that reads back as the same float32.
        actual = self.predict(directory).reshape(expected.shape).astype(np.float32).astype(np.float64)
        difference = np.abs(actual - expected)
        relative = difference / np.maximum(1.0, np.abs(expected))
        print(f"\n  {label}: max |lathe - xgboost| over {ROWS} rows = {difference.max():.3g}")
        self.assertLessEqual(relative.max(), 1e-5, label)

    def boosters(self):
        for objective in ["reg:squarederror", "binary:logistic", "multi:softprob", "multi:softmax"]:
            yield objective, train(objective, features=len(COLUMNS), rows=3000, rounds=60, depth=6)[0]
        # Objectives whose base_score is transformed to margin space differently: logit and log.
        rng = np.random.default_rng(3)
        X = rng.normal(size=(3000, len(COLUMNS)))
        for objective, y, base_score in [("reg:logistic", rng.random(3000), 0.3),
                                         ("count:poisson", rng.poisson(np.exp(X[:, 0])), 2.0)]:
            yield objective, xgb.train({"objective": objective, "max_depth": 5, "base_score": base_score},
                                       xgb.DMatrix(X, label=y), 40)

    def test_objectives_and_formats(self):
        for objective, booster in self.boosters():
            for model_format in ["xgb", "json", "ubj"]:
                with self.subTest(objective=objective, model_format=model_format):
                    directory = write_mlflow_model(
                        booster, os.path.join(self.tmp, f"{objective.replace(':', '_')}-{model_format}"), COLUMNS,
                        model_format=model_format)
                    self.check(booster, directory, f"{objective} ({model_format})")

    def test_dart_falls_back_to_the_c_api_and_still_matches(self):
        rng = np.random.default_rng(5)
        X = rng.normal(size=(2000, len(COLUMNS)))
        booster = xgb.train({"booster": "dart", "objective": "reg:squarederror", "max_depth": 4, "rate_drop": 0.1},
                            xgb.DMatrix(X, label=X[:, 0] * 2), 30)
        directory = write_mlflow_model(booster, os.path.join(self.tmp, "dart"), COLUMNS)
        self.check(booster, directory, "dart (XGBoost C API)")

    def test_a_model_from_a_newer_xgboost_is_refused(self):
        booster, _ = train("reg:squarederror", features=len(COLUMNS))
        directory = write_mlflow_model(booster, os.path.join(self.tmp, "newer"), COLUMNS)
        path = os.path.join(directory, "MLmodel")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace(f"xgb_version: {xgb.__version__}", "xgb_version: 2.1.1"))
        result = subprocess.run([LATHE_BIN, "models", "predict", directory, "--input", self.request],
                                capture_output=True, text=True, timeout=60)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("2.1.1", result.stderr)
        self.assertIn("newer than the XGBoost", result.stderr)


if __name__ == "__main__":
    unittest.main()
