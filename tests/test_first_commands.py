"""What a user meets first: a missing dataset folder is one line naming the command that makes
it (exit status 2, no traceback), and tools/test.py logs into its own work dir."""
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

CONFIG = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity.py')
SEMI = osp.join(ROOT, 'configs', 'ccam', 'ccam_r18_synthcity_semi.py')


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
    with open(osp.join(ROOT, 'tools', 'quickstart.sh'), encoding='utf-8') as f:
        script = f.read()
    for option in ('--num-train "$NUM_TRAIN"', '--num-val "$NUM_VAL"', '--height 256',
                   '--width 512', '--seed "$SEED"', 'NUM_TRAIN=${NUM_TRAIN:-200}',
                   'NUM_VAL=${NUM_VAL:-50}', 'SEED=${SEED:-0}', 'DATA=${DATA:-data/synthcity}'):
        assert option in script, option

    for split in ('train', 'val'):  # once the folders exist, nothing is reported
        os.makedirs(tmp_path / 'data' / 'synthcity' / 'leftImg8bit' / split)
    check_data_roots(cfg, ['train_dataloader', 'val_dataloader', 'test_dataloader'])


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
    proc = run_python([osp.join(ROOT, 'tools', 'test.py'), CONFIG,
                       osp.join(ROOT, 'checkpoints', 'ccam_r18_synthcity.pth')],
                      cwd=str(tmp_path), check=False, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr and 'Traceback' not in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("tools/test.py: Dataset folder 'data/synthcity/leftImg8bit/val'")
    assert 'make demo' in last and GENERATE_COMMAND in last
    assert not (tmp_path / 'work_dirs').exists()  # refused before anything is written


def test_test_py_default_work_dir_is_its_own():
    tool = load_script('tools/test.py')
    # make demo trains into work_dirs/ccam_r18_synthcity; the test logs go elsewhere
    assert osp.normpath(tool.default_work_dir(CONFIG)) == osp.join('work_dirs', 'test',
                                                                   'ccam_r18_synthcity')


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
