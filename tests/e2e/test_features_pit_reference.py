"""The pandas reference of point-in-time joins (features_reference.py) on tiny cases computed by
hand, so that the randomized cross-check against `lathe features historical` compares Lathe with
something known to be right. Needs no Lathe binary."""

import math
import unittest

import numpy as np
import pandas as pd

from features_reference import (FeatureView, historical, iso_weekday, parse_duration,
                                rolling_range_avg, to_utc)


def ts(text):
    return pd.Timestamp(text, tz="UTC")


def orders_view(rows, ttl=None, created=False, features=None):
    columns = ["customer_id", "order_ts", "amount"] + (["created_ts"] if created else [])
    return FeatureView(name="orders", source=pd.DataFrame(rows, columns=columns),
                       join_keys=["customer_id"], timestamp_field="order_ts",
                       created_timestamp_field="created_ts" if created else None, ttl=ttl,
                       features=features or {"last_amount": "amount"})


def entity_frame(rows, columns=("customer_id", "event_timestamp")):
    return pd.DataFrame(rows, columns=list(columns))


def values(frame, column):
    return [None if (isinstance(v, float) and math.isnan(v)) or v is None else v
            for v in frame[column].tolist()]


class PointInTimeTest(unittest.TestCase):
    def test_latest_row_at_or_before_t(self):
        view = orders_view([(1, "2024-01-01T00:00:00Z", 10.0), (1, "2024-01-05T00:00:00Z", 20.0),
                            (1, "2024-01-09T00:00:00Z", 30.0)])
        entities = entity_frame([(1, "2024-01-04T23:59:59Z"), (1, "2024-01-05T00:00:00Z"),
                                 (1, "2024-01-08T00:00:00Z"), (1, "2024-02-01T00:00:00Z"),
                                 (1, "2023-12-31T23:59:59Z")])
        out = historical(entities, [view], ["orders:last_amount"])
        # Exactly at T counts (<= T); a row one second later does not; before any row: null.
        self.assertEqual(values(out, "last_amount"), [10.0, 20.0, 20.0, 30.0, None])

    def test_entity_without_history(self):
        view = orders_view([(1, "2024-01-01", 10.0)])
        out = historical(entity_frame([(2, "2024-02-01"), (1, "2024-02-01")]), [view],
                         ["orders:last_amount"])
        self.assertEqual(values(out, "last_amount"), [None, 10.0])
        self.assertEqual(out["customer_id"].tolist(), [2, 1])

    def test_ttl_bounds_are_inclusive(self):
        view = orders_view([(1, "2024-01-01T00:00:00Z", 10.0), (2, "2024-01-01T00:00:00Z", 5.0)],
                           ttl="2d")
        entities = entity_frame([(1, "2024-01-03T00:00:00Z"),   # exactly T - TTL: kept
                                 (1, "2024-01-03T00:00:01Z"),   # one second older than T - TTL
                                 (2, "2024-01-02T12:00:00Z")])
        out = historical(entities, [view], ["orders:last_amount"])
        self.assertEqual(values(out, "last_amount"), [10.0, None, 5.0])

    def test_stale_latest_row_is_not_replaced_by_an_older_one(self):
        # The latest row before T is outside the TTL, so nothing else can be inside it.
        view = orders_view([(1, "2024-01-01", 10.0), (1, "2024-01-10", 20.0)], ttl="1d")
        out = historical(entity_frame([(1, "2024-01-12"), (1, "2024-01-10T12:00:00")]), [view],
                         ["orders:last_amount"])
        self.assertEqual(values(out, "last_amount"), [None, 20.0])

    def test_zero_and_absent_ttl_are_unbounded(self):
        for ttl in (None, "0", 0):
            view = orders_view([(1, "2000-01-01", 10.0)], ttl=ttl)
            out = historical(entity_frame([(1, "2024-01-01")]), [view], ["orders:last_amount"])
            self.assertEqual(values(out, "last_amount"), [10.0], ttl)
        self.assertIsNone(parse_duration("0"))
        self.assertEqual(parse_duration("12h"), pd.Timedelta(hours=12))
        self.assertEqual(parse_duration("15m"), pd.Timedelta(minutes=15))
        self.assertEqual(parse_duration("45s"), pd.Timedelta(seconds=45))
        with self.assertRaises(ValueError):
            parse_duration("3w")

    def test_same_event_time_latest_created_wins(self):
        # The winning row comes first in the file: the created time decides, not the file order.
        view = orders_view([(1, "2024-01-05", 99.0, "2024-01-07"),
                            (1, "2024-01-05", 11.0, "2024-01-06"),
                            (1, "2024-01-05", 22.0, "2024-01-05"),
                            (1, "2024-01-01", 7.0, "2024-01-10")],  # created last, but older event
                           created=True)
        out = historical(entity_frame([(1, "2024-01-05"), (1, "2024-01-04")]), [view],
                         ["orders:last_amount"])
        self.assertEqual(values(out, "last_amount"), [99.0, 7.0])

    def test_created_time_after_t_still_counts(self):
        # Feast filters on the event time only; the created time only breaks ties.
        view = orders_view([(1, "2024-01-01", 1.0, "2024-03-01"), (1, "2024-01-01", 2.0, "2024-02-01")],
                           created=True)
        out = historical(entity_frame([(1, "2024-01-15")]), [view], ["orders:last_amount"])
        self.assertEqual(values(out, "last_amount"), [1.0])

    def test_out_of_order_entity_rows_keep_input_order_and_columns(self):
        view = orders_view([(1, "2024-01-01", 10.0), (1, "2024-01-03", 30.0), (2, "2024-01-02", 20.0)])
        entities = pd.DataFrame({"label": [0.5, 1.5, 2.5, 3.5, 4.5],
                                 "customer_id": [1, 2, 1, 1, 2],
                                 "event_timestamp": ["2024-01-04", "2024-01-01", "2024-01-02",
                                                     "2024-01-04", "2024-01-05"],
                                 "note": ["a", "b", "c", "d", "e"]},
                                index=[10, 3, 7, 1, 0])
        out = historical(entities, [view], ["orders:last_amount"])
        self.assertEqual(list(out.columns), ["label", "customer_id", "event_timestamp", "note",
                                             "last_amount"])
        self.assertEqual(out["note"].tolist(), ["a", "b", "c", "d", "e"])
        self.assertEqual(out["event_timestamp"].tolist(), entities["event_timestamp"].tolist())
        self.assertEqual(values(out, "last_amount"), [30.0, None, 10.0, 30.0, 20.0])

    def test_null_value_of_the_latest_row_is_null(self):
        view = orders_view([(1, "2024-01-01", 10.0), (1, "2024-01-02", None)])
        out = historical(entity_frame([(1, "2024-01-03")]), [view], ["orders:last_amount"])
        self.assertEqual(values(out, "last_amount"), [None])

    def test_timezone_aware_timestamps(self):
        # 2024-01-01T23:00:00-02:00 is 2024-01-02T01:00Z; 2024-01-02T02:30:00+02:00 is 00:30Z.
        view = orders_view([(1, "2024-01-01T23:00:00-02:00", 10.0),
                            (1, "2024-01-02T02:30:00+02:00", 20.0)])
        self.assertEqual(to_utc(view.source["order_ts"]).tolist(),
                         [ts("2024-01-02T01:00:00"), ts("2024-01-02T00:30:00")])
        entities = entity_frame([(1, "2024-01-02T00:45:00Z"),          # only the 00:30Z row
                                 (1, "2024-01-02T03:00:00+02:00"),     # 01:00Z: both, latest wins
                                 (1, pd.Timestamp("2024-01-01T21:00:00", tz="America/New_York")),
                                 (1, "2024-01-02 00:59:59")])          # naive is UTC
        out = historical(entities, [view], ["orders:last_amount"])
        self.assertEqual(values(out, "last_amount"), [20.0, 10.0, 10.0, 20.0])

    def test_two_views_with_different_entities(self):
        orders = orders_view([(1, "2024-01-01", 10.0), (2, "2024-01-02", 20.0)])
        stores = FeatureView(
            name="stores",
            source=pd.DataFrame({"store_id": ["s1", "s2", "s1"],
                                 "sale_ts": ["2024-01-01", "2024-01-01", "2024-01-03"],
                                 "revenue": [100.0, 200.0, 300.0], "region": ["n", "s", "e"]}),
            join_keys=["store_id"], timestamp_field="sale_ts", ttl="1d",
            features={"revenue": "revenue", "region": "region"})
        entities = pd.DataFrame({"customer_id": [1, 2, 1, 3], "store_id": ["s1", "s1", "s2", "s1"],
                                 "event_timestamp": ["2024-01-02", "2024-01-03", "2024-01-02",
                                                     "2024-01-04"]})
        out = historical(entities, [orders, stores],
                         ["stores:region", "orders:last_amount", "stores:revenue"])
        self.assertEqual(list(out.columns), ["customer_id", "store_id", "event_timestamp", "region",
                                             "last_amount", "revenue"])
        self.assertEqual(values(out, "last_amount"), [10.0, 20.0, 10.0, None])
        self.assertEqual(values(out, "revenue"), [100.0, 300.0, 200.0, 300.0])
        self.assertEqual(values(out, "region"), ["n", "e", "s", "e"])
        full = historical(entities, [orders, stores], ["orders:last_amount", "stores:revenue"],
                          full_feature_names=True)
        self.assertEqual(list(full.columns)[-2:], ["orders__last_amount", "stores__revenue"])

    def test_window_feature_is_evaluated_over_source_rows(self):
        # The example table of docs/features.md.
        view = orders_view(
            [(1, "2024-01-01", 10.0), (1, "2024-01-20", 30.0), (1, "2024-02-25", 50.0)],
            features={"avg_amount_30d": lambda s: rolling_range_avg(
                s, ["customer_id"], "order_ts", "amount", pd.Timedelta(days=30))})
        self.assertEqual(view.table()["avg_amount_30d"].tolist(), [10.0, 20.0, 50.0])
        out = historical(entity_frame([(1, "2024-02-10"), (1, "2024-02-25")]), [view],
                         ["orders:avg_amount_30d"])
        self.assertEqual(values(out, "avg_amount_30d"), [20.0, 50.0])


class WindowTest(unittest.TestCase):
    def avg(self, rows):
        frame = pd.DataFrame(rows, columns=["k", "ts", "amount"])
        return rolling_range_avg(frame, ["k"], "ts", "amount", pd.Timedelta(days=30)).tolist()

    def test_lower_bound_is_inclusive(self):
        # Exactly 30 days back is in the frame; 30 days and one second is not.
        self.assertEqual(self.avg([("a", "2024-01-01T00:00:00", 10.0),
                                   ("a", "2024-01-31T00:00:00", 20.0),
                                   ("a", "2024-01-31T00:00:01", 60.0)]),
                         [10.0, 15.0, 40.0])

    def test_peers_see_each_other(self):
        # RANGE: both rows at Jan-05 see each other, whatever their order; the later row sees all.
        self.assertEqual(self.avg([("a", "2024-01-05", 30.0), ("a", "2024-01-01", 10.0),
                                   ("a", "2024-01-05", 20.0), ("a", "2024-01-06", 40.0)]),
                         [20.0, 10.0, 20.0, 25.0])

    def test_partitions_and_nulls(self):
        result = self.avg([("a", "2024-01-01", 10.0), ("b", "2024-01-02", 100.0),
                           ("a", "2024-01-03", None), ("b", "2024-01-03", None),
                           ("c", "2024-01-03", None), ("a", "2024-01-04", 20.0)])
        self.assertEqual(result[:2], [10.0, 100.0])
        self.assertEqual(result[2:4], [10.0, 100.0])   # avg skips nulls
        self.assertTrue(math.isnan(result[4]))         # nothing but nulls: null
        self.assertEqual(result[5], 15.0)

    def test_timezones_in_the_window(self):
        # 2024-01-31T01:00:00+02:00 is 2024-01-30T23:00Z: within 30 days of Jan-01 00:00Z.
        self.assertEqual(self.avg([("a", "2024-01-01T00:00:00Z", 10.0),
                                   ("a", "2024-01-31T01:00:00+02:00", 20.0),
                                   ("a", "2024-01-31T01:00:00Z", 30.0)]),
                         [10.0, 15.0, 25.0])

    def test_matches_brute_force(self):
        rng = np.random.default_rng(1)
        n = 400
        frame = pd.DataFrame({"k": rng.integers(0, 5, n),
                              "ts": pd.Timestamp("2024-01-01", tz="UTC")
                              + pd.to_timedelta(rng.integers(0, 120, n), unit="D"),
                              "amount": np.round(rng.uniform(0, 100, n), 2)})
        frame.loc[rng.random(n) < 0.1, "amount"] = np.nan
        fast = rolling_range_avg(frame, ["k"], "ts", "amount", pd.Timedelta(days=30)).to_numpy()
        for i, row in frame.iterrows():
            frame_rows = frame[(frame.k == row.k) & (frame.ts <= row.ts)
                               & (frame.ts >= row.ts - pd.Timedelta(days=30))]
            expected = frame_rows.amount.mean()
            if math.isnan(expected):
                self.assertTrue(math.isnan(fast[i]))
            else:
                self.assertAlmostEqual(fast[i], expected, places=9)


class WeekdayTest(unittest.TestCase):
    def test_iso_weekday(self):
        days = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08", "2024-03-09",
                "2024-03-10"]  # Monday ... Sunday
        self.assertEqual(iso_weekday(pd.Series(days)).tolist(), [1, 2, 3, 4, 5, 6, 7])

    def test_weekday_of_the_utc_time(self):
        # Sunday 23:30 at -02:00 is Monday 01:30 UTC; Monday 01:00 at +05:00 is Sunday 20:00 UTC.
        self.assertEqual(iso_weekday(pd.Series(["2024-03-03T23:30:00-02:00",
                                                "2024-03-04T01:00:00+05:00"])).tolist(), [1, 7])

    def test_weekday_feature_joined(self):
        view = orders_view([(1, "2024-03-10T23:00:00Z", 1.0), (2, "2024-03-03T23:30:00-02:00", 2.0)],
                           features={"order_weekday": lambda s: iso_weekday(s["order_ts"])})
        out = historical(entity_frame([(1, "2024-03-11"), (2, "2024-03-04T02:00:00Z"),
                                       (2, "2024-03-04T01:00:00Z")]), [view],
                         ["orders:order_weekday"])
        self.assertEqual(values(out, "order_weekday"), [7, 1, None])


if __name__ == "__main__":
    unittest.main()
