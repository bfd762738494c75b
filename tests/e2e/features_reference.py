"""An independent pandas/numpy reference for `lathe features historical` (docs/features.md).

Nothing here shares code or SQL with Lathe: the point-in-time join is pandas' merge_asof, the window
feature is computed with numpy prefix sums. The semantics are Feast's, as the spec states them:

- for an entity row at time T, each view takes the latest source row for that entity with event
  timestamp <= T and >= T - TTL (both inclusive; TTL None or 0 means unbounded);
- among source rows at the same event timestamp, the one with the latest created timestamp wins
  (when two rows tie on both, the spec leaves the choice open: the reference keeps the row that
  comes last in the source, so callers that compare against Lathe must not generate such ties);
- every entity row comes out once, in input order, with all its own columns unchanged, followed
  by one column per feature; no match (no history, or only history older than T - TTL) is null;
- feature expressions are evaluated over the source rows, before the join: a window feature is
  its value as of the source row's own event time, not as of T;
- UTC everywhere: naive timestamps are UTC, those with an offset are converted to UTC, and
  weekdays are ISO (Monday = 1 ... Sunday = 7) of the UTC time.
"""

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import pandas as pd

_ROW = "__lathe_ref_row"
_TS = "__lathe_ref_ts"
_CREATED = "__lathe_ref_created"


def to_utc(values) -> pd.Series:
    """Timestamps (strings, naive or zoned datetimes) as a datetime64[ns, UTC] Series.

    Naive values are taken as UTC and values with an offset are converted, which is what DuckDB
    does with TimeZone='UTC'."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_datetime64tz_dtype(series.dtype):
        return series.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return series.dt.tz_localize("UTC")
    # Strings, possibly with different offsets row by row: utc=True converts each one.
    return pd.to_datetime(series, utc=True)


def parse_duration(text: Union[str, int, None, pd.Timedelta]) -> Optional[pd.Timedelta]:
    """`30d`, `12h`, `15m`, `45s` or `0` (the spec's durations); None and 0 mean unbounded."""
    if text is None:
        return None
    if isinstance(text, pd.Timedelta):
        return None if text == pd.Timedelta(0) else text
    text = str(text).strip()
    if text == "0":
        return None
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"bad duration {text!r}")
    value = pd.Timedelta(**{units[text[-1]]: int(text[:-1])})
    return None if value == pd.Timedelta(0) else value


def iso_weekday(timestamps) -> pd.Series:
    """DuckDB's isodow of the UTC time: Monday = 1 ... Sunday = 7."""
    return (to_utc(timestamps).dt.dayofweek + 1).astype("int64")


def _count_before(group, ts, query_group, query_ts, ties_before):
    """For rows sorted by (group, ts): how many rows precede each query (group, ts) in that order.

    Equal (group, ts) rows count as preceding the query when ties_before is true. One stable
    lexsort of rows and queries together does every group at once."""
    n = len(ts)
    rank = np.concatenate((np.zeros(n, dtype=np.int8),
                           np.full(len(query_ts), -1 if not ties_before else 1, dtype=np.int8)))
    order = np.lexsort((rank, np.concatenate((ts, query_ts)), np.concatenate((group, query_group))))
    is_row = order < n
    rows_before = np.cumsum(is_row) - is_row
    out = np.empty(len(query_ts), dtype=np.int64)
    out[order[~is_row] - n] = rows_before[~is_row]
    return out


def rolling_range_avg(frame: pd.DataFrame, partition_by: Sequence[str], order_by: str, value: str,
                      window: pd.Timedelta) -> pd.Series:
    """avg(value) OVER (PARTITION BY keys ORDER BY ts RANGE BETWEEN window PRECEDING AND CURRENT ROW).

    The frame of a row at ts is every row of its partition with ts - window <= ts' <= ts: the lower
    bound is inclusive, and RANGE takes in all peers at the same ts (rows after the current one in
    sort order too). pandas' rolling('30D') gets both wrong for this purpose (closed='right'
    excludes the lower bound; it is row-based, so a row does not see its later peers), hence binary
    searches, as one merge of rows and bounds, over the rows sorted by (partition, ts). Nulls are
    skipped as avg() skips them; a frame with no non-null value gives null. Returns a Series
    aligned with `frame`'s index."""
    keys = list(partition_by)
    ts = to_utc(frame[order_by]).astype("int64").to_numpy()
    values = pd.to_numeric(frame[value]).to_numpy(dtype=np.float64)
    group = frame.groupby(keys, sort=True, dropna=False).ngroup().to_numpy()
    order = np.lexsort((ts, group))
    ts_sorted, values_sorted, group_sorted = ts[order], values[order], group[order]
    low = _count_before(group_sorted, ts_sorted, group_sorted, ts_sorted - int(window.value),
                        ties_before=False)
    high = _count_before(group_sorted, ts_sorted, group_sorted, ts_sorted, ties_before=True)
    present = ~np.isnan(values_sorted)
    # A window's sum is a difference of two prefix sums; long double keeps the cancellation error
    # (relative to the whole column's sum) far below the comparisons' 1e-9 tolerance.
    sums = np.concatenate(([0], np.cumsum(np.where(present, values_sorted, 0.0).astype(np.longdouble))))
    counts = np.concatenate(([0], np.cumsum(present)))
    count = counts[high] - counts[low]
    with np.errstate(invalid="ignore", divide="ignore"):
        averages = ((sums[high] - sums[low]) / count).astype(np.float64)
    averages[count == 0] = np.nan
    result = np.empty(len(ts))
    result[order] = averages
    return pd.Series(result, index=frame.index, name=value)


Feature = Union[str, Callable[[pd.DataFrame], pd.Series]]


@dataclass
class FeatureView:
    """One feature view over one source frame.

    `features` maps each feature name to a source column or to a function of the source frame
    (with the timestamp columns already in UTC) returning a Series aligned with it."""
    name: str
    source: pd.DataFrame
    join_keys: List[str]
    timestamp_field: str
    features: Dict[str, Feature]
    created_timestamp_field: Optional[str] = None
    ttl: Union[str, pd.Timedelta, None] = None
    _table: Optional[pd.DataFrame] = field(default=None, repr=False)

    def table(self) -> pd.DataFrame:
        """Join keys, event time and feature values, one row per (keys, event time), sorted by time."""
        if self._table is not None:
            return self._table
        source = self.source.copy()
        source[self.timestamp_field] = to_utc(source[self.timestamp_field])
        if self.created_timestamp_field:
            source[self.created_timestamp_field] = to_utc(source[self.created_timestamp_field])
        # Features first, over every source row: a row that loses a tie still counts in windows.
        table = source[self.join_keys].copy()
        for name, feature in self.features.items():
            table[name] = source[feature] if isinstance(feature, str) else feature(source)
        table[_TS] = source[self.timestamp_field]
        if table[_TS].isna().any():
            raise ValueError(f"{self.name}: null event timestamps in the source")
        if self.created_timestamp_field:
            table[_CREATED] = source[self.created_timestamp_field]
            # NaT sorts first, so a row with a created time beats one without. The sort is stable
            # and the last row of each (keys, event time) is kept.
            table = table.sort_values(self.join_keys + [_TS, _CREATED], kind="mergesort",
                                      na_position="first")
        table = table.drop_duplicates(self.join_keys + [_TS], keep="last")
        table = table.drop(columns=[_CREATED], errors="ignore")
        # merge_asof wants the right side sorted on the `on` column only.
        self._table = table.sort_values(_TS, kind="mergesort").reset_index(drop=True)
        return self._table


def historical(entities: pd.DataFrame, views: Sequence[FeatureView], features: Sequence[str],
               timestamp_column: str = "event_timestamp",
               full_feature_names: bool = False) -> pd.DataFrame:
    """The training set `lathe features historical --features <features>` builds.

    `features` are `view:feature` references; the output is the entity frame (same columns, same
    order, same values) followed by one column per reference, in the order given."""
    by_name = {view.name: view for view in views}
    requested: Dict[str, List[str]] = {}
    columns = []
    for reference in features:
        view_name, _, feature_name = reference.partition(":")
        if view_name not in by_name or feature_name not in by_name[view_name].features:
            raise KeyError(f"unknown feature {reference!r}")
        requested.setdefault(view_name, []).append(feature_name)
        columns.append((view_name, feature_name,
                        f"{view_name}__{feature_name}" if full_feature_names else feature_name))
    names = [column for _, _, column in columns]
    if len(set(names)) != len(names):
        raise ValueError("two features share a name: use full_feature_names")
    clash = set(names) & set(entities.columns)
    if clash:
        raise ValueError(f"features named like entity columns: {sorted(clash)}")

    left = pd.DataFrame({_ROW: np.arange(len(entities)),
                         _TS: to_utc(entities[timestamp_column]).reset_index(drop=True)})
    if left[_TS].isna().any():
        raise ValueError("null entity timestamps")
    out = entities.reset_index(drop=True).copy()
    for view_name, feature_names in requested.items():
        view = by_name[view_name]
        right = view.table()[view.join_keys + [_TS] + feature_names]
        keyed = left.copy()
        for key in view.join_keys:
            keyed[key] = entities[key].to_numpy()
        # Entity rows may come in any order: sort for merge_asof, restore the order through _ROW.
        keyed = keyed.sort_values(_TS, kind="mergesort")
        matched_ts = right[_TS].rename("__lathe_ref_matched")
        right = pd.concat([right, matched_ts], axis=1)
        joined = pd.merge_asof(keyed, right, on=_TS, by=view.join_keys, direction="backward",
                               allow_exact_matches=True)
        ttl = parse_duration(view.ttl)
        if ttl is not None:
            # The latest row at or before T is older than T - TTL: then so is every other one.
            stale = joined["__lathe_ref_matched"] < joined[_TS] - ttl
            joined.loc[stale, feature_names] = None
        joined = joined.set_index(_ROW).sort_index()
        for view_name_, feature_name, column in columns:
            if view_name_ == view_name:
                out[column] = joined[feature_name].to_numpy()
    return out[list(entities.columns) + names]


# The three views that the randomized cross-check and the benchmark both build (the YAML is a
# template: {project} is replaced).
THREE_VIEW_FEATURES = ["customer_orders:last_amount", "store_stats:store_revenue",
            "customer_orders:avg_amount_30d", "customer_profile:segment",
            "customer_orders:order_weekday", "store_stats:store_items",
            "customer_profile:credit_score"]

THREE_VIEW_REPO = """\
project: {project}
entities:
  - name: customer
    join_keys: [{name: customer_id, type: int64}]
  - name: store
    join_keys: [{name: store_id, type: string}]
sources:
  - name: orders
    path: orders.csv
    timestamp_field: order_ts
    created_timestamp_field: created_ts
  - name: store_sales
    path: store_sales.csv
    timestamp_field: sale_ts
  - name: profiles
    path: profiles.csv
    timestamp_field: profile_ts
feature_views:
  - name: customer_orders
    entities: [customer]
    source: orders
    features:
      - name: last_amount
        expression: amount
      - name: avg_amount_30d
        expression: >-
          avg(amount) OVER (PARTITION BY customer_id ORDER BY order_ts
                            RANGE BETWEEN INTERVAL 30 DAYS PRECEDING AND CURRENT ROW)
      - name: order_weekday
        expression: isodow(order_ts)
  - name: store_stats
    entities: [store]
    source: store_sales
    ttl: 7d
    features:
      - name: store_revenue
        expression: revenue
      - name: store_items
        expression: items
  - name: customer_profile
    entities: [customer]
    source: profiles
    ttl: 45d
    features:
      - name: credit_score
        expression: credit_score
      - name: segment
        expression: segment
"""
