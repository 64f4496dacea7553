"""mmseg_ccam.analysis.statistics against closed forms and published table values."""
import math

import pytest

from mmseg_ccam.analysis.statistics import (
    holm,
    paired_power,
    paired_t,
    seeds_for_power,
    two_se_false_positive_rate,
)


def sf_df2(t):
    """P(T > t) for Student's t with 2 degrees of freedom (closed form)."""
    return 0.5 - t / (2 * math.sqrt(2 + t * t))


def test_paired_t_by_hand_with_two_degrees_of_freedom():
    # diffs 1, 2, 3: mean 2, sd 1, se 1/sqrt(3), t = 2 sqrt(3) = 3.4641, df 2
    res = paired_t([1.0, 2.0, 3.0], 'greater')
    assert (res.n, res.df) == (3, 2)
    assert res.mean == pytest.approx(2.0) and res.sd == pytest.approx(1.0)
    assert res.t == pytest.approx(2 * math.sqrt(3))
    # P(T_2 > 3.4641) = 0.5 - 3.4641 / (2 sqrt(14)) = 0.037090
    assert res.p == pytest.approx(sf_df2(2 * math.sqrt(3)))
    assert res.p == pytest.approx(0.03709, abs=1e-5)
    assert res.p_of('two-sided') == pytest.approx(2 * 0.037090, abs=1e-5)
    assert res.p_of('less') == pytest.approx(1 - 0.037090, abs=1e-5)
    # t(0.975, 2) = 0.95 sqrt(2 / (1 - 0.95^2)) = 4.302653
    q = 0.95 * math.sqrt(2 / (1 - 0.95 ** 2))
    assert q == pytest.approx(4.302653, abs=1e-6)
    assert res.ci_low == pytest.approx(2 - q / math.sqrt(3))
    assert res.ci_high == pytest.approx(2 + q / math.sqrt(3))


def test_paired_t_with_one_degree_of_freedom_is_cauchy():
    # diffs 1, 3: mean 2, sd sqrt 2, se 1, t = 2; T_1 is Cauchy: P(T > 2) = 1/2 - atan(2)/pi
    res = paired_t([1.0, 3.0], 'greater')
    assert res.t == pytest.approx(2.0)
    assert res.p == pytest.approx(0.5 - math.atan(2) / math.pi)  # 0.147584
    # t(0.975, 1) = tan(0.475 pi) = 12.7062
    assert res.ci_high - res.mean == pytest.approx(math.tan(0.475 * math.pi))


def test_paired_t_edge_cases_and_errors():
    same = paired_t([2.0, 2.0, 2.0], 'greater')
    assert same.t == math.inf and same.p == 0.0 and same.p_of('less') == 1.0
    zero = paired_t([0.0, 0.0], 'two-sided')
    assert math.isnan(zero.t) and zero.p == 1.0
    with pytest.raises(ValueError, match='at least 2 differences'):
        paired_t([1.0])
    with pytest.raises(ValueError, match='finite'):
        paired_t([1.0, float('nan')])
    with pytest.raises(ValueError, match="alternative 'bigger'"):
        paired_t([1.0, 2.0], 'bigger')


def test_holm_step_down_on_a_made_up_family():
    # sorted: 0.005 (x4 = 0.02 <= 0.05, rejected), 0.01 (x3 = 0.03, rejected), 0.03 (x2 = 0.06 >
    # 0.05: stop), 0.04 (x1 = 0.04, but the procedure stopped: adjusted max(0.06, 0.04) = 0.06).
    steps = holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    assert [s.rank for s in steps] == [2, 4, 3, 1]
    assert [s.threshold for s in steps] == pytest.approx([0.05 / 3, 0.05, 0.025, 0.0125])
    assert [s.adjusted for s in steps] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [s.rejected for s in steps] == [True, False, False, True]
    # adjusted p-values are capped at 1
    assert holm([0.6, 0.7])[1].adjusted == 1.0
    assert holm([]) == []
    with pytest.raises(ValueError, match=r'p-values must lie in \[0, 1\]'):
        holm([0.1, 1.5])
    with pytest.raises(ValueError, match='alpha 0'):
        holm([0.1], alpha=0)


def test_seed_counts_against_the_published_table():
    # Cohen's / G*Power's one-sample (paired) t, power 0.8, alpha 0.05:
    # d = 1 two-sided: n = 10 (power 0.8031); d = 0.8: 15; d = 0.5: 34 (27 one-sided); d = 0.2: 199
    assert seeds_for_power(1.0, 1.0, 0.05, alternative='two-sided') == 10
    assert paired_power(10, 1.0, 1.0, 0.05, 'two-sided') == pytest.approx(0.8031, abs=1e-4)
    assert paired_power(9, 1.0, 1.0, 0.05, 'two-sided') < 0.8
    assert seeds_for_power(1.0, 0.8, 0.05, alternative='two-sided') == 15
    assert seeds_for_power(1.0, 0.5, 0.05, alternative='two-sided') == 34
    assert seeds_for_power(1.0, 0.5, 0.05, alternative='greater') == 27
    assert seeds_for_power(1.0, 0.2, 0.05, alternative='two-sided') == 199
    # Only d = effect / sd matters, and a fall is sized like a rise for 'less'.
    assert seeds_for_power(0.03, -0.015, 0.05, alternative='less') == 27
    # Large n: the normal approximation, power = Phi(d sqrt(n) - z_0.975) (+ the far tail).
    assert paired_power(400, 1.0, 0.14, 0.05, 'two-sided') == pytest.approx(0.80, abs=0.01)
    assert seeds_for_power(1.0, 0.001, 0.05, max_n=100) is None
    with pytest.raises(ValueError, match='sd 0'):
        paired_power(5, 0.0, 1.0, 0.05)


def test_two_se_rule_false_positive_rate():
    # P(|T_2| > 2) = 1 - 2 / sqrt(6) = 0.1835 (3 pairs); about 0.116 with 5 pairs (df 4)
    assert two_se_false_positive_rate(3) == pytest.approx(1 - 2 / math.sqrt(6))
    assert two_se_false_positive_rate(5) == pytest.approx(0.1161, abs=1e-4)
