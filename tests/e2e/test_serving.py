"""Serving end to end: MLflow-layout XGBoost models served by `lathe models serve` and by
`lathe server` deployments that follow registry aliases, over both inference protocols."""

import json
import os
import shutil
import tempfile
import threading
import unittest

import numpy as np
import requests
import xgboost as xgb

from lathe_server import LatheServer, lathe_cli, wait_for
from model_fixtures import (ModelServer, assert_close, log_model_to_run, register_version, train,
                            write_mlflow_model)

COLUMNS = [f"f{i}" for i in range(6)]


def oip_body(X, name="input"):
    data = ["NaN" if np.isnan(v) else float(v) for v in X.ravel()]  # OIP has no null; NaN is a string
    return {"inputs": [{"name": name, "shape": list(X.shape), "datatype": "FP64", "data": data}]}


def split_body(X, columns=COLUMNS):
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in X]
    return {"dataframe_split": {"columns": columns, "data": rows}}



class StandaloneServeTest(unittest.TestCase):
    """`lathe models serve <dir>`: one model, both protocols, predictions equal XGBoost's."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="lathe-serve-")
        cls.models = {}
        for objective in ["reg:squarederror", "binary:logistic", "multi:softprob"]:
            booster, X = train(objective)
            directory = write_mlflow_model(booster, os.path.join(cls.tmp, objective.replace(":", "_")), COLUMNS)
            cls.models[objective] = (booster, X, directory)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_predictions_equal_xgboost_over_both_protocols(self):
        for objective, (booster, X, directory) in self.models.items():
            with self.subTest(objective=objective), ModelServer(directory, "--name", "m") as server:
                expected = booster.predict(xgb.DMatrix(X))
                response = requests.post(f"{server.url}/v2/models/m/infer", json=oip_body(X), timeout=30)
                self.assertEqual(response.status_code, 200, response.text)
                body = response.json()
                self.assertEqual(body["model_name"], "m")
                output = body["outputs"][0]
                self.assertEqual(output["shape"][0], len(X))
                assert_close(self, np.asarray(output["data"]).reshape(expected.shape), expected)
                self.assertEqual(len(body["parameters"]["prediction_ids"]), len(X))

                response = requests.post(f"{server.url}/invocations", json=split_body(X), timeout=30)
                self.assertEqual(response.status_code, 200, response.text)
                answer = response.json()
                assert_close(self, answer["predictions"], expected)
                self.assertEqual(len(answer["prediction_ids"]), len(X))
                self.assertTrue(answer["prediction_ids"][0].endswith("-0"))

                clean = np.nan_to_num(X[:3])  # a list of rows is plain JSON: no NaN
                response = requests.post(f"{server.url}/invocations", json={"inputs": clean.tolist()}, timeout=30)
                self.assertEqual(response.status_code, 200, response.text)
                assert_close(self, response.json()["predictions"], booster.predict(xgb.DMatrix(clean)))

    def test_metadata_health_metrics_and_csv(self):
        booster, X, directory = self.models["reg:squarederror"]
        with ModelServer(directory) as server:
            self.assertEqual(server.name, "reg_squarederror")
            self.assertEqual(requests.get(f"{server.url}/v2/health/live", timeout=10).status_code, 200)
            self.assertEqual(requests.get(f"{server.url}/v2/health/ready", timeout=10).status_code, 200)
            self.assertEqual(requests.get(f"{server.url}/ping", timeout=10).status_code, 200)
            metadata = requests.get(f"{server.url}/v2/models/{server.name}", timeout=10).json()
            self.assertEqual(metadata["parameters"]["input_mode"], "columns")
            self.assertIn(metadata["parameters"]["evaluator"], ["native-tree-ensemble", "xgboost-c-api"])
            self.assertEqual([i["name"] for i in metadata["inputs"]], COLUMNS)
            self.assertEqual(requests.get(f"{server.url}/v2/models/{server.name}/versions/1/ready",
                                          timeout=10).status_code, 200)

            clean = np.nan_to_num(X[:5])
            csv = ",".join(COLUMNS) + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in clean)
            response = requests.post(f"{server.url}/invocations", data=csv, headers={"Content-Type": "text/csv"},
                                     timeout=30)
            self.assertEqual(response.status_code, 200, response.text)
            assert_close(self, response.json()["predictions"], booster.predict(xgb.DMatrix(clean)))

            metrics = requests.get(f"{server.url}/metrics", timeout=10).text
            self.assertRegex(metrics, r'lathe_inference_requests_total\{model="reg_squarederror",version="1",status="200"\} 1')
            self.assertIn("lathe_inference_request_duration_seconds_bucket", metrics)
            self.assertIn("lathe_inference_batch_rows_bucket", metrics)
            self.assertIn("lathe_inference_queue_rows", metrics)
            self.assertIn("lathe_model_load_duration_seconds", metrics)

    def test_caller_prediction_ids_and_output_selection(self):
        booster, X, directory = self.models["binary:logistic"]
        with ModelServer(directory, "--name", "b") as server:
            body = oip_body(np.nan_to_num(X[:2]))
            body["parameters"] = {"prediction_ids": ["order-1", "order-2"]}
            body["outputs"] = [{"name": "predictions"}]
            answer = requests.post(f"{server.url}/v2/models/b/infer", json=body, timeout=10).json()
            self.assertEqual(answer["parameters"]["prediction_ids"], ["order-1", "order-2"])
            records = [dict(zip(COLUMNS, map(float, row)), prediction_id=f"order-{i}")
                       for i, row in enumerate(np.nan_to_num(X[:3]))]
            answer = requests.post(f"{server.url}/invocations", json={"dataframe_records": records}, timeout=10).json()
            self.assertEqual(answer["prediction_ids"], ["order-0", "order-1", "order-2"])
            assert_close(self, answer["predictions"], booster.predict(xgb.DMatrix(np.nan_to_num(X[:3]))))
            body["outputs"] = [{"name": "nope"}]
            response = requests.post(f"{server.url}/v2/models/b/infer", json=body, timeout=10)
            self.assertEqual(response.status_code, 400)
            self.assertIn("unknown output 'nope'", response.json()["error"])

    def test_bad_input_answers_each_protocols_error_format(self):
        booster, X, directory = self.models["reg:squarederror"]
        with ModelServer(directory, "--name", "m", "--max-body-bytes", "100000") as server:
            infer = f"{server.url}/v2/models/m/infer"
            cases = [
                ("malformed", b"{not json", 400, None),
                ("shape", {"inputs": [{"name": "input", "shape": [2, 6], "datatype": "FP64", "data": [1.0] * 11}]},
                 400, "11"),
                ("datatype", {"inputs": [{"name": "input", "shape": [1, 6], "datatype": "INT32",
                                          "data": [1.5] * 6}]}, 400, "INT32"),
                ("wrong width", {"inputs": [{"name": "input", "shape": [1, 5], "datatype": "FP64",
                                             "data": [1.0] * 5}]}, 400, "5 values per row"),
                ("empty", {"inputs": [{"name": "input", "shape": [0, 6], "datatype": "FP64", "data": []}]},
                 400, "empty"),
                ("strings", {"inputs": [{"name": "input", "shape": [1, 6], "datatype": "BYTES",
                                         "data": ["a"] * 6}]}, 400, "numbers"),
                ("infinity", {"inputs": [{"name": "input", "shape": [1, 6], "datatype": "FP64",
                                          "data": ["Infinity"] + [1.0] * 5}]}, 400, "infinite"),
            ]
            for label, body, status, fragment in cases:
                with self.subTest(label):
                    data = body if isinstance(body, bytes) else json.dumps(body).encode()
                    response = requests.post(infer, data=data, headers={"Content-Type": "application/json"},
                                             timeout=10)
                    self.assertEqual(response.status_code, status, response.text)
                    error = response.json()["error"]
                    if fragment:
                        self.assertIn(fragment, error)
            response = requests.post(f"{server.url}/v2/models/unknown/infer", json=oip_body(X[:1]), timeout=10)
            self.assertEqual(response.status_code, 404)
            self.assertIn("unknown", response.json()["error"])
            response = requests.post(f"{server.url}/v2/models/m/versions/7/infer", json=oip_body(X[:1]), timeout=10)
            self.assertEqual(response.status_code, 404)
            response = requests.post(infer, data=b"[" * 200000, headers={"Content-Type": "application/json"},
                                     timeout=10)
            self.assertEqual(response.status_code, 413)

            response = requests.post(f"{server.url}/invocations", json={"dataframe_split": {"columns": ["f0"],
                                                                                        "data": [[1.0]]}}, timeout=10)
            self.assertEqual(response.status_code, 400)
            answer = response.json()
            self.assertEqual(answer["error_code"], "INVALID_PARAMETER_VALUE")
            self.assertIn("f1", answer["message"])
            response = requests.post(f"{server.url}/invocations", json={"columns": []}, timeout=10)
            self.assertEqual(response.status_code, 400)
            self.assertIn("error_code", response.json())

    def test_sigterm_exits_zero(self):
        _, _, directory = self.models["reg:squarederror"]
        server = ModelServer(directory)
        self.assertEqual(server.stop(), 0)

    def test_refuses_a_missing_or_broken_package_with_a_reason(self):
        result = lathe_cli("models", "serve", os.path.join(self.tmp, "nowhere"), "--port", "0", check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("does not exist", result.stderr)
        broken = os.path.join(self.tmp, "broken")
        os.makedirs(broken, exist_ok=True)
        with open(os.path.join(broken, "MLmodel"), "w") as f:
            f.write("flavors:\n  xgboost:\n    data: model.xgb\n    xgb_version: 1.7.4\n")
        with open(os.path.join(broken, "model.xgb"), "wb") as f:
            f.write(b"this is not a model")
        result = lathe_cli("models", "serve", broken, "--port", "0", check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("model.xgb", result.stderr)


PIPELINE = {
    "inputs": [{"name": "age", "type": "double"}, {"name": "city", "type": "string"},
               {"name": "signup", "type": "datetime"}],
    "steps": [
        {"type": "impute", "columns": ["age"], "strategy": "mean", "values": [40.0]},
        {"type": "standard_scale", "columns": ["age"], "mean": [40.0], "scale": [10.0]},
        {"type": "one_hot", "column": "city", "categories": ["lima", "oslo"], "handle_unknown": "error"},
        {"type": "date_part", "column": "signup", "parts": ["weekday"]},
    ],
    "estimator": {"type": "logistic", "coefficients": [0.8, 0.3, -0.2, 0.1], "intercept": -0.4},
    "postprocess": [{"type": "threshold", "threshold": 0.5}, {"type": "class_labels", "labels": ["stays", "churns"]}],
}


class PipelinePackageTest(unittest.TestCase):
    """`lathe models package` builds a lathe-flavor package that `lathe models serve` serves."""

    def test_package_and_serve_a_pipeline(self):
        tmp = tempfile.mkdtemp(prefix="lathe-package-")
        try:
            spec = os.path.join(tmp, "churn.json")
            with open(spec, "w") as f:
                json.dump(PIPELINE, f)
            out = lathe_cli("models", "package", spec, "--output", os.path.join(tmp, "churn")).stdout
            self.assertIn("built", out)
            rows = [{"age": 50.0, "city": "oslo", "signup": "2026-11-23"},   # a Monday: ISO weekday 1
                    {"age": None, "city": "lima", "signup": "2026-11-29T23:30:00Z"}]  # a Sunday: 7
            with ModelServer(os.path.join(tmp, "churn"), "--name", "churn") as server:
                response = requests.post(f"{server.url}/invocations", json={"dataframe_records": rows}, timeout=10)
                self.assertEqual(response.status_code, 200, response.text)
                predictions = response.json()["predictions"]
                # Independent arithmetic: scaled age, one-hot (lima, oslo), ISO weekday.
                features = np.array([[(50 - 40) / 10, 0, 1, 1], [0.0, 1, 0, 7]])
                p = 1 / (1 + np.exp(-(features @ np.array([0.8, 0.3, -0.2, 0.1]) - 0.4)))
                expected_labels = ["churns" if v > 0.5 else "stays" for v in p]
                self.assertEqual([row["predictions"] for row in predictions], expected_labels)
                assert_close(self, [row["probabilities"][1] for row in predictions], p)
                bad = requests.post(f"{server.url}/invocations",
                                    json={"dataframe_records": [{"age": 1.0, "city": "tokyo", "signup": "2026-01-01"}]},
                                    timeout=10)
                self.assertEqual(bad.status_code, 400)
                self.assertIn("tokyo", bad.json()["message"])
                metadata = requests.get(f"{server.url}/v2/models/churn", timeout=10).json()
                self.assertEqual(metadata["platform"], "lathe_pipeline")
                self.assertEqual([i["datatype"] for i in metadata["inputs"]], ["FP64", "BYTES", "BYTES"])
            again = lathe_cli("models", "package", spec, "--output", os.path.join(tmp, "churn"), check=False)
            self.assertNotEqual(again.returncode, 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class RegistryDeploymentTest(unittest.TestCase):
    """`lathe server` deployments of models:/name@alias: deploy, call, move the alias, see the swap."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lathe-deploy-")
        self.server = LatheServer(extra_args=["--alias-poll-ms", "100"]).start()
        self.boosters = []
        self.run_ids = []
        for seed in (1, 2):
            booster, X = train("reg:squarederror", seed=seed)
            directory = write_mlflow_model(booster, os.path.join(self.tmp, f"model-{seed}"), COLUMNS)
            self.boosters.append(booster)
            self.run_ids.append(log_model_to_run(self.server, directory))
        self.X = np.nan_to_num(X[:8])

    def tearDown(self):
        self.server.stop()
        self.server.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def deploy(self, **spec):
        return requests.post(f"{self.server.url}/api/lathe/deployments", json=spec, timeout=60)

    def set_alias(self, name, version):
        status, body = self.server.api("POST", "registered-models/alias",
                                       {"name": name, "alias": "champion", "version": version})
        self.assertEqual(status, 200, body)

    def predictions(self, name="churn"):
        response = requests.post(f"{self.server.url}/v2/models/{name}/infer", json=oip_body(self.X), timeout=30)
        self.assertEqual(response.status_code, 200, response.text)
        body = response.json()
        return body["model_version"], np.asarray(body["outputs"][0]["data"])

    def test_deploy_by_alias_and_follow_the_alias(self):
        v1 = register_version(self.server, "churn", self.run_ids[0])
        v2 = register_version(self.server, "churn", self.run_ids[1])
        self.set_alias("churn", v1)
        response = self.deploy(name="churn", model_uri="models:/churn@champion")
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["deployment"]["loaded"]["primary"]["version"], v1)

        version, values = self.predictions()
        self.assertEqual(version, v1)
        assert_close(self, values, self.boosters[0].predict(xgb.DMatrix(self.X)))
        response = requests.post(f"{self.server.url}/models/churn/invocations", json=split_body(self.X), timeout=30)
        self.assertEqual(response.status_code, 200, response.text)
        assert_close(self, response.json()["predictions"], self.boosters[0].predict(xgb.DMatrix(self.X)))
        # The only deployment answers bare /invocations.
        response = requests.post(f"{self.server.url}/invocations", json=split_body(self.X), timeout=30)
        self.assertEqual(response.status_code, 200, response.text)

        self.set_alias("churn", v2)
        self.assertTrue(wait_for(lambda: self.predictions()[0] == v2), "the alias move was not followed")
        assert_close(self, self.predictions()[1], self.boosters[1].predict(xgb.DMatrix(self.X)))
        listed = lathe_cli("deployments", "--tracking-uri", self.server.url).stdout
        self.assertIn("models:/churn@champion", listed)
        self.assertIn("lathe_model_reloads_total", requests.get(f"{self.server.url}/metrics", timeout=10).text)

    def test_no_request_fails_while_the_alias_moves_back_and_forth(self):
        v1 = register_version(self.server, "churn", self.run_ids[0])
        v2 = register_version(self.server, "churn", self.run_ids[1])
        self.set_alias("churn", v1)
        self.assertEqual(self.deploy(name="churn", model_uri="models:/churn@champion").status_code, 200)
        failures, versions, stop = [], set(), threading.Event()
        body = json.dumps(oip_body(self.X[:1]))

        def hammer():
            session = requests.Session()
            while not stop.is_set():
                response = session.post(f"{self.server.url}/v2/models/churn/infer", data=body, timeout=30)
                if response.status_code != 200:
                    failures.append((response.status_code, response.text))
                else:
                    versions.add(response.json()["model_version"])

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            for version in (v2, v1, v2):
                self.set_alias("churn", version)
                wait_for(lambda: version in versions and self.predictions()[0] == version)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        self.assertEqual(failures, [])
        self.assertEqual(versions, {v1, v2})

    def test_canary_is_sticky_by_routing_key_and_shadow_is_recorded(self):
        v1 = register_version(self.server, "churn", self.run_ids[0])
        v2 = register_version(self.server, "churn", self.run_ids[1])
        response = self.deploy(name="churn", model_uri=f"models:/churn/{v1}",
                               canary={"model_uri": f"models:/churn/{v2}", "weight": 50},
                               shadow={"model_uri": f"models:/churn/{v2}"})
        self.assertEqual(response.status_code, 200, response.text)
        seen = set()
        for _ in range(60):
            seen.add(self.predictions()[0])
        self.assertEqual(seen, {v1, v2})
        for key in ("customer-1", "customer-2", "customer-3"):
            body = oip_body(self.X[:1])
            body["parameters"] = {"routing_key": key}
            answers = {requests.post(f"{self.server.url}/v2/models/churn/infer", json=body, timeout=10)
                       .json()["model_version"] for _ in range(10)}
            self.assertEqual(len(answers), 1, f"routing key {key} was not sticky: {answers}")
        # A specific version is reachable directly.
        response = requests.post(f"{self.server.url}/v2/models/churn/versions/{v2}/infer", json=oip_body(self.X),
                                 timeout=10)
        self.assertEqual(response.json()["model_version"], v2)
        shadow_log = os.path.join(self.server.data_dir, "shadow-predictions.jsonl")
        self.assertTrue(wait_for(lambda: os.path.exists(shadow_log) and os.path.getsize(shadow_log) > 0))
        first = json.loads(open(shadow_log).readline())
        self.assertEqual(first["version"], v2)
        self.assertIn("predictions", first["outputs"])

    def test_lazy_deployments_evict_least_recently_used_beyond_the_budget(self):
        # A budget that holds one of these models but not two: each load evicts the other.
        big, X = train("reg:squarederror", rows=2000, rounds=400, depth=8, seed=3)
        self.server.stop()
        self.server = LatheServer(data_dir=self.server.data_dir, env={"LATHE_MODEL_MEMORY_MB": "0.5"}).start()
        directory = write_mlflow_model(big, os.path.join(self.tmp, "big"), COLUMNS)
        run_id = log_model_to_run(self.server, directory)
        for name in ("a", "b"):
            response = self.deploy(name=name, model_uri=f"runs:/{run_id}/model", lazy=True)
            self.assertEqual(response.status_code, 200, response.text)
            self.assertEqual(response.json()["deployment"]["loaded"], {})
        self.predictions("a")
        self.predictions("b")
        self.predictions("a")
        metrics = requests.get(f"{self.server.url}/metrics", timeout=10).text
        self.assertRegex(metrics, r'lathe_model_loads_total\{model="a"\} 2')
        self.assertRegex(metrics, r'lathe_model_evictions_total\{model="a"\} 1')
        self.assertRegex(metrics, r'lathe_model_evictions_total\{model="b"\} 1')

    def test_deployments_persist_and_errors_are_precise(self):
        v1 = register_version(self.server, "churn", self.run_ids[0])
        self.assertEqual(self.deploy(name="churn", model_uri=f"models:/churn/{v1}").status_code, 200)
        self.assertEqual(self.deploy(name="other", model_uri=f"runs:/{self.run_ids[1]}/model").status_code, 200)
        response = requests.post(f"{self.server.url}/invocations", json=split_body(self.X), timeout=10)
        self.assertEqual(response.status_code, 400)
        self.assertIn("churn, other", response.json()["message"])
        cases = [
            ({"name": "churn", "model_uri": f"models:/churn/{v1}"}, "already exists"),
            ({"name": "x", "model_uri": "models:/nope/1"}, "nope"),
            ({"name": "bad name!", "model_uri": "models:/churn/1"}, "'name'"),
            ({"name": "x", "model_uri": "models:/churn/one"}, "not a positive integer"),
            ({"name": "x", "model_uri": f"models:/churn/{v1}", "batching": {"max_batch_size": 0}}, "max_batch_size"),
            ({"name": "x", "model_uri": f"models:/churn/{v1}", "canary": {"model_uri": "models:/churn/1"}}, "weight"),
            ({"name": "x", "model_uri": f"models:/churn/{v1}", "colour": "red"}, "unknown field 'colour'"),
            ({"name": "x", "model_uri": self.tmp}, "is a local path"),
        ]
        for spec, fragment in cases:
            with self.subTest(spec=spec):
                response = self.deploy(**spec)
                self.assertGreaterEqual(response.status_code, 400)
                self.assertLess(response.status_code, 500)
                self.assertIn(fragment, response.json()["message"])
        self.server.stop()
        self.server.start()
        names = [d["name"] for d in requests.get(f"{self.server.url}/api/lathe/deployments", timeout=10)
                 .json()["deployments"]]
        self.assertEqual(names, ["churn", "other"])
        self.assertEqual(self.predictions()[0], v1)
        self.assertEqual(requests.delete(f"{self.server.url}/api/lathe/deployments/other", timeout=10).status_code, 200)
        self.assertEqual(requests.delete(f"{self.server.url}/api/lathe/deployments/other", timeout=10).status_code, 404)
        audit = requests.get(f"{self.server.url}/api/lathe/audit", params={"object_id": "other"}, timeout=10).json()
        self.assertEqual([(e["action"], e["object_type"]) for e in audit["entries"]],
                         [("deployments/delete", "deployment"), ("deployments/create", "deployment")])

    def test_models_log_uploads_and_registers_a_package(self):
        directory = os.path.join(self.tmp, "model-1")
        out = lathe_cli("models", "log", directory, "--name", "logged", "--alias", "champion",
                        "--experiment", "packages", "--tracking-uri", self.server.url).stdout
        self.assertRegex(out, r"registered logged version 1 \(@champion\)")
        response = self.deploy(name="logged", model_uri="models:/logged@champion")
        self.assertEqual(response.status_code, 200, response.text)
        assert_close(self, self.predictions("logged")[1], self.boosters[0].predict(xgb.DMatrix(self.X)))
        status, body = self.server.api("GET", "model-versions/get", params={"name": "logged", "version": "1"})
        self.assertTrue(body["model_version"]["source"].startswith("runs:/"))
        result = lathe_cli("models", "log", os.path.join(self.tmp, "nothing"), "--name", "x",
                           "--tracking-uri", self.server.url, check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("MLmodel", result.stderr)

    def test_cli_deploy_and_standalone_serve_from_the_registry(self):
        v1 = register_version(self.server, "churn", self.run_ids[0])
        self.set_alias("churn", v1)
        out = lathe_cli("deploy", "models:/churn@champion", "--tracking-uri", self.server.url, "--default").stdout
        self.assertIn("deployed churn", out)
        cache = os.path.join(self.tmp, "cache")
        with ModelServer("models:/churn@champion", "--cache-dir", cache, "--alias-poll-ms", "100",
                         env={"LATHE_TRACKING_URI": self.server.url}) as served:
            self.assertEqual(served.name, "churn")
            response = requests.post(f"{served.url}/invocations", json=split_body(self.X), timeout=30)
            self.assertEqual(response.status_code, 200, response.text)
            assert_close(self, response.json()["predictions"], self.boosters[0].predict(xgb.DMatrix(self.X)))
            v2 = register_version(self.server, "churn", self.run_ids[1])
            self.set_alias("churn", v2)

            def standalone_version():
                answer = requests.post(f"{served.url}/v2/models/churn/infer", json=oip_body(self.X), timeout=30)
                return answer.json().get("model_version") == v2
            self.assertTrue(wait_for(standalone_version), "the standalone server did not follow the alias")
        self.assertIn("undeployed churn", lathe_cli("undeploy", "churn", "--tracking-uri", self.server.url).stdout)


if __name__ == "__main__":
    unittest.main()
