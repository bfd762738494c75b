"""Fuzz the inference endpoints: 10,000+ random and mutated bodies (fixed seed) over OIP v2 and
MLflow's /invocations; never a 5xx, never a crash, and the model still answers correctly after."""

import os
import random
import shutil
import tempfile
import time
import unittest

import numpy as np
import requests
import xgboost as xgb

from model_fixtures import ModelServer, assert_close, train, write_mlflow_model
from test_fuzz import body_bytes, mutate

REQUESTS = 10000
SEED = 4321
TIME_BUDGET = 120  # seconds; it takes ~15 s on 2 cores
COLUMNS = [f"f{i}" for i in range(4)]


def seeds():
    row = [0.5, -1.0, 2.0, 0.0]
    return [
        ("/v2/models/m/infer", "application/json",
         {"id": "r1", "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": row + row}],
          "outputs": [{"name": "predictions"}], "parameters": {"prediction_ids": ["a", "b"], "routing_key": "k"}}),
        ("/v2/models/m/infer", "application/json",
         {"inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [v]} for c, v in zip(COLUMNS, row)]}),
        ("/v2/models/m/infer", "application/json",
         {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "INT64", "data": [[1, 2, 3, 4]]}]}),
        ("/v2/models/m/versions/1/infer", "application/json",
         {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]}),
        ("/invocations", "application/json", {"dataframe_split": {"columns": COLUMNS, "data": [row]}}),
        ("/invocations", "application/json", {"dataframe_records": [dict(zip(COLUMNS, row))]}),
        ("/invocations", "application/json", {"instances": [row, row]}),
        ("/invocations", "application/json", {"inputs": {c: [v] for c, v in zip(COLUMNS, row)}, "params": {}}),
        ("/models/m/invocations", "text/csv", ",".join(COLUMNS) + "\n" + ",".join(map(str, row)) + "\n"),
    ]


class ServingFuzzTest(unittest.TestCase):
    def test_random_and_mutated_bodies(self):
        tmp = tempfile.mkdtemp(prefix="lathe-serving-fuzz-")
        try:
            booster, X = train("binary:logistic", features=len(COLUMNS))
            directory = write_mlflow_model(booster, os.path.join(tmp, "m"), COLUMNS)
            with ModelServer(directory, "--name", "m", "--max-body-bytes", "1000000") as server:
                self.fuzz(server)
                self.assertIsNone(server.process.poll(), "the server died")
                clean = np.nan_to_num(X[:16])
                response = requests.post(f"{server.url}/invocations",
                                         json={"dataframe_split": {"columns": COLUMNS, "data": clean.tolist()}},
                                         timeout=30)
                self.assertEqual(response.status_code, 200, response.text)
                assert_close(self, response.json()["predictions"], booster.predict(xgb.DMatrix(clean)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def fuzz(self, server):
        rng = random.Random(SEED)
        session = requests.Session()
        templates = seeds()
        statuses, failures = {}, []
        started = time.time()
        for i in range(REQUESTS):
            if time.time() - started > TIME_BUDGET:
                self.fail(f"fuzzing took over {TIME_BUDGET} s ({i} requests sent)")
            path, content_type, body = rng.choice(templates)
            if isinstance(body, str):
                data = body.encode()
                if rng.random() < 0.7:
                    raw = bytearray(data)
                    for _ in range(rng.randrange(1, 4)):
                        raw[rng.randrange(len(raw))] = rng.choice(b',"\n\r\x00x9.-e ')
                    data = bytes(raw)
            else:
                for _ in range(rng.randrange(1, 4)):
                    body = mutate(rng, body)
                data = body_bytes(rng, body)
            if rng.random() < 0.05:
                content_type = rng.choice(["text/plain", "", "application/json; charset=utf-8", "text/csv",
                                           "application/octet-stream", "multipart/form-data"])
            response = session.post(server.url + path, data=data, headers={"Content-Type": content_type}, timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append((path, data[:300], response.status_code, response.text[:300]))
            elif response.status_code >= 400:
                body_json = response.json()
                key = "error" if path.startswith("/v2") else "message"
                self.assertIn(key, body_json, f"{path}: error body without '{key}': {response.text[:200]}")
        self.assertEqual(failures[:5], [], f"{len(failures)} 5xx answers; statuses {statuses}")
        self.assertGreater(statuses.get(200, 0), 100, f"too few valid requests survived mutation: {statuses}")


if __name__ == "__main__":
    unittest.main()
