"""`lathe features historical` against the pandas reference (features_reference.py) on random data.

100,000 entity rows (out of time order, with entities that have no history, timestamps with
various UTC offsets, some exactly at a source event or exactly at T - TTL) joined with three views
over 300,000 source rows:
- customer_orders: keyed by an int customer_id, a created timestamp and many duplicate event
  timestamps (which the created timestamp decides), no TTL, a 30-day RANGE window average, an ISO
  weekday and the raw amount (sometimes null);
- store_stats: keyed by a string store_id, TTL 7d, event times written with offsets;
- customer_profile: keyed by customer_id, TTL 45d, naive (UTC) event times, a string feature.
The source files are shuffled so that file order cannot stand in for the created timestamp.
Every entity row must come back once, in input order, with its own columns, and every feature must
equal the reference (floats to 1e-9 relative, nulls where the reference has nulls)."""

import datetime
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import numpy as np
import pandas as pd

from features_reference import (THREE_VIEW_FEATURES, THREE_VIEW_REPO, FeatureView, historical, iso_weekday,
                                rolling_range_avg, to_utc)
from lathe_server import LATHE_BIN

SEED = 20240301
ENTITY_ROWS = 100_000
ORDERS = 180_000
STORE_SALES = 70_000
PROFILES = 50_000
CUSTOMERS = 20_000
STORES = 400
START = np.datetime64("2024-01-01T00:00:00", "s")
SPAN_SECONDS = 182 * 86400
DAY = 86400

FEATURES = THREE_VIEW_FEATURES
REPO = THREE_VIEW_REPO.replace("{project}", "crosscheck")


def iso_z(seconds):
    """Epoch seconds as 2024-01-05T10:00:00Z."""
    return np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s", timezone="UTC")


def naive(seconds):
    """Epoch seconds as 2024-01-05 10:00:00 (UTC, no zone)."""
    return pd.Series(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")).str.replace(
        "T", " ", regex=False).to_numpy()


def with_offsets(seconds, rng):
    """Epoch seconds written as local times with offsets (+02:00, -05:00, +05:30, +00:00, -09:30)."""
    offsets = np.array([2 * 60, -5 * 60, 5 * 60 + 30, 0, -(9 * 60 + 30)])
    chosen = offsets[rng.integers(0, len(offsets), len(seconds))]
    local = np.datetime_as_string((seconds + chosen * 60).astype("datetime64[s]"), unit="s")
    sign = np.where(chosen < 0, "-", "+")
    magnitude = np.abs(chosen)
    suffix = pd.Series(sign) + pd.Series(magnitude // 60).map("{:02d}".format) + ":" + pd.Series(
        magnitude % 60).map("{:02d}".format)
    return (pd.Series(local) + suffix).to_numpy()


def epoch(n, rng, low=0, high=SPAN_SECONDS):
    return START.astype("int64") + rng.integers(low, high, n)


def make_data(directory):
    """Writes the sources and entities.csv; returns the reference's views and the entity frame."""
    rng = np.random.default_rng(SEED)

    # Orders: skewed customers; 15% of rows copy another row's (customer, event time), with their
    # own created time, so that ties are frequent and only the created time breaks them.
    customer = (CUSTOMERS * rng.random(ORDERS) ** 2).astype(np.int64) + 1
    order_ts = epoch(ORDERS, rng)
    copies = rng.random(ORDERS) < 0.15
    donors = rng.integers(0, ORDERS, ORDERS)
    customer[copies] = customer[donors[copies]]
    order_ts[copies] = order_ts[donors[copies]]
    created_ts = order_ts + rng.integers(0, 3 * DAY, ORDERS)
    amount = np.round(rng.uniform(1, 500, ORDERS), 2)
    amount[rng.random(ORDERS) < 0.02] = np.nan
    orders = pd.DataFrame({"customer_id": customer, "order_ts": order_ts, "created_ts": created_ts,
                           "amount": amount})
    # Ties on the created time too would leave the winner open (the spec does not say): drop them.
    orders = orders.drop_duplicates(["customer_id", "order_ts", "created_ts"])
    orders = orders.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    orders_csv = pd.DataFrame({"order_id": np.arange(len(orders)),
                               "customer_id": orders.customer_id,
                               "order_ts": iso_z(orders.order_ts.to_numpy()),
                               "created_ts": naive(orders.created_ts.to_numpy()),
                               "amount": orders.amount})

    # Store sales: string keys, one row per (store, time), times with offsets.
    store_index = rng.integers(0, STORES, STORE_SALES)
    sales = pd.DataFrame({"store_id": pd.Series(store_index).map("store_{:04d}".format),
                          "sale_ts": epoch(STORE_SALES, rng),
                          "revenue": np.round(rng.gamma(2.0, 300.0, STORE_SALES), 2),
                          "items": rng.integers(1, 60, STORE_SALES)})
    sales = sales.drop_duplicates(["store_id", "sale_ts"]).reset_index(drop=True)
    sales_csv = pd.DataFrame({"store_id": sales.store_id,
                              "sale_ts": with_offsets(sales.sale_ts.to_numpy(), rng),
                              "revenue": sales.revenue, "items": sales["items"]})

    # Profiles: naive UTC times, a string feature that is sometimes null.
    profiles = pd.DataFrame({"customer_id": rng.integers(1, CUSTOMERS + 1, PROFILES),
                             "profile_ts": epoch(PROFILES, rng),
                             "credit_score": np.round(rng.normal(650, 80, PROFILES), 3),
                             "segment": np.array(["gold", "silver", "bronze", "new_customer"],
                                                 dtype=object)[rng.integers(0, 4, PROFILES)]})
    profiles.loc[rng.random(len(profiles)) < 0.03, "segment"] = None
    profiles = profiles.drop_duplicates(["customer_id", "profile_ts"]).reset_index(drop=True)
    profiles_csv = pd.DataFrame({"customer_id": profiles.customer_id,
                                 "profile_ts": naive(profiles.profile_ts.to_numpy()),
                                 "credit_score": profiles.credit_score, "segment": profiles.segment})

    # Entity rows: mostly random; some exactly at an order's event time, at a store sale + 7d and
    # at a profile + 45d (the inclusive TTL bound), or one second past it. Customers up to
    # CUSTOMERS * 1.05 and a few unknown stores have no history at all.
    n = ENTITY_ROWS
    entity_customer = rng.integers(1, int(CUSTOMERS * 1.05) + 1, n)
    entity_store = pd.Series(rng.integers(0, STORES + 8, n)).map("store_{:04d}".format).to_numpy()
    entity_ts = epoch(n, rng, -15 * DAY, SPAN_SECONDS + 15 * DAY)
    kind = rng.random(n)
    pick = kind < 0.1
    rows = rng.integers(0, len(orders), pick.sum())
    entity_customer[pick] = orders.customer_id.to_numpy()[rows]
    entity_ts[pick] = orders.order_ts.to_numpy()[rows]
    pick = (kind >= 0.1) & (kind < 0.2)
    rows = rng.integers(0, len(sales), pick.sum())
    entity_store[pick] = sales.store_id.to_numpy()[rows]
    entity_ts[pick] = sales.sale_ts.to_numpy()[rows] + 7 * DAY + rng.integers(0, 2, pick.sum())
    pick = (kind >= 0.2) & (kind < 0.3)
    rows = rng.integers(0, len(profiles), pick.sum())
    entity_customer[pick] = profiles.customer_id.to_numpy()[rows]
    entity_ts[pick] = profiles.profile_ts.to_numpy()[rows] + 45 * DAY + rng.integers(0, 2, pick.sum())
    entities = pd.DataFrame({"customer_id": entity_customer, "store_id": entity_store,
                             "event_timestamp": with_offsets(entity_ts, rng),
                             "label": rng.integers(0, 2, n),
                             "weight": np.round(rng.uniform(0, 1, n), 6)})

    orders_csv.to_csv(os.path.join(directory, "orders.csv"), index=False)
    sales_csv.to_csv(os.path.join(directory, "store_sales.csv"), index=False)
    profiles_csv.to_csv(os.path.join(directory, "profiles.csv"), index=False)
    entities.to_csv(os.path.join(directory, "entities.csv"), index=False)
    with open(os.path.join(directory, "features.yaml"), "w") as f:
        f.write(REPO)

    views = [
        FeatureView(name="customer_orders", source=orders_csv, join_keys=["customer_id"],
                    timestamp_field="order_ts", created_timestamp_field="created_ts",
                    features={"last_amount": "amount",
                              "avg_amount_30d": lambda s: rolling_range_avg(
                                  s, ["customer_id"], "order_ts", "amount", pd.Timedelta(days=30)),
                              "order_weekday": lambda s: iso_weekday(s["order_ts"])}),
        FeatureView(name="store_stats", source=sales_csv, join_keys=["store_id"],
                    timestamp_field="sale_ts", ttl="7d",
                    features={"store_revenue": "revenue", "store_items": "items"}),
        FeatureView(name="customer_profile", source=profiles_csv, join_keys=["customer_id"],
                    timestamp_field="profile_ts", ttl="45d",
                    features={"credit_score": "credit_score", "segment": "segment"}),
    ]
    return views, entities


def same_values(expected, actual, numeric):
    """A boolean array: equal, or both null; numbers to 1e-9 relative."""
    expected_null = pd.isna(expected).to_numpy()
    actual_null = pd.isna(actual).to_numpy()
    if numeric:
        e = pd.to_numeric(expected).to_numpy(dtype=np.float64)
        a = pd.to_numeric(actual).to_numpy(dtype=np.float64)
        close = np.isclose(a, e, rtol=1e-9, atol=1e-12)
    else:
        close = expected.astype(object).to_numpy() == actual.astype(object).to_numpy()
    return (expected_null & actual_null) | (~expected_null & ~actual_null & close)


_DATA = {}


def data():
    """The random data set, its files and the reference's answer, made once per test module."""
    if not _DATA:
        _DATA["tmp"] = tempfile.mkdtemp(prefix="lathe-features-xcheck-")
        started = time.monotonic()
        _DATA["views"], _DATA["entities"] = make_data(_DATA["tmp"])
        _DATA["expected"] = historical(_DATA["entities"], _DATA["views"], FEATURES)
        print(f"\n  data and reference: {time.monotonic() - started:.1f} s", flush=True)
    return _DATA


def tearDownModule():
    if _DATA:
        shutil.rmtree(_DATA["tmp"], ignore_errors=True)


def epoch_seconds(texts):
    """ISO timestamps as UTC epoch seconds through the standard library, not pandas."""
    out = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        parsed = datetime.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        out[i] = int(parsed.timestamp())
    return out


class ReferenceOnRandomDataTest(unittest.TestCase):
    """The reference's vectorized answer equals a row-by-row brute force on a sample of the
    random data set (timestamps parsed by datetime, not pandas). Needs no Lathe binary."""

    def test_sample_matches_brute_force(self):
        d = data()
        views = {view.name: view for view in d["views"]}
        sources = {}
        for view in d["views"]:
            frame = view.source
            times = epoch_seconds(frame[view.timestamp_field].tolist())
            created = (epoch_seconds(frame[view.created_timestamp_field].tolist())
                       if view.created_timestamp_field else np.zeros(len(frame), dtype=np.int64))
            keys = frame[view.join_keys[0]].to_numpy()
            sources[view.name] = (frame, times, created, keys)
        ttls = {"customer_orders": None, "store_stats": 7 * DAY, "customer_profile": 45 * DAY}
        entities, expected = d["entities"], d["expected"]
        rng = np.random.default_rng(SEED + 1)
        sample = rng.choice(len(entities), 400, replace=False)
        entity_times = epoch_seconds(entities.event_timestamp.to_numpy()[sample].tolist())
        checked = ties = 0
        for row, t in zip(sample, entity_times):
            for reference in FEATURES:
                view_name, column = reference.split(":")
                frame, times, created, keys = sources[view_name]
                key = entities[views[view_name].join_keys[0]].iat[row]
                candidates = np.flatnonzero((keys == key) & (times <= t))
                if ttls[view_name] is not None:
                    candidates = candidates[times[candidates] >= t - ttls[view_name]]
                got = expected[column].iat[row]
                if len(candidates) == 0:
                    self.assertTrue(pd.isna(got), (row, reference, got))
                    continue
                best = candidates[np.lexsort((created[candidates], times[candidates]))[-1]]
                ties += int((times[candidates] == times[best]).sum() > 1)
                if column == "avg_amount_30d":
                    window = (keys == key) & (times <= times[best]) & (times >= times[best] - 30 * DAY)
                    amounts = frame.amount.to_numpy()[window]
                    want = np.nan if np.isnan(amounts).all() else float(np.nanmean(amounts))
                elif column == "order_weekday":
                    want = datetime.datetime.fromtimestamp(
                        int(times[best]), datetime.timezone.utc).isoweekday()
                else:
                    source_column = views[view_name].features[column]
                    want = frame[source_column].iat[best]
                if pd.isna(want):
                    self.assertTrue(pd.isna(got), (row, reference, got))
                elif isinstance(want, str):
                    self.assertEqual(got, want, (row, reference))
                else:
                    self.assertAlmostEqual(float(got), float(want), delta=1e-9 * abs(float(want)),
                                           msg=(row, reference))
                checked += 1
        self.assertGreater(checked, 1500)
        print(f"  {checked} values checked, {ties} decided by the created timestamp", flush=True)
        self.assertGreater(ties, 50)


class FeaturesCrosscheckTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(LATHE_BIN):
            raise AssertionError(f"{LATHE_BIN} not found (LATHE_BIN)")
        d = data()
        cls.tmp, cls.expected = d["tmp"], d["expected"]
        cls.data_dir = os.path.join(cls.tmp, "lathe-data")

    def lathe(self, *args):
        started = time.monotonic()
        result = subprocess.run([LATHE_BIN, "features", *args,
                                 "--repo", os.path.join(self.tmp, "features.yaml"),
                                 "--data-dir", self.data_dir],
                                capture_output=True, text=True, timeout=300, cwd=self.tmp)
        self.assertEqual(result.returncode, 0, f"lathe features {args[0]}: {result.stderr}")
        print(f"  lathe features {args[0]}: {time.monotonic() - started:.1f} s", flush=True)
        return result

    def test_historical_equals_reference(self):
        self.lathe("apply")
        out_path = os.path.join(self.tmp, "out.csv")
        self.lathe("historical", "--entities", os.path.join(self.tmp, "entities.csv"),
                   "--features", ",".join(FEATURES), "--out", out_path)
        actual = pd.read_csv(out_path, dtype={"store_id": str, "segment": str})
        expected = self.expected
        self.assertEqual(list(actual.columns), list(expected.columns))
        self.assertEqual(len(actual), len(expected))

        # The entity columns come back as they went in (the timestamp as the same instant).
        self.assertTrue((actual.customer_id.to_numpy() == expected.customer_id.to_numpy()).all(),
                        "customer_id: rows out of order or changed")
        self.assertTrue((actual.store_id.to_numpy() == expected.store_id.to_numpy()).all(),
                        "store_id: rows out of order or changed")
        self.assertTrue((to_utc(actual.event_timestamp).to_numpy()
                         == to_utc(expected.event_timestamp).to_numpy()).all(), "event_timestamp")
        self.assertTrue((actual.label.to_numpy() == expected.label.to_numpy()).all(), "label")
        self.assertTrue(same_values(expected.weight, actual.weight, numeric=True).all(), "weight")

        failures = []
        for reference in FEATURES:
            column = reference.split(":")[1]
            ok = same_values(expected[column], actual[column], numeric=column != "segment")
            matched = int((~pd.isna(expected[column])).sum())
            print(f"  {reference}: {matched} of {len(expected)} rows have a value", flush=True)
            if not ok.all():
                bad = np.flatnonzero(~ok)
                sample = pd.DataFrame({"row": bad[:5],
                                       "customer_id": expected.customer_id.to_numpy()[bad[:5]],
                                       "store_id": expected.store_id.to_numpy()[bad[:5]],
                                       "event_timestamp": expected.event_timestamp.to_numpy()[bad[:5]],
                                       "expected": expected[column].to_numpy()[bad[:5]],
                                       "lathe": actual[column].to_numpy()[bad[:5]]})
                failures.append(f"{reference}: {len(bad)} rows differ, e.g.\n{sample.to_string()}")
        if failures:
            self.fail("\n".join(failures))


if __name__ == "__main__":
    unittest.main()
