"""The Markdown/CSV comparison table of metrics and benchmark JSONs
(mmseg_ccam.evaluation.results_table, tools/analysis_tools/benchmark_table.py)."""
import json

import pytest
from conftest import load_script

from mmseg_ccam.evaluation import results_table as rt


@pytest.fixture(scope='module')
def table_cli():
    """The command line, for the tests of its arguments and output files."""
    return load_script('tools/analysis_tools/benchmark_table.py')




METRICS_A = {'mIoU': 50.0, 'aAcc': 90.0, 'mAcc': 60.0, 'abs_rel': 0.2, 'sq_rel': 1.5,
             'rmse': 5.0, 'rmse_log': 0.25, 'silog': 20.0, 'log10': None, 'd1': 0.7,
             'd2': 0.9, 'd3': 0.95, 'IoU.road': 95.0}
METRICS_B = {'mIoU': 55.5, 'aAcc': 89.0, 'mAcc': 60.004, 'abs_rel': 0.15, 'sq_rel': None,
             'rmse': 6.0, 'rmse_log': 0.3, 'silog': 22.0, 'log10': None, 'd1': 0.8,
             'd2': 0.9, 'd3': 0.97, 'IoU.road': 96.0}
BENCH = [
    {'name': 'ccam', 'params': 25_000_000, 'flops': 150e9, 'latency_ms': 12.346,
     'train_step_ms': 100.0, 'peak_mem_mb': 2048.4},
    {'name': 'plain', 'params': 24_500_000, 'flops': 151e9, 'latency_ms': 12.0,
     'train_step_ms': 99.96, 'peak_mem_mb': 2000.0},
]


@pytest.fixture
def files(tmp_path):
    a, b, bench = tmp_path / 'ccam.json', tmp_path / 'plain.json', tmp_path / 'bench.json'
    a.write_text(json.dumps(METRICS_A))
    b.write_text(json.dumps(METRICS_B))
    bench.write_text(json.dumps(BENCH))
    return tmp_path, str(a), str(b), str(bench)


def test_markdown_table_is_exactly_the_hand_computed_one(files, table_cli):
    tmp, a, b, bench = files
    md = table_cli.main([a, b, '--benchmark', bench, '--out-md', str(tmp / 't.md'),
                  '--out-csv', str(tmp / 't.csv')])
    expected = (
        '| config | mIoU | aAcc | mAcc | AbsRel | SqRel | RMSE | RMSElog | SILog | d1 | d2 | d3 '
        '| params (M) | FLOPs (G) | latency (ms) | train step (ms) | peak mem (MB) |\n'
        '| :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: '
        '| ---: | ---: | ---: | ---: | ---: |\n'
        # mAcc 60.00 vs 60.00 as displayed: both bold; SqRel has one value: no bold;
        # d2 tie: both bold; train step 100.0 vs 100.0 (99.96 rounds up): both bold.
        '| ccam | 50.00 | **90.00** | **60.00** | 0.2000 | 1.5000 | **5.000** | **0.2500** '
        '| **20.000** | 0.7000 | **0.9000** | 0.9500 | 25.00 | **150.00** | 12.35 '
        '| **100.0** | 2048 |\n'
        '| plain | **55.50** | 89.00 | **60.00** | **0.1500** | - | 6.000 | 0.3000 | 22.000 '
        '| **0.8000** | **0.9000** | **0.9700** | **24.50** | 151.00 | **12.00** | **100.0** '
        '| **2000** |\n')
    assert md == expected
    assert (tmp / 't.md').read_text() == expected
    csv_lines = (tmp / 't.csv').read_text().splitlines()
    assert csv_lines[0] == ('config,mIoU,aAcc,mAcc,abs_rel,sq_rel,rmse,rmse_log,silog,d1,d2,d3,'
                            'params,flops,latency_ms,train_step_ms,peak_mem_mb')
    assert csv_lines[2] == ('plain,55.5,89.0,60.004,0.15,,6.0,0.3,22.0,0.8,0.9,0.97,24500000.0,'
                            '151000000000.0,12.0,99.96,2000.0')


def test_names_variants_columns_and_per_class(files, table_cli):
    tmp, a, b, bench = files
    md = table_cli.main([a, b, '--names', 'A', 'B', '--benchmark', bench, '--benchmark-variant',
                  'plain', '--columns', 'mIoU', 'params'])
    # both rows take the 'plain' entry: equal params, so both are bold
    assert md.splitlines()[2:] == ['| A | 50.00 | **24.50** |', '| B | **55.50** | **24.50** |']
    rows = rt.build_rows(['A', 'B'], [rt.load_metrics(a), rt.load_metrics(b)])
    assert rt.pick_columns(rows, per_class=True)[-1] == 'IoU.road'
    assert 'log10' not in rt.pick_columns(rows)  # null everywhere -> dropped


def test_mean_std_cells_and_benchmark_dict_forms(tmp_path, table_cli):
    s1 = tmp_path / 's1.json'
    s1.write_text(json.dumps({'mIoU': {'mean': 51.0, 'std': 1.0, 'n': 3},
                              'abs_rel': {'mean': 0.2, 'std': 0.1, 'n': 3}}))
    s2 = tmp_path / 's2.json'
    s2.write_text(json.dumps({'mIoU': {'mean': 49.0, 'std': None, 'n': 1},
                              'abs_rel': {'mean': 0.19, 'std': 0.005, 'n': 3}}))
    bench = tmp_path / 'b.json'
    bench.write_text(json.dumps({'s1': {'latency_ms': 3.0}, 's2': {'latency_ms': 4.0}}))
    md = table_cli.main([str(s1), str(s2), '--benchmark', str(bench)])
    assert md.splitlines()[2:] == [
        '| s1 | **51.00 ± 1.00** | 0.2000 ± 0.1000 | **3.00** |',
        '| s2 | 49.00 | **0.1900 ± 0.0050** | 4.00 |',
    ]
    rows = rt.build_rows(['s1'], [rt.load_metrics(str(s1))])
    assert rt.format_csv(rows, ['mIoU']).splitlines() == ['config,mIoU,mIoU_std', 's1,51.0,1.0']
    single = tmp_path / 'single.json'
    single.write_text(json.dumps({'params': 1e6, 'latency_ms': 2.5}))
    assert rt.load_benchmarks([str(single)])['single']['latency_ms'].mean == 2.5


def test_benchmark_script_json_rows_by_variant(tmp_path, table_cli):
    # The layout of ``benchmark.py --json``: run information beside a dict of variants.
    bench = tmp_path / 'bench.json'
    bench.write_text(json.dumps({
        'config': 'ccam.py', 'device': 'cpu', 'shape': [256, 512],
        'ratios': {'speedup': 1.3},
        'variants': {'joint': {'params': 2.5e6, 'latency_ms': 10.0},
                     'no_attention': {'params': 2.4e6, 'latency_ms': 9.5}}}))
    m1, m2 = tmp_path / 'ccam.json', tmp_path / 'noccam.json'
    m1.write_text(json.dumps({'mIoU': 50.0}))
    m2.write_text(json.dumps({'mIoU': 48.0}))
    md = table_cli.main([str(m1), str(m2), '--benchmark', str(bench),
                  '--benchmark-variant', 'joint', 'no_attention'])
    assert md.splitlines()[2:] == [
        '| ccam | **50.00** | 2.50 | 10.00 |',
        '| noccam | 48.00 | **2.40** | **9.50** |',
    ]


def test_bad_inputs_name_the_file(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'mIoU': 'high'}))
    with pytest.raises(ValueError, match=r'bad\.json.*mIoU'):
        rt.load_metrics(str(bad))
    bench = tmp_path / 'bench.json'
    bench.write_text(json.dumps([{'params': 1}]))
    with pytest.raises(ValueError, match=r'bench\.json: entry 0'):
        rt.load_benchmarks([str(bench)])
    with pytest.raises(FileNotFoundError, match='nope.json'):
        rt.load_metrics(str(tmp_path / 'nope.json'))


def test_default_names_disambiguate_same_file_names(tmp_path):
    paths = [str(tmp_path / 'x' / 'metrics.json'), str(tmp_path / 'y' / 'metrics.json'),
             str(tmp_path / 'z.json')]
    assert rt.default_names(paths) == ['x/metrics', 'y/metrics', 'z']
