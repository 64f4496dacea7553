"""Evidence studies: multi-seed runs of configs and the pre-registered protocol of
``docs/evidence.md``, one job per module (``tools/analysis_tools/ablation.py`` is their
command line):

- :mod:`.runs`: one run (train, then test) in its folder, its settings record, strict JSON;
- :mod:`.sweep`: seed sweeps of several configs and their mean ± std tables;
- :mod:`.protocol`: reading and checking a protocol file, its arms' runs;
- :mod:`.results`: the per-seed JSON records and the paired difference of two arms;
- :mod:`.decisions`: the rows of the comparisons and the Holm-t rule across them;
- :mod:`.report`: the Markdown report (``results.md``) and per-class tables;
- :mod:`.power`: seeds per comparison for a target power;
- :mod:`.runner`: running a protocol's missing runs, then the report;
- :mod:`.readme`: the README's short results block.

Nothing is imported eagerly.
"""
