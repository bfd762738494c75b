"""Bad input gets a 4xx with MLflow's error shape and a message that names the problem."""

import socket
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
            self.check("GET", base + path, 400, "Invalid artifact path")
            self.check("PUT", base + path, 400, "Invalid artifact path", data=b"x")
            self.check("DELETE", base + path, 400, "Invalid artifact path")
        for path in ("../", "/etc", "a/../../b"):
            self.check("GET", base, 400, "Invalid artifact path", params={"path": path})
        self.check("GET", API + "artifacts/list", 400, "Invalid artifact path", params={"run_id": self.run_id, "path": "../.."})

    def test_broken_http_gets_a_response_or_a_close(self):
        with socket.create_connection(("127.0.0.1", int(self.server.url.rsplit(":", 1)[1])), timeout=10) as sock:
            sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            reply = sock.recv(4096)
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply[:100])
        self.assertEqual(requests.get(self.server.url + "/health", timeout=10).text, "OK")


if __name__ == "__main__":
    unittest.main()
