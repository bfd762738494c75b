"""Serving benchmark inputs: a 100-tree, depth-6 XGBoost regressor on 20 features saved exactly as
`mlflow.xgboost.log_model` (MLflow 2.12.2) lays it out, and the request bodies for batch 1 and 64
in each protocol, with the predictions each body must get back.

Usage: /usr/bin/python3 make_model.py OUT_DIR
Writes OUT_DIR/model/ (MLmodel, model.xgb, conda.yaml, python_env.yaml, requirements.txt),
OUT_DIR/bodies/{oip,invocations}_b{1,64}.json and OUT_DIR/expected.json.
"""

import datetime
import importlib.metadata
import json
import os
import platform
import sys
import uuid

import numpy as np
import xgboost as xgb
import yaml

SEED = 20261124
FEATURES = [f"f{i}" for i in range(20)]
TREES = 100
DEPTH = 6
TRAIN_ROWS = 20000
BATCHES = (1, 64)
MLFLOW_VERSION = "2.12.2"


def train():
    rng = np.random.default_rng(SEED)
    X = rng.normal(size=(TRAIN_ROWS, len(FEATURES)))
    y = (2 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] ** 2 + np.sin(3 * X[:, 3]) + X[:, 4] * X[:, 5]
         + rng.normal(scale=0.1, size=TRAIN_ROWS))
    params = {"objective": "reg:squarederror", "max_depth": DEPTH, "eta": 0.1, "seed": SEED}
    booster = xgb.train(params, xgb.DMatrix(X, label=y, feature_names=FEATURES), num_boost_round=TREES)
    return booster, rng


def installed_version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned(package):
    version = installed_version(package)
    return f"{package}=={version}" if version else package


def column_signature():
    # What infer_signature(X_dataframe, booster.predict(DMatrix(X))) gives: one required double
    # column per feature, and a 1-D float32 tensor out. MLflow stores each side as a JSON string.
    inputs = [{"type": "double", "name": name, "required": True} for name in FEATURES]
    outputs = [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1]}}]
    return {"inputs": json.dumps(inputs), "outputs": json.dumps(outputs), "params": None}


def write_model_dir(booster, model_dir, rng):
    """The files `mlflow.xgboost.log_model(booster, "model", signature=...)` writes, key for key:
    Model.to_dict() dumped by yaml.safe_dump (sorted keys), conda.yaml from _mlflow_conda_env,
    python_env.yaml from _PythonEnv.current(), requirements.txt with mlflow pinned first."""
    os.makedirs(model_dir, exist_ok=True)
    booster.save_model(os.path.join(model_dir, "model.xgb"))
    # log_model saves into an empty directory, so model_size_bytes counts model.xgb alone.
    model_size = os.path.getsize(os.path.join(model_dir, "model.xgb"))
    python_version = platform.python_version()
    # MLflow draws both ids from uuid4; seeded here so that reruns write the same files.
    mlmodel = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "data": "model.xgb",
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "loader_module": "mlflow.xgboost",
                "python_version": python_version,
            },
            "xgboost": {
                "code": None,
                "data": "model.xgb",
                "model_class": "xgboost.core.Booster",
                "model_format": "xgb",
                "xgb_version": xgb.__version__,
            },
        },
        "mlflow_version": MLFLOW_VERSION,
        "model_size_bytes": model_size,
        "model_uuid": uuid.UUID(bytes=rng.bytes(16), version=4).hex,
        "run_id": uuid.UUID(bytes=rng.bytes(16), version=4).hex,
        "signature": column_signature(),
        "utc_time_created": str(datetime.datetime.utcnow()),
    }
    with open(os.path.join(model_dir, "MLmodel"), "w") as f:
        yaml.safe_dump(mlmodel, stream=f, default_flow_style=False)

    requirements = [f"mlflow=={MLFLOW_VERSION}"] + sorted(pinned(p) for p in ("numpy", "scipy", "xgboost"))
    conda_env = {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python_version}", f"pip<={installed_version('pip')}", {"pip": requirements}],
    }
    with open(os.path.join(model_dir, "conda.yaml"), "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    python_env = {
        "python": python_version,
        "build_dependencies": [pinned(p) for p in ("pip", "setuptools", "wheel")],
        "dependencies": ["-r requirements.txt"],
    }
    with open(os.path.join(model_dir, "python_env.yaml"), "w") as f:
        yaml.safe_dump(python_env, stream=f, sort_keys=False)
    with open(os.path.join(model_dir, "requirements.txt"), "w") as f:
        f.write("\n".join(requirements))


def request_bodies(rows):
    data = rows.tolist()
    return {
        "oip": {"inputs": [{"name": "input", "shape": list(rows.shape), "datatype": "FP64",
                            "data": [value for row in data for value in row]}]},
        "invocations": {"dataframe_split": {"columns": FEATURES, "data": data}},
    }


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    booster, rng = train()
    write_model_dir(booster, os.path.join(out_dir, "model"), rng)

    bodies_dir = os.path.join(out_dir, "bodies")
    os.makedirs(bodies_dir, exist_ok=True)
    expected = {}
    for batch in BATCHES:
        # Six decimals, as feature values usually travel; the expected predictions use the same values.
        rows = np.round(rng.normal(size=(batch, len(FEATURES))), 6)
        for protocol, body in request_bodies(rows).items():
            with open(os.path.join(bodies_dir, f"{protocol}_b{batch}.json"), "w") as f:
                json.dump(body, f, separators=(",", ":"))
        expected[str(batch)] = booster.inplace_predict(rows).tolist()
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
