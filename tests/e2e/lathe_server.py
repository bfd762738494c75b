"""Starts a real `lathe server` on 127.0.0.1 with an ephemeral port and a fresh data directory."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import requests

LATHE_BIN = os.environ.get("LATHE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "lathe")


class LatheServer:
    """A `lathe server` process. Use as a context manager; `url` is its base URL."""

    def __init__(self, data_dir=None, extra_args=(), env=None):
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="lathe-e2e-")
        self.extra_args = list(extra_args)
        self.env = dict(os.environ, **(env or {}))
        self.process = None
        self.url = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    def start(self):
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [LATHE_BIN, "server", "--host", "127.0.0.1", "--port", "0", "--data-dir", self.data_dir,
             "--log-level", "warn", *self.extra_args],
            stdout=subprocess.PIPE, stderr=self._log, env=self.env, cwd=self.data_dir)
        line = self.process.stdout.readline().decode()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.process.kill()
            raise RuntimeError(f"lathe server did not start: {line!r}; log: {self.log()}")
        self.url = f"http://127.0.0.1:{match.group(1)}"
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        self.process.stdout.close()
        self._log.close()
        self.process = None
        return code

    def kill(self):
        return self.stop(signal.SIGKILL)

    def cleanup(self):
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        self.cleanup()

    # Small HTTP helpers, shared by the tests.
    def api(self, method, endpoint, body=None, params=None, session=None):
        """Calls /api/2.0/mlflow/<endpoint>; returns (status, parsed JSON or text)."""
        http = session or requests
        url = self.url + "/api/2.0/mlflow/" + endpoint
        response = http.request(method, url, json=body, params=params, timeout=60)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text


def wait_for(predicate, timeout=15.0):
    """Polls `predicate` every 0.1 s until it returns something true (returned) or `timeout` passes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def lathe_cli(*args, env=None, check=True):
    """Runs the `lathe` binary; returns CompletedProcess with text output."""
    result = subprocess.run([LATHE_BIN, *args], capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, **(env or {})))
    if check and result.returncode != 0:
        raise AssertionError(f"lathe {' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result
