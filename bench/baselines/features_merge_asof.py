"""The pandas baseline of `lathe features historical`: the 3-view point-in-time join of
bench/features (make_data.py's CSVs) with merge_asof, as a data scientist would run it without a
feature store.

The join itself is tests/e2e/features_reference.py (the reference the e2e cross-check trusts), so the
baseline computes exactly what Lathe computes: per-key dedupe on (event, created) time, backward
merge_asof per view, TTL, the 30-day RANGE window average over the source rows, ISO weekdays, input
order restored. Prints one JSON object on stdout:
  read_s   reading the CSVs and parsing their timestamps to UTC
  join_s   features and the point-in-time join, from the data in memory
  write_s  writing the training set as CSV (0 without --out)
  total_s  the sum of the three
Usage: features_merge_asof.py --data DIR [--out training.csv]
"""

import argparse
import json
import os
import sys
import time

import pandas as pd

sys.dont_write_bytecode = True  # no __pycache__ in tests/e2e
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
from features_reference import (FeatureView, historical, iso_weekday,  # noqa: E402
                                rolling_range_avg, to_utc)


def read(path, timestamps, dtype=None):
    frame = pd.read_csv(path, dtype=dtype)
    for column in timestamps:
        frame[column] = to_utc(frame[column])
    return frame


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="make_data.py's output directory")
    parser.add_argument("--out", help="write the training set here (CSV)")
    args = parser.parse_args()
    with open(os.path.join(args.data, "features.txt")) as f:
        features = f.read().strip().split(",")

    started = time.perf_counter()
    orders = read(os.path.join(args.data, "orders.csv"), ["order_ts", "created_ts"])
    sales = read(os.path.join(args.data, "store_sales.csv"), ["sale_ts"], {"store_id": str})
    profiles = read(os.path.join(args.data, "profiles.csv"), ["profile_ts"], {"segment": str})
    entities = pd.read_csv(os.path.join(args.data, "entities.csv"), dtype={"store_id": str})
    entities["event_timestamp"] = to_utc(entities["event_timestamp"])
    read_done = time.perf_counter()

    views = [
        FeatureView(name="customer_orders", source=orders, join_keys=["customer_id"],
                    timestamp_field="order_ts", created_timestamp_field="created_ts",
                    features={"last_amount": "amount",
                              "avg_amount_30d": lambda s: rolling_range_avg(
                                  s, ["customer_id"], "order_ts", "amount", pd.Timedelta(days=30)),
                              "order_weekday": lambda s: iso_weekday(s["order_ts"])}),
        FeatureView(name="store_stats", source=sales, join_keys=["store_id"],
                    timestamp_field="sale_ts", ttl="7d",
                    features={"store_revenue": "revenue", "store_items": "items"}),
        FeatureView(name="customer_profile", source=profiles, join_keys=["customer_id"],
                    timestamp_field="profile_ts", ttl="45d",
                    features={"credit_score": "credit_score", "segment": "segment"}),
    ]
    training = historical(entities, views, features)
    join_done = time.perf_counter()

    if args.out:
        training.to_csv(args.out, index=False, date_format="%Y-%m-%d %H:%M:%S")
    write_done = time.perf_counter()

    print(json.dumps({
        "rows": len(training),
        "source_rows": len(orders) + len(sales) + len(profiles),
        "matched": {column: int(training[column].notna().sum())
                    for column in training.columns[len(entities.columns):]},
        "read_s": round(read_done - started, 3),
        "join_s": round(join_done - read_done, 3),
        "write_s": round(write_done - join_done, 3),
        "total_s": round(write_done - started, 3),
    }))


if __name__ == "__main__":
    main()
