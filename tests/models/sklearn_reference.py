"""Reference cases for the `lathe` pipeline flavor, computed by sklearn (and Python's datetime).

Usage: /usr/bin/python3 sklearn_reference.py <out dir>

Fits sklearn models on synthetic data, exports each fitted model as a Lathe pipeline spec
(<out dir>/<case>.json, or .yaml), and writes <out dir>/cases.json: for every case, the spec file,
the test rows by column (null = missing) and what sklearn predicts for them ("predictions", and
"probabilities" from predict_proba for classifiers).
"""

import datetime
import json
import os
import sys

import numpy as np
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import KBinsDiscretizer, MinMaxScaler, OneHotEncoder, StandardScaler

RNG = np.random.default_rng(20261124)


def floats(values):
    return [float(v) for v in np.ravel(values)]


def column_values(column):
    """A column for cases.json: numbers or strings, NaN as null."""
    out = []
    for value in column:
        if isinstance(value, str):
            out.append(value)
        elif value is None or np.isnan(value):
            out.append(None)
        else:
            out.append(float(value))
    return out


def labels(values):
    return [v if isinstance(v, str) else float(v) for v in values]


def estimator_spec(model):
    """A fitted sklearn linear model as a Lathe estimator (plus its postprocessing)."""
    if isinstance(model, LogisticRegression):
        coefficients = model.coef_
        spec = {"type": "logistic", "intercept": floats(model.intercept_)}
        if coefficients.shape[0] == 1:
            spec["coefficients"] = floats(coefficients[0])
            post = [{"type": "threshold", "threshold": 0.5}]
        else:
            spec["coefficients"] = [floats(row) for row in coefficients]
            multi_class = "ovr" if model.multi_class == "ovr" else "multinomial"
            spec["multi_class"] = multi_class
            post = [{"type": "argmax"}]
        post.append({"type": "class_labels", "labels": labels(model.classes_)})
        return spec, post
    return {"type": "linear", "coefficients": floats(model.coef_), "intercept": float(model.intercept_)}, []


def transformer_steps(transformer, columns):
    """Steps for one fitted transformer (or Pipeline of them) over named columns; returns
    (steps, output feature names)."""
    if isinstance(transformer, Pipeline):
        steps, names = [], columns
        for _, part in transformer.steps:
            more, names = transformer_steps(part, names)
            steps += more
        return steps, names
    if isinstance(transformer, SimpleImputer):
        values = [v if isinstance(v, str) else float(v) for v in transformer.statistics_]
        return [{"type": "impute", "columns": columns, "strategy": transformer.strategy, "values": values}], columns
    if isinstance(transformer, StandardScaler):
        return [{"type": "standard_scale", "columns": columns, "mean": floats(transformer.mean_),
                 "scale": floats(transformer.scale_)}], columns
    if isinstance(transformer, MinMaxScaler):
        return [{"type": "min_max_scale", "columns": columns, "data_min": floats(transformer.data_min_),
                 "data_max": floats(transformer.data_max_),
                 "feature_range": floats(transformer.feature_range)}], columns
    if isinstance(transformer, OneHotEncoder):
        steps, names = [], []
        for column, categories in zip(columns, transformer.categories_):
            categories = [str(c) for c in categories]
            steps.append({"type": "one_hot", "column": column, "categories": categories,
                          "handle_unknown": transformer.handle_unknown})
            names += [f"{column}={c}" for c in categories]
        return steps, names
    if isinstance(transformer, KBinsDiscretizer):
        steps, names = [], []
        encode = "ordinal" if transformer.encode == "ordinal" else "one_hot"
        for column, edges in zip(columns, transformer.bin_edges_):
            steps.append({"type": "bucketize", "column": column, "boundaries": floats(edges[1:-1]), "encode": encode})
            names += [column] if encode == "ordinal" else [f"{column}={k}" for k in range(len(edges) - 1)]
        return steps, names
    raise TypeError(f"no export for {type(transformer).__name__}")


def export(model, inputs, features_from_steps=False):
    """A fitted estimator or Pipeline as a Lathe pipeline spec over `inputs` [(name, type)]."""
    spec = {"format_version": 1, "inputs": [{"name": n, "type": t} for n, t in inputs], "steps": []}
    estimator = model
    if isinstance(model, Pipeline):
        estimator = model.steps[-1][1]
        names = [n for n, _ in inputs]
        for _, transformer in model.steps[:-1]:
            if isinstance(transformer, ColumnTransformer):
                features = []
                for _, part, indices in transformer.transformers_:
                    if part == "drop":
                        continue
                    steps, produced = transformer_steps(part, [names[i] for i in indices])
                    spec["steps"] += steps
                    features += produced
                names = features
            else:
                steps, names = transformer_steps(transformer, names)
                spec["steps"] += steps
        if features_from_steps:
            spec["features"] = names
    spec["estimator"], spec["postprocess"] = estimator_spec(estimator)
    return spec


def expected(model, rows):
    out = {"predictions": labels(model.predict(rows)) if hasattr(model, "classes_") else floats(model.predict(rows))}
    if hasattr(model, "predict_proba"):
        out["probabilities"] = [floats(row) for row in model.predict_proba(rows)]
    return out


def numeric_cases():
    weights = np.array([1.5, -2.0, 0.25, 3.0, -0.75])
    x = RNG.normal(size=(300, 5)) * [1, 10, 0.1, 2, 5]
    y = x @ weights + 3.0 + RNG.normal(scale=0.5, size=300)
    test = RNG.normal(size=(40, 5)) * [1, 10, 0.1, 2, 5]
    inputs = [(f"x{i}", "double") for i in range(5)]
    columns = {name: column_values(test[:, i]) for i, (name, _) in enumerate(inputs)}
    score = x @ weights
    classifiers = {
        "logistic_binary": (LogisticRegression(), np.where(score > 0.5, "yes", "no")),
        "logistic_multinomial": (LogisticRegression(max_iter=1000), np.digitize(score, [-5.0, 5.0]) * 10 + 10),
        "logistic_ovr": (LogisticRegression(multi_class="ovr", max_iter=1000), np.digitize(score, [-4.0, 4.0])),
    }
    cases = []
    for name, model in {"linear_regression": LinearRegression(), "ridge": Ridge(alpha=2.0),
                        "lasso": Lasso(alpha=0.05)}.items():
        model.fit(x, y)
        cases.append((name, export(model, inputs), columns, expected(model, test)))
    for name, (model, target) in classifiers.items():
        model.fit(x, target)
        cases.append((name, export(model, inputs), columns, expected(model, test)))
    return cases


def mixed_rows(count, with_unknown):
    cities = np.array(["paris", "rome", "oslo", "lima"], dtype=object)
    rows = np.empty((count, 4), dtype=object)
    rows[:, 0] = RNG.normal(40, 12, count)
    rows[:, 1] = RNG.lognormal(10, 0.5, count)
    rows[:, 2] = cities[RNG.integers(0, len(cities), count)]
    rows[:, 3] = RNG.uniform(0, 120, count)
    for column in (0, 2, 3):
        rows[RNG.random(count) < 0.1, column] = np.nan
    if with_unknown:
        rows[RNG.random(count) < 0.1, 2] = "tokyo"
    return rows


def mixed_pipeline(estimator):
    return Pipeline([
        ("columns", ColumnTransformer([
            ("num", Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler())]), [0, 1]),
            ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                              ("onehot", OneHotEncoder(handle_unknown="ignore"))]), [2]),
            ("mm", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", MinMaxScaler())]), [3]),
        ], sparse_threshold=0)),
        ("model", estimator),
    ])


def mixed_cases():
    inputs = [("age", "double"), ("income", "double"), ("city", "string"), ("tenure", "double")]
    train, test = mixed_rows(400, False), mixed_rows(60, True)
    city_effect = {"paris": 2.0, "rome": -1.0, "oslo": 0.5, "lima": 0.0}
    score = np.array([
        0.05 * (r[0] if r[0] == r[0] else 40) + 1e-5 * r[1] + city_effect.get(r[2], 0.3) +
        0.02 * (r[3] if r[3] == r[3] else 60) for r in train])
    columns = {name: column_values(test[:, i]) for i, (name, _) in enumerate(inputs)}
    ridge = mixed_pipeline(Ridge(alpha=0.5)).fit(train, score + RNG.normal(scale=0.1, size=len(score)))
    classes = np.array(["low", "mid", "high"])[np.digitize(score, np.quantile(score, [0.33, 0.66]))]
    logistic = mixed_pipeline(LogisticRegression(max_iter=2000)).fit(train, classes)
    return [
        ("pipeline_ridge", export(ridge, inputs, features_from_steps=True), columns, expected(ridge, test)),
        ("pipeline_logistic", export(logistic, inputs), columns, expected(logistic, test)),
    ]


def bucket_cases():
    train = RNG.uniform(-10, 30, size=(200, 1))
    bins = KBinsDiscretizer(n_bins=5, encode="ordinal", strategy="uniform").fit(train)
    edges = bins.bin_edges_[0]
    # Values on every edge (inner and outer) and beyond, plus random ones away from edges: sklearn
    # nudges values within 1e-5 of an edge upwards before binning.
    test = list(edges) + [edges[0] - 5, edges[-1] + 5]
    for value in RNG.uniform(-15, 35, 40):
        if np.min(np.abs(edges - value)) > 1e-3:
            test.append(value)
    test = np.array(test).reshape(-1, 1)
    # The bucket index itself is the prediction: an identity linear estimator over it.
    ordinal = {"inputs": [{"name": "t", "type": "double"}], "steps": transformer_steps(bins, ["t"])[0],
               "estimator": {"type": "linear", "coefficients": [1.0], "intercept": 0.0}}
    target = np.sin(train[:, 0] / 4) + 0.1 * train[:, 0]
    onehot = Pipeline([("bins", KBinsDiscretizer(n_bins=6, encode="onehot-dense", strategy="quantile")),
                       ("model", LinearRegression())]).fit(train, target)
    columns = {"t": column_values(test[:, 0])}
    return [
        ("bucketize_ordinal", ordinal, columns, {"predictions": floats(bins.transform(test)[:, 0])}),
        ("bucketize_one_hot", export(onehot, [("t", "double")]), columns, expected(onehot, test)),
    ]


def date_case():
    """Date parts from Python's datetime: UTC, ISO weekday (Monday = 1)."""
    texts = ["2026-11-24", "2026-11-22T23:59:59", "2026-11-23 00:00:00", "2024-02-29T12:30:00Z",
             "2026-01-01T00:30:00+01:00", "2025-12-31T22:15:00-05:00", "2000-03-01T05:45:10.123456+05:30",
             "1970-01-01", "1969-12-31T23:00:00", "2026-06-15T10:00:00+0200", "2100-02-28T18:00:00-08"]
    parts = ["year", "month", "day", "hour", "minute", "weekday", "day_of_year"]
    predictions = []
    for text in texts:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(datetime.timezone.utc)
        predictions.append([float(v) for v in (moment.year, moment.month, moment.day, moment.hour, moment.minute,
                                               moment.isoweekday(), moment.timetuple().tm_yday)])
    identity = [[1.0 if i == j else 0.0 for j in range(len(parts))] for i in range(len(parts))]
    spec = {"inputs": [{"name": "when", "type": "datetime"}],
            "steps": [{"type": "date_part", "column": "when", "parts": parts}],
            "estimator": {"type": "linear", "coefficients": identity, "intercept": [0.0] * len(parts)}}
    return ("date_parts", spec, {"when": texts}, {"predictions": predictions})


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = numeric_cases() + mixed_cases() + bucket_cases() + [date_case()]
    listed = []
    for name, spec, columns, outputs in cases:
        # One spec in YAML, so that both spec formats are built from.
        file_name = f"{name}.yaml" if name == "pipeline_ridge" else f"{name}.json"
        with open(os.path.join(out, file_name), "w") as f:
            if file_name.endswith(".yaml"):
                yaml.safe_dump(spec, f, sort_keys=False)
            else:
                json.dump(spec, f, indent=1, allow_nan=False)
        listed.append({"name": name, "spec": file_name, "columns": columns, "expected": outputs})
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(listed, f, allow_nan=False)


if __name__ == "__main__":
    main()
