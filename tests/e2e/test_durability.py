"""Acknowledged writes survive SIGKILL of the server; a log-batch lands wholly or not at all."""

import threading
import time
import unittest

import requests

from lathe_server import LatheServer

CLIENTS = 16
BATCH_SIZE = 10


class Client(threading.Thread):
    def __init__(self, server, run_id, stop):
        super().__init__(daemon=True)
        self.url = server.url + "/api/2.0/mlflow/runs/"
        self.run_id = run_id
        self.stop_event = stop
        self.acked_steps = []        # single log-metric calls answered 200
        self.attempted_batches = []  # batch keys sent, answered or not
        self.acked_batches = []      # batch keys answered 200

    def run(self):
        session = requests.Session()
        step = 0
        while not self.stop_event.is_set():
            try:
                response = session.post(self.url + "log-metric", timeout=10, json={
                    "run_id": self.run_id, "key": "single", "value": step * 0.5,
                    "timestamp": 1700000000000 + step, "step": step})
                if response.status_code == 200:
                    self.acked_steps.append(step)
                batch_key = f"batch_{step}"
                self.attempted_batches.append(batch_key)
                response = session.post(self.url + "log-batch", timeout=10, json={
                    "run_id": self.run_id,
                    "metrics": [{"key": batch_key, "value": i, "timestamp": 1700000000000, "step": i}
                                for i in range(BATCH_SIZE)]})
                if response.status_code == 200:
                    self.acked_batches.append(batch_key)
            except requests.RequestException:
                return  # the server is gone
            step += 1


class DurabilityTest(unittest.TestCase):
    def check_sigkill(self, extra_args):
        server = LatheServer(extra_args=extra_args).start()
        try:
            status, body = server.api("POST", "experiments/create", {"name": "durability"})
            self.assertEqual(status, 200, body)
            experiment_id = body["experiment_id"]
            run_ids = []
            for i in range(CLIENTS):
                status, body = server.api("POST", "runs/create", {"experiment_id": experiment_id, "run_name": f"r{i}"})
                self.assertEqual(status, 200, body)
                run_ids.append(body["run"]["info"]["run_id"])
            stop = threading.Event()
            clients = [Client(server, run_id, stop) for run_id in run_ids]
            for client in clients:
                client.start()
            time.sleep(3)
            server.kill()  # SIGKILL while every client is mid-flight
            stop.set()
            for client in clients:
                client.join(timeout=30)
            total_acked = sum(len(c.acked_steps) for c in clients)
            self.assertGreater(total_acked, CLIENTS, "the clients logged almost nothing before the kill")

            server.start()
            session = requests.Session()
            for client in clients:
                status, body = server.api("GET", "metrics/get-history",
                                          params={"run_id": client.run_id, "metric_key": "single"}, session=session)
                self.assertEqual(status, 200, body)
                stored = {m["step"] for m in body.get("metrics", [])}
                missing = set(client.acked_steps) - stored
                self.assertFalse(missing, f"acknowledged steps lost after SIGKILL: {sorted(missing)[:10]}")
                for batch_key in client.attempted_batches:
                    status, body = server.api("GET", "metrics/get-history",
                                              params={"run_id": client.run_id, "metric_key": batch_key},
                                              session=session)
                    self.assertEqual(status, 200, body)
                    count = len(body.get("metrics", []))
                    self.assertIn(count, (0, BATCH_SIZE), f"batch {batch_key} is partly stored: {count} points")
                    if batch_key in client.acked_batches:
                        self.assertEqual(count, BATCH_SIZE, f"acknowledged batch {batch_key} lost")
        finally:
            server.stop()
            server.cleanup()

    def test_sigkill_default_durability(self):
        self.check_sigkill([])

    def test_sigkill_full_durability(self):
        self.check_sigkill(["--durability", "full"])


if __name__ == "__main__":
    unittest.main()
