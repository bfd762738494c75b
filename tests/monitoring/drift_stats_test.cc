// The drift statistics against numpy, scipy and pandas (Debian's /usr/bin/python3), computing
// Evidently's definitions independently on the same data.
#include "monitoring/drift_stats.h"

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
using testing::ExpectClose;
using testing::RunPython;
using testing::RunPythonJson;
using testing::ScratchDir;

// The reference: the same definitions, written with the libraries users know.
constexpr const char* kReferenceScript = R"py(
import json, sys
import numpy as np, pandas as pd
from scipy import stats
from scipy.spatial import distance
ref = pd.Series(np.fromfile(sys.argv[1], dtype=np.float64))
cur = pd.Series(np.fromfile(sys.argv[2], dtype=np.float64))
def binned(feel):
    if ref.nunique() > 20:
        bins = np.histogram_bin_edges(pd.concat([ref, cur]), bins="sturges")
        r = np.histogram(ref, bins)[0] / len(ref)
        c = np.histogram(cur, bins)[0] / len(cur)
    else:
        keys = sorted(set(ref) | set(cur))
        rc, cc = ref.value_counts(), cur.value_counts()
        r = np.array([rc.get(k, 0) / len(ref) for k in keys], dtype=float)
        c = np.array([cc.get(k, 0) / len(cur) for k in keys], dtype=float)
    if feel:
        for a in (r, c):
            nz = a[a != 0]
            np.place(a, a == 0, nz.min() / 10**6 if nz.min() <= 0.0001 else 0.0001)
    return r, c
r, c = binned(False)
rf, cf = binned(True)
print(json.dumps({
    "reference_shares": r.tolist(), "current_shares": c.tolist(),
    "js": float(distance.jensenshannon(r, c)),
    "psi": float(np.sum((rf - cf) * np.log(rf / cf))),
    "kl": float(stats.entropy(rf, cf)),
    "wasserstein": float(stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)),
}))
)py";

constexpr const char* kCountsScript = R"py(
import json, sys
import numpy as np
from scipy import stats
case = json.load(open(sys.argv[1]))
ref, cur = np.array(case["reference"], dtype=float), np.array(case["current"], dtype=float)
k = cur.sum() / ref.sum()
chi = stats.chisquare(cur, ref * k)
n1, n2 = case["n1"], case["n2"]
p1, p2 = case["other1"] / n1, case["other2"] / n2
P = (p1 * n1 + p2 * n2) / (n1 + n2)
z = (p1 - p2) / np.sqrt(P * (1 - P) * (1.0 / n1 + 1.0 / n2))
print(json.dumps({"chi_statistic": float(chi.statistic), "chi_p": float(chi.pvalue),
                  "z": float(z), "z_p": float(2 * (1 - stats.norm.cdf(np.abs(z))))}))
)py";

std::string Bytes(const std::vector<double>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
}

void CompareWithReference(const std::vector<double>& reference, const std::vector<double>& current, const std::string& name) {
  ScratchDir files;
  auto expected = json::parse(RunPython(kReferenceScript, {files.Write("r.bin", Bytes(reference)).string(),
                                                           files.Write("c.bin", Bytes(current)).string()}));
  auto shares = BinNumeric(reference, current);
  auto want_reference = expected["reference_shares"].get<std::vector<double>>();
  auto want_current = expected["current_shares"].get<std::vector<double>>();
  ASSERT_EQ(shares.reference.size(), want_reference.size()) << name;
  for (size_t i = 0; i < want_reference.size(); ++i) {
    ExpectClose(shares.reference[i], want_reference[i], name + " reference share " + std::to_string(i));
    ExpectClose(shares.current[i], want_current[i], name + " current share " + std::to_string(i));
  }
  ExpectClose(JensenShannonDistance(shares.reference, shares.current), expected["js"], name + " js");
  FillZeroShares(shares.reference);
  FillZeroShares(shares.current);
  ExpectClose(PopulationStabilityIndex(shares.reference, shares.current), expected["psi"], name + " psi");
  ExpectClose(KlDivergence(shares.reference, shares.current), expected["kl"], name + " kl");
  ExpectClose(NormedWasserstein(reference, current), expected["wasserstein"], name + " wasserstein");
}

std::vector<double> Normal(size_t n, double mean, double deviation, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::normal_distribution<double> normal(mean, deviation);
  std::vector<double> values(n);
  for (double& value : values) value = normal(random);
  return values;
}

std::vector<double> Integers(size_t n, int high, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int> uniform(0, high);
  std::vector<double> values(n);
  for (double& value : values) value = uniform(random);
  return values;
}

TEST(DriftStatsTest, ShiftedNormalsUseSturgesBins) {
  CompareWithReference(Normal(1000, 0, 1, 1), Normal(1200, 0.3, 1.2, 2), "normals");
}

TEST(DriftStatsTest, TiesWithManyDistinctValues) {
  CompareWithReference(Integers(5000, 40, 3), Integers(3000, 45, 4), "integers 0..40");
}

TEST(DriftStatsTest, FewDistinctValuesGetOneBinEach) {
  // Values only the current sample has get a zero reference share, filled for PSI and KL.
  CompareWithReference(Integers(500, 5, 5), Integers(700, 8, 6), "integers 0..5 vs 0..8");
}

TEST(DriftStatsTest, ConstantColumns) {
  CompareWithReference(std::vector<double>(100, 3.0), std::vector<double>(50, 3.0), "same constant");
  CompareWithReference(std::vector<double>(100, 3.0), std::vector<double>(50, 4.0), "two constants");
}

TEST(DriftStatsTest, TinySamples) {
  CompareWithReference({1.0}, {2.0}, "n=1");
  CompareWithReference({1.0, 2.0}, {2.0, 5.0}, "n=2");
}

TEST(DriftStatsTest, SturgesEdgesWhenTheRangeIsOnePoint) {
  std::vector<double> edges = SturgesEdges(std::vector<double>{2.0, 2.0}, std::vector<double>{2.0});
  EXPECT_EQ(edges, (std::vector<double>{1.5, 2.5}));
}

TEST(DriftStatsTest, MillionRowSamples) {
  CompareWithReference(Normal(1000000, 10, 2, 7), Normal(1000000, 10.1, 2, 8), "1e6 normals");
}

TEST(DriftStatsTest, ChiSquareAndZTestMatchScipy) {
  struct Case {
    std::vector<double> reference, current;
    int64_t n1, other1, n2, other2;
  };
  std::vector<Case> cases = {
      {{50, 30, 20}, {10, 40, 45}, 100, 30, 95, 85},
      {{500, 300, 200, 1}, {480, 310, 190, 20}, 1001, 1, 1000, 20},
      {{7, 3}, {3, 7}, 10, 3, 10, 7},
  };
  for (const auto& c : cases) {
    json input = {{"reference", c.reference}, {"current", c.current}, {"n1", c.n1}, {"other1", c.other1},
                  {"n2", c.n2}, {"other2", c.other2}};
    auto expected = RunPythonJson(kCountsScript, input);
    auto chi = ChiSquareGoodnessOfFit(c.reference, c.current);
    ExpectClose(chi.statistic, expected["chi_statistic"], "chi statistic");
    ExpectClose(chi.p_value, expected["chi_p"], "chi p");
    auto z = ProportionZTest(c.n1 - c.other1, c.n1, c.n2 - c.other2, c.n2, false);
    ExpectClose(z.statistic, expected["z"], "z");
    ExpectClose(z.p_value, expected["z_p"], "z p");
  }
}

TEST(DriftStatsTest, CategoryOnlyInCurrentIsInfiniteChiSquare) {
  auto chi = ChiSquareGoodnessOfFit(std::vector<double>{50, 50, 0}, std::vector<double>{40, 40, 20});
  EXPECT_TRUE(std::isinf(chi.statistic));
  EXPECT_EQ(chi.p_value, 0);
}

TEST(DriftStatsTest, ZTestOfTheSameSingleValueIsOne) {
  auto z = ProportionZTest(10, 10, 5, 5, true);
  EXPECT_EQ(z.p_value, 1);
}

// The radix sort against std::sort on what columns hold: both signs, zeros of both signs,
// subnormal and huge magnitudes, ties, rounded values (digits every key shares), and sizes on both
// sides of the switch to std::sort; NaN and infinities are left out and counted.
TEST(DriftStatsTest, SortFiniteSortsLikeStdSort) {
  std::mt19937_64 random(11);
  std::normal_distribution<double> normal(0, 3);
  auto check = [&](std::vector<double> values, const std::string& name) {
    std::vector<double> expected;
    for (double v : values) {
      if (std::isfinite(v)) expected.push_back(v);
    }
    std::sort(expected.begin(), expected.end());
    SortBuffers buffers;
    SortedSample sample = SortFinite(std::vector<double>(values), buffers);
    ASSERT_EQ(sample.values.size(), expected.size()) << name;
    EXPECT_EQ(sample.dropped, static_cast<int64_t>(values.size() - expected.size())) << name;
    for (size_t i = 0; i < expected.size(); ++i) {
      // -0.0 and 0.0 compare equal; every other value must be the same bits.
      ASSERT_TRUE(sample.values[i] == expected[i]) << name << " at " << i << ": " << sample.values[i] << " vs " << expected[i];
    }
    EXPECT_EQ(SortFinite(values).values, sample.values) << name << " (span overload)";
  };
  for (size_t n : {0, 1, 7, 2047, 2048, 5000, 300000}) {
    std::vector<double> values(n);
    for (double& v : values) v = normal(random);
    check(values, "normal " + std::to_string(n));
    for (double& v : values) v = std::round(v * 100) / 100;
    check(values, "rounded " + std::to_string(n));
  }
  std::vector<double> special = {0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, -1e308, 1e308, 1.0, -1.0,
                                 std::nan(""), INFINITY, -INFINITY, 3.0, 3.0, -2.5};
  std::vector<double> many;
  for (int copy = 0; copy < 500; ++copy) many.insert(many.end(), special.begin(), special.end());
  check(many, "special values");
  check(std::vector<double>(10000, 4.25), "one value");
}

// One pass over two sorted samples against the definitions: scipy's KS statistic evaluates both
// CDFs (counting every copy) at every value of either sample, its Wasserstein distance sums
// |F_a - F_b| times the gap to the next value; the distinct count of both together.
TEST(DriftStatsTest, CompareSortedMatchesTheDefinitions) {
  std::mt19937_64 random(12);
  std::normal_distribution<double> normal(0, 1);
  for (int round_to : {0, 10, 1}) {
    std::vector<double> a(30011), b(17003);
    for (double& v : a) v = normal(random);
    for (double& v : b) v = normal(random) + 0.05;
    if (round_to > 0) {
      // Many copies of each value, so that runs meet the split at the median.
      for (double& v : a) v = std::round(v * round_to) / round_to;
      for (double& v : b) v = std::round(v * round_to) / round_to;
    }
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    std::vector<double> pooled(a);
    pooled.insert(pooled.end(), b.begin(), b.end());
    std::sort(pooled.begin(), pooled.end());
    double statistic = 0, wasserstein = 0;
    for (size_t k = 0; k < pooled.size(); ++k) {
      const double v = pooled[k];
      const double fa = static_cast<double>(std::upper_bound(a.begin(), a.end(), v) - a.begin()) / static_cast<double>(a.size());
      const double fb = static_cast<double>(std::upper_bound(b.begin(), b.end(), v) - b.begin()) / static_cast<double>(b.size());
      statistic = std::max(statistic, std::abs(fa - fb));
      if (k + 1 < pooled.size()) wasserstein += std::abs(fa - fb) * (pooled[k + 1] - v);
    }
    const auto distinct = std::unique(pooled.begin(), pooled.end()) - pooled.begin();
    const SortedComparison comparison = CompareSorted(a, b);
    EXPECT_EQ(comparison.ks_statistic, statistic) << "rounded to 1/" << round_to;
    EXPECT_EQ(comparison.distinct, distinct) << "rounded to 1/" << round_to;
    EXPECT_NEAR(comparison.wasserstein, wasserstein, 1e-12 * wasserstein) << "rounded to 1/" << round_to;
  }
}

}  // namespace
}  // namespace lathe::monitoring
