"""Research analysis: statistics for the evidence protocol (``docs/evidence.md``).

Nothing here registers a model component; the package is imported by the analysis tools
(``tools/analysis_tools/ablation.py``), not by training.
"""
from .statistics import (
    HolmStep,
    PairedT,
    holm,
    paired_power,
    paired_t,
    seeds_for_power,
    two_se_false_positive_rate,
)

__all__ = [
    'HolmStep', 'PairedT', 'holm', 'paired_power', 'paired_t', 'seeds_for_power',
    'two_se_false_positive_rate'
]
