"""Tracking benchmark: metric ingest, run search and memory of `lathe server`, with MLflow's own
server (gunicorn, 4 workers, SQLite) measured as the baseline in the same run.

Environment:
  LATHE_BIN                 the lathe binary (run.sh sets it to build/lathe)
  LATHE_MLFLOW_SOURCE       PYTHONPATH entries holding mlflow 2.12.2 and querystring_parser; unset: no
                            baseline, ratios against reference figures measured earlier on this machine
  LATHE_BENCH_SECONDS       duration of each ingest load (default 10)
  LATHE_BENCH_RUNS          run counts for the search workload (default "1000,10000")
  LATHE_BENCH_MLFLOW_10K=1  also populate MLflow with more than 1,000 runs (slow; default: skipped)
  LATHE_BENCH_POPULATE_TIMEOUT  seconds allowed to populate one experiment (default 1800)

Writes bench/results/tracking.json and bench/results/tracking.md; exits 1 when any request failed.
"""

import atexit
import concurrent.futures
import datetime
import json
import math
import os
import re
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULTS_DIR = os.path.join(ROOT, "bench", "results")
SECONDS = int(os.environ.get("LATHE_BENCH_SECONDS", "10"))
RUN_COUNTS = [int(n) for n in os.environ.get("LATHE_BENCH_RUNS", "1000,10000").split(",")]
MLFLOW_SOURCE = os.environ.get("LATHE_MLFLOW_SOURCE")
MLFLOW_LARGE = os.environ.get("LATHE_BENCH_MLFLOW_10K") == "1"
# Populating MLflow with 10,000 runs takes minutes; larger experiments are opt-in for it.
MLFLOW_DEFAULT_MAX_RUNS = 1000
POPULATE_TIMEOUT = int(os.environ.get("LATHE_BENCH_POPULATE_TIMEOUT", "1800"))
POPULATE_THREADS = 8
SEARCH_WARMUP = 5
SEARCH_CALLS = 50
SEARCH_BODY = {"filter": "metrics.rmse < 0.5 and params.alpha = 'a1'", "order_by": ["metrics.rmse DESC"],
               "max_results": 100}
BATCH = 1000
# (key, label, wrk script, points per request)
LOADS = (("log_batch", f"log-batch points/s ({BATCH:,}/request)", "log_batch.lua", BATCH),
         ("log_metric", "log-metric calls/s", "log_metric.lua", 1))
# (connections, wrk threads): two wrk threads at most, as the machines have 2 cores.
CONNECTIONS = ((1, 1), (8, 2))
SPEEDUP_TARGET = 10
LARGE_SEARCH_TARGET_MS = 20
# MLflow 2.12.2 measured on this machine before (gunicorn, 4 workers, SQLite): the baseline only
# when MLflow does not run in this benchmark run.
REFERENCE = {"log_batch": 12000, "log_metric": 244, "search_1000": 27.0}

servers = []  # every server started, so that exit paths can stop them all


def stop_all_servers():
    for server in servers:
        server.stop()


def exit_on_signal(signum, _frame):
    print(f"\nbenchmark interrupted by signal {signum}; stopping the servers", file=sys.stderr, flush=True)
    # SystemExit unwinds through the finally blocks, which stop the servers and delete their files.
    sys.exit(128 + signum)


class Server:
    def __init__(self, kind):
        self.kind = kind
        self.process = None
        self.stopped = False
        self.log_problems = []
        self.dir = tempfile.mkdtemp(prefix=f"lathe-bench-{kind}-")
        servers.append(self)
        self.log_path = os.path.join(self.dir, "server.log")
        data = os.path.join(self.dir, "data")
        os.mkdir(data)
        with open(self.log_path, "wb") as log:
            if kind == "lathe":
                command = [os.environ["LATHE_BIN"], "server", "--host", "127.0.0.1", "--port", "0",
                           "--data-dir", data, "--log-level", "warn"]
                env = os.environ
            else:
                self.port = free_port()
                command = ["/usr/bin/python3", "-m", "mlflow", "server", "--backend-store-uri",
                           f"sqlite:///{data}/mlflow.db", "--artifacts-destination", f"{data}/artifacts",
                           "--host", "127.0.0.1", "--port", str(self.port), "--workers", "4"]
                env = dict(os.environ, PYTHONPATH=MLFLOW_SOURCE)
            # Own process group: MLflow's gunicorn workers are stopped with their master.
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        self.wait_ready()

    def wait_ready(self):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.process.returncode} at start:\n"
                                   + self.log_tail())
            if self.kind == "lathe" and not hasattr(self, "port"):
                # --port 0: the server picks a free port and prints it on its first line.
                with open(self.log_path) as log:
                    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
                if match:
                    self.port = int(match.group(1))
            if hasattr(self, "port"):
                try:
                    if requests.get(self.url + "/health", timeout=1).status_code == 200:
                        return
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} server not healthy after 120 s:\n" + self.log_tail())

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines=20):
        with open(self.log_path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])

    def call(self, session, endpoint, body):
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.kind} server exited with {self.process.returncode}:\n" + self.log_tail())
        response = session.post(f"{self.url}/api/2.0/mlflow/{endpoint}", json=body, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"{self.kind} {endpoint}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()

    def version(self):
        if self.kind == "lathe":
            return None
        return requests.get(self.url + "/version", timeout=10).text.strip()

    def wait_idle(self):
        """Waits until the server answers promptly again, so one load's backlog does not eat the next."""
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                requests.get(self.url + "/health", timeout=60)
            except requests.RequestException:
                pass
            if time.perf_counter() - start < 0.05:
                return
        raise RuntimeError(f"{self.kind} server still busy 300 s after a load")

    def group_pids(self):
        """Live processes of the server's process group: MLflow's CLI, its gunicorn master and workers."""
        pids = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    # The command name in parentheses may hold spaces: fields count from the last ')'.
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == self.process.pid and fields[0] != "Z":
                pids.append(int(entry))
        return pids

    def memory_kib(self):
        """VmRSS and VmHWM summed over the server's processes, and their PSS, which counts the pages
        gunicorn's forked workers share once rather than once per process."""
        memory = {"vmrss_kib": 0, "vmhwm_kib": 0, "pss_kib": 0}
        pids = self.group_pids()
        for pid in pids:
            try:
                with open(f"/proc/{pid}/status") as f:
                    status = f.read()
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    rollup = f.read()
            except OSError:
                continue
            memory["vmrss_kib"] += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            memory["vmhwm_kib"] += int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
            memory["pss_kib"] += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))
        return dict(memory, processes=len(pids))

    def stop(self):
        """SIGTERM to the whole group, SIGKILL to what is left after 10 s; then the files go."""
        # Once the leader is reaped its pid, the group's id, may be reused: stop only once, and only a
        # group that still has a live leader or live members.
        if self.process is not None and not self.stopped and (self.process.returncode is None or self.group_pids()):
            self.signal_group(signal.SIGTERM)
            # MLflow's CLI exits at once while gunicorn's workers finish: wait for the group, not the leader.
            deadline = time.monotonic() + 10
            while self.group_pids() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.signal_group(signal.SIGKILL)
            self.process.wait()
            self.stopped = True
        if os.path.isdir(self.dir):
            self.log_problems = self.scan_log()
            shutil.rmtree(self.dir, ignore_errors=True)

    def signal_group(self, signum):
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def scan_log(self):
        """Lines of the server's log worth a look: anything Lathe says at warn level, MLflow's errors."""
        with open(self.log_path, errors="replace") as log:
            lines = [line.rstrip() for line in log]
        if self.kind == "lathe":
            return [line for line in lines if line and "listening on http://" not in line]
        return [line for line in lines if re.search(r"Traceback|\bERROR\b|CRITICAL|WORKER TIMEOUT|Exception", line)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk_load(server, script, threads, connections, run_id):
    env = dict(os.environ, BENCH_RUN_ID=run_id, BENCH_LUA_DIR=HERE, BENCH_BATCH=str(BATCH))
    result = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{SECONDS}s", "--timeout", "30s",
                             "-s", os.path.join(HERE, script), server.url], capture_output=True, text=True,
                            env=env, timeout=SECONDS + 120)
    match = re.search(r"^BENCH_RESULT (.*)$", result.stdout, re.M)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    fields = {key: int(value) for key, value in (item.split("=") for item in match.group(1).split())}
    ok = fields["requests"] - fields["status_errors"]
    return {"ok_requests_per_s": ok / (fields["duration_us"] / 1e6), "requests": fields["requests"],
            "non_2xx": fields["status_errors"],
            "socket_errors": sum(fields[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")),
            "latency_p50_ms": fields["p50_us"] / 1000, "latency_p99_ms": fields["p99_us"] / 1000}


def populate(server, experiment_id, runs):
    """`runs` runs, each with 3 metrics, 3 params and 1 tag, created by several threads at once."""
    deadline = time.monotonic() + POPULATE_TIMEOUT
    local = threading.local()

    def make(index):
        if time.monotonic() > deadline:
            raise RuntimeError(f"populating {runs} runs took more than {POPULATE_TIMEOUT} s")
        if not hasattr(local, "session"):
            local.session = requests.Session()
        rng = random.Random(index)  # the same values on both servers, so their answers can be compared
        run = server.call(local.session, "runs/create", {"experiment_id": experiment_id, "run_name": f"run-{index}",
                                                         "start_time": 1700000000000 + index})
        server.call(local.session, "runs/log-batch", {
            "run_id": run["run"]["info"]["run_id"],
            "metrics": [{"key": key, "value": rng.random(), "timestamp": 1700000000000, "step": 0}
                        for key in ("rmse", "mae", "r2")],
            "params": [{"key": "alpha", "value": f"a{index % 10}"}, {"key": "depth", "value": str(index % 7)},
                       {"key": "model", "value": "xgboost"}],
            "tags": [{"key": "team", "value": f"t{index % 3}"}]})

    pool = concurrent.futures.ThreadPoolExecutor(POPULATE_THREADS)
    try:
        for future in concurrent.futures.as_completed([pool.submit(make, i) for i in range(runs)]):
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def search_latency(server, experiment_id):
    session = requests.Session()
    body = dict(SEARCH_BODY, experiment_ids=[experiment_id])
    for _ in range(SEARCH_WARMUP):
        server.call(session, "runs/search", body)
    timings = []
    for _ in range(SEARCH_CALLS):
        start = time.perf_counter()
        answer = server.call(session, "runs/search", body)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    return {"median_ms": statistics.median(timings), "p95_ms": timings[math.ceil(0.95 * len(timings)) - 1],
            "calls": len(timings),
            "answer": [run["info"]["run_name"] for run in answer.get("runs", [])]}


def measure(server, run_counts, errors):
    """All workloads on one server; a failed workload is recorded in `errors` and the others still run."""
    results = {"version": server.version(), "ingest": {}, "search": {}, "populate_s": {}}
    session = requests.Session()

    def attempt(what, action):
        try:
            action()
        except (RuntimeError, requests.RequestException, subprocess.TimeoutExpired) as error:
            errors.append(f"{server.kind} {what}: {error}")
            print(f"  {server.kind}: {what} FAILED: {error}", flush=True)

    experiment_id = server.call(session, "experiments/create", {"name": "ingest"})["experiment_id"]
    for key, label, script, points in LOADS:
        for connections, threads in CONNECTIONS:
            def ingest():
                # A fresh run per load: MLflow's ingest slows down as a run's history grows, and each
                # load should start from the same state on both servers.
                run = server.call(session, "runs/create", {"experiment_id": experiment_id})
                load = wrk_load(server, script, threads, connections, run["run"]["info"]["run_id"])
                load["points_per_s"] = load["ok_requests_per_s"] * points
                results["ingest"][f"{key}_{connections}c"] = load
                print(f"  {server.kind}: {label}, {connections} connection(s): {load['ok_requests_per_s']:,.1f} "
                      f"requests/s = {load['points_per_s']:,.0f} points/s", flush=True)
                if load["non_2xx"] or load["socket_errors"]:
                    print(f"  {server.kind}: ERRORS: {load['non_2xx']} non-2xx answers, {load['socket_errors']} "
                          f"socket errors", flush=True)
                    errors.append(f"{server.kind} {key}, {connections} connection(s): {load['non_2xx']} non-2xx "
                                  f"answers, {load['socket_errors']} socket errors in {load['requests']} requests")
                server.wait_idle()
            attempt(f"{key} with {connections} connection(s)", ingest)
    for runs in run_counts:
        def search():
            experiment_id = server.call(session, "experiments/create", {"name": f"search-{runs}"})["experiment_id"]
            started = time.monotonic()
            populate(server, experiment_id, runs)
            results["populate_s"][str(runs)] = time.monotonic() - started
            print(f"  {server.kind}: populated {runs:,} runs in {results['populate_s'][str(runs)]:.1f} s", flush=True)
            latency = search_latency(server, experiment_id)
            results["search"][str(runs)] = latency
            print(f"  {server.kind}: search over {runs:,} runs: median {latency['median_ms']:.2f} ms, "
                  f"p95 {latency['p95_ms']:.2f} ms, {len(latency['answer'])} runs found", flush=True)
        attempt(f"search over {runs:,} runs", search)
    results["memory"] = server.memory_kib()
    return results


def rows_for(lathe, mlflow):
    """One row per figure: Lathe, the baseline (measured, reference or skipped), their ratio, the target."""
    rows = []
    for key, label, _, _ in LOADS:
        for connections, _ in CONNECTIONS:
            name = f"{key}_{connections}c"
            value = lathe["ingest"].get(name, {}).get("points_per_s")
            if mlflow is not None:
                base, kind = mlflow["ingest"].get(name, {}).get("points_per_s"), "measured"
            else:
                base, kind = REFERENCE[key], "reference"
            ratio = value / base if value is not None and base else None
            rows.append({"workload": f"{label}, {connections} connection{'s' if connections > 1 else ''}",
                         "unit": "points/s", "lathe": value, "baseline": base, "baseline_kind": kind,
                         "ratio": ratio, "target": f">= {SPEEDUP_TARGET}x",
                         "met": None if ratio is None else ratio >= SPEEDUP_TARGET})
    for runs in RUN_COUNTS:
        search = lathe["search"].get(str(runs), {})
        value = search.get("median_ms")
        if mlflow is not None and (runs <= MLFLOW_DEFAULT_MAX_RUNS or MLFLOW_LARGE):
            base, kind = mlflow["search"].get(str(runs), {}).get("median_ms"), "measured"
            base_p95 = mlflow["search"].get(str(runs), {}).get("p95_ms")
        elif mlflow is None and f"search_{runs}" in REFERENCE:
            base, kind, base_p95 = REFERENCE[f"search_{runs}"], "reference", None
        else:
            base, kind, base_p95 = None, "skipped" if mlflow is not None else "no reference", None
        ratio = base / value if value and base else None
        if runs > MLFLOW_DEFAULT_MAX_RUNS:
            target = f"<= {LARGE_SEARCH_TARGET_MS} ms"
            met = None if value is None else value <= LARGE_SEARCH_TARGET_MS
        else:
            target = f">= {SPEEDUP_TARGET}x"
            met = None if ratio is None else ratio >= SPEEDUP_TARGET
        rows.append({"workload": f"search_runs median, {runs:,} runs", "unit": "ms", "lathe": value,
                     "lathe_p95": search.get("p95_ms"), "baseline": base, "baseline_p95": base_p95,
                     "baseline_kind": kind, "ratio": ratio, "target": target, "met": met})
    return rows


def format_value(value, unit, p95=None):
    if value is None:
        return "failed"
    if unit == "ms":
        return f"{value:.1f} ms" + (f" (p95 {p95:.1f})" if p95 is not None else "")
    return f"{value:,.0f}"


def table(rows, lathe, mlflow):
    """The rows as cells: workload, Lathe, MLflow, ratio, target, met?"""
    cells = []
    for row in rows:
        if row["baseline_kind"] in ("skipped", "no reference"):
            base = row["baseline_kind"]
        elif row["baseline_kind"] == "reference":
            base = format_value(row["baseline"], row["unit"]) + " (reference)"
        else:
            base = format_value(row["baseline"], row["unit"], row.get("baseline_p95"))
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.1f}x"
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        cells.append([row["workload"], format_value(row["lathe"], row["unit"], row.get("lathe_p95")), base, ratio,
                      row["target"], met])
    def memory(m):
        return (f"{m['vmrss_kib'] / 1024:.1f} / {m['vmhwm_kib'] / 1024:.1f} / {m['pss_kib'] / 1024:.1f} MiB"
                + (f" ({m['processes']} processes)" if m["processes"] > 1 else ""))
    mlflow_memory = "not measured"
    if mlflow is not None and mlflow["memory"] is not None:
        mlflow_memory = memory(mlflow["memory"])
    cells.append(["server memory after the workloads: VmRSS / VmHWM / PSS", memory(lathe["memory"]), mlflow_memory,
                  "", "", ""])
    return cells


def print_table(cells, baseline_title):
    header = ["workload", "Lathe", baseline_title, "ratio", "target", "met?"]
    widths = [max(len(row[i]) for row in cells + [header]) for i in range(len(header))]
    for row in [header] + cells:
        print("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                        for i, (cell, width) in enumerate(zip(row, widths))).rstrip())


def machine():
    with open("/proc/cpuinfo") as f:
        model = re.search(r"model name\s*:\s*(.*)", f.read())
    with open("/proc/meminfo") as f:
        memory = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model.group(1) if model else "unknown",
            "memory_gib": round(memory / 1024 / 1024, 1)}


def lathe_commit():
    def git(*args):
        return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD")
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "") if commit else "unknown"


def command_line():
    settings = [f"{name}={os.environ[name]}" for name in
                ("LATHE_MLFLOW_SOURCE", "LATHE_BENCH_MLFLOW_10K", "LATHE_BENCH_SECONDS", "LATHE_BENCH_RUNS",
                 "LATHE_BENCH_POPULATE_TIMEOUT") if name in os.environ]
    # make exports MAKELEVEL to its recipes: tells `make bench` from a direct call of run.sh.
    return " ".join(settings + (["make bench"] if "MAKELEVEL" in os.environ else ["bash bench/tracking/run.sh"]))


def write_markdown(path, report, cells, baseline_title):
    m = report["machine"]
    lines = [f"Results on {report['date']}, {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, "
             f"Lathe {report['lathe_commit']}, one run:", "",
             "```sh", report["command"], "```", "",
             f"({report['seconds']} s per ingest load, search median and p95 of {SEARCH_CALLS} keep-alive calls after "
             f"{SEARCH_WARMUP} warm-up calls.)", "",
             f"| workload | Lathe | {baseline_title} | ratio | target | met |", "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    lines += ["", *[f"- {note}" for note in report["notes"]]]
    if report["errors"]:
        lines += ["", "**This run had errors; its figures are not valid:**", *[f"- {e}" for e in report["errors"]]]
    with open(path, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


def main():
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, exit_on_signal)
    atexit.register(stop_all_servers)
    report = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "command": command_line(), "machine": machine(), "lathe_commit": lathe_commit(), "seconds": SECONDS,
              "run_counts": RUN_COUNTS, "search_calls": SEARCH_CALLS, "notes": [], "errors": []}
    errors, notes = report["errors"], report["notes"]
    m = report["machine"]
    print(f"tracking benchmark: {m['nproc']} cores ({m['cpu_model']}), Lathe {report['lathe_commit']}, "
          f"{SECONDS} s per ingest load, search over {', '.join(f'{n:,}' for n in RUN_COUNTS)} runs", flush=True)

    # One server at a time: on 2 cores, both at once would measure each other.
    lathe = mlflow = None
    try:
        try:
            server = Server("lathe")
            lathe = measure(server, RUN_COUNTS, errors)
            server.stop()
        except (RuntimeError, requests.RequestException) as error:
            errors.append(f"lathe: {error}")
        if MLFLOW_SOURCE:
            baseline_title = "MLflow 2.12.2"
            notes.append("MLflow baseline: measured in this run (mlflow server, gunicorn, 4 workers, SQLite), "
                         "after Lathe was stopped")
            mlflow_counts = [n for n in RUN_COUNTS if n <= MLFLOW_DEFAULT_MAX_RUNS or MLFLOW_LARGE]
            skipped = [n for n in RUN_COUNTS if n not in mlflow_counts]
            if skipped:
                notes.append(f"MLflow search over {', '.join(f'{n:,}' for n in skipped)} runs: skipped "
                             f"(populating MLflow with that many runs is slow; LATHE_BENCH_MLFLOW_10K=1 includes it)")
                print(notes[-1], flush=True)
            try:
                server = Server("mlflow")
                mlflow = measure(server, mlflow_counts, errors)
                server.stop()
                if mlflow["version"] != "2.12.2":
                    notes.append(f"the baseline server reports MLflow {mlflow['version']}, not 2.12.2")
            except (RuntimeError, requests.RequestException) as error:
                errors.append(f"mlflow: {error}")
                # Shown as failed, not replaced by the reference figures.
                mlflow = {"version": None, "ingest": {}, "search": {}, "populate_s": {}, "memory": None}
        else:
            baseline_title = "MLflow (reference)"
            notes.append("MLflow baseline: skipped (LATHE_MLFLOW_SOURCE not set); the MLflow figures and ratios "
                         "use reference figures measured earlier on this machine (MLflow 2.12.2, gunicorn, "
                         "4 workers, SQLite) - reference, not measured in this run")
            print(notes[-1], flush=True)
    finally:
        stop_all_servers()
    for server in servers:
        if server.log_problems:
            notes.append(f"{server.kind} server log: {len(server.log_problems)} line(s) worth a look, first: "
                         + " | ".join(server.log_problems[:5]))

    if lathe is None:
        print("\nBENCHMARK FAILED: " + "\n".join(errors), file=sys.stderr)
        return 1
    # Both servers were given the same runs; a different answer means the timings are not comparable.
    if mlflow is not None:
        for runs, search in lathe["search"].items():
            theirs = mlflow["search"].get(runs)
            if theirs is not None and theirs["answer"] != search["answer"]:
                errors.append(f"search over {runs} runs: Lathe answered {len(search['answer'])} runs, MLflow "
                              f"{len(theirs['answer'])}, not the same runs in the same order")
    for results in (lathe, mlflow):
        for search in (results or {}).get("search", {}).values():
            search["runs_found"] = len(search.pop("answer"))

    rows = rows_for(lathe, mlflow)
    cells = table(rows, lathe, mlflow)
    print()
    print_table(cells, baseline_title)
    print()
    for note in notes:
        print(note)
    report.update(lathe=lathe, mlflow=mlflow, rows=rows)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    with open(os.path.join(RESULTS_DIR, "tracking.json"), "w") as f:
        json.dump(report, f, indent=2)
    write_markdown(os.path.join(RESULTS_DIR, "tracking.md"), report, cells, baseline_title)
    print(f"\nwritten: {os.path.relpath(RESULTS_DIR, ROOT)}/tracking.json and tracking.md")
    if errors:
        bar = "!" * 78
        print(f"\n{bar}\nBENCHMARK HAD ERRORS; the figures above are not valid:", file=sys.stderr)
        for error in errors:
            print(f"  - {error}", file=sys.stderr)
        print(bar, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
