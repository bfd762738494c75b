"""Tracking benchmark: metric ingest, run search and memory of `lathe server`, with MLflow's own
server (gunicorn, 4 workers, SQLite) measured as the baseline in the same run.

Environment:
  LATHE_BIN             the lathe binary (run.sh sets it to build/lathe)
  LATHE_MLFLOW_SOURCE   PYTHONPATH entries holding mlflow 2.12.2 and querystring_parser; unset: no baseline
  LATHE_BENCH_SECONDS   duration of each ingest load (default 10)
  LATHE_BENCH_RUNS      run counts for the search workload (default "1000,10000")
  LATHE_BENCH_MLFLOW_10K=1  also populate MLflow with 10,000 runs (slow; default: only 1,000)
"""

import concurrent.futures
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SECONDS = int(os.environ.get("LATHE_BENCH_SECONDS", "10"))
RUN_COUNTS = [int(n) for n in os.environ.get("LATHE_BENCH_RUNS", "1000,10000").split(",")]
MLFLOW_SOURCE = os.environ.get("LATHE_MLFLOW_SOURCE")
SEARCH_CALLS = 50
# MLflow 2.12.2 measured on this machine before (gunicorn, 4 workers, SQLite): used as the
# baseline only when MLflow cannot run in this benchmark run.
REFERENCE = {"log_batch_points_per_s": 12000, "log_metric_calls_per_s": 244, "search_1000_ms": 27}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, kind):
        self.kind = kind
        self.dir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = open(os.path.join(self.dir, "server.log"), "wb")
        if kind == "lathe":
            command = [os.environ["LATHE_BIN"], "server", "--host", "127.0.0.1", "--port", str(self.port),
                       "--data-dir", self.dir, "--log-level", "warn"]
            env = os.environ
        else:
            command = ["/usr/bin/python3", "-m", "mlflow", "server", "--backend-store-uri",
                       f"sqlite:///{self.dir}/mlflow.db", "--artifacts-destination", f"{self.dir}/artifacts",
                       "--host", "127.0.0.1", "--port", str(self.port), "--workers", "4"]
            env = dict(os.environ, PYTHONPATH=MLFLOW_SOURCE)
        self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env, start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"{kind} server exited; see {self.dir}/server.log")
            time.sleep(0.2)
        raise RuntimeError(f"{kind} server did not become healthy")

    def post(self, session, endpoint, body):
        response = session.post(f"{self.url}/api/2.0/mlflow/{endpoint}", json=body, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"{self.kind} {endpoint}: {response.status_code} {response.text[:300]}")
        return response.json()

    def wait_idle(self):
        """Waits until the server answers promptly again, so one load's backlog does not eat the next."""
        deadline = time.time() + 300
        while time.time() < deadline:
            start = time.perf_counter()
            try:
                requests.get(self.url + "/health", timeout=60)
            except requests.RequestException:
                pass
            if time.perf_counter() - start < 0.05:
                return
        raise RuntimeError(f"{self.kind} server still busy 300 s after a load")

    def rss_kib(self):
        """VmRSS and VmHWM of the server process and its children (MLflow's gunicorn workers)."""
        pids = [self.process.pid]
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in children.split()]
        rss = hwm = 0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status") as f:
                    status = f.read()
            except OSError:
                continue
            rss += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            hwm += int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
        return rss, hwm

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def wrk(server, script, threads, connections, run_id):
    env = dict(os.environ, BENCH_RUN_ID=run_id)
    result = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{SECONDS}s", "--timeout", "30s",
                             "-s", os.path.join(HERE, script), server.url], capture_output=True, text=True, env=env,
                            timeout=SECONDS + 120)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    socket_errors = re.search(r"Socket errors:.*", result.stdout)
    if errors or socket_errors:
        raise RuntimeError(f"{server.kind}: wrk saw errors:\n{result.stdout}")
    return rate


def populate(server, experiment_id, runs):
    def make(index):
        session = requests.Session()
        rng = random.Random(index)
        run = server.post(session, "runs/create", {"experiment_id": experiment_id, "run_name": f"run-{index}",
                                                   "start_time": 1700000000000 + index})
        run_id = run["run"]["info"]["run_id"]
        server.post(session, "runs/log-batch", {
            "run_id": run_id,
            "metrics": [{"key": "rmse", "value": rng.random(), "timestamp": 1700000000000, "step": 0},
                        {"key": "mae", "value": rng.random(), "timestamp": 1700000000000, "step": 0},
                        {"key": "r2", "value": rng.random(), "timestamp": 1700000000000, "step": 0}],
            "params": [{"key": "alpha", "value": f"a{index % 10}"}, {"key": "depth", "value": str(index % 7)},
                       {"key": "model", "value": "xgboost"}],
            "tags": [{"key": "team", "value": f"t{index % 3}"}]})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(make, range(runs)))


def search_latency(server, experiment_id):
    session = requests.Session()
    body = {"experiment_ids": [experiment_id], "filter": "metrics.rmse < 0.5 and params.alpha = 'a1'",
            "order_by": ["metrics.rmse DESC"], "max_results": 100}
    for _ in range(5):
        server.post(session, "runs/search", body)
    timings = []
    found = 0
    for _ in range(SEARCH_CALLS):
        start = time.perf_counter()
        found = len(server.post(session, "runs/search", body).get("runs", []))
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {"median_ms": statistics.median(timings), "p95_ms": timings[int(len(timings) * 0.95) - 1], "runs_found": found}


def measure(server, run_counts):
    session = requests.Session()
    results = {}
    experiment_id = server.post(session, "experiments/create", {"name": "ingest"})["experiment_id"]
    for label, script, unit in (("log_batch", "log_batch.lua", 1000), ("log_metric", "log_metric.lua", 1)):
        for connections, threads in ((1, 1), (8, 2)):
            # A fresh run per load: MLflow's ingest slows down as a run's history grows, and each
            # load should start from the same state on both servers.
            run_id = server.post(session, "runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
            rate = wrk(server, script, threads, connections, run_id)
            server.wait_idle()
            results[f"{label}_{connections}c"] = rate * unit
            print(f"  {server.kind}: {label} with {connections} connection(s): {rate * unit:,.0f} points/s", flush=True)
    for runs in run_counts:
        experiment = server.post(session, "experiments/create", {"name": f"search-{runs}"})["experiment_id"]
        started = time.time()
        populate(server, experiment, runs)
        print(f"  {server.kind}: populated {runs} runs in {time.time() - started:.1f} s", flush=True)
        results[f"search_{runs}"] = search_latency(server, experiment)
        print(f"  {server.kind}: search over {runs} runs: {results[f'search_{runs}']}", flush=True)
    results["rss_kib"], results["hwm_kib"] = server.rss_kib()
    return results


def cpu_model():
    with open("/proc/cpuinfo") as f:
        match = re.search(r"model name\s*:\s*(.*)", f.read())
    return match.group(1) if match else "unknown"


def main():
    machine = f"{os.cpu_count()} cores, {cpu_model()}"
    print(f"tracking benchmark on {machine}; {SECONDS} s per ingest load", flush=True)
    servers = []
    try:
        lathe = Server("lathe")
        servers.append(lathe)
        lathe_results = measure(lathe, RUN_COUNTS)
        lathe.stop()
        mlflow_results = None
        if MLFLOW_SOURCE:
            mlflow = Server("mlflow")
            servers.append(mlflow)
            mlflow_counts = RUN_COUNTS if os.environ.get("LATHE_BENCH_MLFLOW_10K") == "1" else [n for n in RUN_COUNTS if n <= 1000]
            mlflow_results = measure(mlflow, mlflow_counts)
            mlflow.stop()
        else:
            print("MLflow baseline: skipped (LATHE_MLFLOW_SOURCE not set); ratios use the reference figures "
                  "measured earlier on this machine, not in this run", flush=True)
    finally:
        for server in servers:
            server.stop()

    def baseline(key, reference_key=None):
        if mlflow_results is not None:
            value = mlflow_results.get(key)
            return (value["median_ms"] if isinstance(value, dict) else value), "measured"
        if reference_key:
            return REFERENCE[reference_key], "reference"
        return None, "skipped"

    rows = []

    def row(name, lathe_value, base, higher_is_better, target):
        base_value, kind = base
        if base_value is None or (higher_is_better and base_value == 0):
            ratio = None
        else:
            ratio = lathe_value / base_value if higher_is_better else base_value / lathe_value
        rows.append({"workload": name, "lathe": lathe_value, "baseline": base_value, "baseline_kind": kind,
                     "speedup": ratio, "target": target})

    for label, reference_key in (("log_batch", "log_batch_points_per_s"), ("log_metric", "log_metric_calls_per_s")):
        for connections in (1, 8):
            key = f"{label}_{connections}c"
            row(f"{label} points/s, {connections} connection(s)", lathe_results[key],
                baseline(key, reference_key), True, ">= 10x")
    for runs in RUN_COUNTS:
        key = f"search_{runs}"
        reference_key = "search_1000_ms" if runs == 1000 else None
        target = ">= 10x" if runs == 1000 else "<= 20 ms"
        row(f"search_runs median ms, {runs} runs", lathe_results[key]["median_ms"], baseline(key, reference_key), False,
            target)

    print()
    print(f"{'workload':45} {'lathe':>12} {'mlflow':>12} {'speedup':>9}  target")
    for r in rows:
        base = "-" if r["baseline"] is None else f"{r['baseline']:,.1f}"
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.1f}x"
        suffix = " (reference)" if r["baseline_kind"] == "reference" else ""
        print(f"{r['workload']:45} {r['lathe']:>12,.1f} {base:>12} {speedup:>9}  {r['target']}{suffix}")
    print(f"lathe server RSS after the workloads: {lathe_results['rss_kib'] / 1024:.1f} MiB "
          f"(peak {lathe_results['hwm_kib'] / 1024:.1f} MiB)")
    if mlflow_results:
        print(f"mlflow server RSS (all workers): {mlflow_results['rss_kib'] / 1024:.1f} MiB")

    out_dir = os.path.join(ROOT, "bench", "results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tracking.json"), "w") as f:
        json.dump({"machine": machine, "seconds": SECONDS, "lathe": lathe_results, "mlflow": mlflow_results,
                   "rows": rows}, f, indent=2)
    with open(os.path.join(out_dir, "tracking.md"), "w") as f:
        f.write(f"Machine: {machine}. Command: `LATHE_MLFLOW_SOURCE=... make bench` ({SECONDS} s per ingest load).\n\n")
        f.write("| workload | Lathe | MLflow 2.12.2 | speedup | target |\n|---|---|---|---|---|\n")
        for r in rows:
            base = "skipped" if r["baseline"] is None else f"{r['baseline']:,.1f}" + (" (ref.)" if r["baseline_kind"] == "reference" else "")
            speedup = "-" if r["speedup"] is None else f"{r['speedup']:.1f}x"
            f.write(f"| {r['workload']} | {r['lathe']:,.1f} | {base} | {speedup} | {r['target']} |\n")
        f.write(f"\nLathe server RSS after the workloads: {lathe_results['rss_kib'] / 1024:.1f} MiB "
                f"(peak {lathe_results['hwm_kib'] / 1024:.1f} MiB).\n")
        if mlflow_results:
            f.write(f"MLflow server RSS (gunicorn master + 4 workers): {mlflow_results['rss_kib'] / 1024:.1f} MiB.\n")


if __name__ == "__main__":
    sys.exit(main())
