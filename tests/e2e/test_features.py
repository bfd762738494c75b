"""Feature store end to end: `lathe features` commands, the online store read over REST (SQLite and
a real redis-server), training sets over REST, versioning against registered models, and a
deployment whose inputs are fetched from the online store by entity key."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import numpy as np
import requests
import xgboost as xgb

from lathe_server import LATHE_BIN, LatheServer
from model_fixtures import assert_close, log_model_to_run, register_version, write_mlflow_model

ORDERS = """order_ts,customer_id,amount,created_ts
2024-01-01T00:00:00Z,1,10,2024-01-01T00:00:00Z
2024-01-20T00:00:00Z,1,30,2024-01-20T00:00:00Z
2024-02-25T00:00:00Z,1,50,2024-02-25T00:00:00Z
2024-01-05T00:00:00Z,2,100,2024-01-05T00:00:00Z
2024-01-05T00:00:00Z,2,200,2024-01-06T00:00:00Z
2024-01-07T00:00:00Z,4,,2024-01-07T00:00:00Z
"""

STORES = """ts,store_id,rating
2024-01-01T00:00:00+02:00,s1,4.5
2024-01-10T12:00:00Z,s2,3.0
"""

REPO = """project: shop
online_store: {online_store}
entities:
  - name: customer
    join_keys: [{{name: customer_id, type: int64}}]
  - name: store
    join_keys: [{{name: store_id, type: string}}]
sources:
  - name: orders
    path: orders.csv
    timestamp_field: order_ts
    created_timestamp_field: created_ts
  - name: stores
    path: stores.csv
    timestamp_field: ts
feature_views:
  - name: customer_stats
    entities: [customer]
    source: orders
    ttl: {ttl}
    features:
      - name: avg_amount_30d
        expression: >-
          avg(amount) OVER (PARTITION BY customer_id ORDER BY order_ts
                            RANGE BETWEEN INTERVAL 30 DAYS PRECEDING AND CURRENT ROW)
      - name: order_weekday
        expression: isodow(order_ts)
      - name: last_amount
        expression: amount
        type: double
  - name: store_stats
    entities: [store]
    source: stores
    features:
      - name: rating
        expression: rating
on_demand_feature_views:
  - name: order_request
    request_fields: [{{name: amount, type: double}}]
    inputs: [customer_stats:avg_amount_30d]
    features:
      - name: amount_over_avg
        expression: amount / avg_amount_30d
"""


def lathe(*args, check=True):
    result = subprocess.run([LATHE_BIN, *args], capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"lathe {' '.join(args)} failed ({result.returncode}): {result.stderr}{result.stdout}")
    return result


def write_repo(directory, online_store="sqlite", ttl="30d"):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "orders.csv"), "w") as f:
        f.write(ORDERS)
    with open(os.path.join(directory, "stores.csv"), "w") as f:
        f.write(STORES)
    with open(os.path.join(directory, "features.yaml"), "w") as f:
        f.write(REPO.format(online_store=online_store, ttl=ttl))


def online(server, body):
    return requests.post(f"{server.url}/api/lathe/features/online", json=body, timeout=30)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FeatureStoreTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lathe-features-")
        self.repo = os.path.join(self.tmp, "repo")
        self.data = os.path.join(self.tmp, "data")
        write_repo(self.repo)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def common(self):
        return ["--repo", self.repo, "--data-dir", self.data]

    def test_apply_materialize_and_read_online(self):
        out = lathe("features", "apply", *self.common()).stdout
        self.assertIn("applied version 1", out)
        self.assertIn("no changes", lathe("features", "apply", *self.common()).stdout)
        lathe("features", "materialize", "--data-dir", self.data, "--start", "2023-12-01", "--end", "2024-02-15")
        with LatheServer(data_dir=self.data) as server:
            response = online(server, {"features": ["customer_stats:avg_amount_30d", "customer_stats:last_amount",
                                                    "order_request:amount_over_avg"],
                                       "entities": {"customer_id": [1, 2, 3, 4]},
                                       "request_data": {"amount": [10, 30, 1, 5]}})
            self.assertEqual(response.status_code, 200, response.text)
            body = response.json()
            names = body["metadata"]["feature_names"]
            self.assertEqual(names, ["customer_id", "customer_stats:avg_amount_30d", "customer_stats:last_amount",
                                     "order_request:amount_over_avg"])
            avg, last, ratio = body["results"][1:]
            self.assertEqual(avg["values"], [20.0, 150.0, None, None])
            self.assertEqual(last["values"], [30.0, 200.0, None, None])
            # Materialised in 2024, read now: older than the 30-day TTL, still returned.
            self.assertEqual(avg["statuses"], ["OUTSIDE_MAX_AGE", "OUTSIDE_MAX_AGE", "NOT_FOUND", "NULL_VALUE"])
            self.assertEqual(avg["event_timestamps"][:3], ["2024-01-20T00:00:00Z", "2024-01-05T00:00:00Z", None])
            self.assertEqual(ratio["values"], [0.5, 0.2, None, None])

            # A string-keyed view, keys with time zones in the source.
            response = online(server, {"features": ["store_stats:rating"], "entities": {"store_id": ["s1", "s3"]}})
            self.assertEqual(response.status_code, 200, response.text)
            self.assertEqual(response.json()["results"][1]["values"], [4.5, None])
            self.assertEqual(response.json()["results"][1]["event_timestamps"][0], "2023-12-31T22:00:00Z")

            # Training set over REST: input order, own columns, no leak from the future.
            response = requests.post(f"{server.url}/api/lathe/features/historical", json={
                "features": ["customer_stats:avg_amount_30d", "store_stats:rating"],
                "entities": {"customer_id": [1, 1, 2], "store_id": ["s2", "s1", "s2"],
                             "event_timestamp": ["2024-02-10T00:00:00Z", "2024-01-19T23:59:59Z", "2024-01-10T11:00:00Z"]}},
                timeout=30)
            self.assertEqual(response.status_code, 200, response.text)
            body = response.json()
            self.assertEqual(body["columns"], ["customer_id", "store_id", "event_timestamp", "avg_amount_30d", "rating"])
            self.assertEqual(body["data"]["avg_amount_30d"], [20.0, 10.0, 150.0])
            self.assertEqual(body["data"]["rating"], [3.0, 4.5, None])

            repository = requests.get(f"{server.url}/api/lathe/features/repository", timeout=10).json()
            self.assertEqual(repository["version"], 1)
            self.assertEqual(len(repository["hash"]), 64)

    def test_bad_requests_get_precise_errors(self):
        lathe("features", "apply", *self.common())
        lathe("features", "materialize", "--data-dir", self.data, "--start", "2024-01-01", "--end", "2024-03-01")
        with LatheServer(data_dir=self.data) as server:
            cases = [
                ({"features": ["customer_stats:nope"], "entities": {"customer_id": [1]}}, "has no feature 'nope'"),
                ({"features": ["nope:x"], "entities": {"customer_id": [1]}}, "unknown feature view 'nope'"),
                ({"features": ["customer_stats:last_amount"], "entities": {"customer_id": ["1"]}}, "is int64"),
                ({"features": ["customer_stats:last_amount"], "entities": {"store_id": ["s1"]}}, "missing entity key 'customer_id'"),
                ({"features": ["customer_stats:last_amount"], "entities": {"customer_id": [1], "x": [2]}}, "'x' is not a join key"),
                ({"features": ["customer_stats:last_amount"], "entities": {"customer_id": []}}, "no entity rows"),
                ({"features": ["order_request:amount_over_avg"], "entities": {"customer_id": [1]}}, "request_data.amount"),
                ({"features": "customer_stats:last_amount", "entities": {"customer_id": [1]}}, "'features' must be a list"),
            ]
            for body, message in cases:
                response = online(server, body)
                self.assertIn(response.status_code, (400, 404), response.text)
                self.assertIn(message, response.json()["message"], body)
            response = requests.post(f"{server.url}/api/lathe/features/online", data="{not json", timeout=10)
            self.assertEqual(response.status_code, 400)
            response = requests.post(f"{server.url}/api/lathe/features/historical", json={
                "features": ["customer_stats:last_amount"], "entities": {"customer_id": [1]}}, timeout=10)
            self.assertEqual(response.status_code, 400, response.text)
            self.assertIn("no timestamp column 'event_timestamp'", response.json()["message"])

    def test_nothing_applied_is_a_clear_404(self):
        os.makedirs(self.data)
        with LatheServer(data_dir=self.data) as server:
            response = online(server, {"features": ["a:b"], "entities": {"k": [1]}})
            self.assertEqual(response.status_code, 404)
            self.assertIn("lathe features apply", response.json()["message"])

    def test_verify_and_incremental_materialization(self):
        lathe("features", "apply", *self.common())
        out = lathe("features", "materialize-incremental", "--data-dir", self.data, "--end", "2024-01-10").stdout
        self.assertIn("customer_stats: 3 entities from 0001-01-01T00:00:00Z to 2024-01-10T00:00:00Z", out)
        self.assertIn("store_stats: 1 entity", out)
        out = lathe("features", "materialize-incremental", "--data-dir", self.data, "--end", "2024-03-01").stdout
        self.assertIn("customer_stats: 1 entity from 2024-01-10T00:00:00Z", out)
        result = lathe("features", "verify", "--data-dir", self.data, "--at", "2024-02-10")
        self.assertIn("0 mismatch(es)", result.stdout)
        result = lathe("features", "verify", *self.common())
        self.assertIn("0 mismatch(es)", result.stdout)

    def test_repo_that_differs_from_the_applied_one_is_refused(self):
        lathe("features", "apply", *self.common())
        write_repo(self.repo, ttl="7d")
        result = lathe("features", "historical", *self.common(), "--features", "customer_stats:last_amount",
                       "--entities", os.path.join(self.repo, "orders.csv"), "--out", os.path.join(self.tmp, "x.csv"),
                       check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("differs from the applied version 1", result.stderr)
        plan = lathe("features", "plan", *self.common()).stdout
        self.assertIn("~ feature view customer_stats: ttl_seconds 2592000 -> 604800", plan)

    def test_change_that_breaks_a_registered_model_is_refused(self):
        lathe("features", "apply", *self.common())
        entities = os.path.join(self.tmp, "entities.csv")
        with open(entities, "w") as f:
            f.write("customer_id,event_timestamp\n1,2024-02-10\n")
        with LatheServer(data_dir=self.data) as server:
            experiment = server.api("POST", "experiments/create", {"name": "e"})[1]["experiment_id"]
            run_id = server.api("POST", "runs/create", {"experiment_id": experiment})[1]["run"]["info"]["run_id"]
            lathe("features", "historical", "--data-dir", self.data, "--entities", entities, "--features",
                  "customer_stats:last_amount", "--out", os.path.join(self.tmp, "train.parquet"), "--run-id", run_id)
            status, run = server.api("GET", "runs/get", params={"run_id": run_id})
            dataset = run["run"]["inputs"]["dataset_inputs"][0]["dataset"]
            self.assertEqual(dataset["source_type"], "lathe-features")
            self.assertEqual(json.loads(dataset["source"])["features"], ["customer_stats:last_amount"])
            register_version(server, "churn", run_id)
        with open(os.path.join(self.repo, "features.yaml")) as f:
            text = f.read()
        with open(os.path.join(self.repo, "features.yaml"), "w") as f:
            f.write(text.replace("expression: amount\n        type: double", "expression: CAST(amount AS VARCHAR)"))
        result = lathe("features", "apply", *self.common(), check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("customer_stats:last_amount would change type double -> string but model churn version 1",
                      result.stderr)
        self.assertIn("applied version 2", lathe("features", "apply", *self.common(), "--allow-breaking").stdout)

    def test_definition_errors_name_file_and_line(self):
        with open(os.path.join(self.repo, "features.yaml")) as f:
            text = f.read()
        with open(os.path.join(self.repo, "features.yaml"), "w") as f:
            f.write(text.replace("expression: isodow(order_ts)", "expression: isodow(order_tss)"))
        result = lathe("features", "apply", *self.common(), check=False)
        self.assertEqual(result.returncode, 1)
        self.assertRegex(result.stderr, r"features\.yaml:\d+: feature 'customer_stats:order_weekday'.*order_tss")
        self.assertEqual(result.stderr.count("\n"), 1, result.stderr)


class RedisOnlineStoreTest(unittest.TestCase):
    """The same reads against a real redis-server started here."""

    @classmethod
    def setUpClass(cls):
        cls.redis = None
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise unittest.SkipTest("redis-server is not installed: the Redis online store is not tested")
        cls.redis_dir = tempfile.mkdtemp(prefix="lathe-redis-")
        cls.port = free_port()
        cls.redis = subprocess.Popen([binary, "--port", str(cls.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", cls.redis_dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", cls.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        cls.redis.kill()
        raise unittest.SkipTest("redis-server did not start: the Redis online store is not tested")

    @classmethod
    def tearDownClass(cls):
        if cls.redis:
            cls.redis.terminate()
            cls.redis.wait(timeout=10)
            shutil.rmtree(cls.redis_dir, ignore_errors=True)

    def test_materialize_into_redis_and_read(self):
        tmp = tempfile.mkdtemp(prefix="lathe-features-redis-")
        try:
            repo, data = os.path.join(tmp, "repo"), os.path.join(tmp, "data")
            write_repo(repo, online_store=f"redis://127.0.0.1:{self.port}/0")
            lathe("features", "apply", "--repo", repo, "--data-dir", data)
            out = lathe("features", "materialize", "--data-dir", data, "--start", "2023-12-01", "--end", "2024-02-15").stdout
            self.assertIn(f"redis://127.0.0.1:{self.port}/0", out)
            with LatheServer(data_dir=data) as server:
                response = online(server, {"features": ["customer_stats:last_amount", "store_stats:rating"],
                                           "entities": {"customer_id": [1, 2, 3], "store_id": ["s1", "s2", "s9"]}})
                self.assertEqual(response.status_code, 200, response.text)
                results = response.json()["results"]
                self.assertEqual(results[2]["values"], [30.0, 200.0, None])
                self.assertEqual(results[3]["values"], [4.5, 3.0, None])
                # A newer run replaces values atomically; the server sees it on its next read.
                lathe("features", "materialize", "--data-dir", data, "--start", "2024-01-01", "--end", "2024-03-01")
                response = online(server, {"features": ["customer_stats:last_amount"], "entities": {"customer_id": [1]}})
                self.assertEqual(response.json()["results"][1]["values"], [50.0])
            self.assertIn("0 mismatch(es)", lathe("features", "verify", "--data-dir", data).stdout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class FeatureLookupServingTest(unittest.TestCase):
    """A deployed model declares `lathe_features`; requests carry only the entity id."""

    def test_served_model_fetches_its_features(self):
        tmp = tempfile.mkdtemp(prefix="lathe-features-serving-")
        try:
            repo, data = os.path.join(tmp, "repo"), os.path.join(tmp, "data")
            write_repo(repo)
            lathe("features", "apply", "--repo", repo, "--data-dir", data)
            lathe("features", "materialize", "--data-dir", data, "--start", "2023-12-01", "--end", "2024-02-15")
            rng = np.random.default_rng(0)
            X = rng.normal(50, 30, size=(200, 2))
            booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3}, xgb.DMatrix(X, label=X[:, 0] - X[:, 1]), 10)
            columns = ["avg_amount_30d", "last_amount"]
            model_dir = write_mlflow_model(booster, os.path.join(tmp, "model"), columns)
            with open(os.path.join(model_dir, "MLmodel"), "a") as f:
                f.write("lathe_features:\n  features: [customer_stats:avg_amount_30d, customer_stats:last_amount]\n"
                        "  feature_repo_hash: not-the-applied-hash\n")
            with LatheServer(data_dir=data) as server:
                run_id = log_model_to_run(server, model_dir)
                version = register_version(server, "spend", run_id)
                response = requests.post(f"{server.url}/api/lathe/deployments",
                                         json={"name": "spend", "model_uri": f"models:/spend/{version}"}, timeout=60)
                self.assertEqual(response.status_code, 200, response.text)
                response = requests.post(f"{server.url}/models/spend/invocations",
                                         json={"dataframe_split": {"columns": ["customer_id"], "data": [[1], [2], [3]]}},
                                         timeout=30)
                self.assertEqual(response.status_code, 200, response.text)
                fetched = np.array([[20.0, 30.0], [150.0, 200.0], [np.nan, np.nan]])
                assert_close(self, response.json()["predictions"], booster.predict(xgb.DMatrix(fetched)))
                # The model was trained on other definitions: served, counted and logged.
                metrics = requests.get(f"{server.url}/metrics", timeout=10).text
                self.assertIn('lathe_feature_version_mismatch_total{model="spend"} 1', metrics)
                response = requests.post(f"{server.url}/models/spend/invocations",
                                         json={"dataframe_split": {"columns": ["store_id"], "data": [["s1"]]}}, timeout=30)
                self.assertEqual(response.status_code, 400, response.text)
                self.assertIn("looks up features by 'customer_id'", response.json()["message"])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
