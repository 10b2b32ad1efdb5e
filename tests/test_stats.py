"""The experiment statistics against reference numbers (../shared/data/README.md) and against
scipy/statsmodels on random inputs; and the sequential test's promise under repeated looks."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats as sp
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint
from statsmodels.stats.proportion import proportions_ztest as sm_ztest

from kohtaamo.analytics import stats


def test_reference_two_proportion_z() -> None:
    # statsmodels' own test: counts [5, 12] of [83, 99].
    got = stats.two_proportion_ztest(5, 83, 12, 99)
    assert got.z == pytest.approx(-1.4078304151258787, abs=1e-12)
    assert got.p == pytest.approx(0.15918129181156992, abs=1e-12)


def test_reference_one_proportion_chi2() -> None:
    # R: prop.test(73, 86, p=0.9, correct=FALSE).
    chi2, p = stats.one_proportion_chi2(73, 86, 0.9)
    assert chi2 == pytest.approx(2.501291989664086, abs=1e-12)
    assert p == pytest.approx(0.113752943640092, abs=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_proportions_agree_with_statsmodels(seed: int) -> None:
    rng = random.Random(seed)
    n1, n2 = rng.randint(5, 5000), rng.randint(5, 5000)
    x1, x2 = rng.randint(0, n1), rng.randint(0, n2)
    if x1 + x2 in (0, n1 + n2):
        x1 = max(1, min(n1 - 1, x1))
    z, p = sm_ztest([x1, x2], [n1, n2])
    got = stats.two_proportion_ztest(x1, n1, x2, n2)
    assert got.z == pytest.approx(z, rel=1e-9, abs=1e-12)
    assert got.p == pytest.approx(p, rel=1e-9, abs=1e-15)
    low, high = proportion_confint(x1, n1, method="wilson")
    assert stats.wilson(x1, n1) == pytest.approx((low, high), abs=1e-12)
    low, high = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    assert stats.newcombe(x1, n1, x2, n2) == pytest.approx((low, high), abs=1e-9)


@pytest.mark.parametrize("seed", range(30))
def test_welch_agrees_with_scipy(seed: int) -> None:
    rng = random.Random(seed)
    # Revenue per visitor: mostly zeros, some orders of very different sizes.
    a = [rng.choice([0, 0, 0, rng.lognormvariate(4, 1)]) for _ in range(rng.randint(3, 400))]
    b = [rng.choice([0, 0, rng.lognormvariate(4.2, 1.3)]) for _ in range(rng.randint(3, 400))]
    ref = sp.ttest_ind(a, b, equal_var=False)
    got = stats.welch(a, b)
    assert got.t == pytest.approx(ref.statistic, rel=1e-9)
    assert got.p == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-12)
    ci = ref.confidence_interval(0.95)
    assert (got.low, got.high) == pytest.approx((ci.low, ci.high), rel=1e-7)
    mean, low, high = stats.mean_interval(a)
    assert mean == pytest.approx(sum(a) / len(a))
    ref_ci = sp.t.interval(0.95, len(a) - 1, loc=sum(a) / len(a), scale=sp.sem(a))
    assert (low, high) == pytest.approx(ref_ci, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize(("t", "df"), [(0.3, 1), (2.1, 2.5), (-3.3, 17), (1.0, 400), (8.0, 3)])
def test_t_distribution_agrees_with_scipy(t: float, df: float) -> None:
    assert stats.t_two_sided(t, df) == pytest.approx(2 * sp.t.sf(abs(t), df), rel=1e-9)
    assert stats.t_quantile(0.975, df) == pytest.approx(sp.t.ppf(0.975, df), rel=1e-9)


def test_always_valid_p_keeps_its_promise_under_daily_looks() -> None:
    """Under no difference, looking after every day does not push false alarms above 5 %
    (the fixed-horizon z-test read the same way does)."""
    rng = random.Random(7)
    trials, days, per_day, rate = 400, 30, 200, 0.05
    naive_alarms = valid_alarms = 0
    for _ in range(trials):
        x1 = n1 = x2 = n2 = 0
        naive = valid = False
        looks: list[tuple[int, int, int, int]] = []
        for _day in range(days):
            n1 += per_day
            n2 += per_day
            x1 += sum(rng.random() < rate for _ in range(per_day))
            x2 += sum(rng.random() < rate for _ in range(per_day))
            looks.append((x1, n1, x2, n2))
            naive = naive or stats.two_proportion_ztest(x1, n1, x2, n2).p < 0.05
            valid = valid or stats.always_valid(looks) < 0.05
        naive_alarms += naive
        valid_alarms += valid
    assert valid_alarms / trials <= 0.05
    assert naive_alarms / trials > 0.1  # why the sequential test exists


def test_always_valid_p_finds_a_real_difference() -> None:
    rng = random.Random(11)
    x1 = x2 = 0
    n = 20_000
    x1 = sum(rng.random() < 0.06 for _ in range(n))
    x2 = sum(rng.random() < 0.04 for _ in range(n))
    assert stats.msprt_p(x1, n, x2, n) < 0.001
    assert math.isclose(stats.msprt_p(0, 0, 0, 0), 1.0)
