"""Research analysis layer, above the library (it may import ``apis``, ``models``,
``datasets``; nothing in the library imports it back):

- :mod:`.statistics`: statistics of the evidence protocol (``docs/evidence.md``);
- :mod:`.benchmark`: the cost benchmark (``tools/analysis_tools/benchmark.py``);
- :mod:`.mix_statistics`: class counts of the mixing masks;
- :mod:`.task_gradients`: per-task gradients on the shared layers;
- :mod:`.model_setup`: model and train loader of the tools that run a model on training batches;
- :mod:`.scale_sweep`: single-view metrics per test scale against the training scale range;
- :mod:`.evidence`: evidence studies (seed sweeps, the protocol, its report and README block).

Nothing here registers a model component; the package is imported by the analysis tools
(``tools/analysis_tools/``), not by training. Only :mod:`.statistics` is imported eagerly.
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
