"""XGBoost models written exactly as `mlflow.xgboost.log_model` (MLflow 2.12.2) lays them out,
trained with Debian's python3-xgboost, and helpers to log them to a Lathe server as run artifacts."""

import json
import os
import re
import signal
import subprocess
import uuid

import numpy as np
import requests
import xgboost as xgb

from lathe_server import LATHE_BIN

MLMODEL_TEMPLATE = """artifact_path: model
flavors:
  python_function:
    data: {data}
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
    python_version: 3.11.2
  xgboost:
    code: null
    data: {data}
    model_class: {model_class}
    model_format: {model_format}
    xgb_version: {xgb_version}
mlflow_version: 2.12.2
model_uuid: {model_uuid}
run_id: {run_id}
{signature}utc_time_created: '2026-11-24 10:00:00.000000'
"""


def train(objective, features=6, rows=400, rounds=20, seed=0, num_class=None, depth=4):
    """A booster on synthetic data with missing values; returns (booster, X)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features))
    X[rng.random(X.shape) < 0.05] = np.nan
    signal_ = np.nan_to_num(X[:, 0]) * 2 - np.nan_to_num(X[:, 1]) + 0.5 * np.nan_to_num(X[:, 2]) ** 2
    params = {"objective": objective, "max_depth": depth, "eta": 0.3, "seed": seed}
    if objective.startswith("multi:"):
        y = np.digitize(signal_, np.quantile(signal_, [1 / 3, 2 / 3]))
        params["num_class"] = num_class or 3
    elif objective.startswith("binary:"):
        y = (signal_ > np.median(signal_)).astype(float)
    else:
        y = signal_ + rng.normal(scale=0.1, size=rows)
    booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=rounds)
    return booster, X


def write_mlflow_model(booster, directory, columns=None, model_format="xgb",
                       model_class="xgboost.core.Booster", run_id=""):
    """Saves `booster` as MLflow's xgboost flavor in `directory`; `columns` adds a column signature."""
    os.makedirs(directory, exist_ok=True)
    data = f"model.{model_format}"
    booster.save_model(os.path.join(directory, data))
    signature = ""
    if columns:
        inputs = json.dumps([{"type": "double", "name": name, "required": True} for name in columns])
        outputs = json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}])
        signature = f"signature:\n  inputs: '{inputs}'\n  outputs: '{outputs}'\n  params: null\n"
    with open(os.path.join(directory, "MLmodel"), "w") as f:
        f.write(MLMODEL_TEMPLATE.format(data=data, model_class=model_class, model_format=model_format,
                                        xgb_version=xgb.__version__, model_uuid=uuid.uuid4().hex,
                                        run_id=run_id, signature=signature))
    with open(os.path.join(directory, "conda.yaml"), "w") as f:
        f.write("channels:\n- conda-forge\ndependencies:\n- python=3.11.2\n- pip\n- pip:\n  - mlflow==2.12.2\n"
                f"  - xgboost=={xgb.__version__}\nname: mlflow-env\n")
    with open(os.path.join(directory, "python_env.yaml"), "w") as f:
        f.write("python: 3.11.2\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n")
    with open(os.path.join(directory, "requirements.txt"), "w") as f:
        f.write(f"mlflow==2.12.2\nxgboost=={xgb.__version__}\n")
    return directory


def log_model_to_run(server, directory, experiment_name="serving", artifact_path="model"):
    """Creates a run and uploads `directory` as its `artifact_path` artifacts; returns the run id."""
    status, body = server.api("GET", "experiments/get-by-name", params={"experiment_name": experiment_name})
    if status == 200:
        experiment_id = body["experiment"]["experiment_id"]
    else:
        experiment_id = server.api("POST", "experiments/create", {"name": experiment_name})[1]["experiment_id"]
    run = server.api("POST", "runs/create", {"experiment_id": experiment_id})[1]["run"]["info"]
    run_id = run["run_id"]
    prefix = run["artifact_uri"].split("mlflow-artifacts:", 1)[1].lstrip("/")
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            response = requests.put(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{prefix}/{artifact_path}/{name}",
                                    data=f.read(), timeout=60)
            assert response.status_code == 200, response.text
    return run_id


def register_version(server, name, run_id, artifact_path="model"):
    """Registers runs:/<run_id>/<artifact_path> as a new version of `name`; returns the version string."""
    server.api("POST", "registered-models/create", {"name": name})
    status, body = server.api("POST", "model-versions/create",
                              {"name": name, "source": f"runs:/{run_id}/{artifact_path}", "run_id": run_id})
    assert status == 200, body
    return body["model_version"]["version"]


class ModelServer:
    """A `lathe models serve` process on an ephemeral port."""

    def __init__(self, uri, *args, env=None):
        self.process = subprocess.Popen([LATHE_BIN, "models", "serve", uri, "--port", "0", "--log-level", "warn", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env=dict(os.environ, **(env or {})))
        line = self.process.stdout.readline().decode()
        match = re.search(r"lathe serving (\S+) on (http://127\.0\.0\.1:\d+)", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"lathe models serve did not start: {line!r} {self.process.stderr.read().decode()}")
        self.name, self.url = match.group(1), match.group(2)

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        self.process.stdout.close()
        self.process.stderr.close()
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def assert_close(testcase, actual, expected, tolerance=1e-5):
    """Equal within `tolerance`, absolute, or relative for magnitudes above 1."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    testcase.assertEqual(actual.shape, expected.shape)
    scale = np.maximum(1.0, np.abs(expected))
    worst = float(np.max(np.abs(actual - expected) / scale)) if actual.size else 0.0
    testcase.assertLessEqual(worst, tolerance, f"max scaled difference {worst}")
    return worst
