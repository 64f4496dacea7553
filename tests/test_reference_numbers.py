"""One set of reference numbers per shipped model: docs/reference/NAME.json (written by
tools/analysis_tools/reference_numbers.py for configs/ccam/NAME.py) is the source of the
Markdown table and of the blocks in README.md (the demo model's) and docs/model_zoo.md (every
shipped model's), and it describes the files in the repository: the checkpoint's sha256 and
frames of the current generator (its first val image is the demo image, which
tests/test_demo_frame.py renders afresh)."""
import hashlib
import json
import os.path as osp

import pytest
from conftest import ROOT, load_script

from mmseg_ccam.utils.data_roots import GENERATE_COMMAND

#: The shipped models (configs/ccam/NAME.py, checkpoints/NAME.pth); the first is the demo model.
SHIPPED = ('ccam_lite0_synthcity_cw', 'ccam_r18_synthcity')


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis_tools/reference_numbers.py')


@pytest.fixture(scope='module', params=SHIPPED)
def ref(tool, request):
    json_path = tool.reference_paths(f'configs/ccam/{request.param}.py')[0]
    with open(osp.join(ROOT, json_path), encoding='utf-8') as f:
        return json.load(f)


def read(path):
    with open(osp.join(ROOT, path), encoding='utf-8') as f:
        return f.read()


def sha256(path):
    with open(osp.join(ROOT, path), 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_the_default_is_the_demo_model_and_names_follow_the_config(tool):
    assert tool.CONFIG == f'configs/ccam/{SHIPPED[0]}.py'
    assert f'CONFIG=${{CONFIG:-{tool.CONFIG}}}' in read('tools/quickstart.sh')  # make demo's
    assert tool.default_checkpoint(tool.CONFIG) == f'checkpoints/{SHIPPED[0]}.pth'
    assert tool.reference_paths('configs/ccam/ccam_r18_synthcity.py') == (
        'docs/reference/ccam_r18_synthcity.json', 'docs/reference/ccam_r18_synthcity.md')
    # README shows the demo model only; the model zoo every shipped model
    assert tool.docs_with_block(SHIPPED[0]) == ['README.md', 'docs/model_zoo.md']
    assert tool.docs_with_block(SHIPPED[1]) == ['docs/model_zoo.md']
    # a model without a block anywhere is refused before anything is measured
    with pytest.raises(SystemExit, match='none of README.md, docs/model_zoo.md holds a '
                       '<!-- reference-numbers:ccam_r50_x:begin -->'):
        tool.main(['--config', 'configs/ccam/ccam_r50_x.py'])


def test_markdown_and_doc_blocks_are_rendered_from_the_json(tool, ref):
    config = ref['model']['config']
    name = tool.model_name(config)
    json_path, md_path = tool.reference_paths(config)
    markdown = tool.render_markdown(ref)
    assert read(md_path) == tool.relink(markdown, md_path)
    assert f']({name}.json)' in read(md_path)  # a link that works from there
    docs = tool.docs_with_block(name)
    assert docs
    for doc in docs:
        text = read(doc)
        begin, end = tool.markers(name)
        block = text[text.index(begin):text.index(end) + len(end)]
        assert block == tool.doc_block(markdown, doc, name), (
            f'{doc} is out of date: python tools/analysis_tools/reference_numbers.py '
            f'--config {config} --render-only')


def test_the_json_describes_the_shipped_files(tool, ref):
    name = tool.model_name(ref['model']['config'])
    assert ref['model']['config'] == f'configs/ccam/{name}.py'
    assert ref['model']['checkpoint'] == f'checkpoints/{name}.pth'
    assert ref['model']['sha256'] == sha256(ref['model']['checkpoint'])
    assert ref['data']['generate'] == GENERATE_COMMAND
    val = ref['data']['val']
    assert val['frames'] == 50 and val['files'] == 4 * 50 + 50  # + gtFine labelIds
    # frames of the current generator: its first val frame is the demo image
    assert val['first_frame'] == 'fairhaven_000000_000019'
    assert val['first_image_sha256'] == sha256('demo/synthcity_val.png')


def test_the_table_shows_the_json_numbers(tool, ref):
    config = ref['model']['config']
    markdown = read(tool.reference_paths(config)[1])
    test = ref['runs']['test']['metrics']
    shown = tool.MODEL_NAMES[tool.model_name(config)]
    row = next(line for line in markdown.splitlines()
               if line.startswith(f'| {shown} (shipped) |'))
    assert f"| {test['mIoU']:.2f} |" in row and f"| {test['abs_rel']:.4f} |" in row
    assert f"| {test['d1']:.3f} |" in row
    trivial = ref['trivial_baselines']
    assert trivial['constant_class'] == 'road'
    # the trivial predictors are far below the model
    assert trivial['metrics']['mIoU'] < test['mIoU'] / 5
    assert trivial['metrics']['abs_rel'] > 2 * test['abs_rel']


def test_both_shipped_models_were_measured_on_the_same_frames(tool):
    refs = [json.loads(read(tool.reference_paths(f'configs/ccam/{name}.py')[0]))
            for name in SHIPPED]
    assert refs[0]['data'] == refs[1]['data']
    assert refs[0]['trivial_baselines'] == refs[1]['trivial_baselines']


def test_replace_block(tool):
    begin, end = tool.markers('m')
    assert (begin, end) == ('<!-- reference-numbers:m:begin -->',
                            '<!-- reference-numbers:m:end -->')
    text = f'# X\n\n{begin}\nold\n{end}\ntail\n'
    assert tool.replace_block(text, f'{begin}\nnew\n{end}', 'X.md', 'm') == (
        f'# X\n\n{begin}\nnew\n{end}\ntail\n')
    with pytest.raises(SystemExit, match='X.md must hold one <!-- reference-numbers:m:begin'):
        tool.replace_block('# no block\n', 'x', 'X.md', 'm')
    with pytest.raises(SystemExit, match='must hold one'):  # another model's block is not it
        tool.replace_block(text, 'x', 'X.md', 'other')
    # links from docs/ pages are relative to docs/
    assert tool.doc_block('[a](docs/reference/x.json)\n', 'docs/model_zoo.md', 'm') == (
        f'{begin}\n[a](reference/x.json)\n{end}')


def test_the_readme_and_model_zoo_quote_the_r18_numbers_of_its_json(tool):
    """The R18 figures written beside the demo model's block are its reference numbers."""
    r18 = json.loads(read(tool.reference_paths(f'configs/ccam/{SHIPPED[1]}.py')[0]))
    test = r18['runs']['test']['metrics']
    quoted = f"{test['mIoU']:.2f} mIoU / AbsRel {test['abs_rel']:.4f}"
    assert quoted in ' '.join(read('README.md').split())
    demo = json.loads(read(tool.reference_paths(tool.CONFIG)[0]))['runs']['test']['metrics']
    zoo = read('docs/model_zoo.md')
    row = next(line for line in zoo.splitlines() if line.startswith('| mIoU |'))
    assert row == f"| mIoU | **{demo['mIoU']:.2f}** | {test['mIoU']:.2f} |"
    row = next(line for line in zoo.splitlines() if line.startswith('| AbsRel |'))
    assert row == f"| AbsRel | **{demo['abs_rel']:.4f}** | {test['abs_rel']:.4f} |"
