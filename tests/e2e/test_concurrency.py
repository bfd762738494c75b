"""32 concurrent clients creating runs and logging batches: nothing lost, no lock errors."""

import threading
import unittest

import requests

from lathe_server import LatheServer

CLIENTS = 32
BATCHES = 10
METRICS_PER_BATCH = 50


class ConcurrencyTest(unittest.TestCase):
    def test_concurrent_runs_and_batches(self):
        with LatheServer() as server:
            status, body = server.api("POST", "experiments/create", {"name": "concurrency"})
            self.assertEqual(status, 200, body)
            experiment_id = body["experiment_id"]
            failures = []
            created = {}
            barrier = threading.Barrier(CLIENTS)

            def client(index):
                session = requests.Session()
                barrier.wait()
                response = session.post(server.url + "/api/2.0/mlflow/runs/create", timeout=60,
                                        json={"experiment_id": experiment_id, "run_name": f"client-{index}"})
                if response.status_code != 200:
                    failures.append(("create", response.status_code, response.text))
                    return
                run_id = response.json()["run"]["info"]["run_id"]
                created[index] = run_id
                for batch in range(BATCHES):
                    response = session.post(server.url + "/api/2.0/mlflow/runs/log-batch", timeout=60, json={
                        "run_id": run_id,
                        "metrics": [{"key": "loss", "value": batch + i / 1000, "timestamp": 1700000000000 + batch,
                                     "step": batch * METRICS_PER_BATCH + i} for i in range(METRICS_PER_BATCH)],
                        "params": [{"key": f"p{batch}", "value": str(batch)}],
                        "tags": [{"key": "client", "value": str(index)}]})
                    if response.status_code != 200:
                        failures.append(("log-batch", response.status_code, response.text))

            threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
            self.assertEqual(failures, [])
            self.assertEqual(len(created), CLIENTS)
            self.assertNotIn("locked", server.log())

            session = requests.Session()
            for index, run_id in created.items():
                status, body = server.api("GET", "metrics/get-history", session=session,
                                          params={"run_id": run_id, "metric_key": "loss"})
                self.assertEqual(status, 200, body)
                self.assertEqual(len(body["metrics"]), BATCHES * METRICS_PER_BATCH)
                status, body = server.api("GET", "runs/get", params={"run_id": run_id}, session=session)
                params = {p["key"]: p["value"] for p in body["run"]["data"]["params"]}
                self.assertEqual(params, {f"p{b}": str(b) for b in range(BATCHES)})
                tags = {t["key"]: t["value"] for t in body["run"]["data"]["tags"]}
                self.assertEqual(tags["client"], str(index))
                latest = {m["key"]: m for m in body["run"]["data"]["metrics"]}
                self.assertEqual(latest["loss"]["step"], BATCHES * METRICS_PER_BATCH - 1)
            status, body = server.api("POST", "runs/search", {"experiment_ids": [experiment_id], "max_results": 100})
            self.assertEqual(len(body["runs"]), CLIENTS)


if __name__ == "__main__":
    unittest.main()
