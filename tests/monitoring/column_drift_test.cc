// Column drift: Evidently's choice of test, thresholds and verdicts, and the numbers against scipy.
#include "monitoring/column_drift.h"

#include "monitoring/python_reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

namespace lathe::monitoring {
namespace {

using nlohmann::json;

// Evidently's data-drift defaults, written with scipy: the test chosen, its value, the verdict.
constexpr const char* kEvidentlyScript = R"py(
import json, sys
import numpy as np, pandas as pd
from scipy import stats
from scipy.spatial import distance
case = json.load(open(sys.argv[1]))
kind = case["kind"]
ref = pd.Series(case["reference"]).dropna()
cur = pd.Series(case["current"]).dropna()
if kind == "num":
    ref = ref[np.isfinite(ref.astype(float))].astype(float)
    cur = cur[np.isfinite(cur.astype(float))].astype(float)
n = len(set(ref) | set(cur))
if len(ref) <= 1000:
    test = "ks" if kind == "num" and n > 5 else ("chisquare" if n > 2 else "z")
else:
    test = "wasserstein" if kind == "num" and n > 5 else "jensenshannon"
keys = sorted(set(ref) | set(cur))
rc, cc = ref.value_counts(), cur.value_counts()
if test == "ks":
    value = stats.ks_2samp(ref, cur)[1]; drift = value <= 0.05
elif test == "chisquare":
    k = len(cur) / len(ref)
    value = stats.chisquare([cc.get(x, 0) for x in keys], [rc.get(x, 0) * k for x in keys])[1]; drift = value < 0.05
elif test == "z":
    if len(keys) == 1:
        value = 1.0
    else:
        a = (ref != keys[0]).astype(int); b = (cur != keys[0]).astype(int)
        p1, p2 = a.mean(), b.mean(); P = (p1 * len(a) + p2 * len(b)) / (len(a) + len(b))
        z = (p1 - p2) / np.sqrt(P * (1 - P) * (1 / len(a) + 1 / len(b)))
        value = 2 * (1 - stats.norm.cdf(abs(z)))
    drift = value < 0.05
elif test == "wasserstein":
    value = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001); drift = value >= 0.1
else:
    if kind == "num" and ref.nunique() > 20:
        bins = np.histogram_bin_edges(pd.concat([ref, cur]), bins="sturges")
        r = np.histogram(ref, bins)[0] / len(ref); c = np.histogram(cur, bins)[0] / len(cur)
    else:
        r = np.array([rc.get(x, 0) / len(ref) for x in keys]); c = np.array([cc.get(x, 0) / len(cur) for x in keys])
    value = distance.jensenshannon(r, c); drift = value >= 0.1
print(json.dumps({"test": test, "value": float(value), "drift": bool(drift)}))
)py";

json RunEvidently(const json& input) { return testing::RunPythonJson(kEvidentlyScript, input); }

void ExpectSameAsEvidently(const ColumnDrift& drift, const json& expected, const std::string& name) {
  EXPECT_EQ(drift.test, expected["test"].get<std::string>()) << name;
  testing::ExpectClose(drift.statistic, expected["value"], name);
  EXPECT_EQ(drift.drifted, expected["drift"].get<bool>()) << name;
}

std::vector<double> Sample(size_t n, double shift, int round_to, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::normal_distribution<double> normal(shift, 1.0);
  std::vector<double> values(n);
  for (double& value : values) {
    value = normal(random);
    if (round_to > 0) value = std::fmod(std::abs(std::round(value * 2)), round_to);
  }
  return values;
}

void CheckNumerical(const std::vector<double>& reference, const std::vector<double>& current, const std::string& name) {
  auto drift = NumericalColumnDrift(reference, current);
  ASSERT_TRUE(drift.ok()) << name << ": " << drift.status().message();
  json input = {{"kind", "num"}, {"reference", json::array()}, {"current", json::array()}};
  for (double v : reference) input["reference"].push_back(std::isfinite(v) ? json(v) : json(nullptr));
  for (double v : current) input["current"].push_back(std::isfinite(v) ? json(v) : json(nullptr));
  ExpectSameAsEvidently(*drift, RunEvidently(input), name);
}

TEST(ColumnDriftTest, DefaultTestsForNumericalColumns) {
  CheckNumerical(Sample(800, 0, 0, 1), Sample(900, 0.5, 0, 2), "ks, drifted");
  CheckNumerical(Sample(800, 0, 0, 3), Sample(900, 0.0, 0, 4), "ks, same distribution");
  CheckNumerical(Sample(800, 0, 4, 5), Sample(900, 0.3, 4, 6), "chisquare on 4 values");
  CheckNumerical(Sample(800, 0, 2, 7), Sample(900, 0.8, 2, 8), "z on 2 values");
  CheckNumerical(Sample(5000, 0, 0, 9), Sample(4000, 0.2, 0, 10), "wasserstein");
  CheckNumerical(Sample(5000, 0, 4, 11), Sample(4000, 0.5, 4, 12), "jensenshannon on 4 values");
}

TEST(ColumnDriftTest, NonFiniteValuesAreDroppedAndCounted) {
  auto reference = Sample(300, 0, 0, 13), current = Sample(300, 0, 0, 14);
  reference[3] = std::nan("");
  current[5] = INFINITY;
  current[6] = -INFINITY;
  auto drift = NumericalColumnDrift(reference, current);
  ASSERT_TRUE(drift.ok());
  EXPECT_EQ(drift->dropped_reference, 1);
  EXPECT_EQ(drift->dropped_current, 2);
  EXPECT_EQ(drift->reference_size, 299);
  CheckNumerical(reference, current, "with NaN and infinities");
}

TEST(ColumnDriftTest, CategoricalColumns) {
  std::vector<std::optional<std::string>> reference, current;
  for (int i = 0; i < 600; ++i) reference.push_back(std::string(1, static_cast<char>('a' + i % 3)));
  for (int i = 0; i < 500; ++i) current.push_back(i % 7 == 0 ? std::optional<std::string>() : std::string(1, static_cast<char>('a' + i % 4)));
  auto drift = CategoricalColumnDrift(reference, current);
  ASSERT_TRUE(drift.ok()) << drift.status().message();
  json input = {{"kind", "cat"}, {"reference", json::array()}, {"current", json::array()}};
  for (const auto& v : reference) input["reference"].push_back(*v);
  for (const auto& v : current) input["current"].push_back(v ? json(*v) : json(nullptr));
  ExpectSameAsEvidently(*drift, RunEvidently(input), "categorical chisquare with a new category");
  EXPECT_EQ(drift->dropped_current, 72);
}

TEST(ColumnDriftTest, SettingsOverrideTestAndThreshold) {
  auto drift = NumericalColumnDrift(Sample(800, 0, 0, 15), Sample(900, 0.5, 0, 16), {"psi", 0.5});
  ASSERT_TRUE(drift.ok());
  EXPECT_EQ(drift->test, "psi");
  EXPECT_EQ(drift->threshold, 0.5);
  EXPECT_EQ(drift->drifted, drift->statistic >= 0.5);
  EXPECT_FALSE(NumericalColumnDrift(Sample(10, 0, 0, 1), Sample(10, 0, 0, 2), {"nope", {}}).ok());
}

TEST(ColumnDriftTest, EmptyAfterDroppingIsAnError) {
  std::vector<double> only_nan = {std::nan(""), INFINITY};
  auto drift = NumericalColumnDrift(only_nan, Sample(10, 0, 0, 1));
  ASSERT_FALSE(drift.ok());
  EXPECT_NE(drift.status().message().find("reference has no finite values"), std::string::npos);
}

TEST(ColumnDriftTest, DatasetDriftShare) {
  std::vector<ColumnDrift> columns(4);
  columns[0].drifted = columns[1].drifted = true;
  EXPECT_TRUE(DatasetDrifted(columns));
  EXPECT_FALSE(DatasetDrifted(columns, 0.75));
}

// Every statistic of the full evaluation, from one sort per side, against scipy: the exact KS
// distribution below 10,000 values and the asymptotic one above, with ties and dropped values.
constexpr const char* kStatisticsScript = R"py(
import json, sys
import numpy as np
from scipy import stats
from scipy.spatial import distance
case = json.load(open(sys.argv[1]))
out = []
for ref, cur in case:
    r = np.array([np.nan if v is None else v for v in ref], dtype=float); r = r[np.isfinite(r)]
    c = np.array([np.nan if v is None else v for v in cur], dtype=float); c = c[np.isfinite(c)]
    ks = stats.ks_2samp(r, c)
    edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
    rs, cs = np.histogram(r, edges)[0] / len(r), np.histogram(c, edges)[0] / len(c)
    def filled(a):
        nz = a[a > 0]; fill = nz.min() / 1e6 if nz.min() <= 1e-4 else 1e-4
        return np.where(a == 0, fill, a)
    rf, cf = filled(rs), filled(cs)
    out.append({"ks_statistic": float(ks.statistic), "ks_p_value": float(ks.pvalue),
                "wasserstein": float(stats.wasserstein_distance(r, c) / max(np.std(r), 0.001)),
                "psi": float(np.sum((rf - cf) * np.log(rf / cf))), "jensenshannon": float(distance.jensenshannon(rs, cs))})
print(json.dumps(out))
)py";

TEST(ColumnDriftTest, AllNumericalStatisticsMatchScipy) {
  std::vector<std::pair<std::vector<double>, std::vector<double>>> cases = {
      {Sample(3000, 0, 0, 21), Sample(2500, 0.1, 0, 22)},
      {Sample(40000, 0, 0, 23), Sample(30000, 0.02, 0, 24)},
  };
  // Ties: values rounded to a tenth, and a few missing ones.
  for (auto& [reference, current] : cases) {
    for (size_t i = 0; i < current.size(); i += 3) current[i] = std::round(current[i] * 10) / 10;
    reference[7] = std::nan("");
    current[11] = INFINITY;
  }
  json input = json::array();
  for (const auto& [reference, current] : cases) {
    json pair = {json::array(), json::array()};
    for (double v : reference) pair[0].push_back(std::isfinite(v) ? json(v) : json(nullptr));
    for (double v : current) pair[1].push_back(std::isfinite(v) ? json(v) : json(nullptr));
    input.push_back(pair);
  }
  const json expected = testing::RunPythonJson(kStatisticsScript, input);
  for (size_t k = 0; k < cases.size(); ++k) {
    const std::string name = "case " + std::to_string(k);
    NumericalStatistics statistics;
    auto drift = NumericalColumnDrift(SortFinite(cases[k].first), SortFinite(cases[k].second), {}, &statistics);
    ASSERT_TRUE(drift.ok()) << drift.status().message();
    testing::ExpectClose(statistics.ks_statistic, expected[k]["ks_statistic"], name + " ks statistic");
    testing::ExpectClose(statistics.ks_p_value, expected[k]["ks_p_value"], name + " ks p-value");
    testing::ExpectClose(statistics.wasserstein, expected[k]["wasserstein"], name + " wasserstein");
    testing::ExpectClose(statistics.psi, expected[k]["psi"], name + " psi");
    testing::ExpectClose(statistics.jensenshannon, expected[k]["jensenshannon"], name + " jensenshannon");
    // The column's own test is the same number whether or not the others are computed beside it.
    auto alone = NumericalColumnDrift(cases[k].first, cases[k].second);
    ASSERT_TRUE(alone.ok());
    EXPECT_EQ(alone->test, drift->test);
    EXPECT_EQ(alone->statistic, drift->statistic);
    EXPECT_EQ(drift->dropped_reference, 1);
    EXPECT_EQ(drift->dropped_current, 1);
  }
}

// Counts, as a GROUP BY gives them in any order, test like the values they count.
TEST(ColumnDriftTest, CategoryCountsTestLikeTheirValues) {
  std::vector<std::optional<std::string>> reference, current;
  for (int i = 0; i < 3000; ++i) reference.push_back(i % 11 == 0 ? std::optional<std::string>() : "k" + std::to_string(i % 9));
  for (int i = 0; i < 2000; ++i) current.push_back("k" + std::to_string((i * 7) % 10));
  CategoryCounts counts;
  counts.dropped_reference = 273;
  for (int k = 9; k >= 0; --k) {
    counts.categories.push_back("k" + std::to_string(k));
    counts.reference.push_back(k < 9 ? std::count(reference.begin(), reference.end(), "k" + std::to_string(k)) : 0);
    counts.current.push_back(std::count(current.begin(), current.end(), "k" + std::to_string(k)));
  }
  // A category neither side holds is ignored.
  counts.categories.push_back("absent");
  counts.reference.push_back(0);
  counts.current.push_back(0);
  for (const char* test : {"chisquare", "jensenshannon", "psi", "kl_div"}) {
    auto from_values = CategoricalColumnDrift(reference, current, {test, {}});
    CategoricalStatistics statistics;
    auto from_counts = CategoricalColumnDrift(counts, {test, {}}, &statistics);
    ASSERT_TRUE(from_values.ok() && from_counts.ok()) << test;
    EXPECT_EQ(from_counts->statistic, from_values->statistic) << test;
    EXPECT_EQ(from_counts->dropped_reference, from_values->dropped_reference) << test;
    EXPECT_EQ(from_counts->reference_size, from_values->reference_size) << test;
    EXPECT_TRUE(std::isinf(statistics.chisquare_statistic)) << "k9 is new in the current data";
    EXPECT_EQ(statistics.chisquare_p_value, 0);
    EXPECT_EQ(statistics.jensenshannon, CategoricalColumnDrift(counts, {"jensenshannon", {}})->statistic);
  }
  counts.current.pop_back();
  EXPECT_FALSE(CategoricalColumnDrift(counts).ok()) << "a count missing for a category";
}

}  // namespace
}  // namespace lathe::monitoring
