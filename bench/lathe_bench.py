"""Helpers the HTTP benchmarks share: starting `lathe server` on an ephemeral port, pinning processes
to CPUs, and running wrk (with a script that prints a BENCH_RESULT line, e.g. serving/post_body.lua)
and the open-loop generator (serving/openloop.cc) and parsing what they print.

Import from a benchmark script with
    sys.path.insert(0, <bench directory>); import lathe_bench
"""

import os
import re
import signal
import subprocess
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
OPENLOOP_SOURCE = os.path.join(BENCH_DIR, "serving", "openloop.cc")
START_TIMEOUT_S = 30


def pinned(cpus, command):
    """`command` under taskset when CPUs are given, so that server and load generator do not
    take turns on the same core."""
    return ["taskset", "-c", cpus, *command] if cpus else command


def build_openloop(out_dir):
    """Compiles the open-loop generator into out_dir unless it is already there and newer than its
    source; returns its path."""
    binary = os.path.join(out_dir, "openloop")
    if not os.path.exists(binary) or os.path.getmtime(OPENLOOP_SOURCE) > os.path.getmtime(binary):
        os.makedirs(out_dir, exist_ok=True)
        subprocess.run(["g++", "-std=c++20", "-O2", "-Wall", "-Wextra", "-o", binary, OPENLOOP_SOURCE], check=True)
    return binary


def start_lathe_server(lathe_bin, data_dir, log_path, extra_args=(), cpus=""):
    """Starts `lathe server` on 127.0.0.1 with a free port; returns (process, port) once it listens.
    The caller stops the process (stop())."""
    log = open(log_path, "w")
    process = subprocess.Popen(pinned(cpus, [lathe_bin, "server", "--host", "127.0.0.1", "--port", "0",
                                             "--data-dir", data_dir, *extra_args]),
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()  # the child holds its own copy
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"lathe server exited with {process.returncode}; see {log_path}")
        with open(log_path) as f:
            match = re.search(r"^lathe server listening on http://127\.0\.0\.1:(\d+)", f.read(), re.M)
        if match:
            return process, int(match.group(1))
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"lathe server did not start within {START_TIMEOUT_S} s; see {log_path}")


def stop(process):
    """SIGTERM, then SIGKILL after 15 s; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def run_wrk(url, script, connections, seconds, env=None, cpus=""):
    """One wrk thread (the machine's other core is the server's) against url; returns the script's
    BENCH_RESULT fields as integers, plus rps."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url]
    output = subprocess.run(pinned(cpus, command), env=dict(os.environ, **(env or {})), capture_output=True,
                            text=True, check=True).stdout
    match = re.search(r"^BENCH_RESULT (.*)$", output, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    fields = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    fields["rps"] = fields["requests"] / (fields["duration_us"] / 1e6)
    return fields


def run_openloop(openloop_bin, port, path, body_path, rate, seconds, connections, cpus=""):
    """The open-loop generator at `rate` req/s for `seconds`; returns its OPENLOOP fields (floats;
    percentiles of unanswered requests are inf)."""
    command = [openloop_bin, "--port", str(port), "--path", path, "--body", body_path, "--rate", str(int(rate)),
               "--duration", str(seconds), "--connections", str(connections)]
    output = subprocess.run(pinned(cpus, command), capture_output=True, text=True, check=True).stdout
    match = re.search(r"^OPENLOOP (.*)$", output, re.M)
    if not match:
        raise RuntimeError(f"openloop printed no result:\n{output}")
    return {k: float(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
