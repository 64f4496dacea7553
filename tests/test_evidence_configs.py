"""Evidence configs: the test bed they point at, and exactly one change per comparison."""
import functools
import os.path as osp
from glob import glob

import pytest
from conftest import ROOT, load_script
from mmengine.config import Config

EVIDENCE = osp.join(ROOT, 'configs', 'evidence')


@functools.cache
def _load(name):
    return Config.fromfile(osp.join(EVIDENCE, f'{name}.py'))


def load(name):
    """A copy of the (cached) parsed config: tests may not see each other's changes."""
    return Config(_load(name).to_dict())


def _train_datasets(cfg):
    ds = cfg.train_dataloader.dataset
    return ds.datasets if ds.type == 'ConcatDataset' else [ds]


@pytest.mark.parametrize('path', sorted(glob(osp.join(EVIDENCE, '*.py'))))
def test_every_evidence_config_trains_on_the_test_bed_and_tests_on_test(path):
    cfg = Config.fromfile(path)
    root = 'data/synthcity_evidence/'
    assert all(d.data_root == root for d in _train_datasets(cfg))
    assert cfg.val_dataloader.dataset.data_root == root
    assert cfg.val_dataloader.dataset.data_prefix.img_path == 'leftImg8bit/val'
    assert cfg.test_dataloader.dataset.data_root == root
    assert cfg.test_dataloader.dataset.data_prefix == dict(
        img_path='leftImg8bit/test', seg_map_path='gtFine/test', depth_path='disparity/test',
        camera_path='camera/test')
    for d in _train_datasets(cfg):
        assert d.data_prefix.img_path == 'leftImg8bit/train'


def _diff(a, b, prefix=''):
    """Dotted keys whose values differ between two config dicts."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, f'{prefix}{k}.')
        elif va != vb:
            out.append(f'{prefix}{k}')
    return out


IGNORED = {'filename', 'text', 'custom_imports.imports', 'color_aug.type', 'color_aug._delete_'}


@pytest.mark.parametrize('child,parent,changed', [
    ('sup_r18_no-ccam', 'sup_r18_ccam', ['model.neck.attention']),
    ('sup_r18_seg-only', 'sup_r18_ccam', ['model.depth_head', 'model.neck', 'test_evaluator',
                                          'val_evaluator']),
    ('sup_r18_depth-only', 'sup_r18_ccam', ['model.decode_head', 'model.neck',
                                            'test_evaluator', 'val_evaluator']),
    ('sup-1-8_r18_b2', 'sup-1-8_r18', ['train_dataloader.batch_size']),
    ('sup-1-8_r18_b2_ema', 'sup-1-8_r18_b2', ['custom_hooks']),
    ('sup_r18_coloraug', 'sup_r18_ccam', ['color_aug', 'train_dataloader.dataset.pipeline',
                                          'train_pipeline']),
    # the transform's type (and the import registering it) is the change
    ('sup_r18_global-jitter', 'sup_r18_coloraug', ['train_dataloader.dataset.pipeline',
                                                   'train_pipeline']),
    # protocol v2 (the gated Lite0 regime): the same one change per comparison
    ('v2_sup_lite0_no-ccam', 'v2_sup_lite0_ccam', ['model.neck.attention']),
    ('v2_sup_lite0_seg-only', 'v2_sup_lite0_ccam', ['model.depth_head', 'model.neck',
                                                    'test_evaluator', 'val_evaluator']),
    ('v2_sup_lite0_depth-only', 'v2_sup_lite0_ccam', ['model.decode_head', 'model.neck',
                                                      'test_evaluator', 'val_evaluator']),
    ('v2_sup_lite0_coloraug', 'v2_sup_lite0_ccam', ['color_aug',
                                                    'train_dataloader.dataset.pipeline',
                                                    'train_pipeline']),
    ('v2_sup_lite0_global-jitter', 'v2_sup_lite0_coloraug', ['train_dataloader.dataset.pipeline',
                                                             'train_pipeline']),
    ('v2_sup-1-8_lite0_b2', 'v2_sup_lite0_ccam', [
        'train_dataloader.batch_size', 'train_dataloader.dataset.labeled_ratio',
        'train_dataloader.dataset.split_seed', 'train_dataloader.dataset.subset']),
    ('v2_sup-1-8_lite0_b2_ema', 'v2_sup-1-8_lite0_b2', ['custom_hooks']),
])
def test_one_change_per_comparison(child, parent, changed):
    a, b = load(child).to_dict(), load(parent).to_dict()
    diff = [k for k in _diff(a, b) if k not in IGNORED]
    assert sorted({k if not k.startswith('color_aug.') else 'color_aug' for k in diff}) == \
        sorted(changed)


def test_pipelines_of_the_colour_comparison_differ_only_in_the_colour_transform():
    aug = load('sup_r18_coloraug').train_dataloader.dataset.pipeline
    jit = load('sup_r18_global-jitter').train_dataloader.dataset.pipeline
    ref = load('sup_r18_ccam').train_dataloader.dataset.pipeline
    assert [p for p in aug if p['type'] != 'ColorAug'] == ref
    assert [p for p in jit if p['type'] != 'GlobalColorJitter'] == ref
    a = next(p for p in aug if p['type'] == 'ColorAug')
    j = next(p for p in jit if p['type'] == 'GlobalColorJitter')
    assert {k: v for k, v in a.items() if k != 'type'} == \
        {k: v for k, v in j.items() if k != 'type'}


def test_matched_and_joint_batches():
    assert load('sup-1-8_r18').train_dataloader.dataset.subset == 'labeled'
    b2 = load('sup-1-8_r18_b2').train_dataloader
    assert b2.batch_size == 2 and b2.dataset.labeled_ratio == 0.125
    joint = load('joint-1-8_r18').train_dataloader
    assert joint.sampler == dict(type='MultiSourceSampler', batch_size=4, source_ratio=[2, 2])
    subsets = [(d.subset, d.labeled_ratio, d.split_seed) for d in joint.dataset.datasets]
    assert subsets == [('labeled', 0.125, 0), ('unlabeled', 0.125, 0)]
    # The EMA control averages like the semi teacher it controls for.
    ema = load('sup-1-8_r18_b2_ema').custom_hooks
    teacher = [h for h in load('semi_r18_1-8').custom_hooks if h['type'] == 'MeanTeacherHook']
    assert ema[0]['type'] == 'EMAHook' and len(teacher) == 1
    assert (ema[0]['momentum'], ema[0]['update_buffers']) == (0.05, True)
    assert (teacher[0]['momentum'], teacher[0]['update_buffers']) == (0.05, True)


def test_every_protocol_arm_resolves_to_the_test_bed():
    import json
    with open(osp.join(ROOT, 'docs', 'evidence', 'protocol.json')) as f:
        proto = json.load(f)
    from mmengine.config import DictAction
    for name, arm in proto['arms'].items():
        cfg = Config.fromfile(osp.join(ROOT, arm['config']))
        options = proto['cfg_options'] + arm.get('cfg_options', [])
        action = DictAction(option_strings=['--cfg-options'], dest='cfg_options')
        parsed = {}
        for opt in options:
            key, value = opt.split('=', 1)
            parsed[key] = action._parse_iterable(value)
        cfg.merge_from_dict(parsed)
        assert cfg.train_cfg.max_iters == 1000, name
        assert all(d.data_root == 'data/synthcity_evidence/' for d in _train_datasets(cfg)), name
        assert cfg.test_dataloader.dataset.data_prefix.img_path == 'leftImg8bit/test', name
        assert cfg.val_dataloader.dataset.data_prefix.img_path == 'leftImg8bit/val', name
        if name == 'semi-no-mix':
            assert cfg.model.semi_train_cfg.mix is None
        if name == 'semi-depthmix':
            assert cfg.model.semi_train_cfg.mix.warp is None
    shift = dict(o.split('=', 1) for o in proto['eval_splits']['test_shift'])
    assert set(shift.values()) == {'leftImg8bit/test_shift', 'gtFine/test_shift',
                                   'disparity/test_shift', 'camera/test_shift'}


def test_median_scaled_split_targets_each_arms_depth_metric():
    """The secondary split sets median_scaling on the arm's StreamingDepthMetric, wherever it
    sits in the arm's evaluator list, and skips arms without one."""
    ab = load_script('tools/analysis_tools/ablation.py')
    proto = ab.load_protocol(osp.join(ROOT, 'docs', 'evidence', 'protocol.json'))
    for name, arm in proto['arms'].items():
        cfg = Config.fromfile(osp.join(ROOT, arm['config']))
        depth = [i for i, e in enumerate(cfg.test_evaluator)
                 if e['type'] == 'StreamingDepthMetric']
        options = ab.arm_splits(proto, name).get('test_scaled')
        if not depth:
            assert options is None, name
            continue
        assert options == [f'test_evaluator.{depth[0]}.median_scaling=True'], name


@pytest.mark.parametrize('child,key,value', [
    ('semi_r18_1-8_no-mix', 'mix', None),
    ('semi_r18_1-8_depthmix', 'mix.warp', None),
    ('v2_semi_lite0_1-8_no-mix', 'mix', None),
    ('v2_semi_lite0_1-8_depthmix', 'mix.warp', None),
])
def test_semi_mix_arms_change_only_the_mix(child, key, value):
    parent = 'v2_semi_lite0_1-8' if child.startswith('v2_') else 'semi_r18_1-8'
    a, b = load(child).to_dict(), load(parent).to_dict()
    diff = [k for k in _diff(a, b) if k not in IGNORED]
    assert diff == [f'model.semi_train_cfg.{key}']
    node = a['model']['semi_train_cfg']
    for part in key.split('.'):
        node = node[part]
    assert node is value


def test_semi_arm_keeps_its_base_pipelines():
    base = Config.fromfile(osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity_semi.py'))
    ours = load('semi_r18_1-8')
    for d_base, d in zip(base.train_dataloader.dataset.datasets,
                         ours.train_dataloader.dataset.datasets):
        assert {k: v for k, v in d.items() if k != 'data_root'} == \
            {k: v for k, v in d_base.items() if k != 'data_root'}
    assert ours.model == base.model


def test_v2_semi_arm_trains_the_gated_model_with_the_gated_schedule():
    """The v2 semi arm copies the labeled loss, optimiser and schedule of the gated supervised
    arm (MMEngine cannot inherit both it and the mean-teacher runtime): they must stay equal."""
    sup, semi = load('v2_sup_lite0_ccam'), load('v2_semi_lite0_1-8')
    assert semi.model.type == 'MeanTeacherSegDepth'
    student = {k: v for k, v in semi.model.segmentor.items()}
    assert student == sup.model.to_dict()
    assert student['decode_head']['loss_decode']['type'] == 'WeightedCrossEntropyLoss'
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert semi[key] == sup[key], key
    assert semi.train_cfg.max_iters == sup.train_cfg.max_iters >= 2400
    # The EMA control and the joint arm match the semi arm's teacher and batches.
    ema = load('v2_sup-1-8_lite0_b2_ema').custom_hooks[0]
    teacher = next(h for h in semi.custom_hooks if h['type'] == 'MeanTeacherHook')
    assert (ema['momentum'], ema['update_buffers']) == (teacher['momentum'],
                                                        teacher['update_buffers'])
    joint = load('v2_joint-1-8_lite0').train_dataloader
    assert joint.sampler == semi.train_dataloader.sampler
    assert [(d.subset, d.labeled_ratio, d.split_seed) for d in joint.dataset.datasets] == \
        [(d.subset, d.labeled_ratio, d.split_seed) for d in semi.train_dataloader.dataset.datasets]
    assert [d.subset for d in joint.dataset.datasets] == ['labeled', 'unlabeled']
