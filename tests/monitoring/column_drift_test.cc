// Column drift: Evidently's choice of test, thresholds and verdicts, and the numbers against scipy.
#include "monitoring/column_drift.h"

#include "monitoring/python_reference.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace lathe::monitoring
