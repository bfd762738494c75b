"""The lathe CLI against a live server: tables, --json, errors, --help, config layering and gc."""

import json
import os
import socket
import subprocess
import tempfile
import unittest

import requests

from lathe_server import LATHE_BIN, LatheServer, lathe_cli


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LatheServer().start()
        cls.uri = ["--tracking-uri", cls.server.url]

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def test_experiments(self):
        created = lathe_cli("experiments", "create", "cli-exp", *self.uri)
        self.assertIn("created experiment", created.stdout)
        table = lathe_cli("experiments", "list", *self.uri).stdout
        self.assertIn("cli-exp", table)
        self.assertIn("Default", table)
        listed = json.loads(lathe_cli("experiments", "list", "--json", *self.uri).stdout)
        exp = next(e for e in listed if e["name"] == "cli-exp")
        lathe_cli("experiments", "delete", exp["experiment_id"], *self.uri)
        self.assertNotIn("cli-exp", lathe_cli("experiments", "list", *self.uri).stdout)
        self.assertIn("cli-exp", lathe_cli("experiments", "list", "--view", "deleted", *self.uri).stdout)

    def test_runs_and_models(self):
        _, body = self.server.api("POST", "runs/create", {"experiment_id": "0", "run_name": "cli-run"})
        run_id = body["run"]["info"]["run_id"]
        self.server.api("POST", "runs/log-batch", {"run_id": run_id, "params": [{"key": "alpha", "value": "0.5"}],
                                                   "metrics": [{"key": "rmse", "value": 0.3, "timestamp": 1, "step": 0}]})
        table = lathe_cli("runs", "list", "--experiment-id", "0", "--filter", "metrics.rmse < 1", *self.uri).stdout
        self.assertIn(run_id, table)
        self.assertIn("cli-run", table)
        shown = lathe_cli("runs", "get", run_id, *self.uri).stdout
        self.assertIn("alpha", shown)
        self.assertIn("rmse", shown)
        as_json = json.loads(lathe_cli("runs", "get", run_id, "--json", *self.uri).stdout)
        self.assertEqual(as_json["info"]["run_id"], run_id)

        self.server.api("POST", "registered-models/create", {"name": "cli-model"})
        self.server.api("POST", "model-versions/create", {"name": "cli-model", "source": f"runs:/{run_id}/model"})
        lathe_cli("models", "set-alias", "cli-model", "champion", "1", *self.uri)
        self.assertIn("champion=v1", lathe_cli("models", "list", *self.uri).stdout)
        detail = json.loads(lathe_cli("models", "get", "cli-model", "--json", *self.uri).stdout)
        self.assertEqual(detail["model_versions"][0]["aliases"], ["champion"])
        audit = lathe_cli("audit", "--action", "registered-models/alias", *self.uri).stdout
        self.assertIn("cli-model@champion", audit)
        self.assertIn("anonymous", audit)

        lathe_cli("runs", "delete", run_id, *self.uri)
        status, body = self.server.api("GET", "runs/get", params={"run_id": run_id})
        self.assertEqual(body["run"]["info"]["lifecycle_stage"], "deleted")

    def test_errors_are_one_line(self):
        for args in (["runs", "get", "ffffffffffffffffffffffffffffffff", *self.uri],
                     ["models", "set-alias", "nope", "a", "1", *self.uri],
                     ["experiments", "list", "--tracking-uri", "http://127.0.0.1:1"],
                     ["experiments", "list", "--tracking-uri", "ftp://x"]):
            result = lathe_cli(*args, check=False)
            self.assertNotEqual(result.returncode, 0, args)
            lines = result.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, result.stderr)
            self.assertTrue(lines[0].startswith("lathe: "), lines[0])
        self.assertNotEqual(lathe_cli("runs", "list", check=False).returncode, 0)  # --experiment-id is required

    def test_help(self):
        for command, option in ((["server"], "--data-dir"), (["gc"], "--older-than"), (["experiments", "list"], "--view"),
                                (["runs", "list"], "--filter"), (["models", "set-alias"], "--tracking-uri"),
                                (["audit"], "--actor")):
            result = lathe_cli(*command, "--help")
            self.assertIn(option, result.stdout)


class ConfigLayeringTest(unittest.TestCase):
    def start(self, data_dir, args=(), env=None):
        process = subprocess.Popen([LATHE_BIN, "server", "--data-dir", data_dir, "--log-level", "warn", *args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=data_dir,
                                   env=dict(os.environ, **(env or {})))
        line = process.stdout.readline().decode()
        return process, line

    def stop(self, process):
        process.terminate()
        self.assertEqual(process.wait(timeout=30), 0)
        process.stdout.close()
        process.stderr.close()

    def test_flags_over_env_over_file(self):
        with tempfile.TemporaryDirectory() as data_dir:
            file_port, env_port, flag_port = free_port(), free_port(), free_port()
            with open(os.path.join(data_dir, "lathe.yaml"), "w") as f:
                f.write(f"port: {file_port}\nhost: 127.0.0.1\n")
            process, line = self.start(data_dir)
            self.assertIn(f":{file_port}", line)
            self.stop(process)
            process, line = self.start(data_dir, env={"LATHE_PORT": str(env_port)})
            self.assertIn(f":{env_port}", line)
            self.assertEqual(requests.get(f"http://127.0.0.1:{env_port}/health", timeout=10).text, "OK")
            self.stop(process)
            process, line = self.start(data_dir, ["--port", str(flag_port)], env={"LATHE_PORT": str(env_port)})
            self.assertIn(f":{flag_port}", line)
            self.stop(process)

    def test_bad_config_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as data_dir:
            with open(os.path.join(data_dir, "lathe.yaml"), "w") as f:
                f.write("colour: blue\n")
            result = subprocess.run([LATHE_BIN, "server", "--data-dir", data_dir], capture_output=True, text=True,
                                    cwd=data_dir, timeout=30)
            self.assertEqual(result.returncode, 1)
            self.assertIn("unknown setting 'colour'", result.stderr)
            result = subprocess.run([LATHE_BIN, "server", "--durability", "sometimes"], capture_output=True, text=True,
                                    timeout=30)
            self.assertNotEqual(result.returncode, 0)


class GcTest(unittest.TestCase):
    def test_gc_purges_deleted_runs_and_their_artifacts(self):
        server = LatheServer().start()
        data_dir = server.data_dir
        try:
            _, body = server.api("POST", "experiments/create", {"name": "gc"})
            exp = body["experiment_id"]
            runs = []
            for name in ("purge-me", "referenced", "alive"):
                _, body = server.api("POST", "runs/create", {"experiment_id": exp, "run_name": name})
                run_id = body["run"]["info"]["run_id"]
                runs.append(run_id)
                url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts/data/blob.bin"
                self.assertEqual(requests.put(url, data=b"z" * 5000, timeout=30).status_code, 200)
                server.api("POST", "runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1})
            purge, referenced, alive = runs
            server.api("POST", "registered-models/create", {"name": "kept"})
            server.api("POST", "model-versions/create", {"name": "kept", "source": f"runs:/{referenced}/model",
                                                          "run_id": referenced})
            for run_id in (purge, referenced):
                server.api("POST", "runs/delete", {"run_id": run_id})
            self.assertEqual(server.stop(), 0)  # SIGTERM: graceful, exit 0

            blob = lambda run_id: os.path.join(data_dir, "artifacts", exp, run_id, "artifacts", "data", "blob.bin")
            recent = json.loads(lathe_cli("gc", "--data-dir", data_dir, "--older-than", "30d", "--json").stdout)
            self.assertEqual(recent["purged_runs"], [])
            dry = json.loads(lathe_cli("gc", "--data-dir", data_dir, "--dry-run", "--json").stdout)
            self.assertEqual(dry["purged_runs"], [purge])
            self.assertTrue(os.path.exists(blob(purge)))

            report = json.loads(lathe_cli("gc", "--data-dir", data_dir, "--json").stdout)
            self.assertEqual(report["purged_runs"], [purge])
            self.assertEqual(report["kept_runs"], [referenced])
            self.assertGreaterEqual(report["artifact_bytes_freed"], 5000)
            self.assertFalse(os.path.exists(blob(purge)))
            self.assertTrue(os.path.exists(blob(referenced)))
            self.assertTrue(os.path.exists(blob(alive)))
            human = lathe_cli("gc", "--data-dir", data_dir).stdout
            self.assertIn("kept run", human)

            server.start()
            self.assertEqual(server.api("GET", "runs/get", params={"run_id": purge})[0], 404)
            self.assertEqual(server.api("GET", "runs/get", params={"run_id": referenced})[0], 200)
            status, body = server.api("GET", "metrics/get-history", params={"run_id": alive, "metric_key": "m"})
            self.assertEqual(len(body["metrics"]), 1)
        finally:
            server.stop()
            server.cleanup()

    def test_gc_without_database(self):
        with tempfile.TemporaryDirectory() as empty:
            result = lathe_cli("gc", "--data-dir", empty, check=False)
            self.assertEqual(result.returncode, 1)
            self.assertIn("no Lathe database", result.stderr)
            result = lathe_cli("gc", "--data-dir", empty, "--older-than", "soon", check=False)
            self.assertIn("invalid duration", result.stderr)


if __name__ == "__main__":
    unittest.main()
