"""Hostile / careless-user cases: each is a clear error naming the key or file and the fix, or
the correct behaviour. (Exact resume: tests/test_resume.py.)"""
import glob
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import textwrap
from argparse import Namespace
from collections import deque

import pytest
import torch
from conftest import ROOT, load_script, run_python
from mmengine.config import Config
from mmengine.fileio import LocalBackend
from mmengine.registry import DefaultScope
from mmseg.registry import DATA_SAMPLERS, DATASETS

from mmseg_ccam.datasets.synthcity import generate_synthcity
from mmseg_ccam.engine import AtomicCheckpointRunner, check_checkpoint_file
from mmseg_ccam.evaluation.report import flatten_metrics, write_metrics_json
from mmseg_ccam.utils import ConfigKeyError, IncompatibleCheckpointError
from mmseg_ccam.utils.config_check import check_config_keys, check_config_values
from mmseg_ccam.utils.launch import build_runner, fit_schedule_to_max_iters, load_config
from mmseg_ccam.utils.work_dir import (
    NothingToResumeError,
    WorkDirLock,
    WorkDirLockedError,
    find_resume_checkpoint,
)

pytestmark = pytest.mark.usefixtures('one_thread')

SUP = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py')
SEMI = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity_semi.py')
PREFIX = dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train',
              depth_path='disparity/train', camera_path='camera/train')


def cfg_of(config=SUP, work_dir='/tmp/unused', **options):
    return load_config(Namespace(config=config, cfg_options=options or None, launcher='none',
                                 work_dir=work_dir))


@pytest.fixture(scope='module')
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp('r2') / 'synthcity'
    generate_synthcity(str(root), num_train=8, num_val=2, height=64, width=128, seed=2,
                       progress=False)
    return root


@pytest.fixture
def data(synth, tmp_path):
    return shutil.copytree(synth, tmp_path / 'data')


def build_dataset(root, **kwargs):
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(dict(type='CityscapesDepthDataset', data_root=str(root),
                                   data_prefix=dict(PREFIX), pipeline=[], **kwargs))


# ------------------------------------------------------------- checkpoints of another architecture
def model_runner(config, tmp_path, **options):
    cfg = cfg_of(config, str(tmp_path / 'wd'), **options)
    return build_runner(cfg, config)


def save_model(runner, path):
    torch.save({'meta': {}, 'state_dict': runner.model.state_dict()}, str(path))
    return str(path)


@pytest.fixture(scope='module')
def joint_ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ck')
    torch.manual_seed(0)
    return save_model(model_runner(SUP, tmp), tmp / 'joint.pth')


@pytest.mark.parametrize('config,expect', [
    ('ccam_r18_synthcity_seg-only.py', ['unexpected key(s)']),
    ('ccam_r50_cityscapes.py', ['of another shape', ': checkpoint (', 'vs model (']),
    ('ccam_r18-d8_cityscapes.py', ['does not fit']),
])
def test_checkpoint_of_another_architecture_is_refused(config, expect, joint_ckpt, tmp_path):
    runner = model_runner(osp.join(ROOT, 'configs', 'ccam', config), tmp_path)
    with pytest.raises(IncompatibleCheckpointError) as info:
        runner.load_checkpoint(joint_ckpt)
    text = str(info.value)
    for part in [repr(joint_ckpt), 'does not fit the model', 'checkpoint_mismatch=warn'] + expect:
        assert part in text, (part, text)


def test_seg_only_checkpoint_into_joint_config_counts_missing_keys(tmp_path):
    seg_only = model_runner(osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity_seg-only.py'),
                            tmp_path)
    ckpt = save_model(seg_only, tmp_path / 'seg.pth')
    joint = model_runner(SUP, tmp_path)
    missing = [k for k in joint.model.state_dict() if k not in seg_only.model.state_dict()]
    assert any(k.startswith('depth_head.') for k in missing)
    with pytest.raises(IncompatibleCheckpointError,
                       match=rf'{len(missing)} missing key\(s\) \({missing[0]}'):
        joint.load_checkpoint(ckpt)


def test_checkpoint_mismatch_warn_is_the_opt_out(joint_ckpt, tmp_path):
    runner = model_runner(osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity_seg-only.py'),
                          tmp_path, checkpoint_mismatch='warn')
    runner.load_checkpoint(joint_ckpt)
    saved = torch.load(joint_ckpt)['state_dict']
    key = 'backbone.stem.0.weight'
    assert torch.equal(runner.model.state_dict()[key], saved[key])  # what fits was loaded


def test_no_ccam_checkpoint_into_ccam_config_loads_with_warning(tmp_path, caplog):
    no_ccam = model_runner(osp.join(ROOT, 'configs/ccam/ccam_r18_synthcity_no-ccam.py'),
                           tmp_path)
    ckpt = save_model(no_ccam, tmp_path / 'no_ccam.pth')
    runner = model_runner(SUP, tmp_path)
    runner.load_checkpoint(ckpt)
    state, source = runner.model.state_dict(), no_ccam.model.state_dict()
    gammas = [k for k in state if k not in source]
    assert gammas and all('gamma' in k for k in gammas)
    assert all(float(state[k].abs().sum()) == 0 for k in gammas)  # attention stays off
    assert all(torch.equal(state[k], source[k]) for k in source)


# ------------------------------------------------------------- semi split: one split, both subsets
def test_top_level_labeled_ratio_is_refused_naming_the_keys():
    with pytest.raises(ConfigKeyError) as info:
        cfg_of(SEMI, labeled_ratio=0.5)
    text = str(info.value)
    assert "'labeled_ratio' is not a key" in text
    assert ('train_dataloader.dataset.datasets.0.labeled_ratio, '
            'train_dataloader.dataset.datasets.1.labeled_ratio') in text


def test_top_level_variable_override_is_refused():
    with pytest.raises(ConfigKeyError, match=r"'split' is a variable .* copied into: "
                       r'train_dataloader\.dataset\.datasets\.0\.labeled_ratio, '
                       r'train_dataloader\.dataset\.datasets\.0\.split_seed, '
                       r'train_dataloader\.dataset\.datasets\.1\.labeled_ratio'):
        cfg_of(SEMI, split=dict(labeled_ratio=0.5, split_seed=0))
    with pytest.raises(ConfigKeyError, match=r"'max_iters' is a variable .*train_cfg\.max_iters"):
        cfg_of(SUP, max_iters=10)


def test_both_subsets_follow_one_split(synth):
    cfg = cfg_of(SEMI, **{f'train_dataloader.dataset.datasets.{i}.labeled_ratio': 0.5
                          for i in (0, 1)})
    with DefaultScope.overwrite_default_scope('mmseg'):
        for d in cfg.train_dataloader.dataset.datasets:
            d.data_root = str(synth)
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        DATA_SAMPLERS.build(dict(cfg.train_dataloader.sampler, dataset=dataset))
    labeled, unlabeled = ({d.get_data_info(i)['img_path'] for i in range(len(d))}
                          for d in dataset.datasets)
    assert len(labeled) == len(unlabeled) == 4 and not labeled & unlabeled


def test_ratio_on_the_labeled_subset_only_is_refused(synth):
    cfg = cfg_of(SEMI, **{'train_dataloader.dataset.datasets.0.labeled_ratio': 0.5})
    with DefaultScope.overwrite_default_scope('mmseg'):
        for d in cfg.train_dataloader.dataset.datasets:
            d.data_root = str(synth)
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        with pytest.raises(ValueError) as info:
            DATA_SAMPLERS.build(dict(cfg.train_dataloader.sampler, dataset=dataset))
    text = str(info.value)
    # 8 frames: 4 labeled at 0.5, 7 unlabeled at 0.125 -> 3 shared
    assert 'labeled (source 0, labeled_ratio=0.5)' in text
    assert 'unlabeled (source 1, labeled_ratio=0.125)' in text and 'share 3 frame(s)' in text


def test_unlabeled_pipeline_is_geometric_only():
    for config in [SEMI] + [osp.join(ROOT, 'configs/ccam', f'ccam_r50_cityscapes_semi-{s}.py')
                            for s in ('1-8', '1-4', '1-30')]:
        labeled, unlabeled = Config.fromfile(config).train_dataloader.dataset.datasets
        types = [t['type'] for t in labeled.pipeline]
        assert 'PhotoMetricDistortion' in types
        assert [t['type'] for t in unlabeled.pipeline] == [
            t for t in types if t != 'PhotoMetricDistortion']
        assert labeled.pipeline[-1]['meta_keys'][-1] == 'has_seg_label'


# ------------------------------------------------------- atomic checkpoint save and max_keep_ckpts
KILL_IN_SECOND_SAVE = textwrap.dedent('''
    import os, sys
    from mmengine.fileio import LocalBackend
    calls = []
    put = LocalBackend.put
    def put_then_die(self, obj, filepath):
        calls.append(filepath)
        if len(calls) == 2:
            with open(filepath, 'wb') as f:
                f.write(obj[:100])
            os._exit(137)  # SIGKILL-like: no clean-up runs
        return put(self, obj, filepath)
    LocalBackend.put = put_then_die
    sys.argv = ['tools/train.py'] + sys.argv[1:]
    import runpy
    runpy.run_path('tools/train.py', run_name='__main__')
''')


def tiny_cli_options(root):
    return [f'{s}_dataloader.dataset.data_root={root}' for s in ('train', 'val', 'test')] + [
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'train_cfg.val_interval=100',
        'train_dataloader.dataset.pipeline.3.scale=(128,64)',
        'train_dataloader.dataset.pipeline.4.crop_size=(64,64)',
        'model.data_preprocessor.size=(64,64)']


def test_kill_during_save_with_max_keep_ckpts_1_keeps_the_previous_checkpoint(synth, tmp_path):
    work = tmp_path / 'wd'
    proc = run_python(['-c', KILL_IN_SECOND_SAVE, SUP, '--work-dir', str(work), '--cfg-options',
                       *tiny_cli_options(synth), 'train_cfg.max_iters=2',
                       'default_hooks.checkpoint.interval=1',
                       'default_hooks.checkpoint.max_keep_ckpts=1'], check=False)
    assert proc.returncode == 137, proc.stderr[-2000:]
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == ['iter_1.pth']
    assert (work / 'last_checkpoint').read_text().endswith('iter_1.pth')
    assert torch.load(str(work / 'iter_1.pth'))['meta']['iter'] == 1


def test_max_keep_ckpts_still_removes_old_checkpoints_after_saving(tmp_path):
    from mmseg_ccam.engine.hooks.atomic_checkpoint_hook import AtomicCheckpointHook

    order = []

    class Runner:
        work_dir = str(tmp_path)

        class message_hub:  # noqa: N801
            @staticmethod
            def update_info(*args):
                pass

        @staticmethod
        def save_checkpoint(out_dir, filename, *args, **kwargs):
            order.append(('save', filename))
            open(osp.join(out_dir, filename), 'w').close()

    hook = AtomicCheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1,
                                out_dir=str(tmp_path))
    hook.out_dir, hook.filename_tmpl = str(tmp_path), 'iter_{}.pth'
    hook.file_backend = LocalBackend()
    hook.keep_ckpt_ids = deque(maxlen=1)  # set by before_train in a run
    orig_remove = LocalBackend.remove
    LocalBackend.remove = lambda self, p: (order.append(('remove', osp.basename(p))),
                                          orig_remove(self, p))[1]
    try:
        for step in (1, 2, 3):
            hook._save_checkpoint_with_step(Runner, step, meta={})
    finally:
        LocalBackend.remove = orig_remove
    assert order == [('save', 'iter_1.pth'), ('save', 'iter_2.pth'), ('remove', 'iter_1.pth'),
                     ('save', 'iter_3.pth'), ('remove', 'iter_2.pth')]
    assert sorted(os.listdir(tmp_path)) == ['iter_3.pth', 'last_checkpoint']


def test_runner_builds_the_atomic_checkpoint_hook_for_checkpoint_hook(tmp_path):
    # The shipped configs name AtomicCheckpointHook; a config that names MMEngine's hook:
    runner = model_runner(SUP, tmp_path, **{'default_hooks.checkpoint.type': 'CheckpointHook'})
    names = [type(h).__name__ for h in runner.hooks]
    assert 'AtomicCheckpointHook' in names and 'CheckpointHook' not in names
    assert 'RandomStateHook' in names
    # ... not silently: the log says so and how to name the atomic hook in the config.
    logs = glob.glob(osp.join(runner.log_dir, '*.log'))
    text = ''.join(open(f, encoding='utf-8').read() for f in logs)
    assert "default_hooks.checkpoint.type='AtomicCheckpointHook'" in text


def test_explicit_atomic_checkpoint_hook_builds_without_the_warning(tmp_path):
    runner = model_runner(SUP, tmp_path, **{'default_hooks.checkpoint.type':
                                            'AtomicCheckpointHook'})
    assert 'AtomicCheckpointHook' in [type(h).__name__ for h in runner.hooks]
    logs = glob.glob(osp.join(runner.log_dir, '*.log'))
    text = ''.join(open(f, encoding='utf-8').read() for f in logs)
    assert 'AtomicCheckpointRunner uses AtomicCheckpointHook' not in text


# ----------------------------------------------------------------- --resume with nothing to resume
def test_resume_in_empty_or_mistyped_work_dir_is_an_error(tmp_path):
    (tmp_path / 'run_a').mkdir()
    (tmp_path / 'run_a' / 'last_checkpoint').write_text(str(tmp_path / 'run_a' / 'iter_4.pth'))
    with pytest.raises(NothingToResumeError, match=r"run_b' does not exist.*"
                       r"can be resumed: \['run_a'\].*drop --resume"):
        find_resume_checkpoint(str(tmp_path / 'run_b'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(NothingToResumeError, match='holds no checkpoint'):
        find_resume_checkpoint(str(tmp_path / 'empty'))
    (tmp_path / 'run_a' / 'iter_4.pth').write_bytes(b'w')  # named files must exist (round 3)
    assert find_resume_checkpoint(str(tmp_path / 'run_a')).endswith('iter_4.pth')


def test_train_py_resume_in_empty_work_dir_exits_with_the_message(synth, tmp_path,
                                                                   monkeypatch):
    train = load_script('tools/train.py')
    monkeypatch.setattr(sys, 'argv', [
        'train.py', SUP, '--work-dir', str(tmp_path / 'nothing'), '--resume', '--cfg-options',
        *tiny_cli_options(synth), 'train_cfg.max_iters=1'])
    with pytest.raises(NothingToResumeError, match='nothing to resume'):
        train.main()
    assert not osp.exists(tmp_path / 'nothing' / 'iter_1.pth')


# ------------------------------------------------------------------- one training run per work dir
def test_second_run_in_the_same_work_dir_is_refused_naming_the_first(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, '-c', textwrap.dedent(f'''
            import sys, time
            sys.path.insert(0, {osp.join(ROOT, 'tests')!r})
            from conftest import load_script
            # the module alone (stdlib only), not the package: a faster start
            module = load_script('mmseg_ccam/utils/work_dir.py')
            module.WorkDirLock({str(tmp_path)!r}).acquire()
            print('locked', flush=True)
            time.sleep(60)
        ''')], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(WorkDirLockedError) as info:
            WorkDirLock(str(tmp_path)).acquire()
        assert f'pid {holder.pid}' in str(info.value) and 'own --work-dir' in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the killed holder's lock: the next run may start.
    lock = WorkDirLock(str(tmp_path)).acquire()
    assert f'pid {os.getpid()}' in (tmp_path / '.train.lock').read_text()
    lock.release()


# -------------------------------------------------------------------------- misspelled config keys
# (misspelled --cfg-options keys: tests/test_bad_input_model.py)
def test_misspelled_key_in_a_config_file_is_named(tmp_path):
    path = tmp_path / 'typo.py'
    path.write_text(f"_base_ = [{SUP!r}]\n"
                    "default_hooks = dict(checkpoint=dict(intervall=5))\n"
                    "randomness = dict(seeed=1)\n")
    with pytest.raises(ConfigKeyError) as info:
        cfg_of(str(path))
    text = str(info.value)
    assert "default_hooks.checkpoint has the key 'intervall'" in text
    assert "Did you mean 'default_hooks.checkpoint.interval'?" in text
    assert "randomness has the key 'seeed'" in text and "'randomness.seed'" in text


def test_every_shipped_config_passes_the_key_check():
    configs = [osp.join(d, f) for d, _, fs in os.walk(osp.join(ROOT, 'configs', 'ccam'))
               for f in fs if f.endswith('.py') and 'convnext' not in f]
    assert len(configs) > 20
    for config in configs:  # no false positive (components are registered by this process)
        cfg = Config.fromfile(config, import_custom_modules=False)
        check_config_keys(cfg, config)
        check_config_values(cfg, config)


# --------------------------------------------------------------------- --out JSON with NaN metrics
def test_out_json_writes_null_for_nan(tmp_path):
    flat = flatten_metrics({'mIoU': 40.0, 'IoU.road': 80.0, 'IoU.train': float('nan'),
                            'depth/abs_rel': 0.2})
    path = str(tmp_path / 'm.json')
    write_metrics_json(flat, path)

    def refuse(constant):
        raise ValueError(f'non-standard JSON constant {constant}')

    loaded = json.loads(open(path).read(), parse_constant=refuse)
    assert loaded['IoU.train'] is None and loaded['IoU.road'] == 80.0
    assert loaded['abs_rel'] == 0.2 and loaded['rmse'] is None
    assert math.isnan(flat['IoU.train'])  # the in-memory value (and the table) is unchanged


# ------------------------------------------------------------------- frames whose image is missing
def test_frame_without_image_warns_with_count_and_example(data):
    city = sorted(os.listdir(data / 'leftImg8bit' / 'train'))[0]
    image = sorted(os.listdir(data / 'leftImg8bit' / 'train' / city))[0]
    os.remove(data / 'leftImg8bit' / 'train' / city / image)
    with pytest.warns(UserWarning) as record:
        ds = build_dataset(data)
    assert len(ds) == 7
    text = ' '.join(str(w.message) for w in record)
    assert '3 label/disparity/camera file(s)' in text and 'have no image' in text
    assert image in text and 'tools/check_dataset.py' in text


# --------------------------- values of the wrong type or range, files that are not what they claim
@pytest.mark.parametrize('kwargs,expect', [
    (dict(labeled_ratio='half'), "labeled_ratio='half' must be a number in (0, 1]"),
    (dict(num_labeled='10'), "num_labeled='10' must be a positive integer"),
])
def test_split_values_of_the_wrong_type(synth, kwargs, expect):
    with pytest.raises(ValueError) as info:
        build_dataset(synth, **kwargs)
    assert expect in str(info.value)


def test_symlink_loop_in_a_data_folder(data, capsys):
    city = sorted(os.listdir(data / 'leftImg8bit' / 'train'))[0]
    link = data / 'leftImg8bit' / 'train' / city / 'loop'
    os.symlink('..', link)
    with pytest.raises(ValueError, match=rf'symlink {link} -> \.\. points back to .* symlink '
                       'loop.*Remove the link'):
        build_dataset(data)
    check_dataset = load_script('tools/check_dataset.py')
    assert check_dataset.main([str(data), '--splits', 'train', '--workers', '1']) == 1
    out = capsys.readouterr().out
    assert 'symlink loop' in out and 'missing file' not in out


def test_lr_that_overflows_float32(tmp_path):
    with pytest.raises(ValueError, match=r'optim_wrapper\.optimizer\.lr=1e\+39 must be a '
                       r'number in \(0, 3\.4e\+38\]'):
        cfg_of(SUP, **{'optim_wrapper.optimizer.lr': 1e39})


@pytest.mark.parametrize('content,expect', [
    (b'{"mIoU": 40.0}', 'is a JSON file (e.g. the metrics written by tools/test.py --out)'),
    (b'', 'is empty (0 bytes)'),
    (b'hello', 'is a text file'),
])
def test_file_that_is_not_a_checkpoint(tmp_path, content, expect):
    path = tmp_path / 'ckpt.pth'
    path.write_bytes(content)
    with pytest.raises(ValueError, match='Checkpoint') as info:
        check_checkpoint_file(str(path))
    assert expect in str(info.value) and str(path) in str(info.value)
    runner = model_runner(SUP, tmp_path)
    assert isinstance(runner, AtomicCheckpointRunner)
    with pytest.raises(ValueError, match='not a PyTorch checkpoint|is empty'):
        runner.load_checkpoint(str(path))


@pytest.mark.parametrize('argv,expect', [
    (['--num-classes', '0'], 'argument --num-classes: 0 must be >= 1'),
    (['--max-depth', '-5'], 'argument --max-depth: -5.0 must be > 0 m'),
    (['--max-depth', 'nan'], 'argument --max-depth: nan must be > 0 m'),
])
def test_check_dataset_bad_arguments(argv, expect, capsys, synth):
    check_dataset = load_script('tools/check_dataset.py')
    with pytest.raises(SystemExit) as info:
        check_dataset.parse_args([str(synth), *argv])
    assert info.value.code == 2 and expect in capsys.readouterr().err


def test_shorter_max_iters_rescales_the_schedule():
    cfg = cfg_of(SUP, **{'train_cfg.max_iters': 20})
    phases = [(s.type, s.begin, s.end) for s in cfg.param_scheduler]
    assert phases == [('LinearLR', 0, 1), ('PolyLR', 1, 20)]  # warm-up 50/1000 -> 1/20
    assert fit_schedule_to_max_iters(cfg.param_scheduler, 20, 20) is None


def test_scheduler_phase_ending_before_it_begins_names_the_keys():
    with pytest.raises(ValueError) as info:
        cfg_of(SUP, **{'train_cfg.max_iters': 3, 'param_scheduler.1.end': 3})
    text = str(info.value)
    assert 'param_scheduler.1 (PolyLR) has begin=50 >= end=3' in text
    assert 'set only train_cfg.max_iters=N' in text


def test_persistent_workers_without_workers():
    with pytest.raises(ValueError) as info:
        cfg_of(SUP, **{'train_dataloader.num_workers': 0})
    text = str(info.value)
    assert 'train_dataloader.persistent_workers=True needs worker processes' in text
    assert 'train_dataloader.num_workers=0 train_dataloader.persistent_workers=False' in text
    cfg_of(SUP, **{'train_dataloader.num_workers': 0,
                   'train_dataloader.persistent_workers': False})  # the fix works


# --------------------------------------------------- package layering and import-time side effects
def test_allow_list_is_an_explicit_call():
    import mmseg_ccam
    engine = osp.join(osp.dirname(mmseg_ccam.__file__), 'engine')
    for name in ('__init__.py', 'safe_globals.py', 'checkpoint_loading.py', 'atomic_runner.py'):
        source = open(osp.join(engine, name)).read()
        assert '\nregister_mmengine_safe_globals()' not in source, name  # no import-time call
    init = open(mmseg_ccam.__file__).read()
    assert 'engine.register_mmengine_safe_globals()' in init


def test_utils_do_not_import_upper_layers():
    pkg = osp.join(ROOT, 'mmseg_ccam', 'utils')
    for name in os.listdir(pkg):
        if name.endswith('.py'):
            text = open(osp.join(pkg, name)).read()
            for layer in ('models', 'datasets', 'engine', 'apis', 'evaluation'):
                assert f'mmseg_ccam.{layer}' not in text, (name, layer)
    # a fresh interpreter imports the bottom layer and the engine without a cycle
    run_python(['-c', 'import mmseg_ccam.utils.config_check, mmseg_ccam.engine'])
