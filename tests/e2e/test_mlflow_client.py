"""The real MLflow Python client against `lathe server`, unchanged.

MLflow is not packaged by Debian and its code is not part of this repository: set
LATHE_MLFLOW_SOURCE to a checkout of MLflow 2.12.2 (its top directory, holding `mlflow/`) to run
these; without it they are skipped and say so. The committed raw-HTTP tests cover the same calls.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

from lathe_server import LatheServer

MLFLOW_SOURCE = os.environ.get("LATHE_MLFLOW_SOURCE")

CLIENT_SCRIPT = textwrap.dedent(r'''
    import json, os, sys, tempfile
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.entities import Metric, Param, RunTag

    mlflow.set_tracking_uri(os.environ["TRACKING_URI"])
    client = MlflowClient()
    results = {}

    experiment_id = mlflow.create_experiment("compat", tags={"team": "ml"})
    mlflow.set_experiment("compat")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"beta": "x", "gamma": 3})
        for step in range(5):
            mlflow.log_metric("rmse", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"mae": 0.25, "r2": 0.9})
        mlflow.set_tag("stage", "dev")
        mlflow.set_tags({"owner": "me"})
        mlflow.log_dict({"a": [1, 2, 3]}, "config/params.json")
        path = os.path.join(tempfile.mkdtemp(), "notes.txt")
        with open(path, "w") as f:
            f.write("hello artifacts")
        mlflow.log_artifact(path)
        mlflow.log_artifact(path, artifact_path="docs")
        run_id = run.info.run_id
    client.log_batch(run_id, metrics=[Metric("batch_m", i, 1700000000000 + i, i) for i in range(100)],
                     params=[Param("batch_p", "v")], tags=[RunTag("batch_t", "t")])

    fetched = client.get_run(run_id)
    results["params"] = fetched.data.params
    results["metrics"] = fetched.data.metrics
    results["tags_stage"] = fetched.data.tags.get("stage")
    results["run_name"] = fetched.info.run_name
    results["status"] = fetched.info.status
    results["history"] = [(m.step, m.value) for m in client.get_metric_history(run_id, "rmse")]
    results["batch_history_len"] = len(client.get_metric_history(run_id, "batch_m"))
    results["artifacts"] = sorted(f.path for f in client.list_artifacts(run_id))
    results["artifacts_docs"] = sorted(f.path for f in client.list_artifacts(run_id, "docs"))
    results["loaded_dict"] = mlflow.artifacts.load_dict(f"runs:/{run_id}/config/params.json")
    download_dir = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="docs")
    with open(os.path.join(download_dir, "notes.txt")) as f:
        results["downloaded"] = f.read()

    with mlflow.start_run(run_name="second"):
        mlflow.log_metric("rmse", 0.05)
        mlflow.log_param("alpha", 0.9)
    runs = client.search_runs([experiment_id], filter_string="metrics.rmse < 0.5 and params.alpha = '0.9'",
                              order_by=["metrics.rmse ASC"], max_results=100)
    results["search_names"] = [r.info.run_name for r in runs]
    frame = mlflow.search_runs(experiment_ids=[experiment_id], order_by=["metrics.rmse DESC"])
    results["pandas_rows"] = len(frame)
    results["pandas_has_metric_column"] = "metrics.rmse" in frame.columns

    try:
        client.get_run("0" * 32)
    except MlflowException as e:
        results["missing_run_error"] = e.error_code
    try:
        mlflow.create_experiment("compat")
    except MlflowException as e:
        results["duplicate_experiment_error"] = e.error_code
    try:
        client.log_param(run_id, "alpha", 0.7)
    except MlflowException as e:
        results["param_change_error"] = e.error_code

    client.delete_run(run_id)
    results["deleted_stage"] = client.get_run(run_id).info.lifecycle_stage
    client.restore_run(run_id)
    results["restored_stage"] = client.get_run(run_id).info.lifecycle_stage
    other = client.create_experiment("to-delete")
    client.delete_experiment(other)
    results["deleted_experiment"] = client.get_experiment(other).lifecycle_stage
    client.restore_experiment(other)
    client.rename_experiment(other, "renamed")
    results["renamed"] = client.get_experiment_by_name("renamed").experiment_id == other

    version = mlflow.register_model(f"runs:/{run_id}/model", "churn")
    results["version"] = version.version
    client.create_model_version("churn", f"runs:/{run_id}/model", run_id)
    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "champion", "2")
    results["alias_version"] = client.get_model_version_by_alias("churn", "champion").version
    client.transition_model_version_stage("churn", "1", "Production")
    results["latest_production"] = [v.version for v in client.get_latest_versions("churn", stages=["Production"])]
    client.set_registered_model_tag("churn", "task", "classification")
    client.set_model_version_tag("churn", "1", "validated", "yes")
    client.update_registered_model("churn", description="churn model")
    model = client.get_registered_model("churn")
    results["model_tags"] = model.tags
    results["model_aliases"] = model.aliases
    results["model_description"] = model.description
    results["version_tags"] = client.get_model_version("churn", "1").tags
    results["search_versions"] = sorted(v.version for v in client.search_model_versions("name='churn'"))
    client.rename_registered_model("churn", "churn-v2")
    results["renamed_model"] = client.get_registered_model("churn-v2").name
    results["download_uri"] = client.get_model_version_download_uri("churn-v2", "1")
    client.delete_registered_model_alias("churn-v2", "champion")
    client.delete_model_version("churn-v2", "2")
    try:
        client.get_model_version("churn-v2", "2")
    except MlflowException as e:
        results["deleted_version_error"] = e.error_code
    client.delete_registered_model("churn-v2")
    results["models_left"] = len(client.search_registered_models())
    print(json.dumps(results))
''')


@unittest.skipUnless(MLFLOW_SOURCE, "LATHE_MLFLOW_SOURCE is not set: the real MLflow client is not available")
class MlflowClientTest(unittest.TestCase):
    def test_mlflow_client_end_to_end(self):
        with LatheServer() as server:
            with tempfile.TemporaryDirectory() as home:
                env = dict(os.environ, TRACKING_URI=server.url, PYTHONPATH=MLFLOW_SOURCE, HOME=home,
                           MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", GIT_PYTHON_REFRESH="quiet")
                result = subprocess.run(["/usr/bin/python3", "-c", CLIENT_SCRIPT], capture_output=True, text=True,
                                        env=env, cwd=home, timeout=300)
            self.assertEqual(result.returncode, 0, result.stderr[-4000:])
            r = json.loads(result.stdout.strip().splitlines()[-1])
        self.assertEqual(r["params"], {"alpha": "0.5", "beta": "x", "gamma": "3", "batch_p": "v"})
        self.assertAlmostEqual(r["metrics"]["rmse"], 0.2)
        self.assertEqual(r["metrics"]["mae"], 0.25)
        self.assertEqual(r["tags_stage"], "dev")
        self.assertEqual(r["run_name"], "first")
        self.assertEqual(r["status"], "FINISHED")
        self.assertEqual([s for s, _ in r["history"]], [0, 1, 2, 3, 4])
        self.assertEqual(r["batch_history_len"], 100)
        self.assertEqual(r["artifacts"], ["config", "docs", "notes.txt"])
        self.assertEqual(r["artifacts_docs"], ["docs/notes.txt"])
        self.assertEqual(r["loaded_dict"], {"a": [1, 2, 3]})
        self.assertEqual(r["downloaded"], "hello artifacts")
        self.assertEqual(r["search_names"], ["second"])
        self.assertEqual(r["pandas_rows"], 2)
        self.assertTrue(r["pandas_has_metric_column"])
        self.assertEqual(r["missing_run_error"], "RESOURCE_DOES_NOT_EXIST")
        self.assertEqual(r["duplicate_experiment_error"], "RESOURCE_ALREADY_EXISTS")
        self.assertEqual(r["param_change_error"], "INVALID_PARAMETER_VALUE")
        self.assertEqual((r["deleted_stage"], r["restored_stage"]), ("deleted", "active"))
        self.assertEqual(r["deleted_experiment"], "deleted")
        self.assertTrue(r["renamed"])
        self.assertEqual(r["version"], "1")
        self.assertEqual(r["alias_version"], "2")
        self.assertEqual(r["latest_production"], ["1"])
        self.assertEqual(r["model_tags"], {"task": "classification"})
        self.assertEqual(r["model_aliases"], {"champion": "2"})
        self.assertEqual(r["model_description"], "churn model")
        self.assertEqual(r["version_tags"], {"validated": "yes"})
        self.assertEqual(r["search_versions"], ["1", "2"])
        self.assertEqual(r["renamed_model"], "churn-v2")
        self.assertTrue(r["download_uri"].endswith("/model"), r["download_uri"])
        self.assertEqual(r["deleted_version_error"], "RESOURCE_DOES_NOT_EXIST")
        self.assertEqual(r["models_left"], 0)


if __name__ == "__main__":
    unittest.main()
