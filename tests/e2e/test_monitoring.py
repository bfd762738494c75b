"""Monitoring end to end: a served model whose inputs drift halfway through, rows that break a
cross-field rule, late labels, an alert whose webhook reaches a listener on 127.0.0.1 and whose
rollback the serving layer follows."""

import csv
import http.server
import json
import os
import shutil
import tempfile
import threading
import time
import unittest

import numpy as np
import requests
import xgboost as xgb

from lathe_server import LatheServer, lathe_cli, wait_for
from model_fixtures import log_model_to_run, register_version, write_mlflow_model

COLUMNS = ["age", "income", "tenure", "visits", "male", "pregnant"]


def make_inputs(rng, rows, shift=0.0):
    """Numerical columns N(0, 1) (age and income shifted by `shift`), male/pregnant 0/1 with
    pregnant only among non-males."""
    X = np.empty((rows, len(COLUMNS)))
    X[:, :4] = rng.normal(size=(rows, 4))
    X[:, 0] += shift
    X[:, 1] += shift
    X[:, 4] = rng.random(rows) < 0.5
    X[:, 5] = (X[:, 4] == 0) & (rng.random(rows) < 0.2)
    return X


def truth(X):
    return 2 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] + 0.3 * X[:, 5]


class WebhookListener:
    """An HTTP server on 127.0.0.1 that records every POST body."""

    def __init__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lathe"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()



class MonitoringEndToEndTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lathe-monitoring-")
        self.listener = WebhookListener()
        config = os.path.join(self.tmp, "monitoring.yaml")
        with open(config, "w") as f:
            f.write(f"""
webhooks:
  oncall:
    url: {self.listener.url}
    retries: 3
    backoff: 100ms
    timeout: 5s
monitors:
  churn:
    deployment: churn
    last: 1000
    task: regression
    target: target
    reference_prediction: prediction
    integrity:
      rules:
        - name: male_and_pregnant
          sql: NOT (male = 1 AND pregnant = 1)
        - name: unknown_column
          sql: bogus_column > 0
    alerts:
      - name: drift
        when: drift_share > 0.3
        cooldown: 1h
        actions: [webhook:oncall, rollback]
  churn_hourly:
    deployment: churn
    window: 1h
  ticker:
    deployment: churn
    window: 2s
    schedule: 1s
""")
        self.server = LatheServer(extra_args=["--alias-poll-ms", "100", "--monitoring-config", config]).start()
        rng = np.random.default_rng(7)
        X = make_inputs(rng, 5000)
        y = truth(X) + rng.normal(scale=0.1, size=len(X))
        self.boosters = []
        versions = []
        for seed in (1, 2):
            booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3, "seed": seed},
                                xgb.DMatrix(X, label=y, feature_names=COLUMNS), num_boost_round=10 * seed)
            booster.feature_names = None
            directory = write_mlflow_model(booster, os.path.join(self.tmp, f"model-{seed}"), COLUMNS)
            versions.append(register_version(self.server, "churn", log_model_to_run(self.server, directory)))
            self.boosters.append(booster)
        self.v1, self.v2 = versions
        for version in (self.v1, self.v2):  # the alias history: v1, then v2
            status, body = self.server.api("POST", "registered-models/alias",
                                           {"name": "churn", "alias": "champion", "version": version})
            self.assertEqual(status, 200, body)
        response = requests.post(f"{self.server.url}/api/lathe/deployments",
                                 json={"name": "churn", "model_uri": "models:/churn@champion"}, timeout=60)
        self.assertEqual(response.status_code, 200, response.text)

        reference = os.path.join(self.tmp, "reference.csv")
        with open(reference, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS + ["target", "prediction"])
            predictions = self.boosters[1].predict(xgb.DMatrix(X))
            for row, target, prediction in zip(X, y, predictions):
                writer.writerow([repr(float(v)) for v in row] + [repr(float(target)), repr(float(prediction))])
        with open(reference, "rb") as f:
            response = requests.put(f"{self.server.url}/api/lathe/monitor/references/churn?source=training.csv",
                                    data=f.read(), headers={"Content-Type": "text/csv"}, timeout=60)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["reference"]["rows"], 5000)

    def tearDown(self):
        self.server.stop()
        self.server.cleanup()
        self.listener.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def predict(self, X, request_id=None):
        body = {"dataframe_split": {"columns": COLUMNS, "data": X.tolist()}}
        headers = {"X-Request-Id": request_id} if request_id else {}
        response = requests.post(f"{self.server.url}/models/churn/invocations", json=body, headers=headers, timeout=30)
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        return answer["prediction_ids"], answer["predictions"]

    def send(self, X, batch=20):
        ids, predictions = [], []
        for start in range(0, len(X), batch):
            batch_ids, batch_predictions = self.predict(X[start:start + batch])
            ids += batch_ids
            predictions += batch_predictions
        return ids, predictions

    def evaluate(self, monitor="churn", **body):
        response = requests.post(f"{self.server.url}/api/lathe/monitor/{monitor}/evaluate", json=body, timeout=120)
        self.assertEqual(response.status_code, 200, response.text)
        return response.json()

    def test_drift_rule_violations_labels_alert_webhook_and_rollback(self):
        rng = np.random.default_rng(11)
        # Phase 1: traffic like the training data.
        self.send(make_inputs(rng, 1000))
        first = self.evaluate()
        self.assertEqual(first["status"], "ok", first)
        self.assertEqual(first["rows"], 1000)
        drifted = [c["column"] for c in first["drift"]["columns"] if c.get("drifted")]
        self.assertEqual(drifted, [], first["drift"])
        self.assertEqual(first["alerts_fired"], [])
        self.assertEqual(first["metrics"]["rule.male_and_pregnant.violations"], 0)

        # Phase 2: age and income drift; seven rows (own requests) break the cross-field rule.
        drifting = make_inputs(rng, 993, shift=1.5)
        ids, predictions = self.send(drifting)
        bad = make_inputs(rng, 7, shift=1.5)
        bad[:, 4] = 1
        bad[:, 5] = 1
        for i in range(7):
            bad_ids, bad_predictions = self.predict(bad[i:i + 1], request_id=f"bad-request-{i}")
            ids += bad_ids
            predictions += bad_predictions
        labels_x = np.vstack([drifting, bad])
        y = truth(labels_x)
        labels = [{"prediction_id": pid, "label": float(v)} for pid, v in zip(ids, y)]
        labels += [{"prediction_id": f"never-predicted-{i}", "label": 1.0} for i in range(3)]
        response = requests.post(f"{self.server.url}/api/lathe/monitor/labels",
                                 json={"deployment": "churn", "labels": labels}, timeout=60)
        self.assertEqual(response.status_code, 200, response.text)
        answer = response.json()
        self.assertEqual(answer["received"], 1003)
        self.assertEqual(answer["unknown"], 3)
        self.assertEqual(sorted(answer["unknown_ids"]), [f"never-predicted-{i}" for i in range(3)])

        second = self.evaluate()
        self.assertEqual(second["status"], "ok", second)
        self.assertEqual(second["rows"], 1000)
        self.assertEqual(second["labeled_rows"], 1000)
        verdicts = {c["column"]: c.get("drifted") for c in second["drift"]["columns"]}
        for column in COLUMNS:
            self.assertEqual(verdicts[column], column in ("age", "income"), (column, second["drift"]))
        self.assertTrue(verdicts["target"], second["drift"])  # the labels drift with the inputs
        checks = {(c["check"], c["column"]): c for c in second["integrity"]["checks"]}
        rule = checks[("rule", "male_and_pregnant")]
        self.assertEqual(rule["violations"], 7)
        self.assertEqual(sorted(rule["examples"]), [f"bad-request-{i}" for i in range(7)])
        self.assertIn("bogus_column", checks[("rule", "unknown_column")]["error"])
        # Performance against numpy on the same predictions and labels.
        predicted = np.asarray(predictions, dtype=float)
        rmse = float(np.sqrt(np.mean((y - predicted) ** 2)))
        mae = float(np.mean(np.abs(y - predicted)))
        self.assertAlmostEqual(second["performance"]["rmse"], rmse, delta=1e-9 * max(1, rmse))
        self.assertAlmostEqual(second["performance"]["mae"], mae, delta=1e-9 * max(1, mae))
        self.assertEqual(second["alerts_fired"], ["drift"])

        # The webhook reached the listener; the rollback moved the alias back and serving followed.
        self.assertTrue(wait_for(lambda: self.listener.received), "no webhook arrived")
        payload = self.listener.received[0]
        self.assertEqual(payload["monitor"], "churn")
        self.assertEqual(payload["rule"], "drift")
        self.assertGreater(payload["value"], 0.3)
        status, body = self.server.api("GET", "registered-models/alias", params={"name": "churn", "alias": "champion"})
        self.assertEqual(status, 200, body)
        self.assertTrue(wait_for(lambda: self.server.api("GET", "registered-models/alias",
                                                         params={"name": "churn", "alias": "champion"})[1]
                                 ["model_version"]["version"] == self.v1), "the alias was not rolled back")

        def served_version():
            response = requests.post(f"{self.server.url}/v2/models/churn/infer",
                                     json={"inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [0.0]}
                                                      for c in COLUMNS]}, timeout=30)
            return response.status_code == 200 and response.json()["model_version"] == self.v1
        self.assertTrue(wait_for(served_version), "serving did not follow the rollback")

        alerts = requests.get(f"{self.server.url}/api/lathe/monitor/churn/alerts", timeout=30).json()["alerts"]
        self.assertEqual(len(alerts), 1)
        self.assertTrue(wait_for(lambda: len(requests.get(f"{self.server.url}/api/lathe/monitor/churn/alerts",
                                                          timeout=30).json()["alerts"][0]["deliveries"]) == 2))
        deliveries = requests.get(f"{self.server.url}/api/lathe/monitor/churn/alerts", timeout=30).json()["alerts"][0]["deliveries"]
        self.assertEqual(sorted(d["action"] for d in deliveries), ["rollback", "webhook:oncall"])
        self.assertTrue(all(d["ok"] for d in deliveries), deliveries)
        # A second evaluation still drifts, but the cool-down holds the alert back.
        self.assertEqual(self.evaluate()["alerts_fired"], [])

        results = requests.get(f"{self.server.url}/api/lathe/monitor/churn/results", timeout=30).json()["results"]
        self.assertGreaterEqual(len(results), 2)
        self.assertIn("drift_share", results[-1]["metrics"])
        metrics = requests.get(f"{self.server.url}/metrics", timeout=30).text
        self.assertIn("lathe_prediction_log_dropped_rows_total 0", metrics)
        report = requests.get(f"{self.server.url}/api/lathe/monitor/churn/report", timeout=120)
        self.assertEqual(report.status_code, 200, report.text[:500])
        self.assertIn("text/html", report.headers["Content-Type"])
        self.assertIn("age", report.text)

        # Everything logged can be exported for the whole time range.
        out = os.path.join(self.tmp, "export.csv")
        lathe_cli("monitor", "export", "--data-dir", self.server.data_dir, "--deployment", "churn", "--out", out)
        with open(out) as f:
            self.assertGreaterEqual(sum(1 for _ in f) - 1, 2000)

    def test_the_server_evaluates_scheduled_monitors_on_its_own(self):
        rng = np.random.default_rng(3)
        deadline = time.time() + 30
        evaluated = []
        while time.time() < deadline and not evaluated:
            self.send(make_inputs(rng, 40))
            results = requests.get(f"{self.server.url}/api/lathe/monitor/ticker/results", timeout=30).json()["results"]
            evaluated = [r for r in results if r["status"] == "ok" and r["metrics"]["rows"] > 0]
            time.sleep(0.5)
        self.assertTrue(evaluated, "no scheduled evaluation saw data")
        first = evaluated[0]
        self.assertEqual(first["window_end_ms"] - first["window_start_ms"], 2000)
        self.assertEqual(first["window_start_ms"] % 2000, 0)
        self.assertIn("drift_share", first["metrics"])

    def test_labels_and_reference_from_the_command_line(self):
        ids, _ = self.send(make_inputs(np.random.default_rng(5), 10), batch=10)
        time.sleep(1.5)  # another process reads the log: past the server's flush interval (1 s)
        labels = os.path.join(self.tmp, "labels.csv")
        with open(labels, "w") as f:
            f.write("id,truth\n" + "".join(f"{pid},{i}\n" for i, pid in enumerate(ids)) + "nobody-0,1\n")
        out = lathe_cli("monitor", "labels", "--data-dir", self.server.data_dir, "--deployment", "churn", "--file", labels,
                        "--id-column", "id", "--label-column", "truth").stdout
        self.assertIn("11 label(s) recorded for churn: 10 matched a logged prediction, 1 did not (e.g. nobody-0)", out)
        failed = lathe_cli("monitor", "labels", "--data-dir", self.server.data_dir, "--deployment", "churn", "--file", labels,
                           check=False)
        self.assertNotEqual(failed.returncode, 0)
        self.assertIn("prediction_id", failed.stderr)

        # The training dataset logged with a run (as mlflow.log_input does) becomes the reference.
        train = os.path.join(self.tmp, "train.csv")
        with open(train, "w") as f:
            f.write(",".join(COLUMNS) + "\n" + "0,0,0,0,1,0\n1,1,1,1,0,1\n")
        status, body = self.server.api("POST", "experiments/create", {"name": "training"})
        run_id = self.server.api("POST", "runs/create", {"experiment_id": body["experiment_id"]})[1]["run"]["info"]["run_id"]
        status, body = self.server.api("POST", "runs/log-inputs", {"run_id": run_id, "datasets": [{
            "dataset": {"name": "train", "digest": "abc", "source_type": "local", "source": json.dumps({"uri": train})},
            "tags": [{"key": "mlflow.data.context", "value": "training"}]}]})
        self.assertEqual(status, 200, body)
        out = lathe_cli("monitor", "reference", "--data-dir", self.server.data_dir, "--deployment", "churn",
                        "--run-id", run_id, "--kind", "pregnant:text").stdout
        self.assertIn("reference version 2 of churn: 2 row(s) from runs:/" + run_id, out)
        # Every column's kind: integers with few values are categorical, the given one wins.
        self.assertRegex(out, r"age\s+categorical")
        self.assertRegex(out, r"pregnant\s+text")
        failed = lathe_cli("monitor", "reference", "--data-dir", self.server.data_dir, "--deployment", "churn",
                           "--file", train, "--kind", "male:ordinal", check=False)
        self.assertNotEqual(failed.returncode, 0)
        self.assertIn("column 'male': kind must be numerical, categorical, text or datetime, not 'ordinal'", failed.stderr)
        # The same through the registry: the run that produced the version the alias points at.
        status, body = self.server.api("GET", "registered-models/alias", params={"name": "churn", "alias": "champion"})
        self.assertEqual(status, 200, body)
        model_run = body["model_version"]["run_id"]
        status, body = self.server.api("POST", "runs/log-inputs", {"run_id": model_run, "datasets": [{
            "dataset": {"name": "train", "digest": "abc", "source_type": "local", "source": json.dumps({"uri": train})},
            "tags": [{"key": "mlflow.data.context", "value": "training"}]}]})
        self.assertEqual(status, 200, body)
        out = lathe_cli("monitor", "reference", "--data-dir", self.server.data_dir, "--deployment", "churn",
                        "--model", "models:/churn@champion").stdout
        self.assertIn(f"reference version 3 of churn: 2 row(s) from models:/churn@champion (runs:/{model_run}, {train})", out)
        for model, message in (("models:/churn/99", "99"), ("runs:/abc/model", "--model takes models:/"),
                               (f"models:/churn/{self.v1}", "no training dataset")):
            failed = lathe_cli("monitor", "reference", "--data-dir", self.server.data_dir, "--deployment", "churn",
                               "--model", model, check=False)
            self.assertNotEqual(failed.returncode, 0, model)
            self.assertIn(message, failed.stderr, model)
        other = self.server.api("POST", "runs/create", {"experiment_id": "0"})[1]["run"]["info"]["run_id"]
        failed = lathe_cli("monitor", "reference", "--data-dir", self.server.data_dir, "--deployment", "churn",
                           "--run-id", other, check=False)
        self.assertNotEqual(failed.returncode, 0)
        self.assertIn("no training dataset", failed.stderr)

    def test_empty_window_and_bad_requests(self):
        empty = self.evaluate("churn_hourly", window_end="2020-01-01T00:00:00Z")
        self.assertEqual(empty["status"], "no_data")
        self.assertEqual(empty["rows"], 0)
        self.assertEqual(empty["metrics"], {"rows": 0})
        self.assertIn("no predictions", empty["message"])

        url = f"{self.server.url}/api/lathe/monitor"
        cases = [
            ("POST", "/nope/evaluate", {}, 404, "no monitor 'nope'"),
            ("POST", "/churn/evaluate", {"window_end": "yesterday-ish"}, 400, "ISO-8601"),
            ("POST", "/labels", {"deployment": "churn"}, 400, "'labels'"),
            ("POST", "/labels", {"deployment": "churn", "labels": [{"prediction_id": "x"}]}, 400, "labels[0]"),
            ("POST", "/labels", {"labels": []}, 400, "'deployment'"),
            ("GET", "/churn/results?limit=0", None, 400, "limit"),
            ("GET", "/churn/unknown", None, 404, "no endpoint"),
        ]
        for method, path, body, status, message in cases:
            response = requests.request(method, url + path, json=body, timeout=30)
            self.assertEqual(response.status_code, status, (path, response.text))
            self.assertIn(message, response.text, path)
        response = requests.put(f"{url}/references/churn", data=b"a,b\n1,2\n", timeout=30)
        self.assertEqual(response.status_code, 400, response.text)
        self.assertIn("text/csv", response.text)
        for kinds, message in (("a:ordinal", "kind must be"), ("nope:text", "no column 'nope'"), ("a", "not column:kind"),
                               ("a:text,a:datetime", "twice")):
            response = requests.put(f"{url}/references/churn?kinds={kinds}", data=b"a,b\n1,2\n",
                                    headers={"Content-Type": "text/csv"}, timeout=30)
            self.assertEqual(response.status_code, 400, (kinds, response.text))
            self.assertIn(message, response.text, kinds)
        response = requests.put(f"{url}/references/churn?kinds=a:text", data=b"a,b,c\nx,2,2026-01-01\n",
                                headers={"Content-Type": "text/csv"}, timeout=30)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["reference"]["kinds"], {"a": "text", "b": "categorical", "c": "datetime"})
        response = requests.get(f"{url}/references/churn", timeout=30)
        self.assertEqual(response.status_code, 200, response.text)
        reference = response.json()["reference"]
        self.assertEqual((reference["version"], reference["rows"], reference["source"]), (2, 1, "upload"))
        self.assertEqual(reference["kinds"], {"a": "text", "b": "categorical", "c": "datetime"})
        self.assertRegex(reference["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        response = requests.get(f"{url}/references/nobody", timeout=30)
        self.assertEqual(response.status_code, 404, response.text)
        self.assertIn("has no reference data", response.text)


if __name__ == "__main__":
    unittest.main()
