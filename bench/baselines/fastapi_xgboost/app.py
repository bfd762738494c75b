"""The service a competent user writes today to serve an MLflow xgboost model: FastAPI + uvicorn,
the Booster loaded once at startup, MLflow's /invocations body validated by pydantic, predicted
with inplace_predict. The serving benchmark's baseline (bench/serving/run.sh).

Run: LATHE_BENCH_MODEL_DIR=<mlflow model dir> /usr/bin/python3 -m uvicorn app:app --port 8000
(the benchmark loads it through launch.py, which takes away a cost of our machine, not of FastAPI)
"""

import os
from typing import List

import numpy as np
import xgboost as xgb
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

MODEL_DIR = os.environ["LATHE_BENCH_MODEL_DIR"]
FEATURES = [f"f{i}" for i in range(20)]

booster = xgb.Booster()
booster.load_model(os.path.join(MODEL_DIR, "model.xgb"))
# One OpenMP thread per process: with its default of one per core, the workers' prediction threads
# spin against each other (and against uvicorn) and a batch-1 request gets 2.5x slower.
booster.set_param({"nthread": 1})


class DataframeSplit(BaseModel):
    columns: List[str]
    data: List[List[float]]


class ScoringRequest(BaseModel):
    dataframe_split: DataframeSplit


app = FastAPI()


@app.post("/invocations")
async def invocations(request: ScoringRequest):
    frame = request.dataframe_split
    if frame.columns != FEATURES:
        raise HTTPException(status_code=400, detail=f"columns must be {FEATURES}")
    rows = np.asarray(frame.data, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != len(FEATURES):
        raise HTTPException(status_code=400, detail=f"each row needs {len(FEATURES)} values")
    return {"predictions": booster.inplace_predict(rows).tolist()}
