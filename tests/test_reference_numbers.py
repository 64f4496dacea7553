"""One set of reference numbers for the shipped model: docs/reference/ccam_r18_synthcity.json
(written by tools/analysis_tools/reference_numbers.py) is the source of the Markdown table and
of the blocks in README.md and docs/model_zoo.md, and it describes the files in the repository:
the checkpoint's sha256 and frames of the current generator (its first val image is the demo
image, which tests/test_demo_frame.py renders afresh)."""
import hashlib
import json
import os.path as osp

import pytest
from conftest import ROOT, load_script

from mmseg_ccam.utils.data_roots import GENERATE_COMMAND


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis_tools/reference_numbers.py')


@pytest.fixture(scope='module')
def ref(tool):
    with open(osp.join(ROOT, tool.JSON_OUT), encoding='utf-8') as f:
        return json.load(f)


def read(path):
    with open(osp.join(ROOT, path), encoding='utf-8') as f:
        return f.read()


def sha256(path):
    with open(osp.join(ROOT, path), 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_markdown_and_doc_blocks_are_rendered_from_the_json(tool, ref):
    markdown = tool.render_markdown(ref)
    assert read(tool.MD_OUT) == tool.relink(markdown, tool.MD_OUT)
    assert '](ccam_r18_synthcity.json)' in read(tool.MD_OUT)  # a link that works from there
    for doc in tool.DOCS:
        text = read(doc)
        block = text[text.index(tool.BEGIN):text.index(tool.END) + len(tool.END)]
        assert block == tool.doc_block(markdown, doc), (
            f'{doc} is out of date: python tools/analysis_tools/reference_numbers.py --render-only')


def test_the_json_describes_the_shipped_files(ref):
    assert ref['model']['checkpoint'] == 'checkpoints/ccam_r18_synthcity.pth'
    assert ref['model']['sha256'] == sha256(ref['model']['checkpoint'])
    assert ref['data']['generate'] == GENERATE_COMMAND
    val = ref['data']['val']
    assert val['frames'] == 50 and val['files'] == 4 * 50 + 50  # + gtFine labelIds
    # frames of the current generator: its first val frame is the demo image
    assert val['first_frame'] == 'fairhaven_000000_000019'
    assert val['first_image_sha256'] == sha256('demo/synthcity_val.png')


def test_the_table_shows_the_json_numbers(tool, ref):
    markdown = read(tool.MD_OUT)
    test = ref['runs']['test']['metrics']
    row = next(line for line in markdown.splitlines() if line.startswith('| CCAM R18 (shipped) |'))
    assert f"| {test['mIoU']:.2f} |" in row and f"| {test['abs_rel']:.4f} |" in row
    assert f"| {test['d1']:.3f} |" in row
    trivial = ref['trivial_baselines']
    assert trivial['constant_class'] == 'road'
    # the trivial predictors are far below the model
    assert trivial['metrics']['mIoU'] < test['mIoU'] / 5
    assert trivial['metrics']['abs_rel'] > 2 * test['abs_rel']


def test_replace_block(tool):
    text = f'# X\n\n{tool.BEGIN}\nold\n{tool.END}\ntail\n'
    assert tool.replace_block(text, f'{tool.BEGIN}\nnew\n{tool.END}', 'X.md') == (
        f'# X\n\n{tool.BEGIN}\nnew\n{tool.END}\ntail\n')
    with pytest.raises(SystemExit, match='must hold one'):
        tool.replace_block('# no block\n', 'x', 'X.md')
    # links from docs/ pages are relative to docs/
    assert tool.doc_block('[a](docs/reference/x.json)\n', 'docs/model_zoo.md') == (
        f'{tool.BEGIN}\n[a](reference/x.json)\n{tool.END}')
