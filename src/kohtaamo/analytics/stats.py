"""The statistics a rule experiment is judged by, in plain Python (no numpy/scipy at run time).

- Conversion: two-proportion z-test (pooled, two-sided), Wilson intervals per arm and Newcombe's
  hybrid score interval for the difference.
- Money (revenue per visitor, order value): Welch's t-test and t-interval.
- Looking every day: an always-valid p-value from the mixture sequential probability ratio test
  (mSPRT, Johari et al. 2017, normal mixture over the difference of proportions), which stays
  valid however often it is read, unlike the fixed-horizon p-value.

Reference values (`../shared/data/README.md`) and agreement with scipy/statsmodels on random
inputs are in tests/test_stats.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def normal_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


@dataclass(frozen=True, slots=True)
class ZTest:
    z: float
    p: float


def two_proportion_ztest(x1: int, n1: int, x2: int, n2: int) -> ZTest:
    """Pooled two-proportion z-test, two-sided (as statsmodels' `proportions_ztest`)."""
    if min(n1, n2) <= 0:
        raise ValueError("both groups need at least one visitor")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return ZTest(0.0, 1.0)
    z = (p1 - p2) / se
    return ZTest(z, normal_two_sided(z))


def one_proportion_chi2(x: int, n: int, p0: float) -> tuple[float, float]:
    """Chi-square test of one proportion against p0 without continuity correction (R's
    `prop.test(x, n, p0, correct=FALSE)`): the statistic and its p-value (1 degree of freedom)."""
    chi2 = (x - n * p0) ** 2 / (n * p0 * (1 - p0))
    return chi2, math.erfc(math.sqrt(chi2 / 2.0))


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if n <= 0:
        return (0.0, 1.0)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (his method 10): Wilson ends combined."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (lower, upper)


# --- Student's t -----------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_two_sided(t: float, df: float) -> float:
    """P(|T| > |t|) for Student's t with `df` degrees of freedom."""
    if math.isinf(df):
        return normal_two_sided(t)
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(q: float, df: float) -> float:
    """The q-quantile (0.5 < q < 1) of Student's t, by bisection on the exact CDF."""
    lo, hi = 0.0, 1.0
    while 1 - t_two_sided(hi, df) / 2 < q:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1 - t_two_sided(mid, df) / 2 < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True, slots=True)
class Welch:
    diff: float  # mean(a) - mean(b)
    t: float
    df: float
    p: float
    low: float
    high: float


def _moments(values: list[float]) -> tuple[int, float, float]:
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return n, mean, var


def welch(a: list[float], b: list[float], conf: float = 0.95) -> Welch:
    """Welch's unequal-variance t-test of mean(a) - mean(b), with its confidence interval."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each group needs at least two values")
    return welch_moments(*_moments(a), *_moments(b), conf=conf)


def welch_moments(
    na: int, ma: float, va: float, nb: int, mb: float, vb: float, conf: float = 0.95
) -> Welch:
    """Welch's test from each group's size, mean and sample variance (what SQL aggregates give)."""
    if na < 2 or nb < 2:
        raise ValueError("each group needs at least two values")
    sa, sb = va / na, vb / nb
    se = math.sqrt(sa + sb)
    diff = ma - mb
    if se == 0:
        return Welch(diff, 0.0, float(na + nb - 2), 1.0, diff, diff)
    df = (sa + sb) ** 2 / (sa * sa / (na - 1) + sb * sb / (nb - 1))
    t = diff / se
    half = t_quantile(0.5 + conf / 2, df) * se
    return Welch(diff, t, df, t_two_sided(t, df), diff - half, diff + half)


def mean_interval(values: list[float], conf: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the t-interval of a mean."""
    n, mean, var = _moments(values)
    if n < 2:
        return (mean, mean, mean)
    half = t_quantile(0.5 + conf / 2, n - 1) * math.sqrt(var / n)
    return (mean, mean - half, mean + half)


# --- always valid ------------------------------------------------------------------------------


def msprt_p(x1: int, n1: int, x2: int, n2: int, tau2: float = 0.0025) -> float:
    """Always-valid p-value of "the conversion rates are equal" after these counts: 1 / Λ, where
    Λ is the normal-mixture likelihood ratio with mixing variance `tau2` on the difference.
    Reported as the running minimum over looks by the caller (`always_valid`)."""
    if min(n1, n2) == 0:
        return 1.0
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    v = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if v <= 0:
        return 1.0
    d = p1 - p2
    log_lr = 0.5 * math.log(v / (v + tau2)) + tau2 * d * d / (2 * v * (v + tau2))
    return min(1.0, math.exp(-log_lr))


def always_valid(looks: list[tuple[int, int, int, int]], tau2: float = 0.0025) -> float:
    """The always-valid p-value after a series of looks (cumulative counts at each look)."""
    p = 1.0
    for x1, n1, x2, n2 in looks:
        p = min(p, msprt_p(x1, n1, x2, n2, tau2))
    return p
