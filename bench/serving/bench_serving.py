"""Serving benchmark: `lathe models serve` (OIP v2 infer and MLflow /invocations) against the FastAPI +
uvicorn + xgboost service a user writes today (1 uvicorn worker; 2 workers under gunicorn), on the
same 100-tree, depth-6, 20-feature XGBoost regressor, one server after the other in one run.

Run by run.sh, which builds the open-loop generator and the model first. Environment:
  LATHE_BIN                  the lathe binary; Lathe is skipped when it has no `models serve`
  LATHE_BENCH_SECONDS        duration of each wrk load and open-loop run (default 10)
  LATHE_BENCH_CONNECTIONS    wrk connections for peak throughput (default 32)
  LATHE_BENCH_OPENLOOP_CONNECTIONS  keep-alive connections of the open-loop generator (default 64)
  BENCH_SERVING_DIR          where run.sh put the model, the bodies and the generator

Writes bench/results/serving.json and bench/results/serving.md; exits 1 when any request failed or
any server answered wrongly.
"""

import datetime
import importlib.util
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS_DIR = os.path.join(ROOT, "bench", "results")
WORK_DIR = os.environ.get("BENCH_SERVING_DIR", os.path.join(RESULTS_DIR, "serving"))
MODEL_DIR = os.path.join(WORK_DIR, "model")
BODIES_DIR = os.path.join(WORK_DIR, "bodies")
OPENLOOP_BIN = os.path.join(WORK_DIR, "openloop")
BASELINE_DIR = os.path.join(ROOT, "bench", "baselines", "fastapi_xgboost")
LATHE_BIN = os.environ.get("LATHE_BIN", os.path.join(ROOT, "build", "lathe"))
SECONDS = int(os.environ.get("LATHE_BENCH_SECONDS", "10"))
PEAK_CONNECTIONS = int(os.environ.get("LATHE_BENCH_CONNECTIONS", "32"))
OPENLOOP_CONNECTIONS = int(os.environ.get("LATHE_BENCH_OPENLOOP_CONNECTIONS", "64"))
WARMUP_SECONDS = 3
BATCHES = (1, 64)
MODEL_NAME = "bench"
START_TIMEOUT_S = 60
# Lathe's targets from the serving issue; the FastAPI figures are the baselines they are measured against.
TARGET_VS_ONE_WORKER = 20
TARGET_VS_TWO_WORKERS = 10
TARGET_RSS_MIB = 64

servers = []  # every server started, so that every exit path stops them


def exit_on_signal(signum, _frame):
    print(f"\nbenchmark interrupted by signal {signum}; stopping the servers", file=sys.stderr, flush=True)
    sys.exit(128 + signum)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_body(protocol, batch):
    with open(os.path.join(BODIES_DIR, f"{protocol}_b{batch}.json"), "rb") as f:
        return f.read()


def post(port, path, body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def predictions_of(answer):
    """The predicted values of either protocol's answer, flat."""
    if "outputs" in answer:
        return [value for output in answer["outputs"] for value in output["data"]]
    return answer["predictions"]


def rss_kib(pid):
    """VmRSS of a process and of its descendants (gunicorn's workers), in KiB."""
    total = 0
    with open(f"/proc/{pid}/status") as f:
        total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            total += sum(rss_kib(int(child)) for child in f.read().split())
    return total


class Server:
    """One server process started by this script; `endpoints` maps protocol -> URL path."""

    def __init__(self, key, label, command, endpoints, env=None, cwd=None, port=None):
        self.key, self.label, self.endpoints = key, label, endpoints
        self.command, self.env, self.cwd, self.port = command, env, cwd, port
        self.process = None
        self.log_path = os.path.join(WORK_DIR, f"{key}.log")

    def start(self):
        self.log = open(self.log_path, "w")
        env = dict(os.environ, **(self.env or {}))
        self.process = subprocess.Popen(self.command, cwd=self.cwd, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        servers.append(self)
        protocol = next(iter(self.endpoints))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.process.returncode}; see {self.log_path}")
            if self.port is None:
                with open(self.log_path) as f:
                    match = re.search(r"lathe serving \S+ on http://[^:]+:(\d+)", f.read())
                self.port = int(match.group(1)) if match else None
            if self.port is not None:
                try:
                    post(self.port, self.endpoints[protocol], read_body(protocol, 1))
                    return
                except OSError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} did not answer within {START_TIMEOUT_S} s; see {self.log_path}")

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def why_lathe_is_skipped():
    """None when LATHE_BIN can serve models, else the reason."""
    if not os.access(LATHE_BIN, os.X_OK):
        return f"{LATHE_BIN} not found (make build)"
    answer = subprocess.run([LATHE_BIN, "models", "--help"], capture_output=True, text=True)
    if re.search(r"^\s+serve\s", answer.stdout, re.M) is None:
        return f"{LATHE_BIN} has no `models serve`"
    return None


def make_servers(include_lathe):
    baseline_env = {"LATHE_BENCH_MODEL_DIR": MODEL_DIR}
    invocations = {"invocations": "/invocations"}
    made = []
    if include_lathe:
        made.append(Server("lathe", "Lathe", [LATHE_BIN, "models", "serve", MODEL_DIR, "--name", MODEL_NAME,
                                              "--host", "127.0.0.1", "--port", "0"],
                           {"oip": f"/v2/models/{MODEL_NAME}/infer", "invocations": "/invocations"}))
    port = free_port()
    # The access log is off: it costs the baseline about 15 % of its throughput.
    made.append(Server("fastapi_1", "FastAPI, 1 uvicorn worker",
                       ["/usr/bin/python3", "-m", "uvicorn", "launch:app", "--host", "127.0.0.1", "--port", str(port),
                        "--no-access-log"], invocations, env=baseline_env, cwd=BASELINE_DIR, port=port))
    port = free_port()
    # gunicorn's UvicornWorker sets TCP_NODELAY, which `uvicorn --workers 2` of 0.17.6 does not (it would
    # stall 40 ms per request on delayed ACKs and flatter Lathe).
    made.append(Server("fastapi_2", "FastAPI, 2 workers (gunicorn)",
                       ["/usr/bin/python3", "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "2",
                        "-b", f"127.0.0.1:{port}", "launch:app"], invocations, env=baseline_env, cwd=BASELINE_DIR,
                       port=port))
    return made


def check_answers(server, expected):
    """Every endpoint must return the model's own predictions before its speed means anything."""
    problems = []
    for protocol, path in server.endpoints.items():
        for batch in BATCHES:
            try:
                got = predictions_of(post(server.port, path, read_body(protocol, batch)))
            except (OSError, KeyError, ValueError) as error:
                problems.append(f"{server.label} {path} batch {batch}: {error}")
                continue
            want = expected[str(batch)]
            if len(got) != len(want) or not np.allclose(got, want, rtol=1e-5, atol=1e-5):
                problems.append(f"{server.label} {path} batch {batch}: predictions differ from xgboost's")
    return problems


def wrk(server, protocol, batch, connections, seconds, path=None):
    """wrk against an endpoint with a batch body; with `path`, GETs that path instead."""
    url = f"http://127.0.0.1:{server.port}{path or server.endpoints[protocol]}"
    body = "" if path else os.path.join(BODIES_DIR, f"{protocol}_b{batch}.json")
    env = dict(os.environ, BENCH_BODY=body)
    # One wrk thread: the machine's other core is the server's.
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
               "-s", os.path.join(HERE, "post_body.lua"), url]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^BENCH_RESULT (.*)$", output, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    fields = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    fields["rps"] = fields["requests"] / (fields["duration_us"] / 1e6)
    return fields


def openloop(server, protocol, rate):
    command = [OPENLOOP_BIN, "--port", str(server.port), "--path", server.endpoints[protocol],
               "--body", os.path.join(BODIES_DIR, f"{protocol}_b1.json"), "--rate", str(int(rate)),
               "--duration", str(SECONDS), "--connections", str(OPENLOOP_CONNECTIONS)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^OPENLOOP (.*)$", output, re.M)
    if not match:
        raise RuntimeError(f"openloop printed no result:\n{output}")
    return {k: float(v) for k, v in (pair.split("=") for pair in match.group(1).split())}


def measure(server):
    results = {"label": server.label, "rss_idle_kib": rss_kib(server.process.pid), "loads": {}, "openloop": {}}
    for protocol in server.endpoints:
        wrk(server, protocol, 1, PEAK_CONNECTIONS, WARMUP_SECONDS)
        for batch in BATCHES:
            for connections in (1, PEAK_CONNECTIONS):
                key = f"{protocol}_b{batch}_c{connections}"
                results["loads"][key] = load = wrk(server, protocol, batch, connections, SECONDS)
                print(f"  {server.label:32} {key:24} {load['rps']:10,.0f} req/s  p50 {load['p50_us']:7,} us"
                      f"  p99 {load['p99_us']:7,} us", flush=True)
        rate = results["loads"][f"{protocol}_b1_c{PEAK_CONNECTIONS}"]["rps"] / 2
        results["openloop"][protocol] = run = openloop(server, protocol, rate)
        print(f"  {server.label:32} {protocol + ' open loop':24} {run['achieved_rps']:10,.0f} req/s of"
              f" {run['target_rps']:,.0f}  p99 {run['p99_us']:,} us  p99.9 {run['p999_us']:,} us", flush=True)
    if server.key == "lathe":
        # The transport floor: the same server's cheapest endpoint, one connection.
        results["ping_c1"] = ping = wrk(server, None, 1, 1, SECONDS, path="/ping")
        print(f"  {server.label:32} {'GET /ping c1':24} {ping['rps']:10,.0f} req/s  p50 {ping['p50_us']:7,} us",
              flush=True)
    results["rss_after_kib"] = rss_kib(server.process.pid)
    return results


def native_predict_us():
    """The native evaluator's single-row predict time, from evaluator_bench's output (run.sh runs it)."""
    path = os.path.join(os.environ.get("BENCH_SERVING_DIR", ""), "evaluator.txt")
    if not os.path.exists(path):
        return None
    match = re.search(r"batch 1: native evaluator ([0-9.]+) us", open(path).read())
    return float(match.group(1)) if match else None


def predict_times_us():
    """Median time of xgboost's inplace_predict (one thread, from Python) on the benchmark rows, with
    pandas treated as the baseline's launch.py treats it."""
    if importlib.util.find_spec("pandas") is None:
        sys.modules["pandas"] = None
    booster = xgb.Booster()
    booster.load_model(os.path.join(MODEL_DIR, "model.xgb"))
    booster.set_param({"nthread": 1})
    times = {}
    for batch in BATCHES:
        with open(os.path.join(BODIES_DIR, f"invocations_b{batch}.json")) as f:
            rows = np.asarray(json.load(f)["dataframe_split"]["data"], dtype=np.float64)
        samples = []
        for _ in range(2000 if batch == 1 else 300):
            start = time.perf_counter_ns()
            booster.inplace_predict(rows)
            samples.append((time.perf_counter_ns() - start) / 1e3)
        times[str(batch)] = statistics.median(samples)
    return times


def fmt_rate(value):
    return "-" if value is None else f"{value:,.0f}"


def fmt_us(value):
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} us"


def columns_of(results):
    """Table columns: (label, server results, protocol)."""
    columns = []
    for key, protocol, label in (("lathe", "oip", "Lathe OIP v2"), ("lathe", "invocations", "Lathe /invocations"),
                                 ("fastapi_1", "invocations", "FastAPI 1 worker"),
                                 ("fastapi_2", "invocations", "FastAPI 2 workers")):
        columns.append((label, results["servers"].get(key), protocol))
    return columns


def summary(results):
    c = PEAK_CONNECTIONS
    columns = columns_of(results)

    def load(server, protocol, name, field):
        entry = server and server["loads"].get(f"{protocol}_{name}")
        return entry[field] if entry else None

    def run(server, protocol, field):
        entry = server and server["openloop"].get(protocol)
        return entry[field] if entry else None

    rows = [
        (f"req/s, batch 1, {c} connections", lambda s, p: fmt_rate(load(s, p, f"b1_c{c}", "rps"))),
        (f"req/s, batch 64, {c} connections", lambda s, p: fmt_rate(load(s, p, f"b64_c{c}", "rps"))),
        (f"rows/s, batch 64, {c} connections",
         lambda s, p: fmt_rate(load(s, p, f"b64_c{c}", "rps") and 64 * load(s, p, f"b64_c{c}", "rps"))),
        ("req/s, batch 1, 1 connection", lambda s, p: fmt_rate(load(s, p, "b1_c1", "rps"))),
        ("p50 latency, batch 1, 1 connection", lambda s, p: fmt_us(load(s, p, "b1_c1", "p50_us"))),
        ("p99 latency, batch 1, 1 connection", lambda s, p: fmt_us(load(s, p, "b1_c1", "p99_us"))),
        ("p50 latency, batch 64, 1 connection", lambda s, p: fmt_us(load(s, p, "b64_c1", "p50_us"))),
        ("open loop at half the batch-1 peak: rate sent", lambda s, p: fmt_rate(run(s, p, "target_rps"))),
        ("  achieved req/s", lambda s, p: fmt_rate(run(s, p, "achieved_rps"))),
        ("  p50 / p99 / p99.9",
         lambda s, p: "-" if run(s, p, "p50_us") is None else
         " / ".join(fmt_us(run(s, p, f)) for f in ("p50_us", "p99_us", "p999_us"))),
        ("  generator's own send lag, p99", lambda s, p: fmt_us(run(s, p, "send_lag_p99_us"))),
        ("RSS idle, model loaded", lambda s, p: "-" if not s else f"{s['rss_idle_kib'] / 1024:.1f} MiB"),
        ("RSS after the loads", lambda s, p: "-" if not s else f"{s['rss_after_kib'] / 1024:.1f} MiB"),
    ]
    lines = ["| workload | " + " | ".join(label for label, _, _ in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for title, cell in rows:
        lines.append(f"| {title} | " + " | ".join(cell(s, p) for _, s, p in columns) + " |")

    predict = results["predict_us"]
    lines += ["", f"xgboost's own predict (inplace_predict from Python, 1 thread, median): batch 1 "
              f"{fmt_us(predict['1'])}, batch 64 {fmt_us(predict['64'])}.", ""]

    lathe = results["servers"].get("lathe")
    one, two = results["servers"].get("fastapi_1"), results["servers"].get("fastapi_2")
    if not lathe:
        lines.append(f"Lathe not measured: {results['lathe_skipped']}")
        return "\n".join(lines)
    lines += ["| Lathe target | measured | target | met |", "|---|---|---|---|"]
    for protocol, name in (("oip", "OIP v2"), ("invocations", "/invocations")):
        mine = load(lathe, protocol, f"b1_c{c}", "rps")
        for baseline, label, target in ((one, "1 worker", TARGET_VS_ONE_WORKER), (two, "2 workers", TARGET_VS_TWO_WORKERS)):
            theirs = load(baseline, "invocations", f"b1_c{c}", "rps")
            if mine and theirs:
                ratio = mine / theirs
                lines.append(f"| {name} batch-1 req/s vs FastAPI {label} | {ratio:.1f}x | >= {target}x | "
                             f"{'yes' if ratio >= target else 'no'} |")
        latency = load(lathe, protocol, "b1_c1", "p50_us")
        lines.append(f"| {name} batch-1 p50 at 1 connection vs xgboost predict | {fmt_us(latency)} vs "
                     f"{fmt_us(predict['1'])} | | |")
        floor, native = lathe.get("ping_c1", {}).get("p50_us"), native_predict_us()
        if latency and floor and native:
            lines.append(f"| {name} batch-1 p50 at 1 connection above GET /ping ({fmt_us(floor)}), minus the "
                         f"model's own predict ({native:.1f} us) | {latency - floor - native:.0f} us | <= 50 us | "
                         f"{'yes' if latency - floor - native <= 50 else 'no'} |")
        lines.append(f"| {name} p99 open loop at {fmt_rate(run(lathe, protocol, 'target_rps'))} req/s | "
                     f"{fmt_us(run(lathe, protocol, 'p99_us'))} | | |")
    rss = lathe["rss_idle_kib"] / 1024
    lines.append(f"| RSS idle | {rss:.1f} MiB | <= {TARGET_RSS_MIB} MiB | {'yes' if rss <= TARGET_RSS_MIB else 'no'} |")
    return "\n".join(lines)


def main():
    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGINT, exit_on_signal)
    with open(os.path.join(WORK_DIR, "expected.json")) as f:
        expected = json.load(f)
    lathe_skipped = why_lathe_is_skipped()
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "seconds": SECONDS,
               "peak_connections": PEAK_CONNECTIONS, "openloop_connections": OPENLOOP_CONNECTIONS,
               "cores": os.cpu_count(), "predict_us": predict_times_us(), "servers": {}}
    if lathe_skipped:
        results["lathe_skipped"] = lathe_skipped
        print(f"Lathe skipped: {results['lathe_skipped']}; measuring the baselines only", flush=True)
    failures = []
    try:
        for server in make_servers(include_lathe=not lathe_skipped):
            print(f"{server.label}: starting", flush=True)
            server.start()
            problems = check_answers(server, expected)
            if problems:
                failures += problems
                server.stop()
                continue
            results["servers"][server.key] = measured = measure(server)
            server.stop()
            for key, load in measured["loads"].items():
                if load["status_errors"] or load["socket_errors"]:
                    failures.append(f"{server.label} {key}: {load['status_errors']} status errors, "
                                    f"{load['socket_errors']} socket errors")
            for protocol, run in measured["openloop"].items():
                if run["errors"]:
                    failures.append(f"{server.label} {protocol} open loop: {run['errors']:.0f} errors")
    finally:
        for server in servers:
            server.stop()

    table = summary(results)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, "serving.json"), "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(RESULTS_DIR, "serving.md"), "w") as f:
        f.write(table + "\n")
    print("\n" + table)
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
