"""What the prediction log costs serving: `lathe server` batch-1 throughput with --prediction-log false
against true, and whether every answered request reaches the log when 80 % of the no-logging peak is
held for a minute.

1. Starts two `lathe server`s on fresh data directories, one with the prediction log off and one
   with it on (otherwise the same flags), both pinned to the server CPUs. Logs the benchmark model
   of bench/serving (make_model.py: 100 trees, depth 6, 20 named double columns) into each with
   `lathe models log` and deploys it twice, as `bench` (the peak runs) and `held` (the open-loop
   run, so that its rows are alone in their deployment's log). Checks an answer of each server's
   `bench` against xgboost.
2. Peak: wrk, one thread, POST /models/bench/invocations with a one-row dataframe_split body
   (bench/serving/post_body.lua); after a warm-up of each server, off and on alternate for
   LATHE_BENCH_ROUNDS rounds (the order flips every round) and each side's median is its peak.
   Each run also takes the server's CPU time per request from /proc (all threads, the log's
   writer included), which moves much less than req/s with the neighbours' load on a shared machine.
3. Held rate: the open-loop generator of bench/serving at 80 % of the no-logging peak against
   /models/held/invocations of the logging server for LATHE_BENCH_HOLD_SECONDS. Once the log's
   queue is empty, the increase of lathe_prediction_log_rows_total must equal the requests answered
   200 (the generator's count and the server's own lathe_inference_requests_total), with no row
   dropped, invalid, sampled out or lost to a write error; after the server stops, the segment
   files of `held` and `lathe monitor export` of it must hold the same number of rows, each with its
   own prediction id, the request's feature values and xgboost's prediction (the export is skipped,
   and said so, when the binary has no `monitor export`).

Run by run.sh, which makes the model. Environment:
  LATHE_BIN                         the lathe binary (default build/lathe)
  BENCH_SERVING_LOG_DIR             where run.sh put the model and bodies (default bench/results/monitoring/serving_log)
  LATHE_BENCH_SECONDS               each wrk run (default 8; a 3 s warm-up per server comes first)
  LATHE_BENCH_ROUNDS                off/on pairs of wrk runs (default 3)
  LATHE_BENCH_CONNECTIONS           wrk connections (default 32)
  LATHE_BENCH_HOLD_SECONDS          the open-loop run (default 60)
  LATHE_BENCH_HOLD_FRACTION         its rate as a fraction of the no-logging peak (default 0.8)
  LATHE_BENCH_OPENLOOP_CONNECTIONS  open-loop keep-alive connections (default 64)
  LATHE_BENCH_SERVER_THREADS        the servers' --threads (default 1: the server has one core)
  LATHE_BENCH_SERVER_CPUS           taskset -c for the servers (default 0; empty: not pinned)
  LATHE_BENCH_CLIENT_CPUS           taskset -c for wrk and the generator (default 1; empty: not pinned)
  LATHE_BENCH_LOG_LEVEL             the servers' --log-level (default warn: no access log line per request)
  LATHE_BENCH_FLUSH                 --prediction-log-flush (default 1s)
  LATHE_BENCH_QUEUE                 --prediction-log-queue (default 100000, the server's default)

Prints the summary (req/s and loss, CPU per request, peak RSS, the held rate and its row counts)
and writes bench/results/monitoring/serving_log.json. Exits 1 when an answer was wrong, a request
failed, the generator fell short of the rate, or any answered row is missing from the log; an
unmet throughput target is reported, not failed.
"""

import csv
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.dirname(os.path.dirname(HERE))
ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)
import lathe_bench  # noqa: E402  (bench/lathe_bench.py, found through the path set just above)

RESULTS_DIR = os.path.join(ROOT, "bench", "results", "monitoring")
WORK_DIR = os.environ.get("BENCH_SERVING_LOG_DIR", os.path.join(RESULTS_DIR, "serving_log"))
MODEL_DIR = os.path.join(WORK_DIR, "model")
BODY_PATH = os.path.join(WORK_DIR, "bodies", "invocations_b1.json")
POST_BODY_LUA = os.path.join(BENCH_DIR, "serving", "post_body.lua")
LATHE_BIN = os.environ.get("LATHE_BIN", os.path.join(ROOT, "build", "lathe"))
SECONDS = int(os.environ.get("LATHE_BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("LATHE_BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("LATHE_BENCH_CONNECTIONS", "32"))
HOLD_SECONDS = int(os.environ.get("LATHE_BENCH_HOLD_SECONDS", "60"))
HOLD_FRACTION = float(os.environ.get("LATHE_BENCH_HOLD_FRACTION", "0.8"))
OPENLOOP_CONNECTIONS = int(os.environ.get("LATHE_BENCH_OPENLOOP_CONNECTIONS", "64"))
SERVER_THREADS = os.environ.get("LATHE_BENCH_SERVER_THREADS", "1")
SERVER_CPUS = os.environ.get("LATHE_BENCH_SERVER_CPUS", "0")
CLIENT_CPUS = os.environ.get("LATHE_BENCH_CLIENT_CPUS", "1")
LOG_LEVEL = os.environ.get("LATHE_BENCH_LOG_LEVEL", "warn")
FLUSH = os.environ.get("LATHE_BENCH_FLUSH", "1s")
QUEUE = os.environ.get("LATHE_BENCH_QUEUE", "100000")
WARMUP_SECONDS = 3
MODEL_NAME = "bench"
PEAK_DEPLOYMENT = "bench"
HELD_DEPLOYMENT = "held"
TARGET_LOSS_PERCENT = 10
# The generator must deliver this share of the scheduled requests, or the rate was not held.
MIN_ACHIEVED_SHARE = 0.98
# After the load, how long the log may take to write what is queued (several flush intervals).
DRAIN_TIMEOUT_S = 30

processes = []  # every server started, so that every exit path stops them


def exit_on_signal(signum, _frame):
    print(f"\nbenchmark interrupted by signal {signum}; stopping the servers", file=sys.stderr, flush=True)
    sys.exit(128 + signum)


def http(port, method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                     headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read().decode()


def metric(text, name, labels=None):
    """The value of one Prometheus sample in /metrics text; 0 when absent (a counter not yet created)."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in (labels or {}).items()):
            return float(match.group(2))
    return 0.0


class Lathe:
    """One `lathe server` of this benchmark, with the model logged and deployed twice."""

    def __init__(self, work, key, log_predictions):
        self.key, self.log_predictions = key, log_predictions
        self.data_dir = os.path.join(work, f"data-{key}")
        self.log_path = os.path.join(work, f"server-{key}.log")
        args = ["--threads", SERVER_THREADS, "--log-level", LOG_LEVEL,
                "--prediction-log", "true" if log_predictions else "false",
                "--prediction-log-flush", FLUSH, "--prediction-log-queue", QUEUE]
        self.process, self.port = lathe_bench.start_lathe_server(LATHE_BIN, self.data_dir, self.log_path, args,
                                                                 SERVER_CPUS)
        processes.append(self.process)
        uri = f"http://127.0.0.1:{self.port}"
        subprocess.run([LATHE_BIN, "models", "log", MODEL_DIR, "--name", MODEL_NAME, "--tracking-uri", uri],
                       check=True, stdout=subprocess.DEVNULL)
        for deployment in (PEAK_DEPLOYMENT, HELD_DEPLOYMENT):
            subprocess.run([LATHE_BIN, "deploy", f"models:/{MODEL_NAME}/1", "--name", deployment,
                            "--tracking-uri", uri], check=True, stdout=subprocess.DEVNULL)

    def path(self, deployment):
        return f"/models/{deployment}/invocations"

    def metrics(self):
        return http(self.port, "GET", "/metrics")

    def log_stats(self):
        """The prediction log's counters from /metrics, checked against GET /api/lathe/monitor."""
        text = self.metrics()
        stats = {key: int(metric(text, f"lathe_prediction_log_{name}")) for key, name in (
            ("logged_rows", "rows_total"), ("dropped_rows", "dropped_rows_total"),
            ("sampled_out_rows", "sampled_out_rows_total"), ("invalid_rows", "invalid_rows_total"),
            ("write_errors", "write_errors_total"), ("queued_rows", "queued_rows"))}
        overview = json.loads(http(self.port, "GET", "/api/lathe/monitor"))["prediction_log"]
        for key in ("dropped_rows", "sampled_out_rows", "invalid_rows", "write_errors"):
            if overview[key] != stats[key]:
                raise RuntimeError(f"/metrics says {key} {stats[key]}, /api/lathe/monitor {overview[key]}")
        return stats

    def drained_stats(self):
        """The log's counters once nothing is queued and the logged count has stopped moving."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        previous = None
        while time.monotonic() < deadline:
            stats = self.log_stats()
            if stats["queued_rows"] == 0 and previous is not None and previous["logged_rows"] == stats["logged_rows"]:
                return stats
            previous = stats
            time.sleep(0.5)
        raise RuntimeError(f"the prediction log still had {previous['queued_rows']} rows queued after "
                           f"{DRAIN_TIMEOUT_S} s")

    def ok_requests(self, deployment):
        return int(metric(self.metrics(), "lathe_inference_requests_total",
                          {"model": deployment, "status": "200"}))

    def stop(self):
        code = lathe_bench.stop(self.process)
        if code != 0:
            raise RuntimeError(f"lathe server ({self.key}) exited with {code}; see {self.log_path}")


def check_answers(server, expected):
    problems = []
    with open(BODY_PATH, "rb") as f:
        body = f.read()
    # Not `held`: its log must hold the open-loop run's rows and nothing else.
    got = json.loads(http(server.port, "POST", server.path(PEAK_DEPLOYMENT), body))["predictions"]
    if len(got) != 1 or abs(got[0] - expected[0]) > 1e-5 * max(1, abs(expected[0])):
        problems.append(f"{server.key}: predicted {got}, xgboost {expected}")
    return problems


def cpu_seconds(pid):
    """User + system CPU time of a process, all its threads (the log's writer among them)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    """VmHWM: the most memory the process held at once (the log's queue between two flushes)."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def wrk(server, seconds):
    """A wrk run, with the server's CPU time per answered request: on a shared machine the req/s
    move with the neighbours' load, the CPU a request costs much less."""
    cpu_before = cpu_seconds(server.process.pid)
    load = lathe_bench.run_wrk(f"http://127.0.0.1:{server.port}{server.path(PEAK_DEPLOYMENT)}", POST_BODY_LUA,
                               CONNECTIONS, seconds, env={"BENCH_BODY": BODY_PATH}, cpus=CLIENT_CPUS)
    load["cpu_us_per_request"] = (cpu_seconds(server.process.pid) - cpu_before) * 1e6 / max(1, load["requests"])
    return load


def request_values():
    with open(BODY_PATH) as f:
        request = json.load(f)["dataframe_split"]
    return dict(zip(request["columns"], request["data"][0]))


def check_rows(rows, where, expected):
    """Counts the logged rows of `held` (dicts of column -> value) after checking that each carries
    the deployment, a prediction id of its own, the request's feature values and xgboost's
    prediction for them."""
    sent = request_values()
    count, wrong, ids = 0, 0, set()
    for row in rows:
        count += 1
        ids.add(row["prediction_id"])
        if (row["deployment"] != HELD_DEPLOYMENT or any(float(row[k]) != v for k, v in sent.items())
                or abs(float(row["output_predictions"]) - expected) > 1e-5 * max(1, abs(expected))):
            wrong += 1
    if wrong:
        raise RuntimeError(f"{wrong} of {count} rows in {where} do not carry the deployment, the request's values "
                           "and the prediction")
    if len(ids) != count:
        raise RuntimeError(f"{where} has {count} rows but {len(ids)} distinct prediction ids")
    return count


def segment_rows(server, expected):
    """The rows of `held` in the log's segment files themselves (one JSON object per line)."""
    directory = os.path.join(server.data_dir, "monitoring", "predictions", HELD_DEPLOYMENT)

    def rows():
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name)) as f:
                yield from (json.loads(line) for line in f)
    return check_rows(rows(), directory, expected)


def exported_rows(server, work, expected):
    """The rows `lathe monitor export` writes for `held` from the stopped server's data directory;
    None when this lathe binary has no `monitor export`."""
    commands = subprocess.run([LATHE_BIN, "monitor", "--help"], capture_output=True, text=True).stdout
    if re.search(r"^\s+export\s", commands, re.M) is None:
        return None
    out = os.path.join(work, "held.csv")
    subprocess.run([LATHE_BIN, "monitor", "export", "--data-dir", server.data_dir, "--deployment", HELD_DEPLOYMENT,
                    "--out", out], check=True, stdout=subprocess.DEVNULL)
    with open(out, newline="") as f:
        return check_rows(csv.DictReader(f), out, expected)


def main():
    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGINT, exit_on_signal)
    with open(os.path.join(WORK_DIR, "expected.json")) as f:
        expected = json.load(f)["1"]
    openloop_bin = lathe_bench.build_openloop(WORK_DIR)
    work = tempfile.mkdtemp(prefix="lathe-bench-serving-log.")
    failures = []
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cores": os.cpu_count(),
               "seconds": SECONDS, "rounds": ROUNDS, "connections": CONNECTIONS, "hold_seconds": HOLD_SECONDS,
               "hold_fraction": HOLD_FRACTION, "openloop_connections": OPENLOOP_CONNECTIONS,
               "server_threads": SERVER_THREADS, "server_cpus": SERVER_CPUS, "client_cpus": CLIENT_CPUS,
               "log_level": LOG_LEVEL, "flush": FLUSH, "queue": QUEUE, "runs": {"off": [], "on": []}}
    try:
        servers = {"off": Lathe(work, "off", False), "on": Lathe(work, "on", True)}
        for server in servers.values():
            failures += check_answers(server, expected)
        if failures:
            raise RuntimeError("wrong answers:\n  " + "\n  ".join(failures))

        for server in servers.values():
            wrk(server, WARMUP_SECONDS)
        for round_index in range(ROUNDS):
            for key in ("off", "on") if round_index % 2 == 0 else ("on", "off"):
                load = wrk(servers[key], SECONDS)
                results["runs"][key].append(load)
                print(f"  round {round_index + 1} log {key:3}: {load['rps']:9,.0f} req/s  p50 {load['p50_us']:6,} us"
                      f"  p99 {load['p99_us']:6,} us  server CPU {load['cpu_us_per_request']:5.1f} us/request",
                      flush=True)
                if load["status_errors"] or load["socket_errors"]:
                    failures.append(f"wrk (log {key}): {load['status_errors']} status errors, "
                                    f"{load['socket_errors']} socket errors")
        peak = {key: statistics.median(run["rps"] for run in runs) for key, runs in results["runs"].items()}
        loss = 100 * (1 - peak["on"] / peak["off"])
        cpu = {key: statistics.median(run["cpu_us_per_request"] for run in runs)
               for key, runs in results["runs"].items()}
        results["peak_rps"], results["loss_percent"], results["cpu_us_per_request"] = peak, loss, cpu

        results["peak_rss_mib"] = rss = {key: peak_rss_mib(s.process.pid) for key, s in servers.items()}
        server = servers["on"]
        servers["off"].stop()  # idle from here on; its core is the logging server's alone
        before = server.drained_stats()
        ok_before = server.ok_requests(HELD_DEPLOYMENT)
        rate = HOLD_FRACTION * peak["off"]
        print(f"  holding {rate:,.0f} req/s ({HOLD_FRACTION:.0%} of the no-logging peak) for {HOLD_SECONDS} s",
              flush=True)
        hold = lathe_bench.run_openloop(openloop_bin, server.port, server.path(HELD_DEPLOYMENT), BODY_PATH, rate,
                                        HOLD_SECONDS, OPENLOOP_CONNECTIONS, CLIENT_CPUS)
        after = server.drained_stats()
        results["hold_peak_rss_mib"] = hold_rss = peak_rss_mib(server.process.pid)
        answered = int(hold["ok"])
        served = server.ok_requests(HELD_DEPLOYMENT) - ok_before
        logged = after["logged_rows"] - before["logged_rows"]
        server.stop()
        on_disk = segment_rows(server, expected[0])
        exported = exported_rows(server, work, expected[0])
        results["hold"] = {"openloop": hold, "server_ok_requests": served, "log_before": before, "log_after": after,
                           "logged_rows": logged, "segment_rows": on_disk, "exported_rows": exported}
        print(f"  generator: {hold['achieved_rps']:,.0f} req/s of {hold['target_rps']:,.0f} scheduled, "
              f"{answered:,} answered 200, {hold['errors']:.0f} errors, {hold['unfinished']:.0f} unfinished; "
              f"p50 {hold['p50_us']} us, p99 {hold['p99_us']} us, p99.9 {hold['p999_us']} us, "
              f"send lag p99 {hold['send_lag_p99_us']} us", flush=True)
        print(f"  server: {served:,} requests answered 200; log: {logged:,} rows written "
              f"(lathe_prediction_log_rows_total), {on_disk:,} lines in its segment files, "
              + (f"{exported:,} rows exported by `lathe monitor export`" if exported is not None else
                 "NOT CHECKED by `lathe monitor export`: this lathe binary has no such command"), flush=True)

        if hold["errors"] or hold["unfinished"]:
            failures.append(f"open loop: {hold['errors']:.0f} errors, {hold['unfinished']:.0f} unfinished requests")
        if answered < MIN_ACHIEVED_SHARE * hold["scheduled"]:
            failures.append(f"the rate was not held: {answered:,} of {hold['scheduled']:,.0f} scheduled requests "
                            "answered")
        dropped = after["dropped_rows"] - before["dropped_rows"]
        write_errors = after["write_errors"] - before["write_errors"]
        sampled_out = after["sampled_out_rows"] - before["sampled_out_rows"]
        invalid = after["invalid_rows"] - before["invalid_rows"]
        results["hold"].update(dropped_rows=dropped, write_errors=write_errors, sampled_out_rows=sampled_out,
                               invalid_rows=invalid)
        if dropped or write_errors or sampled_out or invalid:
            failures.append(f"LOG LOST ROWS: {dropped} dropped, {write_errors} write errors, "
                            f"{sampled_out} sampled out, {invalid} invalid")
        for what, count in (("the server's 200 count", served), ("lathe_prediction_log_rows_total", logged),
                            ("the segment files", on_disk), ("`lathe monitor export`", exported)):
            if count is not None and count != answered:
                failures.append(f"{'ROWS MISSING' if count < answered else 'ROW COUNT MISMATCH'}: {what}: {count:,} "
                                f"for the {answered:,} answers 200 the generator got")
    finally:
        for process in processes:
            lathe_bench.stop(process)
        shutil.rmtree(work, ignore_errors=True)

    met = "met" if loss <= TARGET_LOSS_PERCENT else "NOT met"
    print()
    print(f"serving with prediction log: off {peak['off']:,.0f} req/s, on {peak['on']:,.0f} req/s, loss {loss:.1f} % "
          f"(target <= {TARGET_LOSS_PERCENT} %: {met})")
    print(f"server CPU per request: off {cpu['off']:.1f} us, on {cpu['on']:.1f} us (+{cpu['on'] - cpu['off']:.1f} us, "
          f"{100 * (1 - cpu['off'] / cpu['on']):.1f} % of the logging server's CPU)")
    print(f"peak RSS after the wrk runs: off {rss['off']:.0f} MiB, on {rss['on']:.0f} MiB; on after the held rate "
          f"{hold_rss:.0f} MiB")
    print(f"held {hold['achieved_rps']:,.0f} req/s for {HOLD_SECONDS} s: {answered:,} requests, "
          f"{logged:,} rows logged, {dropped} dropped")
    results["failures"] = failures
    os.makedirs(RESULTS_DIR, exist_ok=True)
    out = os.path.join(RESULTS_DIR, "serving_log.json")
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(f"wrote {out}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
