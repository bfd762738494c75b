"""Bad input gets a 4xx with MLflow's error shape and a message that names the problem."""

import os
import socket
import sqlite3
import unittest

import requests

from lathe_server import LatheServer

API = "/api/2.0/mlflow/"


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LatheServer(extra_args=["--max-body-bytes", "65536"]).start()
        cls.session = requests.Session()
        status, body = cls.server.api("POST", "runs/create", {"experiment_id": "0"})
        cls.run_id = body["run"]["info"]["run_id"]
        cls.server.api("POST", "registered-models/create", {"name": "m"})

    @classmethod
    def tearDownClass(cls):
        cls.session.close()
        cls.server.stop()
        cls.server.cleanup()

    def check(self, method, path, expected_status, fragment, error_code=None, **kwargs):
        response = self.session.request(method, self.server.url + path, timeout=30, **kwargs)
        self.assertEqual(response.status_code, expected_status, f"{method} {path}: {response.text[:300]}")
        self.assertTrue(response.headers.get("Content-Type", "").startswith("application/json"),
                        f"{method} {path}: error is not JSON: {response.headers}")
        body = response.json()
        self.assertEqual(set(body), {"error_code", "message"}, body)
        if error_code:
            self.assertEqual(body["error_code"], error_code, body)
        self.assertIn(fragment, body["message"], body)
        return body

    def test_malformed_bodies(self):
        headers = {"Content-Type": "application/json"}
        self.check("POST", API + "experiments/create", 400, "Malformed JSON", "BAD_REQUEST", data=b"{not json", headers=headers)
        self.check("POST", API + "experiments/create", 400, "must be a JSON object", data=b"[1, 2]", headers=headers)
        self.check("POST", API + "experiments/create", 400, "Content-Type", data=b"{}",
                   headers={"Content-Type": "text/plain"})
        self.check("POST", API + "runs/log-batch", 400, "Malformed JSON", data=b'{"run_id": "\xff\xfe"', headers=headers)

    def test_wrong_types(self):
        self.check("POST", API + "experiments/create", 400, "'name'", "INVALID_PARAMETER_VALUE", json={"name": 5})
        self.check("POST", API + "experiments/create", 400, "'name'", json={"name": {"a": 1}})
        self.check("POST", API + "runs/log-metric", 400, "'value'",
                   json={"run_id": self.run_id, "key": "m", "value": "high", "timestamp": 1})
        self.check("POST", API + "runs/log-metric", 400, "'timestamp'",
                   json={"run_id": self.run_id, "key": "m", "value": 1, "timestamp": [1]})
        self.check("POST", API + "runs/log-batch", 400, "'metrics'", json={"run_id": self.run_id, "metrics": {"key": "m"}})
        self.check("POST", API + "runs/search", 400, "max_results", json={"experiment_ids": ["0"], "max_results": "lots"})
        self.check("POST", API + "runs/search", 400, "Invalid experiment ID", json={"experiment_ids": ["zero"]})
        self.check("POST", API + "runs/create", 400, "Invalid experiment ID", json={"experiment_id": "-3"})

    def test_missing_fields(self):
        self.check("POST", API + "experiments/create", 400, "Missing value for required parameter 'name'", json={})
        self.check("POST", API + "runs/log-metric", 400, "'key'", json={"run_id": self.run_id, "value": 1, "timestamp": 1})
        self.check("POST", API + "runs/log-metric", 400, "'run_id'", json={"key": "m", "value": 1, "timestamp": 1})
        self.check("GET", API + "metrics/get-history", 400, "'metric_key'", params={"run_id": self.run_id})
        self.check("POST", API + "model-versions/create", 400, "'source'", json={"name": "m"})
        self.check("POST", API + "registered-models/alias", 400, "'alias'", json={"name": "m", "version": "1"})

    def test_unknown_ids(self):
        self.check("GET", API + "experiments/get", 404, "No Experiment with id=424242", "RESOURCE_DOES_NOT_EXIST",
                   params={"experiment_id": "424242"})
        self.check("GET", API + "runs/get", 404, "deadbeef", "RESOURCE_DOES_NOT_EXIST", params={"run_id": "deadbeef"})
        self.check("POST", API + "runs/log-batch", 404, "deadbeef", json={"run_id": "deadbeef", "metrics": []})
        self.check("GET", API + "registered-models/get", 404, "nope", params={"name": "nope"})
        self.check("GET", API + "model-versions/get", 404, "version=7", params={"name": "m", "version": "7"})
        self.check("GET", API + "nothing/here", 404, "no endpoint", "ENDPOINT_NOT_FOUND")
        self.check("DELETE", API + "runs/get", 405, "not allowed")

    def test_limits(self):
        self.check("POST", API + "experiments/create", 413, "65536", "REQUEST_LIMIT_EXCEEDED",
                   json={"name": "x" * 70000})
        metrics = [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(1001)]
        self.check("POST", "/api/2.0/mlflow/runs/log-batch", 400, "at most 1000 metrics",
                   json={"run_id": self.run_id, "metrics": metrics[:1001]})
        params = [{"key": f"p{i}", "value": "v"} for i in range(101)]
        self.check("POST", API + "runs/log-batch", 400, "at most 100 params", json={"run_id": self.run_id, "params": params})
        self.check("POST", API + "runs/log-parameter", 400, "exceeded length limit of 6000",
                   json={"run_id": self.run_id, "key": "long", "value": "v" * 6001})
        self.check("POST", API + "runs/set-tag", 400, "exceeded length limit of 250",
                   json={"run_id": self.run_id, "key": "k" * 251, "value": "v"})
        self.check("POST", API + "runs/log-batch", 400, "Duplicate parameter keys",
                   json={"run_id": self.run_id, "params": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]})

    def test_invalid_names(self):
        for name in ("../x", "a//b", "/abs", "semi;colon"):
            self.check("POST", API + "runs/log-metric", 400, "Invalid metric name",
                       json={"run_id": self.run_id, "key": name, "value": 1, "timestamp": 1})
        self.check("POST", API + "registered-models/alias", 400, "Invalid alias name",
                   json={"name": "m", "alias": "bad alias!", "version": "1"})

    def test_invalid_searches(self):
        for bad_filter, fragment in (("metrics.rmse <", "Expected numeric value"),
                                     ("params.a = unquoted", "quoted string"),
                                     ("foo.bar = 'x'", "Invalid entity type"),
                                     ("attributes.color = 'red'", "Invalid attribute key"),
                                     ("params.a = 'x' and", "ends with AND"),
                                     ("params.a > 'x'", "Invalid comparator"),
                                     ("tags.t = 'unterminated", "unterminated quote")):
            self.check("POST", API + "runs/search", 400, fragment, json={"experiment_ids": ["0"], "filter": bad_filter})
        self.check("GET", API + "experiments/search", 400, "Invalid page token", params={"page_token": "Zm9v"})
        self.check("GET", API + "registered-models/search", 400, "max_results", params={"max_results": "1001"})
        self.check("GET", API + "model-versions/search", 400, "Invalid attribute key", params={"filter": "stage = 'x'"})

    def test_artifact_paths(self):
        base = "/api/2.0/mlflow-artifacts/artifacts"
        for path in ("/%2e%2e/%2e%2e/etc/passwd", "/a/%2e%2e/%2e%2e/x", "/%2Fetc%2Fpasswd", "/a%5C..%5C..%5Cx"):
            self.check("GET", base + path, 400, "Invalid path")
            self.check("PUT", base + path, 400, "Invalid path", data=b"x")
            self.check("DELETE", base + path, 400, "Invalid path")
        for path in ("../", "/etc", "a/../../b"):
            self.check("GET", base, 400, "Invalid path", params={"path": path})
        self.check("GET", API + "artifacts/list", 400, "Invalid path", params={"run_id": self.run_id, "path": "../.."})

    def test_more_malformed_bodies(self):
        headers = {"Content-Type": "application/json"}
        for raw, fragment in ((b"123", "must be a JSON object"), (b"true", "must be a JSON object"),
                              (b'{"name": "x",}', "Malformed JSON"), (b'{"name": "x"', "Malformed JSON"),
                              (b"\xef\xbb\xbf{\"name\": 1", "Malformed JSON"), (b'{"name": "\xc3\x28"}', "Malformed JSON"),
                              (b"[" * 5000 + b"]" * 5000, "")):
            self.check("POST", API + "experiments/create", 400, fragment, data=raw, headers=headers)
        # No Content-Type, or a form: MLflow answers 400 as well.
        self.check("POST", API + "runs/create", 400, "Content-Type", "BAD_REQUEST", data=b'{"experiment_id": "0"}')
        self.check("POST", API + "runs/create", 400, "Content-Type", data=b"experiment_id=0",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.check("PATCH", API + "registered-models/update", 400, "Content-Type", data=b'{"name": "m"}',
                   headers={"Content-Type": "text/plain"})
        # An empty body is an empty message: the required field is what is missing.
        self.check("POST", API + "experiments/create", 400, "'name'", "INVALID_PARAMETER_VALUE", data=b"", headers=headers)
        # A charset parameter is fine.
        response = self.session.post(self.server.url + API + "experiments/search", data=b"{}",
                                     headers={"Content-Type": "application/json; charset=utf-8"}, timeout=30)
        self.assertEqual(response.status_code, 200, response.text)

    def test_more_wrong_types(self):
        run = self.run_id
        cases = [
            ("runs/log-metric", {"run_id": run, "key": "m", "value": 1, "timestamp": 1, "step": 1.5}, "'step'"),
            ("runs/log-metric", {"run_id": run, "key": "m", "value": 1, "timestamp": 2 ** 63}, "'timestamp'"),
            ("runs/log-metric", {"run_id": run, "key": "m", "value": 1, "timestamp": True}, "'timestamp'"),
            ("runs/log-metric", {"run_id": run, "key": "m", "value": True, "timestamp": 1}, "'value'"),
            ("runs/log-metric", {"run_id": run, "key": ["m"], "value": 1, "timestamp": 1}, "'key'"),
            ("runs/log-metric", {"run_id": {"id": run}, "key": "m", "value": 1, "timestamp": 1}, "'run_id'"),
            ("runs/log-parameter", {"run_id": run, "key": "p", "value": 5}, "'value'"),
            ("runs/log-parameter", {"run_id": run, "key": "p", "value": ["a"]}, "'value'"),
            ("runs/set-tag", {"run_id": run, "key": "t", "value": {"a": 1}}, "'value'"),
            ("runs/create", {"experiment_id": "0", "start_time": "yesterday"}, "'start_time'"),
            ("runs/create", {"experiment_id": "0", "tags": {"key": "a", "value": "b"}}, "'tags'"),
            ("runs/create", {"experiment_id": "0", "tags": ["a"]}, "tags"),
            ("runs/update", {"run_id": run, "end_time": "later"}, "'end_time'"),
            ("runs/update", {"run_id": run, "status": "DONE"}, "'status'"),
            ("runs/update", {"run_id": run, "status": 3}, "'status'"),
            ("runs/search", {"experiment_ids": ["0"], "max_results": 1.5}, "max_results"),
            ("runs/search", {"experiment_ids": ["0"], "run_view_type": "SOME"}, "run_view_type"),
            ("runs/search", {"experiment_ids": ["0"], "filter": ["metrics.m > 1"]}, "'filter'"),
            ("runs/search", {"experiment_ids": [{"id": "0"}]}, "experiment"),
            ("runs/log-batch", {"run_id": run, "params": [{"key": "k", "value": None}]}, "value"),
            ("runs/log-batch", {"run_id": run, "tags": "a=b"}, "'tags'"),
            ("runs/log-batch", {"run_id": run, "metrics": [[1, 2]]}, "metrics"),
            ("runs/log-inputs", {"run_id": run, "datasets": {"dataset": {}}}, "'datasets'"),
            ("experiments/search", {"view_type": "SOMETIMES"}, "view_type"),
            ("experiments/set-experiment-tag", {"experiment_id": "0", "key": "k", "value": 1}, "'value'"),
            ("experiments/update", {"experiment_id": "0", "new_name": ["x"]}, "'new_name'"),
            ("experiments/delete", {"experiment_id": 1.5}, "experiment"),
            ("registered-models/create", {"name": ["m"]}, "'name'"),
            ("registered-models/create", {"name": "typed", "tags": [{"key": 1, "value": "v"}]}, "key"),
            ("registered-models/rename", {"name": "m", "new_name": {"n": 1}}, "'new_name'"),
            ("model-versions/create", {"name": "m", "source": 5}, "'source'"),
            ("model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Staging", "archive_existing_versions": "yes"},
             "archive_existing_versions"),
            ("model-versions/transition-stage", {"name": "m", "version": "1", "stage": 3, "archive_existing_versions": False}, "stage"),
            ("registered-models/alias", {"name": "m", "alias": "a", "version": "one"}, "version"),
        ]
        for endpoint, body, fragment in cases:
            with self.subTest(endpoint=endpoint, body=str(body)[:80]):
                self.check("POST", API + endpoint, 400, fragment, "INVALID_PARAMETER_VALUE", json=body)
        # Query strings: a number that is not one.
        for endpoint, params, fragment in (("metrics/get-history", {"run_id": run, "metric_key": "m", "max_results": "ten"}, "max_results"),
                                           ("experiments/search", {"max_results": "1e3"}, "max_results"),
                                           ("registered-models/search", {"max_results": "many"}, "max_results"),
                                           ("model-versions/search", {"max_results": "-"}, "max_results"),
                                           ("metrics/get-history-bulk-interval", {"run_ids": run, "metric_key": "m", "start_step": "x"}, "start_step"),
                                           ("model-versions/get", {"name": "m", "version": "1.0"}, "version")):
            with self.subTest(endpoint=endpoint):
                self.check("GET", API + endpoint, 400, fragment, "INVALID_PARAMETER_VALUE", params=params)

    def test_missing_fields_everywhere(self):
        run = self.run_id
        cases = [
            ("POST", "experiments/delete", {}, "'experiment_id'"),
            ("POST", "experiments/restore", {}, "'experiment_id'"),
            ("POST", "experiments/update", {"new_name": "x"}, "'experiment_id'"),
            ("POST", "experiments/set-experiment-tag", {"experiment_id": "0", "value": "v"}, "'key'"),
            ("POST", "experiments/set-experiment-tag", {"experiment_id": "0", "key": "k"}, "'value'"),
            ("POST", "runs/update", {"status": "FINISHED"}, "run_id"),
            ("POST", "runs/delete", {}, "'run_id'"),
            ("POST", "runs/restore", {}, "'run_id'"),
            ("POST", "runs/log-metric", {"run_id": run, "key": "m", "timestamp": 1}, "'value'"),
            ("POST", "runs/log-metric", {"run_id": run, "key": "m", "value": 1}, "'timestamp'"),
            ("POST", "runs/log-parameter", {"run_id": run, "key": "p"}, "'value'"),
            ("POST", "runs/log-parameter", {"run_id": run, "value": "v"}, "'key'"),
            ("POST", "runs/set-tag", {"run_id": run, "value": "v"}, "'key'"),
            ("POST", "runs/set-tag", {"key": "k", "value": "v"}, "run_id"),
            ("POST", "runs/delete-tag", {"run_id": run}, "'key'"),
            ("POST", "runs/log-batch", {}, "run_id"),
            ("POST", "runs/log-inputs", {"datasets": []}, "'run_id'"),
            ("POST", "runs/log-model", {"model_json": "{}"}, "run_id"),
            ("POST", "registered-models/create", {}, "'name'"),
            ("POST", "registered-models/rename", {"new_name": "x"}, "'name'"),
            ("PATCH", "registered-models/update", {}, "'name'"),
            ("DELETE", "registered-models/delete", {}, "'name'"),
            ("POST", "registered-models/set-tag", {"name": "m", "key": "k"}, "value"),
            ("DELETE", "registered-models/delete-tag", {"name": "m"}, "'key'"),
            ("POST", "registered-models/get-latest-versions", {}, "'name'"),
            ("DELETE", "registered-models/alias", {"name": "m"}, "'alias'"),
            ("POST", "registered-models/alias", {"name": "m", "alias": "a"}, "'version'"),
            ("POST", "model-versions/create", {"source": "runs:/x/m"}, "'name'"),
            ("PATCH", "model-versions/update", {"name": "m"}, "'version'"),
            ("DELETE", "model-versions/delete", {"name": "m"}, "'version'"),
            ("POST", "model-versions/transition-stage", {"name": "m", "version": "1", "archive_existing_versions": False}, "'stage'"),
            ("POST", "model-versions/set-tag", {"name": "m", "version": "1", "key": "k"}, "value"),
            ("DELETE", "model-versions/delete-tag", {"name": "m", "version": "1"}, "'key'"),
        ]
        for method, endpoint, body, fragment in cases:
            with self.subTest(endpoint=endpoint, body=body):
                self.check(method, API + endpoint, 400, fragment, "INVALID_PARAMETER_VALUE", json=body)
        for endpoint, params, fragment in (("experiments/get", {}, "'experiment_id'"),
                                           ("experiments/get-by-name", {}, "'experiment_name'"),
                                           ("runs/get", {}, "run_id"),
                                           ("metrics/get-history", {"metric_key": "m"}, "run_id"),
                                           ("metrics/get-history-bulk-interval", {"run_ids": run}, "'metric_key'"),
                                           ("artifacts/list", {}, "run_id"),
                                           ("registered-models/get", {}, "'name'"),
                                           ("registered-models/alias", {"name": "m"}, "'alias'"),
                                           ("model-versions/get", {"name": "m"}, "'version'"),
                                           ("model-versions/get-download-uri", {"version": "1"}, "'name'")):
            with self.subTest(endpoint=endpoint):
                self.check("GET", API + endpoint, 400, fragment, "INVALID_PARAMETER_VALUE", params=params)

    def test_more_unknown_ids(self):
        ghost = "0123456789abcdef0123456789abcdef"
        cases = [
            ("POST", "experiments/delete", {"experiment_id": "777"}, "777"),
            ("POST", "experiments/restore", {"experiment_id": "777"}, "777"),
            ("POST", "experiments/update", {"experiment_id": "777", "new_name": "x"}, "777"),
            ("POST", "experiments/set-experiment-tag", {"experiment_id": "777", "key": "k", "value": "v"}, "777"),
            ("POST", "runs/create", {"experiment_id": "777"}, "777"),
            ("POST", "runs/update", {"run_id": ghost, "status": "FINISHED"}, ghost),
            ("POST", "runs/delete", {"run_id": ghost}, ghost),
            ("POST", "runs/restore", {"run_id": ghost}, ghost),
            ("POST", "runs/log-metric", {"run_id": ghost, "key": "m", "value": 1, "timestamp": 1}, ghost),
            ("POST", "runs/log-parameter", {"run_id": ghost, "key": "p", "value": "v"}, ghost),
            ("POST", "runs/set-tag", {"run_id": ghost, "key": "t", "value": "v"}, ghost),
            ("POST", "runs/delete-tag", {"run_id": ghost, "key": "t"}, ghost),
            ("POST", "runs/log-inputs", {"run_id": ghost, "datasets": []}, ghost),
            ("POST", "runs/log-model", {"run_id": ghost, "model_json": '{"artifact_path": "m", "flavors": {}}'}, ghost),
            ("POST", "registered-models/rename", {"name": "ghost", "new_name": "x"}, "ghost"),
            ("PATCH", "registered-models/update", {"name": "ghost", "description": "d"}, "ghost"),
            ("DELETE", "registered-models/delete", {"name": "ghost"}, "ghost"),
            ("POST", "registered-models/set-tag", {"name": "ghost", "key": "k", "value": "v"}, "ghost"),
            ("DELETE", "registered-models/delete-tag", {"name": "ghost", "key": "k"}, "ghost"),
            ("POST", "registered-models/get-latest-versions", {"name": "ghost"}, "ghost"),
            ("POST", "registered-models/alias", {"name": "ghost", "alias": "a", "version": "1"}, "ghost"),
            ("POST", "model-versions/create", {"name": "ghost", "source": "runs:/x/m"}, "ghost"),
            ("PATCH", "model-versions/update", {"name": "m", "version": "55", "description": "d"}, "55"),
            ("DELETE", "model-versions/delete", {"name": "m", "version": "55"}, "55"),
            ("POST", "model-versions/transition-stage", {"name": "m", "version": "55", "stage": "Staging",
                                                         "archive_existing_versions": False}, "55"),
            ("POST", "model-versions/set-tag", {"name": "m", "version": "55", "key": "k", "value": "v"}, "55"),
            ("DELETE", "model-versions/delete-tag", {"name": "m", "version": "55", "key": "k"}, "55"),
        ]
        for method, endpoint, body, fragment in cases:
            with self.subTest(endpoint=endpoint):
                self.check(method, API + endpoint, 404, fragment, "RESOURCE_DOES_NOT_EXIST", json=body)
        for endpoint, params, fragment in (("metrics/get-history", {"run_id": ghost, "metric_key": "m"}, ghost),
                                           ("metrics/get-history-bulk-interval", {"run_ids": ghost, "metric_key": "m"}, ghost),
                                           ("artifacts/list", {"run_id": ghost}, ghost),
                                           ("experiments/get-by-name", {"experiment_name": "ghost"}, "ghost"),
                                           ("registered-models/alias", {"name": "m", "alias": "ghost"}, "ghost"),
                                           ("model-versions/get-download-uri", {"name": "m", "version": "55"}, "55")):
            with self.subTest(endpoint=endpoint):
                self.check("GET", API + endpoint, 404, fragment, "RESOURCE_DOES_NOT_EXIST", params=params)

    def test_oversized_bodies(self):
        # Over --max-body-bytes (65536) on every kind of JSON route; the connection stays usable after.
        big = "x" * 70000
        for method, endpoint, body in (("POST", "runs/log-batch", {"run_id": self.run_id, "tags": [{"key": "k", "value": big}]}),
                                       ("POST", "runs/search", {"experiment_ids": ["0"], "filter": big}),
                                       ("PATCH", "registered-models/update", {"name": "m", "description": big}),
                                       ("DELETE", "registered-models/delete", {"name": big})):
            with self.subTest(endpoint=endpoint):
                self.check(method, API + endpoint, 413, "65536", "REQUEST_LIMIT_EXCEEDED", json=body)
        # A declared length over the limit is refused before the body arrives.
        port = int(self.server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /api/2.0/mlflow/runs/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000000\r\n\r\n{")
            reply = sock.recv(4096)
        self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply[:200])
        self.assertIn(b"REQUEST_LIMIT_EXCEEDED", reply)
        # Nothing was created by the refused requests, and the server still answers.
        self.assertEqual(self.server.api("GET", "registered-models/get", params={"name": "m"})[0], 200)

    def test_many_order_by_keys_do_not_crash(self):
        # Each metric/param/tag order_by key is a join: dozens of them crashed the server (SIGSEGV in SQLite
        # with 31 keys, "too many FROM clause terms" 500 with 200). Too many must be a 400, few must work.
        with LatheServer() as server:
            _, body = server.api("POST", "runs/create", {"experiment_id": "0"})
            run_id = body["run"]["info"]["run_id"]
            server.api("POST", "runs/log-metric", {"run_id": run_id, "key": "m0", "value": 1, "timestamp": 1})
            for count, entity in [(c, e) for c in (2, 10, 31, 40, 64, 200, 1000) for e in ("metrics", "params", "tags", "same")]:
                if server.process.poll() is not None:
                    break
                if True:
                    if entity == "same":  # one key repeated: crashed too
                        order_by = ["metrics.m0 DESC"] * count
                    else:
                        order_by = [f"{entity}.k{i} {'ASC' if i % 2 else 'DESC'}" for i in range(count)]
                    with self.subTest(count=count, entity=entity):
                        try:
                            response = requests.post(server.url + API + "runs/search", timeout=30,
                                                     json={"experiment_ids": ["0"], "order_by": order_by})
                        except requests.ConnectionError as error:
                            self.fail(f"{count} {entity} order_by keys: no answer ({error}); server exit code "
                                      f"{server.process.poll()}")
                        self.assertLess(response.status_code, 500, response.text[:300])
                        if response.status_code == 200:
                            self.assertEqual([r["info"]["run_id"] for r in response.json()["runs"]], [run_id])
                        else:
                            self.assertEqual(response.status_code, 400, response.text[:300])
                            self.assertIn("order_by", response.json()["message"])
            self.assertIsNone(server.process.poll(), "the server died")
            # A handful of keys is ordinary use and works.
            response = requests.post(server.url + API + "runs/search", timeout=30,
                                     json={"experiment_ids": ["0"], "order_by": [f"metrics.k{i}" for i in range(10)]})
            self.assertEqual(response.status_code, 200, response.text[:300])

    def test_order_by_keys_are_not_sql(self):
        # Only attributes order experiments, registered models and model versions (as in MLflow); a tag key,
        # quoted with backticks, must never reach the SQL text (it was pasted in: a 500, or a working injection).
        injections = ["tags.k0", "tags.`name` DESC", "tags.`name, (SELECT count(*) FROM runs)`",
                      "tags.`experiment_id * (CASE WHEN (SELECT count(*) FROM experiments) > 0 THEN -1 ELSE 1 END)`",
                      "attributes.`name; DROP TABLE runs`", "`name`--", "name ASC; DELETE FROM experiments"]
        for order_by in injections:
            with self.subTest(endpoint="experiments/search", order_by=order_by):
                self.check("POST", API + "experiments/search", 400, "order_by", "INVALID_PARAMETER_VALUE",
                           json={"order_by": [order_by]})
            for endpoint in ("registered-models/search", "model-versions/search"):
                with self.subTest(endpoint=endpoint, order_by=order_by):
                    self.check("GET", API + endpoint, 400, "order_by", "INVALID_PARAMETER_VALUE", params={"order_by": order_by})
        for order_by in ("metrics.`x') OR 1=1 --` DESC", "params.`a\"b` ASC", "tags.`; DROP TABLE runs` DESC"):
            with self.subTest(endpoint="runs/search", order_by=order_by):  # any key is fine here: keys are bound values
                response = self.session.post(self.server.url + API + "runs/search", timeout=30,
                                             json={"experiment_ids": ["0"], "order_by": [order_by]})
                self.assertEqual(response.status_code, 200, response.text[:300])
                self.assertEqual([r["info"]["run_id"] for r in response.json()["runs"]], [self.run_id])
        status, body = self.server.api("GET", "experiments/get", params={"experiment_id": "0"})
        self.assertEqual(status, 200)

    def test_repeated_query_parameters_with_bad_utf8(self):
        # A scalar given twice is a list; a value that is not UTF-8 must not break the error message (it was a 500:
        # "[json.exception.type_error.316] invalid UTF-8 byte").
        for query, fragment in (("registered-models/search?max_results=%C1&max_results=5", "max_results"),
                                ("registered-models/get?name=%FF&name=x", "name"),
                                ("experiments/get?experiment_id=0&experiment_id=%FF", "experiment ID"),
                                (f"runs/get?run_id=%FF&run_id={self.run_id}", "run_id"),
                                ("metrics/get-history?run_id=%FE&run_id=%FF&metric_key=m", "run_id"),
                                ("experiments/get-by-name?experiment_name=%C3%28&experiment_name=%FF", "experiment_name")):
            with self.subTest(query=query):
                self.check("GET", API + query, 400, fragment, "INVALID_PARAMETER_VALUE")

    def test_upload_over_the_limit(self):
        with LatheServer(extra_args=["--max-upload-bytes", "1000"]) as server:
            url = server.url + "/api/2.0/mlflow-artifacts/artifacts/0/run/artifacts/big.bin"
            response = requests.put(url, data=b"b" * 2000, timeout=30)
            self.assertEqual(response.status_code, 413, response.text)
            self.assertEqual(response.json()["error_code"], "REQUEST_LIMIT_EXCEEDED")
            self.assertIn("1000", response.json()["message"])
            # Sent without a Content-Length (chunked), the limit holds while streaming. The server may answer 413
            # and close before the client has sent everything: then the client sees a broken pipe instead.
            try:
                response = requests.put(url, data=iter([b"c" * 600, b"c" * 600]), timeout=30)
                self.assertEqual(response.status_code, 413, response.text)
            except requests.ConnectionError:
                pass
            self.assertEqual(requests.get(url, timeout=30).status_code, 404)
            staged = []
            for directory, _, names in os.walk(os.path.join(server.data_dir, "artifacts")):
                staged += [os.path.join(directory, name) for name in names]
            self.assertEqual(staged, [], "a refused upload left a file behind")
            self.assertEqual(requests.put(url, data=b"s" * 1000, timeout=30).status_code, 200)
            self.assertEqual(requests.get(url, timeout=30).content, b"s" * 1000)

    def test_more_limits(self):
        run = self.run_id
        cases = [
            ("runs/log-metric", {"run_id": run, "key": "m" * 251, "value": 1, "timestamp": 1}, "exceeded length limit of 250"),
            ("runs/log-parameter", {"run_id": run, "key": "p" * 251, "value": "v"}, "exceeded length limit of 250"),
            ("runs/set-tag", {"run_id": run, "key": "t", "value": "v" * 5001}, "exceeded length limit of 5000"),
            ("runs/log-batch", {"run_id": run, "params": [{"key": "pp", "value": "v" * 6001}]}, "exceeded length limit of 6000"),
            ("runs/log-batch", {"run_id": run, "tags": [{"key": "t" * 251, "value": "v"}]}, "exceeded length limit of 250"),
            ("runs/log-batch", {"run_id": run, "tags": [{"key": "t", "value": "v"}] * 101}, "at most 100 tags"),
            ("experiments/create", {"name": "e" * 501}, "Experiment name"),
            ("experiments/create", {"name": "long-tag", "tags": [{"key": "k" * 251, "value": "v"}]}, "exceeded length limit of 250"),
            ("experiments/set-experiment-tag", {"experiment_id": "0", "key": "k", "value": "v" * 5001}, "exceeded length limit of 5000"),
            ("experiments/set-experiment-tag", {"experiment_id": "0", "key": "k" * 251, "value": "v"}, "exceeded length limit of 250"),
            ("registered-models/set-tag", {"name": "m", "key": "k", "value": "v" * 5001}, "exceeded length limit of 5000"),
            ("registered-models/set-tag", {"name": "m", "key": "k" * 251, "value": "v"}, "exceeded length limit of 250"),
            ("registered-models/alias", {"name": "m", "alias": "a" * 256, "version": "1"}, "alias"),
            ("registered-models/alias", {"name": "m", "alias": "v12", "version": "1"}, "reserved"),
            ("runs/log-inputs", {"run_id": run, "datasets": [{"dataset": {"name": "n" * 501, "digest": "d", "source_type": "s",
                                                                          "source": "s"}}]}, "Dataset name"),
            ("runs/log-inputs", {"run_id": run, "datasets": [{"dataset": {"name": "n", "digest": "d" * 37, "source_type": "s",
                                                                          "source": "s"}}]}, "digest"),
            ("runs/log-inputs", {"run_id": run, "datasets": [{"dataset": {"name": "n", "digest": "d", "source_type": "s", "source": "s"},
                                                              "tags": [{"key": "k" * 256, "value": "v"}]}]}, "exceeded length limit of 255"),
        ]
        for endpoint, body, fragment in cases:
            with self.subTest(endpoint=endpoint, fragment=fragment):
                self.check("POST", API + endpoint, 400, fragment, "INVALID_PARAMETER_VALUE", json=body)

    def test_more_invalid_names(self):
        run = self.run_id
        for name in ("../x", "a//b", "/abs", "a/./b", ".", "a/..", "x\n", "tab\there"):
            with self.subTest(name=name):
                self.check("POST", API + "runs/log-parameter", 400, "Invalid param name",
                           json={"run_id": run, "key": name, "value": "v"})
                self.check("POST", API + "runs/set-tag", 400, "Invalid tag name", json={"run_id": run, "key": name, "value": "v"})
                self.check("POST", API + "runs/log-batch", 400, "Invalid metric name",
                           json={"run_id": run, "metrics": [{"key": name, "value": 1, "timestamp": 1}]})
        self.check("POST", API + "runs/log-metric", 400, "'key'", json={"run_id": run, "key": "", "value": 1, "timestamp": 1})
        # None of them landed.
        status, body = self.server.api("GET", "runs/get", params={"run_id": run})
        self.assertEqual(status, 200)
        keys = [p["key"] for p in body["run"]["data"].get("params", [])]
        self.assertFalse(any(".." in k or "//" in k for k in keys), keys)

    def test_more_invalid_searches(self):
        for bad_filter, fragment in (("metrics.m > 1 AND", "ends with AND"),
                                     ("(metrics.m > 1)", "Invalid filter"),
                                     ("metrics. > 1", "Invalid filter"),
                                     ("attributes.start_time = 'abc'", "Expected numeric value"),
                                     ("attributes.run_id IN ()", "quoted string"),
                                     ("attributes.run_id IN 'a'", "parenthesised list"),
                                     ("params.a IN ('x')", "Invalid comparator 'IN'"),
                                     ("metrics.m LIKE '1'", "Invalid comparator 'LIKE'"),
                                     ("attributes.lifecycle_stage = 'active'", "Invalid attribute key"),
                                     ("params.a = 'x' OR params.b = 'y'", "OR"),
                                     ("metrics.m ~ 1", "Invalid comparator"),
                                     ("datasets.color = 'x'", "dataset")):
            with self.subTest(filter=bad_filter):
                self.check("POST", API + "runs/search", 400, fragment, "INVALID_PARAMETER_VALUE",
                           json={"experiment_ids": ["0"], "filter": bad_filter})
        for order_by, fragment in (("foo.bar ASC", "Invalid entity type"), ("params.a ASCENDING", "order_by"),
                                   ("", "order_by"), ("metrics.m DESC extra", "order_by"),
                                   ("attributes.colour ASC", "colour")):
            with self.subTest(order_by=order_by):
                self.check("POST", API + "runs/search", 400, fragment, "INVALID_PARAMETER_VALUE",
                           json={"experiment_ids": ["0"], "order_by": [order_by]})
        for endpoint, params, fragment in (("experiments/search", {"filter": "params.x = 'a'"}, "Invalid entity type"),
                                           ("experiments/search", {"filter": "name = "}, "quoted string"),
                                           ("experiments/search", {"order_by": "bogus DESC"}, "Invalid order_by key 'bogus'"),
                                           ("experiments/search", {"max_results": "50001"}, "max_results"),
                                           ("experiments/search", {"max_results": "0"}, "max_results"),
                                           ("experiments/search", {"page_token": "!!!"}, "Invalid page token"),
                                           ("registered-models/search", {"filter": "name = 'x' and"}, "ends with AND"),
                                           ("registered-models/search", {"order_by": "nope DESC"}, "Invalid order_by key 'nope'"),
                                           ("registered-models/search", {"max_results": "0"}, "max_results"),
                                           ("registered-models/search", {"page_token": "garbage"}, "Invalid page token"),
                                           ("registered-models/search", {"order_by": ["name ASC", "name DESC"]}, "duplicate"),
                                           ("model-versions/search", {"order_by": ["name ASC", "name DESC"]}, "duplicate"),
                                           ("model-versions/search", {"filter": "bogus = 'x'"}, "Invalid attribute key 'bogus'"),
                                           ("model-versions/search", {"order_by": "bad"}, "Invalid order_by key 'bad'"),
                                           ("model-versions/search", {"max_results": "200001"}, "max_results"),
                                           ("model-versions/search", {"page_token": "garbage"}, "Invalid page token"),
                                           ("metrics/get-history", {"run_id": self.run_id, "metric_key": "m", "page_token": "zzz"},
                                            "Invalid page token"),
                                           ("metrics/get-history-bulk-interval", {"run_ids": self.run_id, "metric_key": "m",
                                                                                 "max_results": "2501"}, "max_results"),
                                           ("metrics/get-history-bulk-interval", {"run_ids": [self.run_id] * 101, "metric_key": "m"},
                                            "100 run_ids"),
                                           ("metrics/get-history-bulk-interval", {"metric_key": "m"}, "run_id")):
            with self.subTest(endpoint=endpoint, params=str(params)[:60]):
                self.check("GET", API + endpoint, 400, fragment, "INVALID_PARAMETER_VALUE", params=params)
        for body, fragment in (({"experiment_ids": ["0"], "max_results": 50001}, "max_results"),
                               ({"experiment_ids": ["0"], "max_results": 0}, "max_results"),
                               ({"experiment_ids": ["0"], "max_results": -5}, "max_results"),
                               ({"experiment_ids": ["0"], "page_token": "eyJvZmZzZXQiOiAtMX0="}, "page token"),
                               ({"experiment_ids": ["0"], "page_token": "bm90IGpzb24="}, "page token"),
                               ({"experiment_ids": ["0"], "order_by": ["params.a", "params.a DESC"]}, "duplicate")):
            with self.subTest(body=body):
                self.check("POST", API + "runs/search", 400, fragment, "INVALID_PARAMETER_VALUE", json=body)

    def test_more_artifact_paths(self):
        base = "/api/2.0/mlflow-artifacts/artifacts"
        for path in ("/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/0/%2E%2E/%2E%2E/%2E%2E/lathe.db", "/.%2e/x", "/%2e%2e",
                     "/a/%00/b", "/a%00.txt", "/..%5cx", "/a/%2e%2e%2f%2e%2e%2f%2e%2e%2fx"):
            with self.subTest(path=path):
                for method in ("GET", "PUT", "DELETE"):
                    self.check(method, base + path, 400, "Invalid path", data=b"x" if method == "PUT" else None)
        for path in ("..", "a/../..", "/", "//etc", "a/./../../b", "\\etc", "a\x00b", "%2e%2e"):
            with self.subTest(list_path=path):
                response = self.session.get(self.server.url + base, params={"path": path}, timeout=30)
                if path == "%2e%2e":  # a literal name, percent signs and all: just not there
                    self.assertIn(response.status_code, (200, 400), response.text)
                    continue
                self.assertEqual(response.status_code, 400, f"{path}: {response.text}")
                self.assertIn("Invalid path", response.json()["message"])
        for path in ("..", "/etc", "a/../../..", "../../../../etc"):
            with self.subTest(run_list_path=path):
                self.check("GET", API + "artifacts/list", 400, "Invalid path", params={"run_id": self.run_id, "path": path})
        # Nothing escaped the data directory.
        parent = os.path.dirname(self.server.data_dir)
        self.assertFalse(os.path.exists(os.path.join(parent, "x")))
        self.assertFalse(os.path.exists(os.path.join(self.server.data_dir, "x")))

    def test_good_subpaths_list_when_a_run_artifacts_are_the_artifact_root(self):
        # A run whose artifact URI is the store's root (`mlflow-artifacts:`, or a file: URI of the
        # root, as a database shared with another server may hold) has the store-relative root "":
        # its subdirectories must list as "<sub>", not be refused as the absolute path "/<sub>".
        # No API call creates such a run, so the URIs are written into the stopped server's database.
        with LatheServer() as server:
            runs = [server.api("POST", "runs/create", {"experiment_id": "0"})[1]["run"]["info"]["run_id"]
                    for _ in range(2)]
            root = os.path.join(server.data_dir, "artifacts")
            uris = {runs[0]: "mlflow-artifacts:", runs[1]: "file://" + root}
            server.stop()
            with sqlite3.connect(os.path.join(server.data_dir, "lathe.db")) as db:
                db.executemany("UPDATE runs SET artifact_uri = ? WHERE run_uuid = ?",
                               [(uri, run) for run, uri in uris.items()])
            db.close()
            server.start()
            upload = requests.put(server.url + "/api/2.0/mlflow-artifacts/artifacts/top/sub/model.bin",
                                  data=b"12345", timeout=30)
            self.assertEqual(upload.status_code, 200, upload.text)
            for run, uri in uris.items():
                with self.subTest(artifact_uri=uri):
                    status, body = server.api("GET", "artifacts/list", params={"run_id": run, "path": "top/sub"})
                    self.assertEqual(status, 200, body)
                    self.assertEqual(body, {"root_uri": uri, "files": [
                        {"path": "top/sub/model.bin", "is_dir": False, "file_size": 5}]})
                    status, body = server.api("GET", "artifacts/list", params={"run_id": run, "path": "top"})
                    self.assertEqual(status, 200, body)
                    self.assertEqual(body["files"], [{"path": "top/sub", "is_dir": True}])
                    status, body = server.api("GET", "artifacts/list", params={"run_id": run})
                    self.assertEqual(status, 200, body)
                    self.assertIn({"path": "top", "is_dir": True}, body["files"])
                    status, body = server.api("GET", "artifacts/list", params={"run_id": run, "path": "../top"})
                    self.assertEqual(status, 400, body)
                    self.assertIn("Invalid path", body["message"])

    def test_staging_dir_is_not_an_artifact(self):
        # Uploads are staged in <data>/uploads, beside the artifact root and not inside it: no artifact
        # path reaches an upload in flight, and a file a client names ".uploads/x" is just an artifact.
        import os
        self.assertTrue(os.path.isdir(os.path.join(self.server.data_dir, "uploads")) or
                        not os.path.exists(os.path.join(self.server.data_dir, "artifacts", ".uploads")))
        base = "/api/2.0/mlflow-artifacts/artifacts/"
        for path in ("../uploads/x", "%2e%2e/uploads/x"):
            with self.subTest(path=path):
                response = self.session.put(self.server.url + base + path, data=b"x", timeout=30)
                self.assertIn(response.status_code, (400, 404), f"{path}: {response.status_code} {response.text[:200]}")
        self.assertEqual(self.session.put(self.server.url + base + "staged/blob", data=b"x" * 1000, timeout=30).status_code, 200)
        self.assertEqual(os.listdir(os.path.join(self.server.data_dir, "uploads")), [])  # nothing left behind

    def test_broken_http_gets_a_response_or_a_close(self):
        with socket.create_connection(("127.0.0.1", int(self.server.url.rsplit(":", 1)[1])), timeout=10) as sock:
            sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            reply = sock.recv(4096)
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply[:100])
        self.assertEqual(requests.get(self.server.url + "/health", timeout=10).text, "OK")


if __name__ == "__main__":
    unittest.main()
