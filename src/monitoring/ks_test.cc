// A port of scipy 1.10.1's ks_2samp(alternative="two-sided", method="auto") and of the pieces of
// scipy.stats.kstwo.sf (scipy/stats/_ksstats.py) and scipy.special.smirnov (cephes/kolmogorov.c)
// that its asymptotic branch reaches. Branch points, thresholds and the order of floating-point
// operations follow scipy so that results agree to ~1e-11, not just to the formula.
#include "monitoring/ks_test.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "monitoring/drift_stats.h"

namespace lathe::monitoring {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// ks_2samp's MAX_AUTO_N: 'auto' is exact when both samples hold at most this many values.
constexpr int64_t kMaxAutoN = 10000;

// _ksstats.py rescales by 2^128 (as numpy longdouble constants) to keep products in range.
constexpr int kE128 = 128;
const long double kEP128 = std::ldexp(1.0L, kE128);
const long double kEM128 = std::ldexp(1.0L, -kE128);
constexpr double kMinLog = -708;  // _ksstats._MIN_LOG
// cephes MINLOG = log(2^-1022).
constexpr double kCephesMinLog = -7.08396418532264106224E2;
constexpr double kPi = 3.14159265358979323846;

double Clip01(double p) { return std::clamp(p, 0.0, 1.0); }

// ---------------------------------------------------------------------------------------------
// scipy.special.smirnov(n, x): the one-sided Smirnov survival function, computed with the
// Birnbaum–Tingey sum like cephes' _smirnov. cephes keeps double-double terms; here each term is
// formed in log2 space as a double mantissa and a separate power of two (relative error ~1e-11
// for n up to 1e6), which is far inside the 1e-9 this port promises while keeping cephes' choice
// of lower/upper sum and its early exit.

struct NxSplit {
  int floor_nx;   // floor(n*x), computed from the exact product
  double alpha;   // n*x - floor(n*x) in [0, 1)
  double hi, lo;  // n*x == hi + lo exactly
};

NxSplit SplitNx(int n, double x) {
  NxSplit s;
  s.hi = static_cast<double>(n) * x;
  s.lo = std::fma(static_cast<double>(n), x, -s.hi);
  double fl_hi = std::floor(s.hi);
  double floor_total;
  if (fl_hi == s.hi) {
    double fl_lo = std::floor(s.lo);
    floor_total = s.hi + fl_lo;
    s.alpha = s.lo - fl_lo;
  } else {
    floor_total = fl_hi;
    s.alpha = (s.hi - fl_hi) + s.lo;
  }
  s.floor_nx = static_cast<int>(floor_total);
  if (s.alpha >= 1) {  // cephes: a remainder of (1 - tiny) rounds up
    s.floor_nx += 1;
    s.alpha = 0;
  }
  return s;
}

// A sum of terms given as mantissa * 2^exponent, held as sum * 2^exponent where exponent is the
// largest term's so far: terms far below the smallest double still add up.
struct ScaledSum {
  static constexpr int64_t kEmpty = std::numeric_limits<int64_t>::min();
  double sum = 0;
  int64_t exponent = kEmpty;

  // mantissa * 2^(e - exponent); 0 when that is far below any double.
  double Relative(double mantissa, int64_t e) const {
    return e - exponent < -2200 ? 0.0 : std::ldexp(mantissa, static_cast<int>(e - exponent));
  }
  void Add(double mantissa, int64_t e) {
    if (mantissa == 0) return;
    if (e > exponent) {
      sum = exponent == kEmpty || exponent - e < -2200 ? 0.0 : std::ldexp(sum, static_cast<int>(exponent - e));
      exponent = e;
    }
    sum += Relative(mantissa, e);
  }
  // factor * the sum, as a double (0 when it underflows).
  double Times(double factor) const {
    if (exponent == kEmpty) return 0;
    return std::ldexp(factor * sum, static_cast<int>(std::clamp<int64_t>(exponent, -4000, 4000)));
  }
};

double SmirnovSf(int n, double x) {
  if (!(n > 0 && x >= 0.0 && x <= 1.0)) return kNaN;
  if (n == 1) return 1 - x;
  if (x == 0.0) return 1.0;
  if (x == 1.0) return 0.0;

  const NxSplit nxs = SplitNx(n, x);
  const int nxfl = nxs.floor_nx;
  const double alpha = nxs.alpha;
  int n1mxfl = n - nxfl - (alpha == 0 ? 0 : 1);
  int n1mxceil = n - nxfl;
  if (alpha == 0) {
    n1mxfl -= 1;
    n1mxceil += 1;
  }

  if (nxfl == 0 || (nxfl == 1 && alpha == 0)) {  // x <= 1/n
    long double t = std::pow(1.0L + static_cast<long double>(x), n - 1);
    double cdf = static_cast<double>(x * t);
    return Clip01(1 - cdf);
  }
  if (-2 * n * x * x < kCephesMinLog) return 0;  // the sf underflows
  if (nxfl >= n - 1) {  // x >= 1 - 1/n
    return static_cast<double>(std::pow(1.0L - static_cast<long double>(x), n));
  }
  if (n > 1000000) {  // cephes SMIRNOV_MAX_COMPUTE_N: an approximation
    double logp = -std::pow(6.0 * n * x + 1, 2) / 18.0 / n;
    double sf;
    if (logp < -std::log(2.0)) {
      sf = std::exp(logp);
    } else {
      double cdf = -std::expm1(logp);
      sf = 1 - cdf;
    }
    return sf;
  }

  const int n_upper_terms = n - n1mxceil + 1;
  bool use_upper_sum = (n_upper_terms <= 1 && x < 0.5);
  use_upper_sum = use_upper_sum || ((n >= 10) && (n_upper_terms <= 3) && (x <= 0.5 / std::sqrt(n)));

  int start = 0, step = 1, n_terms = n1mxfl + 1;
  const int vmid = n / 2;
  // Numbers are double mantissas with separate powers of two: C(n, j) overflows any float type
  // and the terms lie far below the smallest double. (Long double arithmetic, the obvious way,
  // made this loop, hundreds of thousands of terms at n = 1e6, five times slower.)
  double c_man = 1.0;
  int64_t c_expt = 0;
  auto update_binomial = [&](int j) {
    int e = 0;
    c_man = std::frexp(c_man * (static_cast<double>(n - j) / (j + 1.0)), &e);
    c_expt += e;
  };
  ScaledSum aj_sum;
  auto add_long_double = [&](long double term) {
    int e = 0;
    const long double mantissa = std::frexp(term, &e);
    aj_sum.Add(static_cast<double>(mantissa), e);
  };
  if (use_upper_sum) {
    start = n;
    step = -1;
    n_terms = n - n1mxceil + 1;
    add_long_double(std::pow(1.0L + static_cast<long double>(x), n - 1));
  } else {
    add_long_double(std::pow(1.0L - static_cast<long double>(x), n) / static_cast<long double>(x));
  }
  update_binomial(0);

  const double nd = n;
  for (int j = 1; j < n_terms; ++j) {
    const int v = start + j * step;
    // A_v = C(n, v) (1 - x - v/n)^(n-v) (x + v/n)^(v-1); n*x == hi + lo exactly, and (n - v) - hi
    // is exact in a double, so t2x keeps its digits as it nears 0 on the last terms.
    const double t2x = ((static_cast<double>(n - v) - nxs.hi) - nxs.lo) / nd;
    const double t1x = ((static_cast<double>(v) + nxs.hi) + nxs.lo) / nd;
    double mantissa = 0;  // A_v = mantissa * 2^exponent
    int64_t exponent = 0;
    if (!(t2x == 0 && n - v > 0)) {
      const double sign = (t2x < 0 && ((n - v) % 2 != 0)) ? -1.0 : 1.0;
      // The products reach ~1e6 in magnitude, so a term's relative error is ~1e-11 at n = 1e6;
      // over 600 random cases (n up to 1e6) the sum stayed within 7.5e-12 of a long double one.
      double log2_term = std::log2(c_man);
      if (n - v != 0) log2_term += static_cast<double>(n - v) * std::log2(std::fabs(t2x));
      if (v - 1 != 0) log2_term += static_cast<double>(v - 1) * std::log2(t1x);
      const double whole = std::floor(log2_term);
      mantissa = sign * std::exp2(log2_term - whole);
      exponent = static_cast<int64_t>(whole) + c_expt;
    }
    aj_sum.Add(mantissa, exponent);
    if (mantissa != 0) {
      if (4.0 * (n_terms - j) * std::fabs(aj_sum.Relative(mantissa, exponent)) <
              std::numeric_limits<double>::epsilon() * aj_sum.sum && (j != n_terms - 1)) {
        break;
      }
    } else if (j > vmid) {
      break;
    }
    update_binomial(j);
  }
  const double prob = aj_sum.Times(x);
  const double sf = step < 0 ? 1 - prob : prob;
  return Clip01(sf);
}

// ---------------------------------------------------------------------------------------------
// _ksstats.py: Pr(D_n <= x) for the one-sample two-sided statistic.

// _kolmogn_DMTW: Durbin's matrix algorithm as Marsaglia, Tsang and Wang evaluate it.
double KolmognDmtwCdf(int n, double d) {
  if (d >= 1.0) return 1.0;
  const double nd = n * d;
  if (nd <= 0.5) return 0.0;
  const int k = static_cast<int>(std::ceil(nd));
  const double h = k - nd;
  const int m = 2 * k - 1;
  const size_t mm = static_cast<size_t>(m);

  std::vector<double> H(mm * mm, 0.0);
  auto at = [mm](std::vector<double>& a, int r, int c) -> double& { return a[r * mm + c]; };
  std::vector<double> v(mm), w(mm);
  for (int j = 1; j <= m; ++j) v[j - 1] = 1.0 - std::pow(h, j);
  double fac = 1.0;
  for (int j = 1; j <= m; ++j) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] *= fac;
  }
  const double tt = std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(h, m);
  v[m - 1] = (1.0 + tt) * fac;
  for (int i = 1; i < m; ++i) {
    for (int r = i - 1; r < m; ++r) at(H, r, i) = w[r - (i - 1)];
  }
  for (int r = 0; r < m; ++r) at(H, r, 0) = v[r];
  for (int c = 0; c < m; ++c) at(H, m - 1, c) = v[m - 1 - c];

  auto matmul = [m, mm](const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> out(mm * mm, 0.0);
    for (int r = 0; r < m; ++r) {
      for (int l = 0; l < m; ++l) {
        const double arl = a[r * mm + l];
        if (arl == 0) continue;
        for (int c = 0; c < m; ++c) out[r * mm + c] += arl * b[l * mm + c];
      }
    }
    return out;
  };

  std::vector<double> hpwr(mm * mm, 0.0);
  for (int i = 0; i < m; ++i) at(hpwr, i, i) = 1.0;
  int nn = n;
  long long expnt = 0, hexpnt = 0;
  while (nn > 0) {
    if (nn % 2) {
      hpwr = matmul(hpwr, H);
      expnt += hexpnt;
    }
    H = matmul(H, H);
    hexpnt *= 2;
    if (std::fabs(at(H, k - 1, k - 1)) > kEP128) {
      for (double& e : H) e = static_cast<double>(e / kEP128);
      hexpnt += kE128;
    }
    nn /= 2;
  }
  // numpy promotes p to longdouble once it is first rescaled; computing in long double
  // throughout only differs in the last bits of a double.
  long double p = at(hpwr, k - 1, k - 1);
  for (int i = 1; i <= n; ++i) {
    p = i * p / n;
    if (std::fabs(p) < kEM128) {
      p *= kEP128;
      expnt -= kE128;
    }
  }
  if (expnt != 0) p = std::ldexp(p, static_cast<int>(expnt));
  return Clip01(static_cast<double>(p));
}

std::pair<int, int> PomeranzJ1J2(int i, int n, int ll, int ceilf, int roundf) {
  int j1, j2;
  if (i == 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const int ip1div2 = (i + 1) / 2, ip1mod2 = (i + 1) % 2;
    if (ip1mod2 == 0) {
      if (ip1div2 == n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return {std::max(j1 + 2, 0), std::min(j2, n)};
}

// Python slice bounds [start, stop) of a sequence of length len.
std::pair<long, long> PySlice(long start, long stop, long len) {
  auto norm = [len](long i) {
    if (i < 0) i += len;
    return std::clamp(i, 0L, len);
  };
  return {norm(start), std::max(norm(start), norm(stop))};
}

// _kolmogn_Pomeranz: Pomeranz's recursion.
double KolmognPomeranzCdf(int n, double x) {
  const double t = n * x;
  const int ll = static_cast<int>(std::floor(t));
  const double f = 1.0 * (t - ll);
  const double g = std::min(f, 1.0 - f);
  const int ceilf = f > 0 ? 1 : 0;
  const int roundf = f > 0.5 ? 1 : 0;
  const int npwrs = 2 * (ll + 1);
  std::vector<double> gpower(npwrs), twogpower(npwrs), onem2gpower(npwrs);
  gpower[0] = twogpower[0] = onem2gpower[0] = 1.0;
  long long expnt = 0;
  const double g_over_n = g / n, two_g_over_n = 2 * g / n, one_minus_two_g_over_n = (1 - 2 * g) / n;
  for (int m = 1; m < npwrs; ++m) {
    gpower[m] = gpower[m - 1] * g_over_n / m;
    twogpower[m] = twogpower[m - 1] * two_g_over_n / m;
    onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_over_n / m;
  }
  std::vector<double> V0(npwrs, 0.0), V1(npwrs, 0.0);
  V1[0] = 1;
  int V0s = 0, V1s = 0;
  auto [j1, j2] = PomeranzJ1J2(0, n, ll, ceilf, roundf);
  std::vector<double> conv;
  for (int i = 1; i < 2 * n + 2; ++i) {
    const int k1 = j1;
    std::swap(V0, V1);
    std::swap(V0s, V1s);
    std::fill(V1.begin(), V1.end(), 0.0);
    std::tie(j1, j2) = PomeranzJ1J2(i, n, ll, ceilf, roundf);
    const std::vector<double>& pwrs =
        (i == 1 || i == 2 * n + 1) ? gpower : (i % 2 ? twogpower : onem2gpower);
    const int ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      auto [a0, a1] = PySlice(k1 - V0s, k1 - V0s + ln2, npwrs);
      auto [b0, b1] = PySlice(0, ln2, npwrs);
      const long la = a1 - a0, lb = b1 - b0;
      if (la == 0 || lb == 0) return kNaN;  // numpy.convolve would raise
      conv.assign(la + lb - 1, 0.0);
      for (long p = 0; p < la; ++p) {
        for (long q = 0; q < lb; ++q) conv[p + q] += V0[a0 + p] * pwrs[b0 + q];
      }
      const int conv_start = j1 - k1;
      const int conv_len = j2 - j1 + 1;
      auto [c0, c1] = PySlice(conv_start, conv_start + conv_len, static_cast<long>(conv.size()));
      if (conv_len > 0) {
        if (c1 - c0 != conv_len || conv_len > npwrs) return kNaN;  // numpy would raise
        std::copy(conv.begin() + c0, conv.begin() + c1, V1.begin());
      }
      const double vmax = *std::max_element(V1.begin(), V1.end());
      if (0 < vmax && vmax < kEM128) {
        for (double& e : V1) e = static_cast<double>(e * kEP128);
        expnt -= kE128;
      }
      V1s = V0s + j1 - k1;
    }
  }
  const long idx = n - V1s;
  if (idx < 0 || idx >= npwrs) return kNaN;
  long double ans = V1[idx];
  for (int m = 1; m <= n; ++m) {
    if (std::fabs(ans) > kEP128) {
      ans *= kEM128;
      expnt += kE128;
    }
    ans *= m;
  }
  if (expnt != 0) ans = std::ldexp(ans, static_cast<int>(expnt));
  return Clip01(static_cast<double>(ans));
}

// _kolmogn_PelzGood: the Pelz–Good approximation; returns the cdf or the sf.
double KolmognPelzGood(int n, double x, bool cdf) {
  if (x <= 0.0) return cdf ? 0.0 : 1.0;
  if (x >= 1.0) return cdf ? 1.0 : 0.0;
  const double pi2 = kPi * kPi, pi4 = std::pow(kPi, 4), pi6 = std::pow(kPi, 6);
  const double sqrt2pi = std::sqrt(2 * kPi);
  const double z = std::sqrt(static_cast<double>(n)) * x;
  const double zsquared = std::pow(z, 2), zthree = std::pow(z, 3), zfour = std::pow(z, 4),
               zsix = std::pow(z, 6);
  const double qlog = -pi2 / 8 / zsquared;
  if (qlog < kMinLog) return cdf ? 0.0 : 1.0;
  double q = std::exp(qlog);

  const double k1a = -zsquared;
  const double k1b = pi2 / 4;
  const double k2a = 6 * zsix + 2 * zfour;
  const double k2b = (2 * zfour - 5 * zsquared) * pi2 / 4;
  const double k2c = pi4 * (1 - 2 * zsquared) / 16;
  const double k3d = pi6 * (5 - 30 * zsquared) / 64;
  const double k3c = pi4 * (-60 * zsquared + 212 * zfour) / 16;
  const double k3b = pi2 * (135 * zfour - 96 * zsix) / 4;
  const double k3a = -30 * zsix - 90 * std::pow(z, 8);

  double K[4] = {0, 0, 0, 0};
  const int maxk = static_cast<int>(std::ceil(16 * z / kPi));
  for (int k = maxk; k > 0; --k) {
    const double m = 2 * k - 1;
    const double msquared = m * m, mfour = std::pow(m, 4), msix = std::pow(m, 6);
    const double qpower = std::pow(q, 8 * k);
    const double coeffs[4] = {1.0, k1a + k1b * msquared, k2a + k2b * msquared + k2c * mfour,
                              k3a + k3b * msquared + k3c * mfour + k3d * msix};
    for (int i = 0; i < 4; ++i) K[i] = K[i] * qpower + coeffs[i];
  }
  const double denom[4] = {z, 6 * zfour, 72 * std::pow(z, 7), 6480 * std::pow(z, 10)};
  for (int i = 0; i < 4; ++i) K[i] = K[i] * q * sqrt2pi / denom[i];

  q = std::exp(-pi2 / 2 / zsquared);
  const double sqrt3z = std::sqrt(3.0) * z;
  double k2extra = 0, k3extra = 0;
  // numpy sums these short arrays (k = maxk..1) left to right.
  for (int k = maxk; k > 0; --k) {
    const double ksq = static_cast<double>(k) * k;
    const double qp = std::pow(q, ksq);
    k2extra += ksq * qp;
  }
  for (int k = maxk; k > 0; --k) {
    const double ksq = static_cast<double>(k) * k;
    const double kspi = kPi * k;
    const double qp = std::pow(q, ksq);
    k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ksq * qp;
  }
  k2extra *= pi2 * sqrt2pi / (-36 * zthree);
  K[2] += k2extra;
  k3extra *= pi2 * sqrt2pi / (216 * zsix);
  K[3] += k3extra;
  for (int i = 0; i < 4; ++i) K[i] /= std::pow(n * 1.0, i / 2.0);
  if (!cdf) {
    for (double& e : K) e *= -1;
    K[0] += 1;
  }
  return ((K[0] + K[1]) + K[2]) + K[3];
}

// _log_nfactorial_div_n_pow_n: log(n!/n^n) by Stirling's series.
double LogNFactorialDivNPowN(int n) {
  static constexpr double kStirling[] = {
      -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3,
      8.4175084175084175084e-4, -5.952380952380952381e-4, 7.9365079365079365079e-4,
      -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / n;
  const double y = rn / n;
  double poly = 0;
  for (double c : kStirling) poly = poly * y + c;
  return std::log(static_cast<double>(n)) / 2 - n + std::log(2 * kPi) / 2 + rn * poly;
}

// _kolmogn(n, x, cdf=False): Simard and L'Ecuyer's choice among the methods above.
double KolmognSf(int n, double x) {
  if (n <= 0) return kNaN;
  if (x >= 1.0) return 0.0;
  if (x <= 0.0) return 1.0;
  const double t = n * x;
  if (t <= 1.0) {  // Ruben–Gambino
    if (t <= 0.5) return 1.0;
    double prob;
    if (n <= 140) {
      prob = 1.0;
      for (int i = 1; i <= n; ++i) prob *= i * (1.0 / n) * (2 * t - 1);
    } else {
      prob = std::exp(LogNFactorialDivNPowN(n) + n * std::log(2 * t - 1));
    }
    return Clip01(1.0 - prob);
  }
  if (t >= n - 1) return Clip01(2 * std::pow(1.0 - x, n));  // Ruben–Gambino
  if (x >= 0.5) return Clip01(2 * SmirnovSf(n, x));

  const double nxsquared = t * x;
  if (n <= 140) {
    if (nxsquared <= 0.754693) return Clip01(1.0 - KolmognDmtwCdf(n, x));
    if (nxsquared <= 4) return Clip01(1.0 - KolmognPomeranzCdf(n, x));
    return Clip01(2 * SmirnovSf(n, x));
  }
  if (nxsquared >= 370.0) return 0.0;
  if (nxsquared >= 2.2) return Clip01(2 * SmirnovSf(n, x));
  double cdfprob;
  if (nxsquared >= 18.0) {
    cdfprob = 1.0;
  } else if (n <= 100000 && n * std::pow(x, 1.5) <= 1.4) {
    cdfprob = KolmognDmtwCdf(n, x);
  } else {
    cdfprob = KolmognPelzGood(n, x, /*cdf=*/true);
  }
  return Clip01(1.0 - cdfprob);
}

// scipy.stats.kstwo.sf(d, n): rv_continuous.sf's support handling around _kolmogn.
double KsTwoSf(double d, double n) {
  if (!(n >= 1) || n != std::nearbyint(n)) return kNaN;
  if (d <= 0.5 / n) return 1.0;
  if (d >= 1.0) return 0.0;
  return KolmognSf(static_cast<int>(n), d);
}

// ---------------------------------------------------------------------------------------------
// _stats_py.py / _stats_pythran.py: the exact distribution of the two-sample statistic.

// _compute_prob_outside_square: Pr(D_{n,n} >= h/n).
double ProbOutsideSquare(int64_t n, int64_t h) {
  double P = 0.0;
  int64_t k = static_cast<int64_t>(std::floor(static_cast<double>(n) / static_cast<double>(h)));
  while (k >= 0) {
    double p1 = 1.0;
    for (int64_t j = 0; j < h; ++j) {
      p1 = static_cast<double>(n - k * h - j) * p1 / static_cast<double>(n + k * h + j + 1);
    }
    P = p1 * (1.0 - P);
    k -= 1;
  }
  return 2 * P;
}

// _compute_outer_prob_inside_method: Hodges' inside method with Viehmann's recursion for 1 - p.
double OuterProbInsideMethod(int64_t m, int64_t n, int64_t g, int64_t h) {
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g;
  const int64_t ng = n / g;
  const double hd = static_cast<double>(h), mgd = static_cast<double>(mg);
  int64_t minj = 0;
  int64_t maxj = std::min(static_cast<int64_t>(std::ceil(hd / mgd)), n + 1);
  int64_t curlen = maxj - minj;
  const int64_t len_a = std::min(2 * maxj + 2, n + 1);
  std::vector<double> A(static_cast<size_t>(len_a), 1.0);
  std::fill(A.begin() + minj, A.begin() + std::min(maxj, len_a), 0.0);
  for (int64_t i = 1; i <= m; ++i) {
    const int64_t lastminj = minj, lastlen = curlen;
    minj = std::max(static_cast<int64_t>(std::floor(static_cast<double>(ng * i - h) / mgd)) + 1,
                    int64_t{0});
    minj = std::min(minj, n);
    maxj = std::min(static_cast<int64_t>(std::ceil(static_cast<double>(ng * i + h) / mgd)), n + 1);
    if (maxj <= minj) return 1.0;
    double val = minj == 0 ? 0.0 : 1.0;
    const double di = static_cast<double>(i);
    for (int64_t jj = 0; jj < maxj - minj; ++jj) {
      const int64_t j = jj + minj;
      const int64_t src = jj + minj - lastminj;
      // Entries past the stored window are the carried-over ones (value 1).
      const double a = src < len_a ? A[static_cast<size_t>(src)] : 1.0;
      val = (a * di + val * static_cast<double>(j)) / static_cast<double>(i + j);
      if (jj < len_a) A[static_cast<size_t>(jj)] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) {
      const int64_t from = maxj - minj, to = std::min(maxj - minj + (lastlen - curlen), len_a);
      for (int64_t q = from; q < to; ++q) A[static_cast<size_t>(q)] = 1;
    }
  }
  return A[static_cast<size_t>(maxj - minj - 1)];
}

}  // namespace

Result<KsResult> KsTwoSample(std::span<const double> reference, std::span<const double> current) {
  if (reference.empty() || current.empty()) {
    return Status::InvalidParameter(std::string("KS test needs non-empty samples; the ") +
                                    (reference.empty() ? "reference" : "current") +
                                    " sample is empty");
  }
  for (auto [sample, name] : {std::pair{reference, "reference"}, std::pair{current, "current"}}) {
    for (double v : sample) {
      if (!std::isfinite(v)) {
        return Status::InvalidParameter(std::string("KS test needs finite values; the ") + name +
                                        " sample holds " + std::to_string(v));
      }
    }
  }
  std::vector<double> a(reference.begin(), reference.end());
  std::vector<double> b(current.begin(), current.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return KsTwoSampleFromStatistic(CompareSorted(a, b).ks_statistic, static_cast<int64_t>(a.size()),
                                  static_cast<int64_t>(b.size()));
}

KsResult KsTwoSampleFromStatistic(double d, int64_t n1, int64_t n2) {
  const double n1d = static_cast<double>(n1), n2d = static_cast<double>(n2);
  const int64_t g = std::gcd(n1, n2);
  double prob = -std::numeric_limits<double>::infinity();
  bool asymp = std::max(n1, n2) > kMaxAutoN;
  if (!asymp) {
    // _attempt_exact_2kssamp
    const int64_t lcm = (n1 / g) * n2;
    const int64_t h = static_cast<int64_t>(std::nearbyint(d * static_cast<double>(lcm)));
    d = static_cast<double>(h) * 1.0 / static_cast<double>(lcm);
    if (h == 0) {
      prob = 1.0;
    } else {
      prob = n1 == n2 ? ProbOutsideSquare(n1, h) : OuterProbInsideMethod(n1, n2, g, h);
      // scipy also catches FloatingPointError/OverflowError here, which neither two-sided
      // routine can raise (both stay within [0, 1] or return NaN); a value outside [0, 1] makes
      // scipy warn and switch to the asymptotic distribution, and so does this port.
      if (!(std::isfinite(prob) && 0 <= prob && prob <= 1)) asymp = true;
    }
  }
  if (asymp) {
    double m = std::max(n1d, n2d), n = std::min(n1d, n2d);
    const double en = m * n / (m + n);
    prob = KsTwoSf(d, std::nearbyint(en));  // np.round: half to even, as nearbyint by default
  }
  prob = std::isnan(prob) ? prob : std::clamp(prob, 0.0, 1.0);
  return KsResult{d, prob};
}

}  // namespace lathe::monitoring
