// The drift statistics against numpy, scipy and pandas (Debian's /usr/bin/python3), computing
// Evidently's definitions independently on the same data.
#include "monitoring/drift_stats.h"

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

}  // namespace
}  // namespace lathe::monitoring
