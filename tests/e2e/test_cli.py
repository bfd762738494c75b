"""The lathe CLI against a live server: tables, --json, errors, --help, config layering and gc."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import unittest

import requests

from lathe_server import LATHE_BIN, LatheServer

# The environment of every CLI and server process here: no stray LATHE_* settings from outside.
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("LATHE_") or k == "LATHE_BIN"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args, env=None):
    """Runs `lathe` with a clean environment (plus `env`), never raising on failure."""
    return subprocess.run([LATHE_BIN, *args], capture_output=True, text=True, timeout=120,
                          env=dict(CLEAN_ENV, **(env or {})))


def table_rows(text):
    """A printed table as lists of cells (split on runs of 2+ spaces), header first."""
    rows = []
    for line in text.strip().splitlines():
        rows.append([cell for cell in line.split("  ") if cell.strip() != ""])
        rows[-1] = [cell.strip() for cell in rows[-1]]
    return rows


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = LatheServer(env={}).start()
        cls.uri = ["--tracking-uri", cls.server.url]
        api = cls.server.api
        _, body = api("POST", "experiments/create", {"name": "cli-listed"})
        cls.exp = body["experiment_id"]
        cls.runs = {}
        for name, rmse, start in (("cli-first", 0.9, 1700000000000), ("cli-second", 0.1, 1700000060000),
                                  ("cli-third", 0.5, 1700000120000)):
            _, body = api("POST", "runs/create", {"experiment_id": cls.exp, "run_name": name, "start_time": start})
            run_id = body["run"]["info"]["run_id"]
            cls.runs[name] = run_id
            status, _ = api("POST", "runs/log-batch", {
                "run_id": run_id, "params": [{"key": "alpha", "value": f"a-{name}"}],
                "metrics": [{"key": "rmse", "value": rmse, "timestamp": start, "step": 3}],
                "tags": [{"key": "owner", "value": "cli-tester"}]})
            assert status == 200
        api("POST", "registered-models/create", {"name": "cli-model", "description": "the CLI's model"})
        for run_name in ("cli-first", "cli-second"):
            api("POST", "model-versions/create", {"name": "cli-model", "source": f"runs:/{cls.runs[run_name]}/model",
                                                  "run_id": cls.runs[run_name]})
        api("POST", "registered-models/create", {"name": "other-model"})

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.server.cleanup()

    def cli(self, *args):
        result = run_cli(*args, *self.uri)
        self.assertEqual(result.returncode, 0, f"lathe {' '.join(args)}: {result.stderr}")
        return result.stdout

    def cli_json(self, *args):
        return json.loads(self.cli(*args, "--json"))

    def assert_one_line_error(self, result, fragment=None):
        self.assertNotEqual(result.returncode, 0, result.stdout)
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, f"stderr should be one line: {result.stderr!r}")
        self.assertTrue(lines[0].startswith("lathe: "), lines[0])
        if fragment:
            self.assertIn(fragment, lines[0])

    # experiments

    def test_experiments_table_and_json(self):
        rows = table_rows(self.cli("experiments", "list"))
        self.assertEqual(rows[0][:3], ["ID", "NAME", "STAGE"])
        by_id = {row[0]: row for row in rows[1:]}
        self.assertEqual(by_id[self.exp][1:3], ["cli-listed", "active"])
        self.assertEqual(by_id["0"][1], "Default")
        self.assertIn(f"mlflow-artifacts:/{self.exp}", by_id[self.exp])
        listed = self.cli_json("experiments", "list")
        mine = next(e for e in listed if e["name"] == "cli-listed")
        self.assertEqual(mine["experiment_id"], self.exp)
        self.assertIsInstance(mine["creation_time"], int)
        self.assertEqual(mine["lifecycle_stage"], "active")

    def test_experiments_create_and_delete(self):
        out = self.cli("experiments", "create", "cli-created")
        status, body = self.server.api("GET", "experiments/get-by-name", params={"experiment_name": "cli-created"})
        self.assertEqual(status, 200)
        exp = body["experiment"]["experiment_id"]
        self.assertEqual(out.strip(), f"created experiment {exp}")
        created = self.cli_json("experiments", "create", "cli-created-json")
        self.assertEqual(set(created), {"experiment_id"})
        self.assertIsInstance(created["experiment_id"], str)
        status, body = self.server.api("GET", "experiments/get", params={"experiment_id": created["experiment_id"]})
        self.assertEqual(body["experiment"]["name"], "cli-created-json")

        self.assertEqual(self.cli("experiments", "delete", exp).strip(), f"deleted experiment {exp}")
        _, body = self.server.api("GET", "experiments/get", params={"experiment_id": exp})
        self.assertEqual(body["experiment"]["lifecycle_stage"], "deleted")
        active = [e["experiment_id"] for e in self.cli_json("experiments", "list")]
        self.assertNotIn(exp, active)
        deleted = [e["experiment_id"] for e in self.cli_json("experiments", "list", "--view", "deleted")]
        self.assertIn(exp, deleted)
        self.assertNotIn("0", deleted)
        everything = [e["experiment_id"] for e in self.cli_json("experiments", "list", "--view", "all")]
        self.assertTrue({exp, "0", self.exp} <= set(everything), everything)

        self.assert_one_line_error(run_cli("experiments", "create", "cli-listed", *self.uri), "cli-listed")
        self.assert_one_line_error(run_cli("experiments", "delete", "987654", *self.uri), "987654")
        self.assert_one_line_error(run_cli("experiments", "delete", "0", *self.uri))

    # runs

    def test_runs_list(self):
        rows = table_rows(self.cli("runs", "list", "--experiment-id", self.exp))
        self.assertEqual(rows[0], ["RUN ID", "NAME", "EXPERIMENT", "STATUS", "STARTED (UTC)"])
        # Newest first by default, one row per run, with its id, name, experiment and start.
        self.assertEqual([row[1] for row in rows[1:]], ["cli-third", "cli-second", "cli-first"])
        first = next(row for row in rows[1:] if row[1] == "cli-first")
        self.assertEqual(first[0], self.runs["cli-first"])
        self.assertEqual(first[2:], [self.exp, "RUNNING", "2023-11-14 22:13:20"])

        ordered = self.cli_json("runs", "list", "--experiment-id", self.exp, "--order-by", "metrics.rmse ASC")
        self.assertEqual([r["info"]["run_name"] for r in ordered], ["cli-second", "cli-third", "cli-first"])
        filtered = self.cli_json("runs", "list", "--experiment-id", self.exp, "--filter",
                                 "metrics.rmse < 0.6 and params.alpha != 'a-cli-second'")
        self.assertEqual([r["info"]["run_id"] for r in filtered], [self.runs["cli-third"]])
        self.assertEqual(filtered[0]["data"]["params"], [{"key": "alpha", "value": "a-cli-third"}])
        limited = self.cli_json("runs", "list", "--experiment-id", self.exp, "--max-results", "2",
                                "--order-by", "attributes.run_name ASC")
        self.assertEqual([r["info"]["run_name"] for r in limited], ["cli-first", "cli-second"])
        _, in_default = self.server.api("POST", "runs/search", {"experiment_ids": ["0"]})
        both = self.cli_json("runs", "list", "--experiment-id", self.exp, "--experiment-id", "0")
        self.assertEqual(sorted(r["info"]["run_id"] for r in both),
                         sorted(list(self.runs.values()) + [r["info"]["run_id"] for r in in_default.get("runs", [])]))
        nothing = self.cli_json("runs", "list", "--experiment-id", self.exp, "--filter", "metrics.rmse > 5")
        self.assertEqual(nothing, [])

        self.assert_one_line_error(run_cli("runs", "list", "--experiment-id", self.exp, "--filter", "metrics.rmse <",
                                           *self.uri), "Expected numeric value")
        self.assert_one_line_error(run_cli("runs", "list", "--experiment-id", self.exp, "--order-by", "sideways x y",
                                           *self.uri))
        self.assertNotEqual(run_cli("runs", "list", *self.uri).returncode, 0)  # --experiment-id is required
        result = run_cli("runs", "list", "--experiment-id", self.exp, "--max-results", "0", *self.uri)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("--max-results", result.stderr)

    def test_runs_get(self):
        run_id = self.runs["cli-second"]
        out = self.cli("runs", "get", run_id)
        self.assertIn(f"run {run_id} (cli-second)", out)
        self.assertIn(f"experiment {self.exp}, status RUNNING", out)
        self.assertIn(f"artifacts mlflow-artifacts:/{self.exp}/{run_id}/artifacts", out)
        rows = table_rows(out.split("\n\n", 1)[1])
        self.assertEqual(rows[0], ["KIND", "KEY", "VALUE", "STEP"])
        self.assertIn(["param", "alpha", "a-cli-second"], rows)
        self.assertIn(["metric", "rmse", "0.1", "3"], rows)
        self.assertIn(["tag", "owner", "cli-tester"], rows)
        self.assertIn(["tag", "mlflow.runName", "cli-second"], rows)

        as_json = self.cli_json("runs", "get", run_id)
        _, api_body = self.server.api("GET", "runs/get", params={"run_id": run_id})
        self.assertEqual(as_json, api_body["run"])

        self.assert_one_line_error(run_cli("runs", "get", "ffffffffffffffffffffffffffffffff", *self.uri),
                                   "ffffffffffffffffffffffffffffffff")

    def test_runs_delete(self):
        _, body = self.server.api("POST", "experiments/create", {"name": "cli-runs-delete"})
        exp = body["experiment_id"]
        _, body = self.server.api("POST", "runs/create", {"experiment_id": exp, "run_name": "cli-doomed"})
        run_id = body["run"]["info"]["run_id"]
        self.assertEqual(self.cli("runs", "delete", run_id).strip(), f"deleted run {run_id}")
        _, body = self.server.api("GET", "runs/get", params={"run_id": run_id})
        self.assertEqual(body["run"]["info"]["lifecycle_stage"], "deleted")
        self.assertEqual(self.cli_json("runs", "list", "--experiment-id", exp), [])
        self.server.api("POST", "runs/restore", {"run_id": run_id})
        self.assertEqual(self.cli_json("runs", "delete", run_id), {})
        self.assert_one_line_error(run_cli("runs", "delete", "0123456789abcdef0123456789abcdef", *self.uri),
                                   "0123456789abcdef0123456789abcdef")

    # models

    def test_models(self):
        out = self.cli("models", "set-alias", "cli-model", "champion", "2")
        self.assertEqual(out.strip(), "cli-model@champion -> version 2")
        status, body = self.server.api("GET", "registered-models/alias", params={"name": "cli-model", "alias": "champion"})
        self.assertEqual((status, body["model_version"]["version"]), (200, "2"))
        self.assertEqual(self.cli_json("models", "set-alias", "cli-model", "challenger", "1"), {})

        rows = table_rows(self.cli("models", "list"))
        self.assertEqual(rows[0], ["NAME", "LATEST VERSIONS", "ALIASES", "UPDATED (UTC)"])
        row = next(r for r in rows[1:] if r[0] == "cli-model")
        self.assertEqual(row[1], "None:v2")
        self.assertIn("champion=v2", row[2])
        self.assertIn("challenger=v1", row[2])
        self.assertTrue(any(r[0] == "other-model" for r in rows[1:]), rows)

        models = self.cli_json("models", "list")
        self.assertEqual(sorted(m["name"] for m in models if m["name"] in ("cli-model", "other-model")), ["cli-model", "other-model"])
        filtered = self.cli_json("models", "list", "--filter", "name LIKE 'cli-%'")
        self.assertEqual([m["name"] for m in filtered], ["cli-model"])
        self.assertEqual(sorted((a["alias"], a["version"]) for a in filtered[0]["aliases"]),
                         [("challenger", "1"), ("champion", "2")])

        detail = self.cli_json("models", "get", "cli-model")
        self.assertEqual(detail["registered_model"]["name"], "cli-model")
        self.assertEqual(detail["registered_model"]["description"], "the CLI's model")
        versions = {v["version"]: v for v in detail["model_versions"]}
        self.assertEqual(set(versions), {"1", "2"})
        self.assertEqual(versions["2"]["aliases"], ["champion"])
        self.assertEqual(versions["1"]["run_id"], self.runs["cli-first"])

        out = self.cli("models", "get", "cli-model")
        self.assertTrue(out.startswith("model cli-model\nthe CLI's model\n"), out)
        rows = table_rows(out.split("\n\n", 1)[1])
        self.assertEqual(rows[0], ["VERSION", "STAGE", "ALIASES", "RUN", "SOURCE"])
        v1 = next(r for r in rows[1:] if r[0] == "1")
        self.assertEqual(v1, ["1", "None", "challenger", self.runs["cli-first"], f"runs:/{self.runs['cli-first']}/model"])

        # Names with quotes and LIKE wildcards are just names.
        odd = "it's 50%_off"
        self.server.api("POST", "registered-models/create", {"name": odd})
        self.server.api("POST", "model-versions/create", {"name": odd, "source": "runs:/x/odd"})
        detail = self.cli_json("models", "get", odd)
        self.assertEqual(detail["registered_model"]["name"], odd)
        self.assertEqual([(v["name"], v["version"]) for v in detail["model_versions"]], [(odd, "1")])
        self.assertEqual(self.cli("models", "set-alias", odd, "best", "1").strip(), f"{odd}@best -> version 1")

        self.assert_one_line_error(run_cli("models", "get", "no-such-model", *self.uri), "no-such-model")
        self.assert_one_line_error(run_cli("models", "set-alias", "cli-model", "x", "99", *self.uri))
        self.assert_one_line_error(run_cli("models", "set-alias", "cli-model", "bad alias!", "1", *self.uri), "alias")
        self.assert_one_line_error(run_cli("models", "set-alias", "nope", "a", "1", *self.uri), "nope")

    # audit

    def test_audit(self):
        _, body = self.server.api("POST", "runs/create", {"experiment_id": "0", "run_name": "cli-audited"})
        run_id = body["run"]["info"]["run_id"]
        requests.post(self.server.url + "/api/2.0/mlflow/runs/set-tag", timeout=30, headers={"X-Request-Id": "cli-req-7"},
                      json={"run_id": run_id, "key": "k", "value": "v"}).raise_for_status()
        entries = self.cli_json("audit", "--object-id", run_id)
        self.assertEqual([e["action"] for e in entries], ["runs/set-tag", "runs/create"])
        self.assertEqual(entries[0]["request_id"], "cli-req-7")
        self.assertEqual({e["actor"] for e in entries}, {"anonymous"})
        self.assertEqual({e["object_type"] for e in entries}, {"run"})
        self.assertEqual(set(entries[0]), {"id", "time", "actor", "action", "object_type", "object_id", "request_id"})

        only_one = self.cli_json("audit", "--action", "runs/create", "--limit", "1")
        self.assertEqual(len(only_one), 1)
        self.assertEqual(only_one[0]["object_id"], run_id)  # newest first
        self.assertEqual(self.cli_json("audit", "--actor", "mallory"), [])
        self.assertGreater(len(self.cli_json("audit", "--actor", "anonymous")), 5)

        rows = table_rows(self.cli("audit", "--object-id", run_id))
        self.assertEqual(rows[0], ["TIME (UTC)", "ACTOR", "ACTION", "OBJECT", "REQUEST ID"])
        self.assertEqual(rows[1][1:], ["anonymous", "runs/set-tag", f"run {run_id}", "cli-req-7"])
        self.assertEqual(rows[2][1:4], ["anonymous", "runs/create", f"run {run_id}"])
        # The CLI's own writes are audited too.
        self.server.api("POST", "model-versions/create", {"name": "other-model", "source": "runs:/x/m"})
        self.cli("models", "set-alias", "other-model", "audited", "1")
        entries = self.cli_json("audit", "--action", "registered-models/alias", "--limit", "1")
        self.assertEqual(entries[0]["object_id"], "other-model@audited")

        result = run_cli("audit", "--limit", "0", *self.uri)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("--limit", result.stderr)

    # connection errors and the environment

    def test_connection_errors_are_one_line(self):
        port = free_port()  # nothing listens there any more
        for uri, fragment in ((f"http://127.0.0.1:{port}", str(port)), ("ftp://x", "ftp://x"), ("not a url", None),
                              ("http://", None), ("http://127.0.0.1:99999", None), ("", None)):
            for command in (["experiments", "list"], ["runs", "get", "abc"], ["models", "list"], ["audit"]):
                with self.subTest(uri=uri, command=command[0]):
                    result = run_cli(*command, "--tracking-uri", uri)
                    self.assert_one_line_error(result, fragment)

    def test_tracking_uri_from_the_environment(self):
        result = run_cli("experiments", "list", "--json", env={"LATHE_TRACKING_URI": self.server.url})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("cli-listed", [e["name"] for e in json.loads(result.stdout)])
        # The flag wins over the environment, for every command.
        elsewhere = {"LATHE_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
        for command in (["audit"], ["experiments", "list"], ["runs", "list", "--experiment-id", "0"], ["models", "list"],
                        ["runs", "get", self.runs["cli-first"]], ["models", "get", "cli-model"]):
            with self.subTest(command=command):
                result = run_cli(*command, "--json", "--tracking-uri", self.server.url, env=elsewhere)
                self.assertEqual(result.returncode, 0, f"LATHE_TRACKING_URI overrode --tracking-uri: {result.stderr}")

    def test_help(self):
        for command, options in ((["server"], ["--host", "--port", "--data-dir", "--max-body-bytes", "--config"]),
                                 (["gc"], ["--data-dir", "--older-than", "--dry-run", "--json"]),
                                 (["experiments", "list"], ["--view", "--tracking-uri", "--json"]),
                                 (["experiments", "create"], ["--artifact-location", "--tracking-uri", "--json"]),
                                 (["experiments", "delete"], ["experiment_id", "--tracking-uri"]),
                                 (["runs", "list"], ["--experiment-id", "--filter", "--order-by", "--max-results", "--json"]),
                                 (["runs", "get"], ["run_id", "--tracking-uri", "--json"]),
                                 (["runs", "delete"], ["run_id", "--tracking-uri"]),
                                 (["models", "list"], ["--filter", "--tracking-uri", "--json"]),
                                 (["models", "get"], ["name", "--tracking-uri", "--json"]),
                                 (["models", "set-alias"], ["alias", "version", "--tracking-uri"]),
                                 (["audit"], ["--actor", "--action", "--object-id", "--limit", "--json"])):
            with self.subTest(command=command):
                result = run_cli(*command, "--help")
                self.assertEqual(result.returncode, 0, result.stderr)
                for option in options:
                    self.assertIn(option, result.stdout)
        top = run_cli("--help")
        self.assertEqual(top.returncode, 0)
        for sub in ("server", "gc", "experiments", "runs", "models", "audit"):
            self.assertIn(sub, top.stdout)
        self.assertNotEqual(run_cli("experiments").returncode, 0)  # a subcommand is required
        self.assertNotEqual(run_cli("nonsense").returncode, 0)
        version = run_cli("--version")
        self.assertEqual(version.returncode, 0)
        self.assertRegex(version.stdout, r"\d+\.\d+\.\d+")


class ConfigLayeringTest(unittest.TestCase):
    def start(self, data_dir, args=(), env=None):
        process = subprocess.Popen([LATHE_BIN, "server", "--data-dir", data_dir, "--log-level", "warn", *args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=data_dir,
                                   env=dict(CLEAN_ENV, **(env or {})))
        line = process.stdout.readline().decode()
        return process, line

    def stop(self, process):
        process.terminate()
        self.assertEqual(process.wait(timeout=30), 0)  # SIGTERM is a clean exit
        process.stdout.close()
        process.stderr.close()

    def assert_serves_on(self, port, line):
        self.assertIn(f"http://127.0.0.1:{port} ", line)
        self.assertEqual(requests.get(f"http://127.0.0.1:{port}/health", timeout=10).text, "OK")

    def test_flags_over_env_over_file(self):
        with tempfile.TemporaryDirectory() as data_dir:
            file_port, env_port, flag_port = free_port(), free_port(), free_port()
            with open(os.path.join(data_dir, "lathe.yaml"), "w") as f:
                f.write(f"port: {file_port}\nhost: 127.0.0.1\nlog_level: warn\n")
            process, line = self.start(data_dir)
            try:
                self.assert_serves_on(file_port, line)
            finally:
                self.stop(process)
            process, line = self.start(data_dir, env={"LATHE_PORT": str(env_port)})
            try:
                self.assert_serves_on(env_port, line)
                with self.assertRaises(requests.ConnectionError):
                    requests.get(f"http://127.0.0.1:{file_port}/health", timeout=5)
            finally:
                self.stop(process)
            process, line = self.start(data_dir, ["--port", str(flag_port)], env={"LATHE_PORT": str(env_port)})
            try:
                self.assert_serves_on(flag_port, line)
                with self.assertRaises(requests.ConnectionError):
                    requests.get(f"http://127.0.0.1:{env_port}/health", timeout=5)
            finally:
                self.stop(process)
            # --config names another file explicitly, in place of ./lathe.yaml.
            other_port = free_port()
            other = os.path.join(data_dir, "other.yaml")
            with open(other, "w") as f:
                f.write(f"port: {other_port}\n")
            process, line = self.start(data_dir, ["--config", other])
            try:
                self.assert_serves_on(other_port, line)
            finally:
                self.stop(process)

    def test_bad_config_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as data_dir:
            for content, fragment in (("colour: blue\n", "unknown setting 'colour'"),
                                      ("port: [1, 2]\n", "'port'"),
                                      ("port: lots\n", "port"),
                                      ("- just\n- a list\n", "mapping"),
                                      ("port: 80\n  bad: indent\n", "lathe.yaml")):
                with self.subTest(content=content):
                    with open(os.path.join(data_dir, "lathe.yaml"), "w") as f:
                        f.write(content)
                    result = subprocess.run([LATHE_BIN, "server", "--data-dir", data_dir], capture_output=True, text=True,
                                            cwd=data_dir, timeout=30, env=CLEAN_ENV)
                    self.assertEqual(result.returncode, 1, result.stdout)
                    lines = result.stderr.strip().splitlines()
                    self.assertTrue(lines and lines[-1].startswith("lathe: "), result.stderr)
                    self.assertIn(fragment, result.stderr)
            result = subprocess.run([LATHE_BIN, "server", "--config", os.path.join(data_dir, "missing.yaml")],
                                    capture_output=True, text=True, cwd=data_dir, timeout=30, env=CLEAN_ENV)
            self.assertEqual(result.returncode, 1)
            self.assertIn("missing.yaml", result.stderr)
            result = subprocess.run([LATHE_BIN, "server", "--durability", "sometimes"], capture_output=True, text=True,
                                    timeout=30, env=CLEAN_ENV, cwd=data_dir)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("--durability", result.stderr)


class GcTest(unittest.TestCase):
    def put(self, server, exp, run_id, name, data):
        url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run_id}/artifacts/{name}"
        response = requests.put(url, data=data, timeout=30)
        self.assertEqual(response.status_code, 200, response.text)

    def gc(self, data_dir, *args):
        result = run_cli("gc", "--data-dir", data_dir, *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def test_gc_purges_deleted_runs_and_their_artifacts(self):
        server = LatheServer(env={}).start()
        data_dir = server.data_dir
        try:
            _, body = server.api("POST", "experiments/create", {"name": "gc"})
            exp = body["experiment_id"]
            _, body = server.api("POST", "experiments/create", {"name": "gc-doomed"})
            doomed_exp = body["experiment_id"]
            runs = {}
            for name, experiment in (("purge-me", exp), ("referenced", exp), ("alive", exp), ("in-doomed", doomed_exp)):
                _, body = server.api("POST", "runs/create", {"experiment_id": experiment, "run_name": name})
                run_id = body["run"]["info"]["run_id"]
                runs[name] = run_id
                self.put(server, experiment, run_id, "data/blob.bin", b"z" * 5000)
                self.put(server, experiment, run_id, "model/MLmodel", b"artifact_path: model\n")
                status, _ = server.api("POST", "runs/log-batch", {
                    "run_id": run_id, "metrics": [{"key": "m", "value": 1, "timestamp": 1}],
                    "params": [{"key": "p", "value": "v"}], "tags": [{"key": "t", "value": "v"}]})
                self.assertEqual(status, 200)
            per_run_bytes = 5000 + len(b"artifact_path: model\n")
            purge, referenced, alive, in_doomed = runs["purge-me"], runs["referenced"], runs["alive"], runs["in-doomed"]
            server.api("POST", "registered-models/create", {"name": "kept"})
            status, _ = server.api("POST", "model-versions/create", {
                "name": "kept", "source": f"mlflow-artifacts:/{exp}/{referenced}/artifacts/model", "run_id": referenced})
            self.assertEqual(status, 200)
            for run_id in (purge, referenced):
                self.assertEqual(server.api("POST", "runs/delete", {"run_id": run_id})[0], 200)
            self.assertEqual(server.api("POST", "experiments/delete", {"experiment_id": doomed_exp})[0], 200)
            self.assertEqual(server.stop(), 0)  # SIGTERM: graceful, exit 0

            def run_dir(experiment, run_id):
                return os.path.join(data_dir, "artifacts", experiment, run_id)

            def blob(experiment, run_id):
                return os.path.join(run_dir(experiment, run_id), "artifacts", "data", "blob.bin")

            all_blobs = [blob(exp, purge), blob(exp, referenced), blob(exp, alive), blob(doomed_exp, in_doomed)]
            for path in all_blobs:
                self.assertTrue(os.path.exists(path), path)

            # Deleted seconds ago: --older-than 30d leaves everything.
            recent = json.loads(self.gc(data_dir, "--older-than", "30d", "--json"))
            self.assertEqual(recent["purged_runs"], [])
            self.assertEqual(recent["purged_experiments"], [])
            self.assertEqual(recent["artifact_bytes_freed"], 0)
            self.assertFalse(recent["dry_run"])

            # A dry run reports, removes nothing.
            dry = json.loads(self.gc(data_dir, "--dry-run", "--json"))
            self.assertEqual(set(dry), {"dry_run", "purged_runs", "purged_experiments", "kept_runs", "artifact_bytes_freed",
                                        "artifact_errors"})
            self.assertTrue(dry["dry_run"])
            self.assertEqual(sorted(dry["purged_runs"]), sorted([purge, in_doomed]))
            self.assertEqual([str(e) for e in dry["purged_experiments"]], [doomed_exp])
            self.assertEqual(dry["kept_runs"], [referenced])
            self.assertEqual(dry["artifact_bytes_freed"], 0)
            for path in all_blobs:
                self.assertTrue(os.path.exists(path), path)
            human_dry = self.gc(data_dir, "--dry-run")
            self.assertIn("[dry run] 2 run(s) and 1 experiment(s) purged", human_dry)
            for path in all_blobs:
                self.assertTrue(os.path.exists(path), path)

            report = json.loads(self.gc(data_dir, "--json"))
            self.assertFalse(report["dry_run"])
            self.assertEqual(sorted(report["purged_runs"]), sorted([purge, in_doomed]))
            self.assertEqual([str(e) for e in report["purged_experiments"]], [doomed_exp])
            self.assertEqual(report["kept_runs"], [referenced])
            self.assertEqual(report["artifact_errors"], [])
            self.assertEqual(report["artifact_bytes_freed"], 2 * per_run_bytes)
            for gone in (run_dir(exp, purge), run_dir(doomed_exp, in_doomed)):
                files = [os.path.join(d, f) for d, _, names in os.walk(gone) for f in names]
                self.assertEqual(files, [], f"artifact files left behind in {gone}")
            self.assertTrue(os.path.exists(blob(exp, referenced)))
            self.assertTrue(os.path.exists(blob(exp, alive)))

            # Idempotent: a second pass finds nothing more, and still keeps the referenced run.
            again = json.loads(self.gc(data_dir, "--json"))
            self.assertEqual((again["purged_runs"], again["purged_experiments"], again["kept_runs"]), ([], [], [referenced]))
            human = self.gc(data_dir)
            self.assertIn("0 run(s) and 0 experiment(s) purged", human)
            self.assertIn(f"kept run {referenced}", human)

            server.start()
            for run_id in (purge, in_doomed):
                status, body = server.api("GET", "runs/get", params={"run_id": run_id})
                self.assertEqual(status, 404, body)
                self.assertEqual(body["error_code"], "RESOURCE_DOES_NOT_EXIST")
                self.assertEqual(server.api("GET", "metrics/get-history", params={"run_id": run_id, "metric_key": "m"})[0], 404)
            self.assertEqual(server.api("GET", "experiments/get", params={"experiment_id": doomed_exp})[0], 404)
            # Its name is free again.
            self.assertEqual(server.api("POST", "experiments/create", {"name": "gc-doomed"})[0], 200)
            status, body = server.api("GET", "runs/get", params={"run_id": referenced})
            self.assertEqual(status, 200)
            self.assertEqual(body["run"]["info"]["lifecycle_stage"], "deleted")
            self.assertEqual(body["run"]["data"]["params"], [{"key": "p", "value": "v"}])
            status, body = server.api("GET", "model-versions/get", params={"name": "kept", "version": "1"})
            self.assertEqual((status, body["model_version"]["run_id"]), (200, referenced))
            status, body = server.api("GET", "metrics/get-history", params={"run_id": alive, "metric_key": "m"})
            self.assertEqual(len(body["metrics"]), 1)
            status, body = server.api("POST", "runs/search", {"experiment_ids": [exp], "run_view_type": "ALL"})
            self.assertEqual(sorted(r["info"]["run_id"] for r in body["runs"]), sorted([referenced, alive]))
            # The referenced run's artifacts still download; the purged run's do not.
            url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{exp}"
            self.assertEqual(requests.get(f"{url}/{referenced}/artifacts/data/blob.bin", timeout=30).content, b"z" * 5000)
            self.assertEqual(requests.get(f"{url}/{purge}/artifacts/data/blob.bin", timeout=30).status_code, 404)
            # gc's deletions are in the audit log.
            response = requests.get(server.url + "/api/lathe/audit", params={"object_id": purge}, timeout=30).json()
            self.assertEqual(response["entries"][0]["actor"], "cli")
            self.assertEqual(response["entries"][0]["action"], "gc")
        finally:
            server.stop()
            server.cleanup()

    def test_gc_keeps_referenced_experiments_and_foreign_files(self):
        outside = tempfile.mkdtemp(prefix="lathe-outside-")
        server = LatheServer(env={}).start()
        data_dir = server.data_dir
        try:
            # An experiment whose deleted run a model version still uses: neither goes.
            _, body = server.api("POST", "experiments/create", {"name": "gc-referenced"})
            exp = body["experiment_id"]
            _, body = server.api("POST", "runs/create", {"experiment_id": exp})
            used = body["run"]["info"]["run_id"]
            server.api("POST", "registered-models/create", {"name": "uses-it"})
            server.api("POST", "model-versions/create", {"name": "uses-it", "source": f"runs:/{used}/model", "run_id": used})
            # An experiment whose artifacts live outside the server's store: gc must not touch them.
            _, body = server.api("POST", "experiments/create", {"name": "gc-foreign", "artifact_location": outside})
            foreign_exp = body["experiment_id"]
            _, body = server.api("POST", "runs/create", {"experiment_id": foreign_exp})
            foreign = body["run"]["info"]["run_id"]
            self.assertTrue(body["run"]["info"]["artifact_uri"].startswith(outside), body)
            keep = os.path.join(outside, foreign, "artifacts", "keep.txt")
            os.makedirs(os.path.dirname(keep))
            with open(keep, "w") as f:
                f.write("not the server's to delete")
            for experiment in (exp, foreign_exp):
                self.assertEqual(server.api("POST", "experiments/delete", {"experiment_id": experiment})[0], 200)
            self.assertEqual(server.stop(), 0)

            report = json.loads(self.gc(data_dir, "--json"))
            self.assertEqual(report["kept_runs"], [used])
            self.assertNotIn(exp, [str(e) for e in report["purged_experiments"]])
            self.assertTrue(os.path.exists(keep), "gc deleted a file outside the artifact store")
            if foreign in report["purged_runs"]:
                self.assertTrue(any(outside in error for error in report["artifact_errors"]), report)

            server.start()
            status, body = server.api("GET", "experiments/get", params={"experiment_id": exp})
            self.assertEqual((status, body["experiment"]["lifecycle_stage"]), (200, "deleted"))
            self.assertEqual(server.api("GET", "runs/get", params={"run_id": used})[0], 200)
        finally:
            server.stop()
            server.cleanup()
            shutil.rmtree(outside, ignore_errors=True)

    def test_gc_errors(self):
        with tempfile.TemporaryDirectory() as empty:
            result = run_cli("gc", "--data-dir", empty)
            self.assertEqual(result.returncode, 1)
            self.assertEqual(result.stderr.strip().splitlines(), [f"lathe: no Lathe database in {empty}"])
            self.assertFalse(os.path.exists(os.path.join(empty, "lathe.db")))  # gc never creates a database
            for duration in ("soon", "30", "-1d", "30x", "d"):
                with self.subTest(duration=duration):
                    result = run_cli("gc", "--data-dir", empty, "--older-than", duration)
                    self.assertEqual(result.returncode, 1)
                    self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                    self.assertIn("invalid duration", result.stderr)


if __name__ == "__main__":
    unittest.main()
