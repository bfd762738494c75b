"""Data for the point-in-time join benchmark: three sources (10,000,000 rows at --scale 1), 1,000,000
entity rows and the feature repository over them, as CSV (Debian's Python has no pyarrow).

  orders.csv       6,000,000 rows: customer_id, order_ts (Z), created_ts, amount; 10% of the rows
                   repeat another row's (customer, event time) with their own created time
  store_sales.csv  2,500,000 rows: store_id (string), sale_ts (with UTC offsets), revenue, items
  profiles.csv     1,500,000 rows: customer_id, profile_ts (naive UTC), credit_score, segment
  entities.csv     1,000,000 rows: customer_id, store_id, event_timestamp (with offsets), label
  features.yaml    the views (same shapes as tests/e2e/test_features_crosscheck.py)
  features.txt     the --features list of the benchmark

Rows are assembled as fixed-width byte records with numpy, then the padding bytes are dropped,
which is much faster than DataFrame.to_csv at this size. Usage:
  make_data.py --out DIR [--scale 0.01] [--seed 1]
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "e2e"))
from features_reference import THREE_VIEW_FEATURES, THREE_VIEW_REPO  # noqa: E402

START = np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64)
SPAN = 365 * 86400
DAY = 86400
CHUNK = 500_000

FEATURES = THREE_VIEW_FEATURES
REPO = THREE_VIEW_REPO.replace("{project}", "bench")

OFFSETS_MINUTES = np.array([120, -300, 330, 0, -570])
OFFSET_TEXT = np.array([b"+02:00", b"-05:00", b"+05:30", b"+00:00", b"-09:30"], dtype="S6")


def digits(values, width, pad=True):
    """Non-negative integers as ASCII, one row of `width` bytes each. Leading zeros are NUL bytes,
    which write_csv drops: DuckDB's sniffer may read zero-padded numbers as strings."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    out = ((values[:, None] // powers) % 10 + 48).astype(np.uint8)
    if pad:
        leading = (values[:, None] < powers) & (powers > 1)
        out[leading] = 0
    return out


def text(values, width):
    """Fixed-width byte strings (numpy S dtype) as rows of bytes."""
    return np.ascontiguousarray(values.astype(f"S{width}")).view(np.uint8).reshape(-1, width)


def timestamps(seconds, style):
    """'z': 2024-01-05T10:00:00Z; 'naive': 2024-01-05 10:00:00; 'offset': local time + offset."""
    if style == "z":
        return text(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s",
                                          timezone="UTC"), 20)
    if style == "naive":
        out = text(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), 19)
        out[:, 10] = ord(" ")
        return out
    # The offset is picked from the seconds so that it needs no extra random draws.
    which = (seconds // 7) % len(OFFSETS_MINUTES)
    local = text(np.datetime_as_string((seconds + OFFSETS_MINUTES[which] * 60).astype(
        "datetime64[s]"), unit="s"), 19)
    return np.hstack([local, text(OFFSET_TEXT[which], 6)])


def cents(values, integer_width):
    """Non-negative integer cents as 123.45."""
    dot = np.full((len(values), 1), ord("."), dtype=np.uint8)
    return np.hstack([digits(values // 100, integer_width), dot, digits(values % 100, 2, pad=False)])


def write_csv(path, header, rows, make_columns):
    """Writes `rows` records; make_columns(start, stop) gives the byte columns of a chunk."""
    with open(path, "wb") as f:
        f.write((",".join(header) + "\n").encode())
        for start in range(0, rows, CHUNK):
            columns = make_columns(start, min(rows, start + CHUNK))
            n = len(columns[0])
            comma = np.full((n, 1), ord(","), dtype=np.uint8)
            newline = np.full((n, 1), ord("\n"), dtype=np.uint8)
            parts = []
            for column in columns:
                parts += [column, comma]
            parts[-1] = newline
            records = np.hstack(parts).ravel()
            records[records != 0].tofile(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    started = time.monotonic()

    n_orders = int(6_000_000 * args.scale)
    n_sales = int(2_500_000 * args.scale)
    n_profiles = int(1_500_000 * args.scale)
    n_entities = int(1_000_000 * args.scale)
    customers = max(10, int(500_000 * args.scale))
    stores = max(5, int(5_000 * args.scale))

    # Orders: skewed customers, ties on the event time decided by distinct created times.
    customer = (customers * rng.random(n_orders) ** 2).astype(np.int64) + 1
    order_ts = START + rng.integers(0, SPAN, n_orders)
    copies = np.flatnonzero(rng.random(n_orders) < 0.1)
    donors = rng.integers(0, n_orders, len(copies))
    customer[copies] = customer[donors]
    order_ts[copies] = order_ts[donors]
    # Created times: a distinct offset (in seconds) per row, so (customer, event, created) is unique.
    created_ts = order_ts + rng.permutation(n_orders) % (3 * DAY) + 1
    created_ts[copies] = order_ts[copies] + 3 * DAY + 1 + np.arange(len(copies))
    amount = rng.integers(100, 50_000, n_orders)
    write_csv(os.path.join(args.out, "orders.csv"),
              ["customer_id", "order_ts", "created_ts", "amount"], n_orders,
              lambda a, b: [digits(customer[a:b], 8), timestamps(order_ts[a:b], "z"),
                            timestamps(created_ts[a:b], "naive"), cents(amount[a:b], 5)])
    del created_ts, amount

    # Store sales: string keys, event times with offsets, one row per (store, second) is likely
    # but not guaranteed; keep only the first of each to leave no unbreakable ties.
    store = rng.integers(0, stores, n_sales)
    sale_ts = START + rng.integers(0, SPAN, n_sales)
    keep = np.unique(store * np.int64(SPAN * 2) + (sale_ts - START), return_index=True)[1]
    keep.sort()
    store, sale_ts = store[keep], sale_ts[keep]
    revenue = rng.integers(100, 500_000, len(store))
    items = rng.integers(1, 1000, len(store))
    prefix = np.full((CHUNK, 6), np.frombuffer(b"store_", dtype=np.uint8), dtype=np.uint8)
    write_csv(os.path.join(args.out, "store_sales.csv"), ["store_id", "sale_ts", "revenue", "items"],
              len(store),
              lambda a, b: [np.hstack([prefix[:b - a], digits(store[a:b], 6, pad=False)]),
                            timestamps(sale_ts[a:b], "offset"), cents(revenue[a:b], 6),
                            digits(items[a:b], 4)])
    n_sales = len(store)
    del revenue, items

    # Profiles: naive UTC times, a short string feature.
    profile_customer = rng.integers(1, customers + 1, n_profiles)
    profile_ts = START + rng.integers(0, SPAN, n_profiles)
    keep = np.unique(profile_customer * np.int64(SPAN * 2) + (profile_ts - START),
                     return_index=True)[1]
    keep.sort()
    profile_customer, profile_ts = profile_customer[keep], profile_ts[keep]
    score = rng.integers(30_000, 85_000, len(keep))
    segments = np.array([b"gold__", b"silver", b"bronze", b"new___"], dtype="S6")
    segment = segments[rng.integers(0, len(segments), len(keep))]
    write_csv(os.path.join(args.out, "profiles.csv"),
              ["customer_id", "profile_ts", "credit_score", "segment"], len(keep),
              lambda a, b: [digits(profile_customer[a:b], 8), timestamps(profile_ts[a:b], "naive"),
                            cents(score[a:b], 4), text(segment[a:b], 6)])
    n_profiles = len(keep)

    # Entity rows, in random time order; a few customers and stores without any history.
    entity_customer = rng.integers(1, int(customers * 1.05) + 2, n_entities)
    entity_store = rng.integers(0, stores + max(1, stores // 50), n_entities)
    entity_ts = START + rng.integers(-15 * DAY, SPAN + 15 * DAY, n_entities)
    label = rng.integers(0, 2, n_entities)
    write_csv(os.path.join(args.out, "entities.csv"),
              ["customer_id", "store_id", "event_timestamp", "label"], n_entities,
              lambda a, b: [digits(entity_customer[a:b], 8),
                            np.hstack([prefix[:b - a], digits(entity_store[a:b], 6, pad=False)]),
                            timestamps(entity_ts[a:b], "offset"), digits(label[a:b], 1)])

    with open(os.path.join(args.out, "features.yaml"), "w") as f:
        f.write(REPO)
    with open(os.path.join(args.out, "features.txt"), "w") as f:
        f.write(",".join(FEATURES) + "\n")
    # run.sh regenerates when this marker is missing or names another scale.
    with open(os.path.join(args.out, "COMPLETE"), "w") as f:
        f.write(f"scale={args.scale} seed={args.seed} orders={n_orders} store_sales={n_sales} "
                f"profiles={n_profiles} entities={n_entities}\n")
    print(f"make_data: {n_orders + n_sales + n_profiles} source rows, {n_entities} entity rows in "
          f"{args.out} ({time.monotonic() - started:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
