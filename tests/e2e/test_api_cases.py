"""Golden API cases: each tests/e2e/cases/*.json is a scenario of HTTP steps against a fresh server.

A step: {"name", "method", "path", "json" | "query" | "raw_body" | "raw_body_hex", "headers",
"repeat" ({"field": [count, template]}: adds json[field] = count copies of template, ${i} = index),
"expect_status" (default 200; a list allows any of them), "expect_json" (subset match), "expect_body" (exact), "expect_body_hex",
"expect_absent" (keys that must not be there), "expect_types" ({"a.b.0.c": "str|int|float|bool|list|dict"}),
"expect_headers" ({"Name": "substring"}), "expect_error_code", "expect_message_contains", "save" ({"var": "a.b.0.c"})}.
Strings may use ${var} for saved values. Inside expect_json a value may be a matcher object:
{"$regex": "..."} (re.search on a string), {"$type": "int"}, {"$json": subset} (a string holding JSON that
contains subset), {"$contains": [subset, ...]} (a list with, for each subset, some matching element, in any
order), {"$len": n}, {"$not": value} (anything but a match of value).
"""

import glob
import json
import os
import re
import time
import unittest

import requests

from lathe_server import LatheServer

CASES_DIR = os.path.join(os.path.dirname(__file__), "cases")
TYPES = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}


def substitute(value, variables):
    if isinstance(value, str):
        def replace(match):
            if match.group(1) not in variables:
                raise KeyError(f"unknown variable ${{{match.group(1)}}}")
            return str(variables[match.group(1)])
        whole = re.fullmatch(r"\$\{(\w+)\}", value)
        if whole and not isinstance(variables.get(whole.group(1)), str):
            return variables[whole.group(1)]
        return re.sub(r"\$\{(\w+)\}", replace, value)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value


def lookup(document, dotted):
    node = document
    for part in dotted.split("."):
        if isinstance(node, list):
            node = node[int(part)]
        else:
            node = node[part]
    return node


def matcher_mismatch(op, arg, actual, path):
    if op == "$regex":
        if not isinstance(actual, str) or not re.search(arg, actual):
            return f"{path}: expected a string matching /{arg}/, got {json.dumps(actual)[:200]}"
        return None
    if op == "$type":
        if type(actual) is not TYPES[arg]:
            return f"{path}: expected type {arg}, got {type(actual).__name__} {json.dumps(actual)[:100]}"
        return None
    if op == "$json":
        try:
            parsed = json.loads(actual)
        except (TypeError, ValueError):
            return f"{path}: expected a JSON string, got {json.dumps(actual)[:200]}"
        return subset_mismatch(arg, parsed, path + "<json>")
    if op == "$contains":
        if not isinstance(actual, list):
            return f"{path}: expected a list, got {json.dumps(actual)[:200]}"
        for want in arg:
            if all(subset_mismatch(want, item) for item in actual):
                return f"{path}: no element matches {json.dumps(want)[:200]} in {json.dumps(actual)[:300]}"
        return None
    if op == "$len":
        if not isinstance(actual, (list, str, dict)) or len(actual) != arg:
            return f"{path}: expected length {arg}, got {json.dumps(actual)[:200]}"
        return None
    if op == "$not":
        if subset_mismatch(arg, actual, path) is None:
            return f"{path}: expected anything but {json.dumps(arg)}, got {json.dumps(actual)[:200]}"
        return None
    raise ValueError(f"unknown matcher {op}")


def subset_mismatch(expected, actual, path="$"):
    """The first place where `expected` is not contained in `actual`, or None."""
    if isinstance(expected, dict) and len(expected) == 1 and next(iter(expected)).startswith("$"):
        op, arg = next(iter(expected.items()))
        return matcher_mismatch(op, arg, actual, path)
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{path}: expected an object, got {json.dumps(actual)[:200]}"
        for key, value in expected.items():
            if key not in actual:
                return f"{path}.{key}: missing (have {sorted(actual)})"
            problem = subset_mismatch(value, actual[key], f"{path}.{key}")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return f"{path}: expected {json.dumps(expected)[:200]}, got {json.dumps(actual)[:200]}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            problem = subset_mismatch(e, a, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if expected != actual or type(expected) is not type(actual):
        return f"{path}: expected {json.dumps(expected)}, got {json.dumps(actual)}"
    return None


class ApiCasesTest(unittest.TestCase):
    def run_case_file(self, path):
        with open(path) as f:
            steps = json.load(f)
        with LatheServer() as server, requests.Session() as session:
            variables = {}
            for index, raw_step in enumerate(steps):
                # Steps whose order shows in timestamps (millisecond resolution) wait a little first.
                time.sleep(raw_step.get("wait_ms", 0) / 1000)
                step = substitute({k: v for k, v in raw_step.items() if k != "repeat"}, variables)
                label = f"{os.path.basename(path)} step {index} ({step.get('name', step['path'])})"
                kwargs = {"headers": step.get("headers", {}), "timeout": 60}
                if "json" in step:
                    kwargs["json"] = step["json"]
                if "query" in step:
                    kwargs["params"] = step["query"]
                if "raw_body" in step:
                    kwargs["data"] = step["raw_body"].encode()
                if "raw_body_hex" in step:
                    kwargs["data"] = bytes.fromhex(step["raw_body_hex"])
                for field, (count, template) in raw_step.get("repeat", {}).items():
                    kwargs.setdefault("json", {})[field] = [substitute(template, {**variables, "i": i})
                                                            for i in range(count)]
                response = session.request(step["method"], server.url + step["path"], **kwargs)
                allowed = step.get("expect_status", 200)
                allowed = allowed if isinstance(allowed, list) else [allowed]
                self.assertIn(response.status_code, allowed, f"{label}: {response.text[:500]}")
                expected_status = response.status_code
                if expected_status >= 400 or "expect_error_code" in step:
                    self.assertTrue(response.headers.get("Content-Type", "").startswith("application/json"),
                                    f"{label}: an error must be JSON: {response.headers} {response.text[:200]}")
                if step["method"] == "HEAD":
                    self.assertEqual(response.content, b"", f"{label}: HEAD must have no body")
                    body = None
                elif response.headers.get("Content-Type", "").startswith("application/json"):
                    body = response.json()
                else:
                    body = response.text
                for header, fragment in step.get("expect_headers", {}).items():
                    self.assertIn(fragment, response.headers.get(header, "<absent>"), f"{label}: header {header}")
                if "expect_body_hex" in step:
                    self.assertEqual(response.content.hex(), step["expect_body_hex"], label)
                if "expect_body" in step:
                    self.assertEqual(body, step["expect_body"], label)
                if "expect_json" in step:
                    problem = subset_mismatch(step["expect_json"], body)
                    self.assertIsNone(problem, f"{label}: {problem}")
                for key in step.get("expect_absent", []):
                    with self.assertRaises((KeyError, IndexError), msg=f"{label}: {key} should be absent"):
                        lookup(body, key)
                for key, type_name in step.get("expect_types", {}).items():
                    value = lookup(body, key)
                    self.assertIs(type(value), TYPES[type_name], f"{label}: {key} is {type(value).__name__}")
                if "expect_error_code" in step:
                    self.assertEqual(body.get("error_code"), step["expect_error_code"], f"{label}: {body}")
                if "expect_message_contains" in step:
                    self.assertIn(step["expect_message_contains"], body.get("message", ""), f"{label}: {body}")
                if expected_status >= 400 and isinstance(body, dict):
                    self.assertEqual(set(body), {"error_code", "message"}, f"{label}: error shape {body}")
                for name, key in step.get("save", {}).items():
                    try:
                        variables[name] = lookup(body, key)
                    except (KeyError, IndexError, TypeError):
                        self.fail(f"{label}: cannot save {name} from {key} in {json.dumps(body)[:300]}")


def add_case_tests():
    for path in sorted(glob.glob(os.path.join(CASES_DIR, "*.json"))):
        name = "test_" + os.path.splitext(os.path.basename(path))[0]
        setattr(ApiCasesTest, name, lambda self, path=path: self.run_case_file(path))


add_case_tests()

if __name__ == "__main__":
    unittest.main()
