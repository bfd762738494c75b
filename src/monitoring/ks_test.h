// The two-sample Kolmogorov–Smirnov test exactly as scipy.stats.ks_2samp(method="auto",
// alternative="two-sided") computes it (scipy 1.10): the exact distribution of the statistic when
// both samples have at most 10,000 values, Smirnov's asymptotic (scipy.stats.kstwo) beyond.
#pragma once

#include <span>

#include "core/status.h"

namespace lathe::monitoring {

struct KsResult {
  double statistic = 0;  // sup |F_reference - F_current|
  double p_value = 1;
};

// Both samples hold finite values (NaN and infinities removed by the caller) and are not empty.
// Neither needs to be sorted.
Result<KsResult> KsTwoSample(std::span<const double> reference, std::span<const double> current);
// The p-value of a statistic already computed (e.g. by CompareSorted) over samples of n1 and n2
// values (both at least 1). On the exact distribution's path the statistic comes back as scipy
// reports it, rounded to that distribution's grid.
KsResult KsTwoSampleFromStatistic(double statistic, int64_t n1, int64_t n2);

}  // namespace lathe::monitoring
