"""Paired t-tests, Holm's step-down correction and the power of a paired t-test.

The decision rule of the evidence protocol v2 (``docs/evidence.md``, "Protocol v2"): per primary
comparison a paired t-test over seeds (one-sided where the claim states a direction), a Holm
correction across all primary comparisons at a family-wise α, and seed counts sized by the
power of the paired t-test for a smallest effect of interest. The t and non-central t
distributions are SciPy's (``scipy.stats``, a dependency of MMSegmentation).

Sign convention: a difference is treatment − control; ``alternative`` is SciPy's
(``'greater'``: the mean difference is above 0, ``'less'``: below 0, ``'two-sided'``).
"""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

ALTERNATIVES = ('greater', 'less', 'two-sided')


def _stats():
    import scipy.stats  # deferred: only the report and power tools need it
    return scipy.stats


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f'alternative {alternative!r}: expected one of {ALTERNATIVES}.')


@dataclass
class PairedT:
    """A paired t-test of per-seed differences (treatment − control).

    Attributes:
        n (int): Number of pairs.
        mean (float): Mean difference.
        sd (float): Sample standard deviation of the differences (n − 1 denominator).
        se (float): Standard error of the mean, ``sd / sqrt(n)``.
        t (float): ``mean / se``; ±inf when every difference is the same non-zero value,
            nan when every difference is 0.
        df (int): Degrees of freedom, ``n − 1``.
        p (float): p-value of ``alternative``; 1 when ``t`` is nan (no evidence either way).
        alternative (str): ``'greater'``, ``'less'`` or ``'two-sided'``.
        ci_low (float): Lower end of the two-sided ``confidence`` interval of the mean,
            ``mean − t_{(1+confidence)/2, df} · se``.
        ci_high (float): Upper end of that interval.
        confidence (float): Coverage of the interval (0.95 by default).
    """
    n: int
    mean: float
    sd: float
    se: float
    t: float
    df: int
    p: float
    alternative: str
    ci_low: float
    ci_high: float
    confidence: float

    def p_of(self, alternative: str) -> float:
        """The p-value of this t statistic under another ``alternative``."""
        return _p_value(self.t, self.df, alternative)


def _p_value(t: float, df: int, alternative: str) -> float:
    _check_alternative(alternative)
    if math.isnan(t):
        return 1.0
    dist = _stats().t
    if alternative == 'greater':
        return float(dist.sf(t, df))
    if alternative == 'less':
        return float(dist.cdf(t, df))
    return float(min(1.0, 2 * dist.sf(abs(t), df)))


def paired_t(diffs: Sequence[float], alternative: str = 'two-sided',
             confidence: float = 0.95) -> PairedT:
    """Paired t-test of ``diffs`` (treatment − control per seed) against a mean of 0.

    Args:
        diffs (sequence of float): At least two finite differences.
        alternative (str): ``'greater'``, ``'less'`` or ``'two-sided'``.
        confidence (float): Coverage of the (always two-sided) interval of the mean.

    Returns:
        PairedT: statistic, p-value and interval.

    Raises:
        ValueError: fewer than two differences, a non-finite one, an unknown alternative or a
            confidence outside (0, 1).
    """
    _check_alternative(alternative)
    if not 0 < confidence < 1:
        raise ValueError(f'confidence {confidence}: expected a value in (0, 1).')
    values = [float(d) for d in diffs]
    if len(values) < 2:
        raise ValueError(f'A paired t-test needs at least 2 differences, got {len(values)}.')
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f'Differences must be finite numbers, got {values}.')
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    se = sd / math.sqrt(n)
    if se > 0:
        t = mean / se
    else:  # identical differences: the evidence is total if they are not 0, absent if they are
        t = math.nan if mean == 0 else math.copysign(math.inf, mean)
    df = n - 1
    half = float(_stats().t.ppf((1 + confidence) / 2, df)) * se
    return PairedT(n=n, mean=mean, sd=sd, se=se, t=t, df=df,
                   p=_p_value(t, df, alternative), alternative=alternative,
                   ci_low=mean - half, ci_high=mean + half, confidence=confidence)


@dataclass
class HolmStep:
    """One hypothesis of a Holm step-down correction.

    Attributes:
        p (float): The unadjusted p-value.
        rank (int): 1 for the smallest p-value of the family, m for the largest (ties keep
            their input order).
        threshold (float): ``alpha / (m − rank + 1)``, what its p-value is compared with.
        adjusted (float): Holm-adjusted p-value, ``min(1, max_{j ≤ rank} (m − j + 1) p_(j))``.
        rejected (bool): ``adjusted <= alpha`` (equivalently: every p-value up to this rank is
            at or below its threshold).
    """
    p: float
    rank: int
    threshold: float
    adjusted: float
    rejected: bool


def holm(pvalues: Sequence[float], alpha: float = 0.05) -> List[HolmStep]:
    """Holm's step-down correction of a family of p-values at family-wise error ``alpha``.

    The p-values are sorted; the k-th smallest is compared with ``alpha / (m − k + 1)``; the
    first one above its threshold stops the procedure, and it and every larger one are not
    rejected.

    Args:
        pvalues (sequence of float): One p-value per hypothesis, each in [0, 1].
        alpha (float): Family-wise error rate, in (0, 1).

    Returns:
        list[HolmStep]: one step per input p-value, in the input order.
    """
    if not 0 < alpha < 1:
        raise ValueError(f'alpha {alpha}: expected a family-wise error rate in (0, 1).')
    ps = [float(p) for p in pvalues]
    bad = [p for p in ps if not 0 <= p <= 1]  # also catches nan
    if bad:
        raise ValueError(f'p-values must lie in [0, 1], got {bad}.')
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out: List[Optional[HolmStep]] = [None] * m
    running = 0.0
    for k, i in enumerate(order, start=1):
        running = max(running, min(1.0, (m - k + 1) * ps[i]))
        out[i] = HolmStep(p=ps[i], rank=k, threshold=alpha / (m - k + 1), adjusted=running,
                          rejected=running <= alpha)
    return out


def paired_power(n: int, sd: float, effect: float, alpha: float,
                 alternative: str = 'greater') -> float:
    """Power of a paired t-test with ``n`` pairs to detect a true mean difference ``effect``.

    Exact (non-central t with ``df = n − 1`` and non-centrality ``effect / sd · sqrt(n)``),
    not the normal approximation. For ``'greater'`` the effect is taken as a rise, for
    ``'less'`` as a fall (its sign is ignored: only the magnitude is used); two-sided counts a
    rejection on either side.

    Args:
        n (int): Number of pairs (>= 2).
        sd (float): Standard deviation of the paired differences (> 0).
        effect (float): Size of the true mean difference (its magnitude is used).
        alpha (float): Level of this one test, in (0, 1).
        alternative (str): ``'greater'``, ``'less'`` or ``'two-sided'``.
    """
    _check_alternative(alternative)
    if n < 2:
        raise ValueError(f'n {n}: a paired t-test needs at least 2 pairs.')
    if not sd > 0 or not math.isfinite(sd):
        raise ValueError(f'sd {sd}: the paired standard deviation must be a positive number.')
    if not 0 < alpha < 1:
        raise ValueError(f'alpha {alpha}: expected a level in (0, 1).')
    stats = _stats()
    df = n - 1
    nc = abs(effect) / sd * math.sqrt(n)
    if alternative == 'two-sided':
        crit = stats.t.ppf(1 - alpha / 2, df)
        # The far tail as P(T'(-nc) > crit), not nct.cdf(-crit, nc): SciPy's cdf returns nan
        # in some deep tails (e.g. n = 100, nc = 10), its sf does not.
        power = stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc)
    else:
        power = stats.nct.sf(stats.t.ppf(1 - alpha, df), df, nc)
    if not math.isfinite(power):
        raise ArithmeticError(f'Power of n={n}, sd={sd}, effect={effect}, alpha={alpha} is '
                              f'not finite ({power}): SciPy\'s non-central t failed here.')
    return float(min(1.0, power))


def seeds_for_power(sd: float, effect: float, alpha: float, power: float = 0.8,
                    alternative: str = 'greater', max_n: int = 10000) -> Optional[int]:
    """The smallest number of pairs (seeds) whose paired t-test reaches ``power``.

    Args:
        sd (float): Standard deviation of the paired differences (e.g. from a pilot).
        effect (float): Smallest effect of interest (same unit as ``sd``).
        alpha (float): Level of the test (for a Holm family sized for its worst rank:
            the family-wise α divided by the number of primary comparisons).
        power (float): Target power, in (0, 1).
        alternative (str): Sidedness of the test.
        max_n (int): Largest count tried.

    Returns:
        int or None: the seed count, or None when even ``max_n`` pairs fall short.
    """
    if not 0 < power < 1:
        raise ValueError(f'power {power}: expected a value in (0, 1).')
    if not effect or not math.isfinite(effect):
        raise ValueError(f'effect {effect}: the smallest effect of interest must be a '
                         'non-zero number.')
    # Power rises with n: bisection over [2, max_n] after a check of the ends.
    if paired_power(max_n, sd, effect, alpha, alternative) < power:
        return None
    lo, hi = 2, max_n
    if paired_power(lo, sd, effect, alpha, alternative) >= power:
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if paired_power(mid, sd, effect, alpha, alternative) >= power:
            hi = mid
        else:
            lo = mid
    return hi


def two_se_false_positive_rate(n: int) -> float:
    """How often the v1 rule (|mean difference| > 2 SE) fires when there is no effect.

    With normal seed noise the ratio mean / SE is t-distributed with n − 1 degrees of
    freedom, so the rate is ``P(|T_{n-1}| > 2)`` (about 18 % with 3 pairs, 12 % with 5).
    """
    if n < 2:
        raise ValueError(f'n {n}: the 2-SE rule needs at least 2 pairs.')
    return float(2 * _stats().t.sf(2.0, n - 1))
