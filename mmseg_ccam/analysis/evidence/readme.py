"""The README's short results block: one row per claim of an evidence protocol, read from the
summary table of its full report (``tools/analysis_tools/ablation.py --report-only``).

The full report (``docs/evidence/results.md``) has a row per comparison and metric (40 in
protocol v1). The README shows per claim only its headline metric: the comparison's
``primary`` metric (protocol v2), else the first of its ``metrics``. Comparisons that test one
treatment against several controls (adjacent in the protocol, same treatment arm, split and
metrics, e.g. AffineMix against DepthMix, ClassMix and no mixing) share a row. Secondary
(descriptive) comparisons are left to the full report. The numbers are copied from the full
report's cells, never recomputed, so the two cannot disagree.
"""
from typing import Dict, List, Sequence

from mmseg_ccam.evaluation.results_table import write_text

__all__ = [
    'README_BEGIN', 'README_END', 'claim_groups', 'readme_block', 'summary_block',
    'summary_rows', 'update_readme'
]

README_BEGIN = '<!-- evidence-results:begin -->'
README_END = '<!-- evidence-results:end -->'
RESULTS_LINK = '[docs/evidence/results.md](docs/evidence/results.md)'


def summary_block(markdown: str) -> str:
    """The summary table (and its preamble) of a report: the text under ``## Summary``."""
    return markdown.split('## Summary', 1)[1].split('\n## ', 1)[0].strip()


def summary_rows(markdown: str) -> List[Dict[str, str]]:
    """The rows of the summary table of a report, as {column: cell}."""
    table = [line for line in summary_block(markdown).splitlines() if line.startswith('| ')]
    if len(table) < 2:
        raise ValueError('The report has no summary table under "## Summary".')
    header = [c.strip() for c in table[0].strip('| ').split(' | ')]
    rows = []
    for line in table[2:]:
        cells = [c.strip() for c in line[2:-2].split(' | ')]
        rows.append(dict(zip(header, cells)))
    return rows


def claim_groups(comparisons: Sequence[dict]) -> List[List[dict]]:
    """The protocol's primary comparisons grouped into claims: adjacent comparisons with the
    same treatment arm, split and metrics (one treatment against several controls)."""
    groups: List[List[dict]] = []

    def key(c: dict) -> tuple:
        return c['treatment'], c.get('split', 'test'), tuple(c['metrics'])

    for comp in comparisons:
        if comp.get('secondary'):
            continue
        if groups and key(groups[-1][-1]) == key(comp):
            groups[-1].append(comp)
        else:
            groups.append([comp])
    return groups


def _short_audit(cell: str) -> str:
    """``not decided (t = 3.71, ...)`` -> ``not decided``: the test statistics stay in the
    full report."""
    return cell.split(' (', 1)[0]


def readme_block(proto: dict, markdown: str) -> str:
    """The README block of a protocol's report: a preamble and one table row per claim.

    Args:
        proto (dict): The protocol (``ablation.load_protocol``).
        markdown (str): Its full report (``ablation.report``).

    Returns:
        str: Markdown, without the markers.
    """
    rows = summary_rows(markdown)
    by_key = {(r['comparison'], r['metric']): r for r in rows}
    decision_col = next(c for c in ('decision (2-SE rule)', 'decision') if c in rows[0])
    audit_col = 'post-hoc audit: Holm-t' if 'post-hoc audit: Holm-t' in rows[0] else None
    columns = ['claim', 'metric', 'difference ± SE [95 % interval], seeds', decision_col]
    if audit_col:
        columns.append('post-hoc audit (Holm-t)')
    lines = ['| ' + ' | '.join(columns) + ' |',
             '| ' + ' | '.join([':---'] * len(columns)) + ' |']
    for group in claim_groups(proto['comparisons']):
        metric = group[0].get('primary', group[0]['metrics'][0])
        cells = [by_key[(c['name'], metric)] for c in group]
        effects = [f'{r["difference ± SE"]} {r["95 % interval"]}, {r["n"]}' for r in cells]
        decisions = [r[decision_col] for r in cells]
        audits = [_short_audit(r[audit_col]) for r in cells] if audit_col else []
        if len(group) > 1:  # name the control of each value
            effects = [f'{c["name"]}: {e}' for c, e in zip(group, effects)]
            decisions = ([f'{decisions[0]} (all {len(group)})'] if len(set(decisions)) == 1
                         else [f'{c["name"]}: {d}' for c, d in zip(group, decisions)])
            audits = ([f'{audits[0]} (all {len(group)})'] if len(set(audits)) == 1
                      else [f'{c["name"]}: {a}' for c, a in zip(group, audits)])
        claim = '; '.join(c.get('claim', c['name']) for c in group)
        row = [claim, metric, '; '.join(effects), '; '.join(decisions)]
        if audit_col:
            row.append('; '.join(audits))
        lines.append('| ' + ' | '.join(row) + ' |')
    rule = ('the pre-registered 2-SE rule' if proto.get('rule', '2se') == '2se' else
            f'rule `{proto["rule"]}`')
    preamble = (
        'One row per claim of `docs/evidence/protocol.json`, its headline metric (the '
        'comparison\'s primary metric, else its first); a treatment tested against several '
        'controls shares a row. Difference = treatment − control, paired by seed, ± its '
        'standard error, [95 % interval], number of seed pairs; decision: ' + rule +
        ('; audit: the post-hoc Holm-t re-reading, never the decision' if audit_col else '') +
        '. Every metric, the secondary comparisons, the arms and the per-seed values: ' +
        RESULTS_LINK + '.')
    return '\n'.join([preamble, ''] + lines)


def update_readme(readme: str, block: str) -> None:
    """Replace the text between the evidence markers of ``readme`` with ``block``."""
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f'{readme} has no {README_BEGIN} ... {README_END} block; add the two '
                         'markers where the results table belongs.')
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    write_text(readme, f'{head}{README_BEGIN}\n{block}\n{README_END}{tail}')
