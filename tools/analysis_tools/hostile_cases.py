"""Re-run the hostile-user cases of reliability round 3 (issue #26) and print a verdict table.

Each case does what a careless or hostile user would do on a tiny SynthCity (8 train + 4 val
frames at 64 x 128, one torch thread) and is judged:

- ``correct``: the tool did the right thing (checked against an independent value);
- ``clear``: it refused with an error that names the key / file / option and what to do
  (every expected fragment is in the message);
- ``unclear``: it failed, but the message lacks what a user needs;
- ``silent wrong``: it finished without an error and the result is wrong or lost.

Checkpoints are random-weight models saved from the configs (loading rules do not depend on
training). ``tests/test_reliability_round3.py`` runs every case and asserts its expected
verdict, so the next round re-runs the same list.

Example::

    python tools/analysis_tools/hostile_cases.py            # all cases
    python tools/analysis_tools/hostile_cases.py --only 1 8  # cases of items 1 and 8
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import textwrap
import traceback
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs', 'ccam')
SUP = osp.join(CONFIGS, 'ccam_r18_synthcity.py')
SEMI = osp.join(CONFIGS, 'ccam_r18_synthcity_semi.py')
SEG_ONLY = osp.join(CONFIGS, 'ccam_r18_synthcity_seg-only.py')
VERDICTS = ('correct', 'clear', 'unclear', 'silent wrong')


@dataclass
class Case:
    """One hostile case.

    Attributes:
        name (str): Short identifier.
        item (str): Issue #26 item (``'1'`` .. ``'14'``, ``'U'`` for the unclear errors).
        expected (str): ``'correct'`` (``run`` returns True when right) or ``'clear'``
            (``run`` must raise / exit with every string of ``fragments`` in its message).
        run (callable): ``run(ctx) -> Optional[bool]``.
        fragments (list[str]): What a clear message names.
    """
    name: str
    item: str
    expected: str
    run: Callable[['Context'], Optional[bool]]
    fragments: Sequence[str] = field(default_factory=tuple)


class Context:
    """Shared, lazily built inputs: a tiny SynthCity, random-weight checkpoints, a scratch
    folder (removed by :meth:`close`)."""

    def __init__(self, tmp: Optional[str] = None) -> None:
        self._own = tmp is None
        self.tmp = tmp or tempfile.mkdtemp(prefix='hostile_')
        self._cache: Dict[str, object] = {}

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts: str) -> str:
        return osp.join(self.tmp, *parts)

    def fresh(self, name: str) -> str:
        """An empty scratch folder of that name."""
        path = self.path(name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    @property
    def synth(self) -> str:
        if 'synth' not in self._cache:
            from mmseg_ccam.datasets.synthcity import generate_synthcity
            root = self.path('synthcity')
            generate_synthcity(root, num_train=8, num_val=4, height=64, width=128, seed=0,
                               progress=False)
            self._cache['synth'] = root
        return self._cache['synth']

    def checkpoint(self, config: str, name: str) -> str:
        """A checkpoint of ``config``'s model with random weights (seed 0)."""
        if name not in self._cache:
            import torch

            from mmseg_ccam.apis import init_model
            torch.manual_seed(0)
            model = init_model(config)
            path = self.path(f'{name}.pth')
            torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
            self._cache[name] = path
        return self._cache[name]

    @property
    def joint_ckpt(self) -> str:
        return self.checkpoint(SUP, 'joint')

    def config(self, name: str, text: str) -> str:
        """Write a config file into the scratch folder (``{configs}`` is the configs dir)."""
        path = self.path(name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(textwrap.dedent(text).replace('{configs}', CONFIGS))
        return path


def tool(relpath: str):
    """A script under ``tools/`` (or ``demo/``) as a module."""
    import importlib.util
    path = osp.join(ROOT, relpath)
    name = '_hostile_' + relpath.replace('/', '_').replace('.py', '')
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def call_main(relpath: str, argv: List[str]):
    """``main()`` of a tool whose ``parse_args`` reads ``sys.argv``."""
    module = tool(relpath)
    old = sys.argv
    sys.argv = [relpath] + list(argv)
    try:
        return module.main()
    finally:
        sys.argv = old


def shell(script: str, args: List[str], cwd: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON='echo')  # print the command instead of starting torchrun
    return subprocess.run(['bash', osp.join(ROOT, 'tools', script)] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)


class ShellError(RuntimeError):
    """A shell script's non-zero exit, with its stderr as the message."""


def check_shell(result: subprocess.CompletedProcess) -> None:
    if result.returncode != 0:
        raise ShellError(result.stderr.strip() or f'exit code {result.returncode}')


def load_cfg(config: str, **options):
    from argparse import Namespace

    from mmseg_ccam.utils.launch import load_config
    return load_config(Namespace(config=config, cfg_options=options or None, launcher='none',
                                 work_dir='/tmp/unused'))


# ---------------------------------------------------------------------------- the cases
def _init(ctx, ckpt, config=SUP, **options):
    from mmseg_ccam.apis import init_model
    init_model(config, ckpt, cfg_options=options or None)


def case_demo_seg_only_ckpt(ctx):
    _init(ctx, ctx.checkpoint(SEG_ONLY, 'seg_only'))


def case_api_backbone_depth_34(ctx):
    _init(ctx, ctx.joint_ckpt, **{'model.backbone.depth': 34})


def case_api_plain_mmseg_ckpt(ctx):
    import torch
    state = torch.load(ctx.joint_ckpt)['state_dict']
    plain = {k: v for k, v in state.items() if not k.startswith(('depth_head.', 'neck.'))}
    path = ctx.path('plain_mmseg.pth')
    torch.save({'meta': {}, 'state_dict': plain}, path)
    _init(ctx, path)


def case_api_num_classes_10(ctx):
    _init(ctx, ctx.joint_ckpt, **{'model.decode_head.num_classes': 10})


def case_ablation_copied_run_folder(ctx):
    ab = tool('tools/analysis_tools/ablation.py')
    work, original = _copy_run(ctx, 'ablation_copy')
    copy = shutil.copytree(original, osp.join(work, 'copy'))
    os.remove(osp.join(copy, 'iter_2.pth'))
    return ab.last_checkpoint(copy) is None and \
        ab.last_checkpoint(original) == osp.join(original, 'iter_2.pth')


def case_api_neck_attention_none(ctx):
    _init(ctx, ctx.joint_ckpt, **{'model.neck.attention': None})


def case_export_foreign_ckpt(ctx):
    tool('tools/deployment/pytorch2onnx.py').main(
        [SUP, ctx.checkpoint(SEG_ONLY, 'seg_only'), '--shape', '64', '128', '--out',
         ctx.path('x.onnx'), '--skip-check'])


def case_analysis_tool_foreign_ckpt(ctx):
    from mmseg_ccam.analysis.model_setup import build_model_quietly
    build_model_quietly(load_cfg(SUP), ctx.checkpoint(SEG_ONLY, 'seg_only'))


def case_mismatch_warn_opt_out(ctx):
    import torch

    from mmseg_ccam.apis import init_model
    model = init_model(SUP, ctx.checkpoint(SEG_ONLY, 'seg_only'),
                       cfg_options={'checkpoint_mismatch': 'warn'})
    saved = torch.load(ctx.checkpoint(SEG_ONLY, 'seg_only'))['state_dict']
    key = 'backbone.stem.0.weight'
    return torch.equal(model.state_dict()[key], saved[key])


def case_same_architecture_loads(ctx):
    import torch

    from mmseg_ccam.apis import init_model
    model = init_model(SUP, ctx.joint_ckpt)
    saved = torch.load(ctx.joint_ckpt)['state_dict']
    return all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())


def case_export_semi_selects_teacher(ctx):
    import torch

    from mmseg_ccam.apis import init_model
    from mmseg_ccam.deployment import SegDepthTensorWrapper, select_export_model
    ckpt = ctx.checkpoint(SEMI, 'semi')
    state = torch.load(ckpt)['state_dict']
    state = {k: (v + 1 if k.startswith('teacher.') and v.is_floating_point() else v)
             for k, v in state.items()}  # teacher != student
    torch.save({'meta': {}, 'state_dict': state}, ckpt + '.t.pth')
    model = init_model(SEMI, ckpt + '.t.pth')
    chosen, which = select_export_model(model, 'teacher')
    names = SegDepthTensorWrapper(chosen).output_names
    key = 'decode_head.conv_seg.weight'
    student, _ = select_export_model(model, 'student')
    return ('teacher' in which and names == ('seg', 'depth')
            and torch.equal(chosen.state_dict()[key], state['teacher.' + key])
            and torch.equal(student.state_dict()[key], state['student.' + key]))


def case_json_as_checkpoint(ctx):
    path = ctx.path('metrics.json')
    with open(path, 'w') as f:
        json.dump({'mIoU': 1.0}, f)
    _init(ctx, path)


def case_directory_as_checkpoint(ctx):
    _init(ctx, ctx.fresh('ckpt_dir'))


def case_derived_data_root(ctx):
    load_cfg(ctx.config('derived_root.py', """
        _base_ = ['{configs}/ccam_r18_synthcity.py']
        data_root = '/nonexistent/'
        """))


def case_derived_max_iters(ctx):
    load_cfg(ctx.config('derived_iters.py', """
        _base_ = ['{configs}/ccam_r18_synthcity.py']
        max_iters = 2
        """))


def case_derived_unread_variable(ctx):
    load_cfg(ctx.config('derived_ratio.py', """
        _base_ = ['{configs}/ccam_r18_synthcity_semi.py']
        labeled_ratio = 0.5
        """))


def case_derived_variable_and_keys(ctx):
    cfg = load_cfg(ctx.config('derived_ok.py', """
        _base_ = ['{configs}/ccam_r18_synthcity.py']
        data_root = '/elsewhere/'
        train_dataloader = dict(dataset=dict(data_root=data_root))
        val_dataloader = dict(dataset=dict(data_root=data_root))
        test_dataloader = val_dataloader
        """))
    return all(cfg[k].dataset.data_root == '/elsewhere/'
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader'))


def _protocol(ctx, name='protocol.json', metrics=('mIoU', )):
    cfg = ctx.path('fake_cfg.py')
    with open(cfg, 'w') as f:
        f.write('# fake\n')
    proto = dict(arms={'a': dict(config=cfg, seeds=[0, 1]), 'b': dict(config=cfg, seeds=[0, 1])},
                 comparisons=[dict(name='b vs a', treatment='b', control='a',
                                   metrics=list(metrics))])
    path = ctx.path(name)
    with open(path, 'w') as f:
        json.dump(proto, f)
    return path


def _evidence(ctx, folder):
    for arm, base in (('a', 50.0), ('b', 52.0)):
        for seed in (0, 1):
            path = osp.join(folder, 'runs', arm, f'seed{seed}.json')
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, 'w') as f:
                json.dump({'arm': arm, 'seed': seed,
                           'metrics': {'test': {'mIoU': base + seed}}}, f)


def _report_only(ctx, evidence_dir):
    ab = tool('tools/analysis_tools/ablation.py')
    published = ctx.path('published')
    _evidence(ctx, published)
    proto = _protocol(ctx)
    ab.run_protocol(proto, published, report_only=True)  # the published results.md
    with open(osp.join(published, 'results.md')) as f:
        before = f.read()
    error = None
    try:
        ab.run_protocol(proto, evidence_dir, report_only=True)
    except Exception as exc:  # judged below: only a refusal that erased nothing is clear
        error = exc
    with open(osp.join(published, 'results.md')) as f:
        after = f.read()
    target = osp.join(evidence_dir, 'results.md')
    if after != before or (osp.isfile(target) and 'insufficient' in open(target).read()):
        return False
    if error is not None:
        raise error
    return True


def case_report_empty_evidence(ctx):
    return _report_only(ctx, ctx.fresh('empty_evidence'))


def case_report_missing_evidence(ctx):
    missing = ctx.path('no_such_evidence')
    shutil.rmtree(missing, ignore_errors=True)
    try:
        return _report_only(ctx, missing)
    finally:
        if osp.exists(missing):  # created by the tool: part of the failure
            raise AssertionError(f'{missing} was created')


def case_report_evidence_too_deep(ctx):
    _report_only(ctx, ctx.path('published', 'runs'))


def case_ablation_rerun_other_options(ctx):
    ab = tool('tools/analysis_tools/ablation.py')
    work = ctx.fresh('ablation_work')
    cfg = ctx.path('fake_cfg.py')
    with open(cfg, 'w') as f:
        f.write('# fake\n')
    fake = ctx.config('fake_tool.py', """
        import json, sys
        args = sys.argv[1:]
        if '--out' in args:
            json.dump({'mIoU': 10.0 * len(args)}, open(args[args.index('--out') + 1], 'w'))
        else:
            wd = args[args.index('--work-dir') + 1]
            open(wd + '/iter_1.pth', 'w').write('w')
            open(wd + '/last_checkpoint', 'w').write(wd + '/iter_1.pth')
        """)
    train = f'{sys.executable} {fake} {{config}} --work-dir {{work_dir}} {{cfg_options}}'
    test = f'{sys.executable} {fake} {{config}} --out {{metrics}} {{cfg_options}}'
    ab.run_ablation([cfg], [0], work, ['train_cfg.max_iters=10'], train_cmd=train,
                    test_cmd=test)
    ab.run_ablation([cfg], [0], work, ['train_cfg.max_iters=500'], train_cmd=train,
                    test_cmd=test)


def case_protocol_record_other_options(ctx):
    ab = tool('tools/analysis_tools/ablation.py')
    evidence = ctx.fresh('proto_rerun')
    proto = _protocol(ctx, 'proto_rerun.json')
    _evidence(ctx, evidence)
    path = osp.join(evidence, 'runs', 'a', 'seed0.json')
    with open(path) as f:
        record = json.load(f)
    record['cfg_options'] = ['train_cfg.max_iters=5']
    with open(path, 'w') as f:
        json.dump(record, f)
    ab.run_protocol(proto, evidence, work_dir=ctx.path('proto_work'),
                    execute=lambda cmd: 1)


def case_protocol_unknown_metric(ctx):
    ab = tool('tools/analysis_tools/ablation.py')
    evidence = ctx.fresh('proto_metric')
    _evidence(ctx, evidence)
    ab.run_protocol(_protocol(ctx, 'proto_miou.json', metrics=('miou', )), evidence,
                    report_only=True)


def case_evidence_json_strict(ctx):
    import glob

    def refuse(token):
        raise ValueError(token)

    files = glob.glob(osp.join(ROOT, 'docs', 'evidence', 'runs', '*', '*.json'))
    for path in files:
        with open(path) as f:
            json.loads(f.read(), parse_constant=refuse)
    return len(files) >= 50


def case_json_writer_strict(ctx):
    ab = tool('tools/analysis_tools/ablation.py')
    text = ab.dump_json({'IoU.train': float('nan'), 'x': [float('inf'), 1.5]})
    return json.loads(text) == {'IoU.train': None, 'x': [None, 1.5]}


def _copy_run(ctx, name):
    work = ctx.fresh(name)
    original = osp.join(work, 'original')
    os.makedirs(original)
    for it in (1, 2):
        with open(osp.join(original, f'iter_{it}.pth'), 'w') as f:
            f.write('w')
    with open(osp.join(original, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(original, 'iter_2.pth'))
    return work, original


def case_copied_work_dir_without_its_file(ctx):
    from mmseg_ccam.utils.work_dir import find_resume_checkpoint
    work, original = _copy_run(ctx, 'copied')
    copy = shutil.copytree(original, osp.join(work, 'copy'))
    os.remove(osp.join(copy, 'iter_2.pth'))
    find_resume_checkpoint(copy)


def case_copied_work_dir_uses_its_own_file(ctx):
    from mmseg_ccam.utils.work_dir import find_resume_checkpoint
    work, original = _copy_run(ctx, 'copied2')
    copy = shutil.copytree(original, osp.join(work, 'copy'))
    with contextlib.redirect_stderr(io.StringIO()):
        found = find_resume_checkpoint(copy)
    return osp.realpath(found) == osp.realpath(osp.join(copy, 'iter_2.pth'))


def case_moved_work_dir_resumes(ctx):
    from mmseg_ccam.utils.work_dir import find_resume_checkpoint
    work, original = _copy_run(ctx, 'moved')
    moved = osp.join(work, 'moved')
    shutil.move(original, moved)
    with contextlib.redirect_stderr(io.StringIO()):
        found = find_resume_checkpoint(moved)
    return osp.realpath(found) == osp.realpath(osp.join(moved, 'iter_2.pth'))


def case_semi_ratio_on_unlabeled_only(ctx):
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATA_SAMPLERS, DATASETS
    cfg = load_cfg(SEMI, **{'train_dataloader.dataset.datasets.1.labeled_ratio': 0.5})
    with DefaultScope.overwrite_default_scope('mmseg'):
        for d in cfg.train_dataloader.dataset.datasets:
            d.data_root = ctx.synth
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
        DATA_SAMPLERS.build(dict(cfg.train_dataloader.sampler, dataset=dataset))


def case_tta_seg_only_wrapper(ctx):
    from mmseg_ccam.models.segmentors import tta_config
    cfg = load_cfg(SUP, **{'tta_model.type': 'SegTTAModel'})
    tta_config(cfg)


def _metric_sample(pred_depth=None, logits=None):
    import torch
    gt = torch.full((1, 8, 8), 10.0)
    sample = dict(img_path='frame.png', gt_depth_map=dict(data=gt),
                  pred_depth_map=dict(data=gt.clone() if pred_depth is None else pred_depth),
                  gt_sem_seg=dict(data=torch.zeros(1, 8, 8, dtype=torch.long)),
                  pred_sem_seg=dict(data=torch.zeros(1, 8, 8, dtype=torch.long)))
    if logits is not None:
        sample['seg_logits'] = dict(data=logits)
    return sample


def case_nan_depth_prediction(ctx):
    import torch

    from mmseg_ccam.evaluation.metrics.depth_metric import StreamingDepthMetric
    metric = StreamingDepthMetric()
    metric.process({}, [_metric_sample(pred_depth=torch.full((1, 8, 8), float('nan')))])
    metric.compute_metrics(metric.results)


def case_nan_seg_logits(ctx):
    import torch

    from mmseg_ccam.evaluation.metrics.class_iou_metric import ClassIoUMetric
    metric = ClassIoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=('a', 'b'))
    metric.process({}, [_metric_sample(logits=torch.full((2, 8, 8), float('nan')))])
    metric.compute_metrics(metric.results)


def case_generator_other_settings(ctx):
    from mmseg_ccam.datasets.synthcity import generate_synthcity
    root = ctx.fresh('gen_other')
    generate_synthcity(root, num_train=2, num_val=0, height=32, width=64, seed=0,
                       progress=False)
    generate_synthcity(root, num_train=1, num_val=0, height=48, width=96, seed=1,
                       progress=False)


def case_generator_clean(ctx):
    import glob

    from mmseg_ccam.datasets.synthcity import generate_synthcity
    root = ctx.fresh('gen_clean')
    generate_synthcity(root, num_train=2, num_val=0, height=32, width=64, seed=0,
                       progress=False)
    generate_synthcity(root, num_train=1, num_val=0, height=32, width=64, seed=1,
                       progress=False, clean=True)
    return len(glob.glob(osp.join(root, 'leftImg8bit', 'train', '*', '*.png'))) == 1


def case_check_dataset_mixed_sizes(ctx):
    from mmseg_ccam.datasets.synthcity import generate_synthcity
    a, b = ctx.fresh('mixed_a'), ctx.fresh('mixed_b')
    generate_synthcity(a, num_train=2, num_val=0, height=32, width=64, seed=0, progress=False)
    generate_synthcity(b, num_train=3, num_val=0, height=48, width=96, seed=1, progress=False)
    for folder in ('leftImg8bit', 'gtFine', 'disparity', 'camera'):
        for dirpath, _, files in os.walk(osp.join(b, folder)):
            for name in files:  # the frame the first generation does not have
                dest = osp.join(a, osp.relpath(dirpath, b))
                if not osp.exists(osp.join(dest, name)):
                    os.makedirs(dest, exist_ok=True)
                    shutil.copy(osp.join(dirpath, name), dest)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = tool('tools/check_dataset.py').main([a, '--splits', 'train', '--workers', '1'])
    if code != 0:
        raise ShellError(out.getvalue())


def case_dist_train_relative_work_dir(ctx):
    caller = ctx.fresh('caller')
    result = shell('dist_train.sh', [SUP, '1', '--work-dir', 'wd'], caller)
    check_shell(result)
    return f'--work-dir {osp.join(caller, "wd")}' in result.stdout


def case_dist_train_config_relative_to_caller(ctx):
    caller = ctx.fresh('caller2')
    shutil.copy(SUP, osp.join(caller, 'my.py'))
    result = shell('dist_train.sh', ['my.py', '1'], caller)
    check_shell(result)
    return f'tools/train.py {osp.join(caller, "my.py")} ' in result.stdout


def case_dist_train_no_args(ctx):
    check_shell(shell('dist_train.sh', [], ctx.tmp))


def case_dist_test_missing_args(ctx):
    check_shell(shell('dist_test.sh', [SUP, 'x.pth'], ctx.tmp))


def case_dist_train_ngpus_0(ctx):
    check_shell(shell('dist_train.sh', [SUP, '0'], ctx.tmp))


def _demo(ctx, *extra, ckpt=None):
    demo = tool('demo/image_demo.py')
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            demo.main([osp.join(ROOT, 'demo', 'synthcity_val.png'), SUP, ckpt or ctx.joint_ckpt,
                       '--out-dir', ctx.path('demo_out')] + list(extra))
    except SystemExit as exc:
        raise ShellError(err.getvalue().strip() or str(exc)) from None


def case_demo_cfg_options_checked(ctx):
    _demo(ctx, '--cfg-options', 'train_cfg.max_iter=5')


def case_demo_negative_max_point_depth(ctx):
    _demo(ctx, '--point-cloud', '--max-point-depth', '-5')


def case_demo_camera_size_zero(ctx):
    _demo(ctx, '--camera', osp.join(ROOT, 'demo', 'synthcity_val_camera.json'),
          '--camera-size', '0', '0')


def case_demo_image_directory(ctx):
    demo = tool('demo/image_demo.py')
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            demo.main([ctx.fresh('img_dir'), SUP, ctx.joint_ckpt, '--out-dir',
                       ctx.path('demo_out')])
    except SystemExit:
        raise ShellError(err.getvalue().strip()) from None


def case_benchmark_table_unknown_column(ctx):
    path = ctx.path('m.json')
    with open(path, 'w') as f:
        json.dump({'mIoU': 50.0, 'abs_rel': 0.2}, f)
    with contextlib.redirect_stdout(io.StringIO()):
        tool('tools/analysis_tools/benchmark_table.py').main([path, '--columns', 'mIoU', 'foo'])


def _test_py(ctx, *argv):
    call_main('tools/test.py', [SUP] + list(argv))


def case_test_out_directory(ctx):
    _test_py(ctx, ctx.joint_ckpt, '--out', ctx.fresh('out_dir'))


def case_test_out_unwritable(ctx):
    _test_py(ctx, ctx.joint_ckpt, '--out', '/proc/hostile/m.json')


def case_test_checkpoint_directory(ctx):
    _test_py(ctx, ctx.fresh('ckpt_dir2'))


def _option(**options):
    return lambda ctx: load_cfg(SUP, **options)


def case_trivial_baselines_label_ids(ctx):
    root = shutil.copytree(ctx.synth, ctx.path('label_ids_tree'), dirs_exist_ok=True)
    for dirpath, _, files in os.walk(osp.join(root, 'gtFine')):
        for name in files:
            if name.endswith('_gtFine_labelIds.png'):
                shutil.copy(osp.join(dirpath, name),
                            osp.join(dirpath, name.replace('_labelIds', '_labelTrainIds')))
    with contextlib.redirect_stdout(io.StringIO()):
        tool('tools/analysis_tools/trivial_baselines.py').main([root])


def case_truncated_protocol(ctx):
    path = _protocol(ctx, 'truncated_protocol.json')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text[:len(text) // 2])
    tool('tools/analysis_tools/ablation.py').load_protocol(path)


def case_truncated_per_seed_json(ctx):
    ab = tool('tools/analysis_tools/ablation.py')
    evidence = ctx.fresh('truncated_evidence')
    _evidence(ctx, evidence)
    path = osp.join(evidence, 'runs', 'b', 'seed1.json')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text[:len(text) // 2])
    ab.run_protocol(_protocol(ctx, 'proto_trunc.json'), evidence, report_only=True)


CASES: List[Case] = [
    # 1: one loading rule for every entry point that takes a checkpoint
    Case('seg-only checkpoint into the joint config (init_model / demo)', '1', 'clear',
         case_demo_seg_only_ckpt, ('does not fit', 'missing key', 'checkpoint_mismatch=warn')),
    Case('joint checkpoint, model.backbone.depth=34 (init_model)', '1', 'clear',
         case_api_backbone_depth_34, ('does not fit', 'checkpoint_mismatch=warn')),
    Case('plain MMSeg checkpoint (no depth head, no neck) into the joint config', '1', 'clear',
         case_api_plain_mmseg_ckpt, ('does not fit', 'missing key')),
    Case('joint checkpoint, model.decode_head.num_classes=10 (init_model / demo)', '1',
         'clear', case_api_num_classes_10, ('does not fit', 'of another shape')),
    Case('joint checkpoint, model.neck.attention=None', '1', 'clear',
         case_api_neck_attention_none, ('does not fit', 'unexpected key')),
    Case('pytorch2onnx.py with a checkpoint of another architecture', '1', 'clear',
         case_export_foreign_ckpt, ('does not fit', 'seg_only.pth')),
    Case('analysis tool (build_model_quietly) with a foreign checkpoint', '1', 'clear',
         case_analysis_tool_foreign_ckpt, ('does not fit', 'seg_only.pth')),
    Case('checkpoint_mismatch=warn opt-out loads what fits', '1', 'correct',
         case_mismatch_warn_opt_out),
    Case('checkpoint of the same architecture loads every tensor', '1', 'correct',
         case_same_architecture_loads),
    Case('export of a semi checkpoint: the teacher by default, the student by flag', '1',
         'correct', case_export_semi_selects_teacher),
    # 2: config files get the checks of --cfg-options
    Case("derived config sets only data_root = '/nonexistent/'", '2', 'clear',
         case_derived_data_root, ('data_root', 'train_dataloader.dataset.data_root')),
    Case('derived config sets only max_iters = 2', '2', 'clear', case_derived_max_iters,
         ('max_iters', 'train_cfg.max_iters')),
    Case('derived semi config sets only labeled_ratio = 0.5 (a key of the datasets)', '2',
         'clear', case_derived_unread_variable,
         ('labeled_ratio', 'train_dataloader.dataset.datasets.0.labeled_ratio')),
    Case('derived config sets data_root and the keys that use it', '2', 'correct',
         case_derived_variable_and_keys),
    # 3, 4, 9, 14: ablation
    Case('ablation --report-only with an empty --evidence-dir', '3', 'clear',
         case_report_empty_evidence, ('empty_evidence', 'runs', 'Nothing was written')),
    Case('ablation --report-only with a missing --evidence-dir', '3', 'clear',
         case_report_missing_evidence, ('no_such_evidence', 'does not exist')),
    Case('ablation --report-only with --evidence-dir one level too deep', '3', 'clear',
         case_report_evidence_too_deep, ('published/runs', 'no runs/ folder')),
    Case('ablation rerun with other --cfg-options', '4', 'clear',
         case_ablation_rerun_other_options, ('other options', 'max_iters=500', '--work-dir')),
    Case('protocol rerun where a per-seed record has other cfg_options', '4', 'clear',
         case_protocol_record_other_options, ('seed0.json', 'other settings', 'max_iters=5')),
    Case('protocol comparison names the metric "miou"', '9', 'clear',
         case_protocol_unknown_metric, ("'miou'", "'mIoU'")),
    Case('committed docs/evidence/runs/*.json parse as strict JSON', '14', 'correct',
         case_evidence_json_strict),
    Case('ablation JSON writer: NaN/inf -> null', '14', 'correct', case_json_writer_strict),
    # 5: copied / moved work dirs
    Case("copied work dir without its own last checkpoint (original's path)", '5', 'clear',
         case_copied_work_dir_without_its_file, ('copy', 'iter_2.pth', 'copied or moved')),
    Case("copied work dir resumes from its own copy, not the original's", '5', 'correct',
         case_copied_work_dir_uses_its_own_file),
    Case('moved work dir resumes from its own file', '5', 'correct',
         case_moved_work_dir_resumes),
    Case("ablation: a copied run folder never tests the original's checkpoint", '5', 'correct',
         case_ablation_copied_run_folder),
    # 6-8
    Case('semi config with only datasets.1.labeled_ratio=0.5', '6', 'clear',
         case_semi_ratio_on_unlabeled_only, ('in neither subset', 'labeled_ratio=0.5')),
    Case("--tta with MMSeg's SegTTAModel on a depth model", '7', 'clear',
         case_tta_seg_only_wrapper, ('SegTTAModel', 'SegDepthTTAModel', 'depth')),
    Case('NaN depth prediction', '8', 'clear', case_nan_depth_prediction,
         ('non-finite depth', 'frame.png')),
    Case('NaN segmentation logits', '8', 'clear', case_nan_seg_logits,
         ('non-finite segmentation', 'frame.png')),
    # 10
    Case('generator into a folder of another size/seed/count (stale frames would stay)', '10',
         'clear',
         case_generator_other_settings, ('earlier generation', 'gen_other', '--clean')),
    Case('generator --clean leaves only the new frames', '10', 'correct', case_generator_clean),
    Case('check_dataset.py on a tree with frames of two sizes', '10', 'clear',
         case_check_dataset_mixed_sizes, ('96x48', '64x32', 'mixed')),
    # 12
    Case('dist_train.sh from another directory, relative --work-dir', '12', 'correct',
         case_dist_train_relative_work_dir),
    Case("dist_train.sh with a config relative to the caller's directory", '12', 'correct',
         case_dist_train_config_relative_to_caller),
    Case('dist_train.sh without arguments', '12', 'clear', case_dist_train_no_args,
         ('usage: bash tools/dist_train.sh CONFIG NGPUS', )),
    Case('dist_test.sh without NGPUS', '12', 'clear', case_dist_test_missing_args,
         ('usage: bash tools/dist_test.sh CONFIG CHECKPOINT NGPUS', )),
    Case('dist_train.sh with NGPUS=0', '12', 'clear', case_dist_train_ngpus_0,
         ('NGPUS=0', 'usage:')),
    # 13
    Case('image_demo.py --cfg-options train_cfg.max_iter=5 (a key test.py refuses)', '13',
         'clear', case_demo_cfg_options_checked, ('max_iter', "Did you mean")),
    Case('image_demo.py --max-point-depth -5', '13', 'clear',
         case_demo_negative_max_point_depth, ('--max-point-depth', '> 0')),
    Case('benchmark_table.py --columns mIoU foo', '13', 'clear',
         case_benchmark_table_unknown_column, ("'foo'", 'unknown column')),
    # unclear errors of round 2
    Case('test.py --out pointing at a directory', 'U', 'clear', case_test_out_directory,
         ('--out', 'is a directory')),
    Case('test.py --out at an unwritable path', 'U', 'clear', case_test_out_unwritable,
         ('--out', '/proc/hostile', 'before the evaluation')),
    Case('a JSON file as checkpoint (demo, export, API)', 'U', 'clear', case_json_as_checkpoint,
         ('metrics.json', 'JSON file', 'not a PyTorch checkpoint')),
    Case('a directory as checkpoint (API)', 'U', 'clear', case_directory_as_checkpoint,
         ('ckpt_dir', 'is a directory')),
    Case('test.py with a directory as checkpoint', 'U', 'clear', case_test_checkpoint_directory,
         ('ckpt_dir2', 'is a directory')),
    Case('image_demo.py with a directory as image', 'U', 'clear', case_demo_image_directory,
         ('img_dir', 'is a directory')),
    Case('image_demo.py --camera-size 0 0', 'U', 'clear', case_demo_camera_size_zero,
         ('--camera-size', 'positive')),
    Case('--cfg-options randomness.seed=abc', 'U', 'clear', _option(**{'randomness.seed': 'abc'}),
         ('randomness.seed', "'abc'")),
    Case('--cfg-options train_cfg.val_interval=0', 'U', 'clear',
         _option(**{'train_cfg.val_interval': 0}), ('train_cfg.val_interval=0', '>= 1')),
    Case('--cfg-options optim_wrapper.clip_grad.max_norm=abc', 'U', 'clear',
         _option(**{'optim_wrapper.clip_grad.max_norm': 'abc'}),
         ('optim_wrapper.clip_grad.max_norm', "'abc'")),
    Case('--cfg-options model.neck.levels=0', 'U', 'clear', _option(**{'model.neck.levels': 0}),
         ('model.neck.levels=0', 'list')),
    Case('--cfg-options model.decode_head.num_classes=5 on 19-class data', 'U', 'clear',
         _option(**{'model.decode_head.num_classes': 5}),
         ('model.decode_head.num_classes=5', '19 classes')),
    Case('--cfg-options train_dataloader.batch_size=1 with BN', 'U', 'clear',
         _option(**{'train_dataloader.batch_size': 1}),
         ('train_dataloader.batch_size=1', 'BatchNorm', 'batch_size >= 2')),
    Case('trivial_baselines.py on a labelIds tree', 'U', 'clear',
         case_trivial_baselines_label_ids, ('_gtFine_labelTrainIds.png', 'labelIds')),
    Case('truncated protocol JSON', 'U', 'clear', case_truncated_protocol,
         ('truncated_protocol.json', 'not valid JSON')),
    Case('truncated per-seed JSON', 'U', 'clear', case_truncated_per_seed_json,
         ('seed1.json', 'not valid JSON')),
]


def judge(case: Case, ctx: Context) -> tuple:
    """Run one case; returns ``(verdict, detail)``."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            result = case.run(ctx)
    except SystemExit as exc:
        message = f'{err.getvalue()} {exc}'
    except AssertionError as exc:
        return 'silent wrong', f'AssertionError: {exc}'
    except Exception as exc:  # noqa: BLE001 - every failure is judged, none stops the table
        message = f'{type(exc).__name__}: {exc}'
    else:
        if case.expected == 'correct':
            return ('correct', '') if result is True else ('silent wrong',
                                                           f'returned {result!r}')
        return 'silent wrong', 'no error'
    if case.expected == 'correct':
        return 'unclear', message.strip().splitlines()[-1][:200] if message.strip() else ''
    missing = [f for f in case.fragments if f not in message]
    if missing:
        return 'unclear', f'missing {missing}: {message.strip()[:300]}'
    return 'clear', message.strip().splitlines()[0][:160]


def run_cases(cases: Sequence[Case], ctx: Context, verbose: bool = False) -> List[tuple]:
    rows = []
    for case in cases:
        try:
            verdict, detail = judge(case, ctx)
        except BaseException:  # the harness itself failed: report, go on
            verdict, detail = 'unclear', traceback.format_exc().splitlines()[-1]
        rows.append((case, verdict, detail))
        if verbose:
            print(f'[{verdict}] {case.name}: {detail}', flush=True)
    return rows


def format_table(rows: Sequence[tuple]) -> str:
    lines = ['| item | case | expected | got |', '| :--- | :--- | :--- | :--- |']
    for case, verdict, _ in rows:
        lines.append(f'| {case.item} | {case.name} | {case.expected} | {verdict} |')
    counts = {v: sum(1 for _, got, _ in rows if got == v) for v in VERDICTS}
    lines += ['', f'{len(rows)} cases: ' + ', '.join(f'{n} {v}' for v, n in counts.items())]
    return '\n'.join(lines)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Re-run the hostile-user cases of round 3')
    parser.add_argument('--only', nargs='+', metavar='ITEM',
                        help='only the cases of these issue items (1..14, U)')
    parser.add_argument('--verbose', action='store_true', help='print each message')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    import torch

    import mmseg_ccam  # noqa: F401  (registers the components)
    torch.set_num_threads(1)
    cases = [c for c in CASES if not args.only or c.item in args.only]
    ctx = Context()
    try:
        rows = run_cases(cases, ctx, args.verbose)
    finally:
        ctx.close()
    table = format_table(rows)
    print(table)
    return table


if __name__ == '__main__':
    main()
