"""analyze_logs.py: series read from MMEngine scalar logs and the plot command."""
import json

import numpy as np
import pytest
from conftest import load_script
from mmengine.visualization import LocalVisBackend


@pytest.fixture(scope='module')
def al():
    return load_script('tools/analysis_tools/analyze_logs.py')

# What LoggerHook sends for training (every `interval` iterations, step = iter + 1) and after
# validation (metrics, step = current iteration).
TRAIN = [
    dict(lr=0.01, data_time=0.01, loss=3.0, **{'decode.loss_ce': 2.0, 'decode.acc_seg': 10.0,
                                               'depth.loss_silog': 1.0},
         time=0.5, iter=10, memory=100),
    dict(lr=0.009, data_time=0.01, loss=2.5, **{'decode.loss_ce': 1.6, 'decode.acc_seg': 20.0,
                                                'depth.loss_silog': 0.9},
         time=0.5, iter=20, memory=100),
    dict(lr=0.008, data_time=0.01, loss=2.0, **{'decode.loss_ce': 1.2, 'decode.acc_seg': 30.0,
                                                'depth.loss_silog': 0.8},
         time=0.5, iter=30, memory=100),
]
VAL = {20: dict(aAcc=80.0, mIoU=30.0, mAcc=40.0, abs_rel=0.3, d1=0.5, data_time=0.1, time=0.2),
       30: dict(aAcc=82.0, mIoU=33.5, mAcc=41.0, abs_rel=0.25, d1=0.6, data_time=0.1, time=0.2)}


@pytest.fixture
def mmengine_log(tmp_path):
    """A scalars.json written by MMEngine's own LocalVisBackend, in the runner's layout."""
    backend = LocalVisBackend(save_dir=str(tmp_path / 'runA' / '20240101_000000' / 'vis_data'))
    for record in TRAIN:
        backend.add_scalars(record, step=record['iter'])
        if record['iter'] in VAL:
            backend.add_scalars(VAL[record['iter']], step=record['iter'])
    return str(tmp_path / 'runA' / '20240101_000000' / 'vis_data' / 'scalars.json')


def test_load_series_from_a_real_mmengine_log(mmengine_log, al):
    steps, values = al.load_series(mmengine_log, 'loss')
    np.testing.assert_array_equal(steps, [10, 20, 30])
    np.testing.assert_array_equal(values, [3.0, 2.5, 2.0])
    steps, values = al.load_series(mmengine_log, 'depth.loss_silog')
    np.testing.assert_array_equal(values, [1.0, 0.9, 0.8])
    steps, values = al.load_series(mmengine_log, 'mIoU')
    np.testing.assert_array_equal(steps, [20, 30])
    np.testing.assert_array_equal(values, [30.0, 33.5])
    steps, values = al.load_series(mmengine_log, 'not_logged')
    assert steps.size == 0 and values.size == 0
    assert al.default_label(mmengine_log) == 'runA/20240101_000000'


def test_hand_written_log_with_prefixed_metric_and_null(tmp_path, al):
    log = tmp_path / 'scalars.json'
    lines = [{'loss': 1.5, 'iter': 5, 'step': 5},
             {'depth/abs_rel': 0.4, 'mIoU': None, 'step': 5},
             {'loss': 1.25, 'iter': 10, 'step': 10},
             {'depth/abs_rel': 0.35, 'mIoU': 12.0, 'step': 10}]
    log.write_text('\n'.join(json.dumps(x) for x in lines) + '\n\n')
    steps, values = al.load_series(str(log), 'abs_rel')  # matches the only '*/abs_rel'
    np.testing.assert_array_equal(steps, [5, 10])
    np.testing.assert_array_equal(values, [0.4, 0.35])
    _, values = al.load_series(str(log), 'mIoU')
    assert np.isnan(values[0]) and values[1] == 12.0


def test_ambiguous_and_broken_logs(tmp_path, al):
    log = tmp_path / 'a.json'
    log.write_text(json.dumps({'seg/acc': 1, 'depth/acc': 2, 'step': 1}) + '\n')
    with pytest.raises(ValueError, match='ambiguous'):
        al.load_series(str(log), 'acc')
    log.write_text('{"loss": 1, "step": 1}\nnot json\n')
    with pytest.raises(ValueError, match=r'a\.json:2'):
        al.load_series(str(log), 'loss')


def test_plot_writes_an_image_and_rejects_unknown_keys(mmengine_log, tmp_path, al):
    out = tmp_path / 'plots' / 'curves.png'
    al.main(['plot', mmengine_log, mmengine_log, '--keys', 'loss', 'decode.loss_ce', 'mIoU',
             'abs_rel', '--legend', 'a', 'b', '--out', str(out)])
    with open(out, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    with pytest.raises(KeyError, match='nope'):
        al.plot_curves([mmengine_log], ['nope'], str(tmp_path / 'x.png'))


def _write(log_path, records):
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text('\n'.join(json.dumps(r) for r in records) + '\n')


def test_table_merges_resumed_logs_and_averages_windows(tmp_path, al):
    # A run interrupted after step 30 and resumed from its step-20 checkpoint: the second
    # timestamp folder replays step 30 (newer value wins) and goes on.
    run = tmp_path / 'seed0'
    _write(run / '20240101_000000' / 'vis_data' / 'scalars.json',
           [{'share': 0.0, 'step': 10}, {'share': 0.2, 'step': 20}, {'share': 0.9, 'step': 30}])
    _write(run / '20240101_010000' / 'vis_data' / 'scalars.json',
           [{'share': 0.4, 'step': 30}, {'share': 0.6, 'step': 40}])
    other = tmp_path / 'seed1' / '20240102_000000' / 'vis_data' / 'scalars.json'
    _write(other, [{'share': 1.0, 'step': 20}, {'share': None, 'step': 40}])
    steps, values = al.load_run_series(str(run), 'share')
    np.testing.assert_array_equal(steps, [10, 20, 30, 40])
    np.testing.assert_allclose(values, [0.0, 0.2, 0.4, 0.6])
    # window 0: last value at or before the step; window 20: mean over (step - 20, step].
    assert al.value_at(steps, values, 35) == pytest.approx(0.4)
    assert al.value_at(steps, values, 40, window=20) == pytest.approx(0.5)
    assert np.isnan(al.value_at(steps, values, 5))
    table = al.summary_table([str(run), str(other)], ['share'], [20, 40], window=20)
    rows = table.splitlines()
    assert rows[0] == '| key | iter | seed0 | seed1/20240102_000000 | mean |'
    # step 20: seed0 mean(0.0, 0.2) = 0.1, seed1 1.0, mean 0.55; step 40: seed0 0.5, seed1 NaN.
    assert rows[2] == '| share | 20 | 0.1 | 1 | 0.55 |'
    assert rows[3] == '| share | 40 | 0.5 | – | 0.5 |'


def test_table_errors_name_the_path_and_the_key(tmp_path, al):
    with pytest.raises(FileNotFoundError, match='No <timestamp>/vis_data/scalars.json'):
        al.run_logs(str(tmp_path))
    log = tmp_path / 'a' / '20240101_000000' / 'vis_data' / 'scalars.json'
    _write(log, [{'loss': 1.0, 'step': 1}])
    with pytest.raises(KeyError, match=r"'gamma' is in none of the logs; logged keys: \['loss'"):
        al.summary_table([str(tmp_path / 'a')], ['gamma'], [1])


def test_table_reads_each_log_once_whatever_the_number_of_keys(tmp_path, al, monkeypatch):
    run = tmp_path / 'seed0'
    for stamp, step in (('20240101_000000', 10), ('20240101_010000', 20)):
        _write(run / stamp / 'vis_data' / 'scalars.json',
               [{'loss': step / 10, 'share': step / 100, 'gamma': -step / 100, 'step': step}])
    reads = []
    real = al.read_log
    monkeypatch.setattr(al, 'read_log', lambda path: reads.append(path) or real(path))
    table = al.summary_table([str(run)], ['loss', 'share', 'gamma'], [20])
    assert sorted(reads) == sorted(al.run_logs(str(run)))  # 2 reads for 3 keys, not 6
    assert table.splitlines()[2:] == ['| loss | 20 | 2 |', '| share | 20 | 0.2 |',
                                      '| gamma | 20 | -0.2 |']


def test_run_folder_or_work_dir_give_the_same_log(tmp_path, al):
    log = tmp_path / 'work' / '20240101_000000' / 'vis_data' / 'scalars.json'
    _write(log, [{'loss': 1.0, 'step': 1}, {'loss': 0.5, 'step': 2}])
    for path in (log, log.parent.parent, log.parent, tmp_path / 'work'):
        assert al.run_logs(str(path)) == [str(log)], path
    out = tmp_path / 'c.png'
    al.main(['plot', str(log.parent.parent), '--keys', 'loss', '--out', str(out)])
    assert out.stat().st_size > 0


def test_steps_after_the_end_of_a_run_are_blank_not_its_last_value(tmp_path, al):
    # a 12-iteration run asked for iteration 500: its iteration-12 value is not 500's
    short = tmp_path / 'short' / '20240101_000000' / 'vis_data' / 'scalars.json'
    _write(short, [{'loss': 2.0, 'step': 10}, {'loss': 1.5, 'step': 12}])
    full = tmp_path / 'full' / '20240101_000000' / 'vis_data' / 'scalars.json'
    _write(full, [{'loss': 2.0, 'step': 10}, {'loss': 0.7, 'step': 500}])
    rows = al.summary_table([str(tmp_path / 'short'), str(tmp_path / 'full')], ['loss'],
                            [12, 500]).splitlines()
    assert rows[2] == '| loss | 12 | 1.5 | 2 | 1.75 |'
    assert rows[3] == '| loss | 500 | – | 0.7 | 0.7 |'
    assert rows[-1] == 'Note: short: logged up to iteration 12; 500 left blank (–).'


@pytest.mark.parametrize('argv, expected', [
    (['table', '{work}', '--keys', 'unsup.share_above_tau', '--steps', '1'],
     "analyze_logs.py: Key 'unsup.share_above_tau' is in none of the logs; logged keys: "
     "['loss', 'step']."),
    (['table', '{tmp}/nothere', '--keys', 'loss', '--steps', '1'],
     "analyze_logs.py: '{tmp}/nothere' is neither a scalars.json, a run folder nor a work dir."),
    (['table', '{tmp}', '--keys', 'loss', '--steps', '1'],
     "analyze_logs.py: No <timestamp>/vis_data/scalars.json under work dir '{tmp}'; pass the "
     'scalars.json of the run instead.'),
    (['plot', '{work}', '--keys', 'mIoU', '--out', '{tmp}/c.png'],
     "analyze_logs.py: Key 'mIoU' is in none of the logs; logged keys: ['loss', 'step']."),
])
def test_user_mistakes_are_one_line_and_exit_2(tmp_path, al, capsys, argv, expected):
    work = tmp_path / 'work'
    _write(work / '20240101_000000' / 'vis_data' / 'scalars.json', [{'loss': 1.0, 'step': 1}])
    argv = [a.format(work=work, tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as exit_info:
        al.main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == expected.format(tmp=tmp_path) + '\n'
