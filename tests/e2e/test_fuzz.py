"""Fuzz: 10,000+ mutated requests (fixed seed) over every route; never a 5xx, never a crash."""

import json
import random
import socket
import unittest

import requests

from lathe_server import LatheServer

REQUESTS = 10000
SEED = 1234


def valid_requests(ids):
    """One valid request per route, the seeds of the mutations."""
    run, exp = ids["run"], ids["exp"]
    a = "/api/2.0/mlflow/"
    return [
        ("POST", a + "experiments/create", {"name": "fz", "tags": [{"key": "k", "value": "v"}]}),
        ("GET", a + "experiments/get", {"experiment_id": exp}),
        ("GET", a + "experiments/get-by-name", {"experiment_name": "fuzz"}),
        ("POST", a + "experiments/search", {"filter": "name LIKE 'f%'", "max_results": 5, "order_by": ["name ASC"]}),
        ("GET", a + "experiments/search", {"filter": "tags.k = 'v'", "view_type": "ALL"}),
        ("POST", a + "experiments/update", {"experiment_id": exp, "new_name": "fuzz2"}),
        ("POST", a + "experiments/set-experiment-tag", {"experiment_id": exp, "key": "a", "value": "b"}),
        ("POST", a + "experiments/delete", {"experiment_id": "12345"}),
        ("POST", a + "experiments/restore", {"experiment_id": "12345"}),
        ("POST", a + "runs/create", {"experiment_id": exp, "run_name": "r", "start_time": 1, "tags": [{"key": "t", "value": "v"}]}),
        ("GET", a + "runs/get", {"run_id": run}),
        ("POST", a + "runs/update", {"run_id": run, "status": "FINISHED", "end_time": 5}),
        ("POST", a + "runs/log-metric", {"run_id": run, "key": "m", "value": 1.5, "timestamp": 1, "step": 2}),
        ("POST", a + "runs/log-parameter", {"run_id": run, "key": "p", "value": "v"}),
        ("POST", a + "runs/set-tag", {"run_id": run, "key": "t", "value": "v"}),
        ("POST", a + "runs/delete-tag", {"run_id": run, "key": "t"}),
        ("POST", a + "runs/log-batch", {"run_id": run, "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}],
                                       "params": [{"key": "q", "value": "1"}], "tags": [{"key": "x", "value": "y"}]}),
        ("POST", a + "runs/log-inputs", {"run_id": run, "datasets": [{"dataset": {"name": "d", "digest": "x", "source_type": "s", "source": "s"}}]}),
        ("POST", a + "runs/log-model", {"run_id": run, "model_json": "{\"artifact_path\": \"m\", \"flavors\": {}}"}),
        ("POST", a + "runs/search", {"experiment_ids": [exp], "filter": "metrics.m > 0 and params.p = 'v'",
                                     "order_by": ["metrics.m DESC"], "max_results": 10}),
        ("GET", a + "metrics/get-history", {"run_id": run, "metric_key": "m"}),
        ("GET", a + "metrics/get-history-bulk-interval", {"run_ids": run, "metric_key": "m", "max_results": 5}),
        ("GET", a + "artifacts/list", {"run_id": run, "path": "x"}),
        ("POST", a + "registered-models/create", {"name": "fm", "tags": [{"key": "k", "value": "v"}]}),
        ("GET", a + "registered-models/get", {"name": "fuzzmodel"}),
        ("POST", a + "registered-models/rename", {"name": "fm", "new_name": "fm2"}),
        ("PATCH", a + "registered-models/update", {"name": "fuzzmodel", "description": "d"}),
        ("DELETE", a + "registered-models/delete", {"name": "fm2"}),
        ("GET", a + "registered-models/search", {"filter": "name LIKE 'f%'", "max_results": 5}),
        ("POST", a + "registered-models/get-latest-versions", {"name": "fuzzmodel", "stages": ["None"]}),
        ("POST", a + "registered-models/set-tag", {"name": "fuzzmodel", "key": "k", "value": "v"}),
        ("DELETE", a + "registered-models/delete-tag", {"name": "fuzzmodel", "key": "k"}),
        ("POST", a + "registered-models/alias", {"name": "fuzzmodel", "alias": "champ", "version": "1"}),
        ("GET", a + "registered-models/alias", {"name": "fuzzmodel", "alias": "champ"}),
        ("DELETE", a + "registered-models/alias", {"name": "fuzzmodel", "alias": "champ"}),
        ("POST", a + "model-versions/create", {"name": "fuzzmodel", "source": "runs:/x/model", "run_id": run}),
        ("GET", a + "model-versions/get", {"name": "fuzzmodel", "version": "1"}),
        ("PATCH", a + "model-versions/update", {"name": "fuzzmodel", "version": "1", "description": "d"}),
        ("GET", a + "model-versions/search", {"filter": "name = 'fuzzmodel'"}),
        ("GET", a + "model-versions/get-download-uri", {"name": "fuzzmodel", "version": "1"}),
        ("POST", a + "model-versions/transition-stage", {"name": "fuzzmodel", "version": "1", "stage": "Staging",
                                                         "archive_existing_versions": False}),
        ("POST", a + "model-versions/set-tag", {"name": "fuzzmodel", "version": "1", "key": "k", "value": "v"}),
        ("DELETE", a + "model-versions/delete-tag", {"name": "fuzzmodel", "version": "1", "key": "k"}),
        ("GET", "/api/lathe/audit", {"limit": 5}),
        ("GET", "/api/lathe/alias-history", {"name": "fuzzmodel"}),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts", {"path": "0"}),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/0/fuzz/file.txt", None),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/0/fuzz/file.txt", None),
    ]


WEIRD_VALUES = [None, True, False, 0, -1, 2**63, -2**63 - 1, 1e308, -1e-308, float("inf"), "", " ", "NaN", "Infinity",
                "x" * 10000, "\u0000", "é😀\u202e", "../../etc/passwd", "' OR 1=1 --", "%", "_", "*", "[", "\\",
                [], [1, [2, [3]]], {}, {"key": {"value": []}}, "metrics.m < 1 and", "`", "\"", "'"]


def mutate(rng, value, depth=0):
    choice = rng.random()
    if isinstance(value, dict) and value and choice < 0.5:
        value = dict(value)
        key = rng.choice(list(value))
        operation = rng.randrange(4)
        if operation == 0:
            del value[key]
        elif operation == 1:
            value[key] = rng.choice(WEIRD_VALUES)
        elif operation == 2 and depth < 3:
            value[key] = mutate(rng, value[key], depth + 1)
        else:
            value[rng.choice(["extra", key + "_", "RUN_ID", ""])] = rng.choice(WEIRD_VALUES)
        return value
    if isinstance(value, list) and value and choice < 0.5:
        value = list(value)
        if rng.random() < 0.5:
            value.append(rng.choice(WEIRD_VALUES))
        else:
            value[rng.randrange(len(value))] = mutate(rng, value[0], depth + 1) if depth < 3 else None
        return value
    return rng.choice(WEIRD_VALUES)


def body_bytes(rng, body):
    kind = rng.random()
    text = json.dumps(body, allow_nan=True) if body is not None else ""
    if kind < 0.6:
        return text.encode()
    if kind < 0.7:  # truncated
        return text.encode()[: rng.randrange(len(text) + 1)]
    if kind < 0.8:  # random bytes, including invalid UTF-8
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if kind < 0.85:  # deeply nested
        return b"[" * 1000 + b"]" * 1000
    if kind < 0.9:  # duplicate keys
        return text.replace("{", '{"name": 1, "name": "x", ', 1).encode()
    # one byte flipped
    raw = bytearray(text.encode() or b"{}")
    raw[rng.randrange(len(raw))] = rng.randrange(256)
    return bytes(raw)


class FuzzTest(unittest.TestCase):
    def test_mutated_requests_never_5xx(self):
        rng = random.Random(SEED)
        with LatheServer(extra_args=["--max-body-bytes", "1048576"]) as server:
            session = requests.Session()
            _, body = server.api("POST", "experiments/create", {"name": "fuzz"})
            exp = body["experiment_id"]
            _, body = server.api("POST", "runs/create", {"experiment_id": exp})
            ids = {"exp": exp, "run": body["run"]["info"]["run_id"]}
            server.api("POST", "registered-models/create", {"name": "fuzzmodel"})
            server.api("POST", "model-versions/create", {"name": "fuzzmodel", "source": "runs:/x/m"})
            seeds = valid_requests(ids)
            failures = []
            for i in range(REQUESTS):
                method, path, body = rng.choice(seeds)
                mutated = mutate(rng, body) if body is not None and rng.random() < 0.9 else body
                if method == "GET" and isinstance(mutated, dict):
                    params = {str(k): json.dumps(v) if not isinstance(v, str) else v for k, v in mutated.items()}
                    response = session.get(server.url + path, params=params, timeout=30)
                else:
                    data = body_bytes(rng, mutated)
                    content_type = rng.choice(["application/json"] * 8 + ["text/plain", ""])
                    response = session.request(method, server.url + path, data=data, timeout=30,
                                               headers={"Content-Type": content_type} if content_type else {})
                if response.status_code >= 500:
                    failures.append((method, path, mutated, response.status_code, response.text[:200]))
            self.assertEqual(failures[:5], [], f"{len(failures)} requests answered 5xx")

            # Broken HTTP on raw sockets.
            port = int(server.url.rsplit(":", 1)[1])
            garbage = [b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 100000 + b"\r\n\r\n",
                       b"POST /api/2.0/mlflow/runs/create HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n",
                       b"POST /api/2.0/mlflow/runs/create HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                       b"\x00\x01\x02\x03\r\n\r\n", b"GET /health HTTP/9.9\r\n\r\n",
                       b"POST /api/2.0/mlflow/runs/create HTTP/1.1\r\nContent-Length: 10\r\n\r\n{"]
            for _ in range(50):
                for payload in garbage:
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                        try:
                            sock.sendall(payload)
                            sock.shutdown(socket.SHUT_WR)
                            reply = sock.recv(100)
                        except OSError:
                            reply = b""
                    self.assertFalse(reply.startswith(b"HTTP/1.1 5"), (payload[:60], reply))
            self.assertIsNone(server.process.poll(), "the server died")
            self.assertEqual(requests.get(server.url + "/health", timeout=10).text, "OK")
            self.assertNotIn("AddressSanitizer", server.log())


if __name__ == "__main__":
    unittest.main()
