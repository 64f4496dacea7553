"""Reliability round 3 (issue #26): every entry point as strict as train/test.

The cases live in ``tools/analysis_tools/hostile_cases.py`` (run it to print the verdict
table); each is asserted here to get its expected verdict: ``correct`` (checked against an
independent value inside the case) or ``clear`` (an error naming the key / file / option).
On the code before the round every case except the three controls (same-architecture
checkpoint, ``checkpoint_mismatch=warn``, a derived config that overrides its keys) was
``silent wrong`` or ``unclear``.
"""
import json
import os.path as osp

import pytest

pytestmark = pytest.mark.usefixtures('one_thread')


@pytest.fixture(scope='module')
def hostile(load_tool):
    return load_tool('analysis_tools/hostile_cases.py')


@pytest.fixture(scope='module')
def ctx(hostile, tmp_path_factory):
    import mmseg_ccam  # noqa: F401
    return hostile.Context(str(tmp_path_factory.mktemp('hostile')))


def _cases():
    from conftest import _load_tool
    return _load_tool('analysis_tools/hostile_cases.py').CASES


@pytest.mark.parametrize('case', _cases(), ids=lambda c: f'{c.item}-{c.run.__name__}')
def test_case_gets_its_expected_verdict(case, hostile, ctx):
    verdict, detail = hostile.judge(case, ctx)
    assert verdict == case.expected, detail


def test_table_counts_the_verdicts(hostile):
    cases = hostile.CASES[:3]
    rows = [(cases[0], 'clear', ''), (cases[1], 'silent wrong', ''), (cases[2], 'clear', '')]
    table = hostile.format_table(rows)
    assert table.splitlines()[-1] == '3 cases: 0 correct, 2 clear, 0 unclear, 1 silent wrong'
    assert f'| 1 | {cases[1].name} | clear | silent wrong |' in table


def test_generator_same_settings_again_is_allowed(tmp_path):
    from mmseg_ccam.datasets.synthcity import generate_synthcity
    from mmseg_ccam.datasets.synthcity.generator import SETTINGS_FILE
    kw = dict(num_train=1, num_val=0, height=32, width=64, seed=3, progress=False)
    generate_synthcity(str(tmp_path), **kw)
    generate_synthcity(str(tmp_path), **kw)  # rewrites the same bytes: no refusal
    settings = json.loads((tmp_path / SETTINGS_FILE).read_text())
    assert settings['seed'] == 3 and settings['num_frames'] == {'train': 1, 'val': 0}
    assert (settings['width'], settings['height']) == (64, 32)


def test_check_dataset_flags_stale_frames_by_the_recorded_count(tmp_path, load_tool, capsys):
    import shutil

    from mmseg_ccam.datasets.synthcity import generate_synthcity
    generate_synthcity(str(tmp_path), num_train=2, num_val=0, height=32, width=64, seed=0,
                       progress=False)
    # one frame more than the generation wrote (same size): a stale frame
    for folder, suffix in (('leftImg8bit', '_leftImg8bit.png'),
                           ('gtFine', '_gtFine_labelTrainIds.png'),
                           ('disparity', '_disparity.png'), ('camera', '_camera.json')):
        src = next((tmp_path / folder / 'train').rglob('*' + suffix))
        dst = src.parent / src.name.replace('_000019_', '_000020_')
        shutil.copy(src, dst)
    code = load_tool('check_dataset.py').main([str(tmp_path), '--splits', 'train',
                                               '--workers', '1'])
    out = capsys.readouterr().out
    assert code == 1
    assert 'split train has 3 frames but' in out and 'records 2' in out


def test_semi_subsets_that_partition_the_frames_pass(ctx, hostile):
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATA_SAMPLERS, DATASETS
    cfg = hostile.load_cfg(hostile.SEMI, **{
        f'train_dataloader.dataset.datasets.{i}.labeled_ratio': 0.5 for i in (0, 1)})
    with DefaultScope.overwrite_default_scope('mmseg'):
        for d in cfg.train_dataloader.dataset.datasets:
            d.data_root = ctx.synth
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        DATA_SAMPLERS.build(dict(cfg.train_dataloader.sampler, dataset=dataset))
    labeled, unlabeled = ({d.get_data_info(i)['img_path'] for i in range(len(d))}
                          for d in dataset.datasets)
    assert len(labeled | unlabeled) == 8 and not labeled & unlabeled


def test_out_file_check_leaves_no_file(tmp_path):
    from mmseg_ccam.evaluation.report import check_output_file
    target = tmp_path / 'sub' / 'm.json'
    check_output_file(str(target))
    assert not target.exists() and osp.isdir(tmp_path / 'sub')
