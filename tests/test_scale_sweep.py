"""The test-scale sweep: the config readers, the rows, and tools/analysis_tools/scale_sweep.py
against plain tools/test.py runs on a tiny SynthCity."""
import json
import os.path as osp

import pytest
import torch
from conftest import ROOT, run_python
from mmengine.config import Config

from mmseg_ccam.analysis.scale_sweep import (
    eval_resize,
    format_scale_table,
    scale_rows,
    train_ratio_range,
    val_as_test,
)


def config(name: str) -> Config:
    return Config.fromfile(osp.join(ROOT, 'configs', 'ccam', f'{name}.py'),
                           import_custom_modules=False)


@pytest.mark.parametrize('name', ['ccam_r18_synthcity', 'ccam_r18_synthcity_semi',
                                  'ccam_r18_synthcity_affinemix'])
def test_train_ratio_range_reads_the_synthcity_resize_through_wrappers(name):
    # plain, semi (two concatenated datasets) and MultiImageMixDataset train sets
    assert train_ratio_range(config(name)) == (0.5, 1.0, (512, 256))


def test_train_ratio_range_of_the_cityscapes_config_and_of_ambiguous_ones():
    cfg = config('ccam_r50_cityscapes')
    assert train_ratio_range(cfg) == (0.5, 2.0, (1024, 512))
    semi = config('ccam_r18_synthcity_semi')
    semi.train_dataloader.dataset.datasets[1].pipeline[3]['ratio_range'] = (0.5, 2.0)
    assert semi.train_dataloader.dataset.datasets[1].pipeline[3]['type'] == 'RandomResize'
    with pytest.raises(ValueError, match='several ranges'):
        train_ratio_range(semi)
    cfg.train_dataloader.dataset.pipeline = [
        t for t in cfg.train_dataloader.dataset.pipeline if t['type'] != 'RandomResize']
    assert train_ratio_range(cfg) is None


def test_eval_resize_names_the_cfg_options_key_and_refuses_a_pipeline_without_resize():
    cfg = config('ccam_r18_synthcity')
    key, scale = eval_resize(cfg)
    assert (key, scale) == ('test_dataloader.dataset.pipeline.1.scale', (512, 256))
    cfg.merge_from_dict({key: (100, 50)})  # the key is one --cfg-options understands
    assert cfg.test_dataloader.dataset.pipeline[1]['scale'] == (100, 50)
    cfg.test_dataloader.dataset.pipeline = [
        t for t in cfg.test_dataloader.dataset.pipeline if t['type'] != 'Resize']
    with pytest.raises(KeyError, match='found 0'):
        eval_resize(cfg)


def test_val_as_test_scores_the_val_split_and_leaves_the_config_alone():
    """The evidence configs test on the held-out split; the sweep (a setting chooser) must
    read val."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'evidence', 'sup_lite0_ccam_cw_lr2_4800it.py'),
                          import_custom_modules=False)
    assert cfg.test_dataloader.dataset.data_prefix.img_path == 'leftImg8bit/test'
    val = val_as_test(cfg)
    assert val.test_dataloader.dataset.data_prefix.img_path == 'leftImg8bit/val'
    assert val.test_dataloader == cfg.val_dataloader and val.test_evaluator == cfg.val_evaluator
    assert cfg.test_dataloader.dataset.data_prefix.img_path == 'leftImg8bit/test'


def test_scale_rows_and_table():
    raw = [dict(mIoU=40.0, abs_rel=0.2, d1=0.7, rmse=8.0), dict(mIoU=30.0, abs_rel=None)]
    scaled = [dict(abs_rel=0.18, median_scale=0.83), dict(abs_rel=0.4, median_scale=1.21)]
    rows = scale_rows([0.75, 1.5], (512, 256), raw, scaled, (0.5, 1.0))
    assert [(r['width'], r['height'], r['trained']) for r in rows] == [(384, 192, True),
                                                                       (768, 384, False)]
    assert rows[0]['abs_rel_median_scaled'] == 0.18 and rows[1]['median_scale'] == 1.21
    table = format_scale_table(rows).splitlines()
    assert table[2] == '| 0.75× | 384×192 | yes | 40.00 | 0.2000 | 0.700 | 8.00 | 0.1800 | 0.830 |'
    assert table[3] == '| 1.5× | 768×384 | **no** | 30.00 | – | – | – | 0.4000 | 1.210 |'
    assert scale_rows([1.0], (512, 256), raw[:1], scaled[:1], None)[0]['trained'] is None


def test_scale_sweep_rows_are_tools_test_runs_at_each_scale(tmp_path, tiny_synthcity):
    """The 1.0x row equals a plain tools/test.py run; the 0.5x row differs (the scale was
    applied); the median-scaled run reports a median scale."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import save_checkpoint
    from mmseg.registry import MODELS

    import mmseg_ccam  # noqa: F401
    init_default_scope('mmseg')
    cfg_path = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(cfg_path).model)
    model.init_weights()
    ckpt = str(tmp_path / 'model.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    options = [f'test_dataloader.dataset.data_root={tiny_synthcity}',
               'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    out = tmp_path / 'sweep.json'
    stdout = run_python([osp.join(ROOT, 'tools', 'analysis_tools', 'scale_sweep.py'), cfg_path,
                         ckpt, '--ratios', '0.5', '1.0', '--out', str(out), '--cfg-options',
                         *options], tmp_path).stdout
    assert ('Training RandomResize: 0.5-1 x 512×256 = 0.5-1 x the test scale 512×256; val '
            'split.') in stdout
    rows = json.loads(out.read_text())['rows']
    plain = tmp_path / 'plain.json'
    run_python([osp.join(ROOT, 'tools', 'test.py'), cfg_path, ckpt, '--out', str(plain),
                '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options], tmp_path)
    plain = json.loads(plain.read_text())
    assert [r['ratio'] for r in rows] == [0.5, 1.0]
    assert rows[1]['mIoU'] == plain['mIoU'] and rows[1]['abs_rel'] == plain['abs_rel']
    assert rows[0]['abs_rel'] != rows[1]['abs_rel']
    assert rows[1]['median_scale'] > 0 and rows[1]['abs_rel_median_scaled'] != plain['abs_rel']


@pytest.mark.parametrize('name', ['ccam_lite0_synthcity_cw', 'ccam_r18_synthcity'])
def test_model_zoo_tables_are_the_committed_sweeps_and_agree_with_the_reference(name):
    """docs/model_zoo.md shows each sweep as format_scale_table renders its JSON, and the 1x
    row is the shipped model's reference tools/test.py run (same checkpoint, same frames)."""
    with open(osp.join(ROOT, 'docs', 'reference', f'scale_sweep_{name}.json')) as f:
        sweep = json.load(f)
    with open(osp.join(ROOT, 'docs', 'reference', f'{name}.json')) as f:
        reference = json.load(f)['runs']['test']['metrics']
    with open(osp.join(ROOT, 'docs', 'model_zoo.md'), encoding='utf-8') as f:
        assert format_scale_table(sweep['rows']) in f.read()
    one = next(r for r in sweep['rows'] if r['ratio'] == 1.0)
    assert (one['mIoU'], one['abs_rel'], one['rmse']) == (
        reference['mIoU'], reference['abs_rel'], reference['rmse'])
