// KsTwoSample against scipy 1.10.1's ks_2samp(alternative="two-sided", method="auto"), run by
// Debian's /usr/bin/python3 on the very samples the test generates.
#include "monitoring/ks_test.h"

#include "monitoring/python_reference.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace lathe::monitoring {
namespace {

struct Case {
  std::string name;
  std::vector<double> reference;
  std::vector<double> current;
};

struct Reference {
  double statistic = 0;
  double p_value = 0;
  bool fell_back_to_asymp = false;  // scipy warned "Exact calculation unsuccessful"
};

// Reads the cases (int64 n1, int64 n2, n1 + n2 float64, little endian) and prints
// "statistic p_value fell_back" per case with repr(), which round-trips doubles.
constexpr const char* kScipyScript = R"PY(
import sys, warnings
import numpy as np
import scipy
from scipy import stats
assert scipy.__version__ == "1.10.1", scipy.__version__
raw = open(sys.argv[1], "rb").read()
off = 0
while off < len(raw):
    n1, n2 = (int(v) for v in np.frombuffer(raw, dtype="<i8", count=2, offset=off))
    off += 16
    a = np.frombuffer(raw, dtype="<f8", count=n1, offset=off)
    off += 8 * n1
    b = np.frombuffer(raw, dtype="<f8", count=n2, offset=off)
    off += 8 * n2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = stats.ks_2samp(a, b, alternative="two-sided", method="auto")
    fell_back = any("Exact calculation unsuccessful" in str(w.message) for w in caught)
    print(repr(float(r.statistic)), repr(float(r.pvalue)), int(fell_back))
)PY";

std::vector<Reference> ScipyKs(const std::vector<Case>& cases) {
  testing::ScratchDir dir;
  const auto data = dir.path() / "cases.bin";
  {
    std::ofstream out(data, std::ios::binary);
    for (const Case& c : cases) {
      const int64_t sizes[2] = {static_cast<int64_t>(c.reference.size()),
                                static_cast<int64_t>(c.current.size())};
      out.write(reinterpret_cast<const char*>(sizes), sizeof(sizes));
      out.write(reinterpret_cast<const char*>(c.reference.data()),
                static_cast<std::streamsize>(c.reference.size() * sizeof(double)));
      out.write(reinterpret_cast<const char*>(c.current.data()),
                static_cast<std::streamsize>(c.current.size() * sizeof(double)));
    }
  }
  const std::string output = testing::RunPython(kScipyScript, {data.string()});
  std::vector<Reference> refs;
  std::istringstream lines(output);
  std::string stat, p, fell_back;
  while (lines >> stat >> p >> fell_back) {
    refs.push_back({std::strtod(stat.c_str(), nullptr), std::strtod(p.c_str(), nullptr),
                    fell_back == "1"});
  }
  EXPECT_EQ(refs.size(), cases.size()) << output;
  return refs;
}

// Relative error, or absolute error divided by 1e-12 for references below 1e-12, so that one
// bound (1e-9) covers both: p-values under 1e-12 must agree to 1e-21 absolutely.
double ScaledError(double got, double want) {
  if (got == want) return 0;
  const double scale = std::max(std::fabs(want), 1e-12);
  return std::fabs(got - want) / scale;
}

double worst_error_seen = 0;

// Returns how many of the cases scipy computed by falling back from exact to asymptotic.
int ExpectMatchesScipy(const std::vector<Case>& cases) {
  const std::vector<Reference> refs = ScipyKs(cases);
  int fallbacks = 0;
  for (size_t i = 0; i < std::min(cases.size(), refs.size()); ++i) {
    const Case& c = cases[i];
    const Reference& want = refs[i];
    SCOPED_TRACE(c.name + " (n1=" + std::to_string(c.reference.size()) +
                 ", n2=" + std::to_string(c.current.size()) + ")");
    auto got = KsTwoSample(c.reference, c.current);
    if (!got.ok()) {
      ADD_FAILURE() << got.status().message();
      continue;
    }
    const double stat_error = ScaledError(got->statistic, want.statistic);
    const double p_error = ScaledError(got->p_value, want.p_value);
    worst_error_seen = std::max({worst_error_seen, stat_error, p_error});
    EXPECT_LE(stat_error, 1e-9) << std::setprecision(17) << got->statistic << " vs scipy "
                                << want.statistic;
    EXPECT_LE(p_error, 1e-9) << std::setprecision(17) << got->p_value << " vs scipy "
                             << want.p_value;
    if (want.fell_back_to_asymp) ++fallbacks;
    if (std::getenv("LATHE_KS_VERBOSE") != nullptr) {
      std::printf("%-40s stat %.17g p %.17g scipy p %.17g err %.3g%s\n", c.name.c_str(),
                  got->statistic, got->p_value, want.p_value, std::max(stat_error, p_error),
                  want.fell_back_to_asymp ? " [scipy fell back to asymp]" : "");
    }
  }
  std::printf("worst scaled error so far: %.3g\n", worst_error_seen);
  return fallbacks;
}

std::vector<double> Normal(size_t n, double mean, double sd, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(mean, sd);
  std::vector<double> out(n);
  for (double& v : out) v = dist(rng);
  return out;
}

// Integer-valued draws: many ties within and across the samples.
std::vector<double> RoundedNormal(size_t n, double mean, double sd, uint64_t seed) {
  std::vector<double> out = Normal(n, mean, sd, seed);
  for (double& v : out) v = std::round(v);
  return out;
}

// A sample whose ECDF is within ~delta/4 of the uniform grid: small, controlled statistics.
std::vector<double> WarpedGrid(size_t n, double delta, double offset) {
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    const double u = (static_cast<double>(i) + offset) / static_cast<double>(n);
    out[i] = u + delta * u * (1 - u);
  }
  return out;
}

TEST(KsTwoSample, RejectsEmptyAndNonFiniteSamples) {
  const std::vector<double> some = {1.0, 2.0};
  const std::vector<double> none;
  auto empty_ref = KsTwoSample(none, some);
  ASSERT_FALSE(empty_ref.ok());
  EXPECT_EQ(empty_ref.status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_NE(empty_ref.status().message().find("reference"), std::string::npos);
  auto empty_cur = KsTwoSample(some, none);
  ASSERT_FALSE(empty_cur.ok());
  EXPECT_EQ(empty_cur.status().code(), ErrorCode::kInvalidParameterValue);
  EXPECT_NE(empty_cur.status().message().find("current"), std::string::npos);

  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity()}) {
    const std::vector<double> with_bad = {1.0, bad, 3.0};
    auto r1 = KsTwoSample(with_bad, some);
    ASSERT_FALSE(r1.ok());
    EXPECT_EQ(r1.status().code(), ErrorCode::kInvalidParameterValue);
    auto r2 = KsTwoSample(some, with_bad);
    ASSERT_FALSE(r2.ok());
    EXPECT_EQ(r2.status().code(), ErrorCode::kInvalidParameterValue);
  }
}

// Values computed once with scipy 1.10.1 under Debian's /usr/bin/python3 (3.11):
//   stats.ks_2samp([1, 2, 3, 4, 5], [1.5, 2.5, 3.5, 4.5, 5.5])  -> (0.2, 1.0), after the warning
//   "Exact calculation unsuccessful. Switching to method=asymp": the exact n1 == n2 sum
//   rounds to 1.0000000000000002 and fails scipy's 0 <= p <= 1 check.
//   stats.ks_2samp([0.5], [1.5]) -> (1.0, 1.0)
TEST(KsTwoSample, EmbeddedScipyValues) {
  auto fallback = KsTwoSample(std::vector<double>{1, 2, 3, 4, 5}, std::vector<double>{1.5, 2.5, 3.5, 4.5, 5.5});
  ASSERT_TRUE(fallback.ok());
  EXPECT_EQ(fallback->statistic, 0.2);
  EXPECT_EQ(fallback->p_value, 1.0);
  auto single = KsTwoSample(std::vector<double>{0.5}, std::vector<double>{1.5});
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->statistic, 1.0);
  EXPECT_EQ(single->p_value, 1.0);
}

TEST(KsTwoSample, SmallAndDegenerateSamplesMatchScipy) {
  std::vector<Case> cases = {
      {"1 vs 1 apart", {0.5}, {1.5}},
      {"1 vs 1 equal", {2.0}, {2.0}},
      {"1 vs 5 inside", {0.0}, {-2, -1, 1, 2, 3}},
      {"1 vs 5 below", {-10.0}, {-2, -1, 1, 2, 3}},
      {"2 vs 2 apart", {0, 1}, {2, 3}},
      {"2 vs 2 interleaved", {0, 2}, {1, 3}},
      {"2 vs 2 tied", {1, 1}, {1, 2}},
      {"identical", Normal(500, 0, 1, 7), Normal(500, 0, 1, 7)},
      {"identical unequal sizes", {1, 2, 3, 1, 2, 3}, {1, 2, 3}},
      {"constant equal", std::vector<double>(40, 3.0), std::vector<double>(60, 3.0)},
      {"constant different", std::vector<double>(40, 3.0), std::vector<double>(60, 4.0)},
      {"constant vs spread", std::vector<double>(40, 0.0), Normal(60, 0, 1, 8)},
      {"ties 200 vs 300", RoundedNormal(200, 0, 2, 9), RoundedNormal(300, 0.3, 2, 10)},
      {"ties 1000 vs 1000", RoundedNormal(1000, 0, 1, 11), RoundedNormal(1000, 0.1, 1, 12)},
      {"ties 777 vs 5000", RoundedNormal(777, 0, 3, 13), RoundedNormal(5000, 0, 3, 14)},
  };
  // Equal sizes where d == 1/n: the exact sum can round above 1, scipy then warns and uses the
  // asymptotic distribution (with n = 5 this happens; see EmbeddedScipyValues).
  for (int n : {5, 7, 13, 30, 36}) {
    std::vector<double> a(n), b(n);
    for (int i = 0; i < n; ++i) {
      a[i] = i;
      b[i] = i + 0.5;
    }
    cases.push_back({"d = 1/n, n = " + std::to_string(n), a, b});
  }
  const int fallbacks = ExpectMatchesScipy(cases);
  EXPECT_GE(fallbacks, 1) << "expected scipy to fall back to asymp for some d = 1/n case";
}

TEST(KsTwoSample, ExactPathsMatchScipy) {
  std::vector<Case> cases;
  uint64_t seed = 100;
  // n1 == n2: _compute_prob_outside_square.
  for (int n : {3, 10, 50, 1000, 10000}) {
    for (double shift : {0.0, 0.2, 0.6}) {
      cases.push_back({"equal " + std::to_string(n) + " shift " + std::to_string(shift),
                       Normal(n, 0, 1, seed++), Normal(n, shift, 1, seed++)});
    }
  }
  // n1 != n2: _compute_outer_prob_inside_method, coprime and not.
  const std::pair<int, int> sizes[] = {{300, 450}, {301, 449}, {7, 3000}, {1000, 1500},
                                       {9999, 10000}, {10000, 2500}};
  for (auto [n1, n2] : sizes) {
    for (double shift : {0.0, 0.15, 0.5}) {
      cases.push_back({"unequal shift " + std::to_string(shift), Normal(n1, 0, 1, seed++),
                       Normal(n2, shift, 1, seed++)});
    }
  }
  // Tiny p-values on both exact routines.
  cases.push_back({"tiny p equal", Normal(5000, 0, 1, seed++), Normal(5000, 0.4, 1, seed++)});
  cases.push_back({"tiny p unequal", Normal(3000, 0, 1, seed++), Normal(7000, 0.5, 1, seed++)});
  cases.push_back({"disjoint unequal", Normal(2000, 0, 1, seed++), Normal(3000, 100, 1, seed++)});
  ExpectMatchesScipy(cases);
}

TEST(KsTwoSample, AsymptoticPathsMatchScipy) {
  std::vector<Case> cases;
  uint64_t seed = 1000;
  // 10,000 vs 10,001 is the first asymptotic size; 10,000 vs 10,000 above is exact.
  for (double shift : {0.0, 0.03, 0.1, 0.5}) {
    cases.push_back({"10000 vs 10001 shift " + std::to_string(shift), Normal(10000, 0, 1, seed++),
                     Normal(10001, shift, 1, seed++)});
  }
  // kstwo.sf's branches: small n (Ruben-Gambino, Durbin matrix, Pomeranz, Smirnov), n > 140
  // (Smirnov, Durbin matrix, Pelz-Good), tiny and zero p-values.
  for (int small : {1, 2, 3, 5, 12, 40, 100, 140, 141, 300, 3000}) {
    for (double shift : {0.0, 0.4, 1.0, 2.5, 8.0}) {
      cases.push_back({std::to_string(small) + " vs 20000 shift " + std::to_string(shift),
                       Normal(small, shift, 1, seed++), Normal(20000, 0, 1, seed++)});
    }
  }
  for (double delta : {0.002, 0.006, 0.012, 0.03, 0.08}) {
    cases.push_back({"warped grid 15000 vs 30000 delta " + std::to_string(delta),
                     WarpedGrid(15000, 0, 0.5), WarpedGrid(30000, delta, 0.25)});
    cases.push_back({"warped grid 200 vs 40000 delta " + std::to_string(delta),
                     WarpedGrid(200, 0, 0.5), WarpedGrid(40000, delta * 5, 0.25)});
  }
  // D just under 1/n for n = round(en) = 297 > 140: Ruben-Gambino through Stirling's series.
  cases.push_back({"grid 300 vs 30000 offset 0.8", WarpedGrid(300, 0, 0.8), WarpedGrid(30000, 0, 0.5)});
  cases.push_back({"ties 20000 vs 15000", RoundedNormal(20000, 0, 2, seed++),
                   RoundedNormal(15000, 0.05, 2, seed++)});
  cases.push_back({"tiny p 20000 vs 15000", Normal(20000, 0, 1, seed++),
                   Normal(15000, 0.1, 1, seed++)});
  cases.push_back({"p underflows 20000 vs 30000", Normal(20000, 0, 1, seed++),
                   Normal(30000, 1, 1, seed++)});
  ExpectMatchesScipy(cases);
}

TEST(KsTwoSample, MillionsOfValuesMatchScipy) {
  std::vector<Case> cases;
  cases.push_back({"1e6 vs 1e6 same", Normal(1000000, 0, 1, 5000), Normal(1000000, 0, 1, 5001)});
  // n = 500,000: Pelz-Good for the first, Smirnov's sum (a long one) for the second.
  cases.push_back({"1e6 vs 1e6 shift 0.01", Normal(1000000, 0, 1, 5002),
                   Normal(1000000, 0.01, 1, 5003)});
  // n = round(en) > 1,000,000: cephes' smirnov switches to its closed-form approximation.
  cases.push_back({"2.1e6 vs 2.1e6 shift 0.005", RoundedNormal(2100000, 0, 1000, 5004),
                   RoundedNormal(2100000, 5, 1000, 5005)});
  ExpectMatchesScipy(cases);
}

}  // namespace
}  // namespace lathe::monitoring
