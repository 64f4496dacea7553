"""CrossChannelAttention against an independent einsum reference."""
import math

import pytest
import torch

from mmseg_ccam.models import CrossChannelAttention
from mmseg_ccam.models.utils import cross_channel_attention


def reference(x_s, x_d, gamma_s, gamma_d):
    """docs/method.md, "Cross-channel attention", written with einsum in float64."""
    b, c, h, w = x_s.shape
    n = h * w
    xs = x_s.double().reshape(b, c, n)
    xd = x_d.double().reshape(b, c, n)
    a_sd = torch.softmax(torch.einsum('bin,bjn->bij', xs, xd) / math.sqrt(n), dim=-1)
    a_ds = torch.softmax(torch.einsum('bin,bjn->bij', xd, xs) / math.sqrt(n), dim=-1)
    y_s = xs + gamma_s * torch.einsum('bij,bjn->bin', a_sd, xd)
    y_d = xd + gamma_d * torch.einsum('bij,bjn->bin', a_ds, xs)
    return y_s.reshape(b, c, h, w), y_d.reshape(b, c, h, w)


def test_matches_einsum_reference_for_nonzero_gammas():
    torch.manual_seed(0)
    x_s = torch.randn(2, 6, 5, 7)
    x_d = torch.randn(2, 6, 5, 7)
    module = CrossChannelAttention()
    with torch.no_grad():
        module.gamma_s.fill_(0.7)
        module.gamma_d.fill_(-1.3)
    y_s, y_d = module(x_s, x_d)
    r_s, r_d = reference(x_s, x_d, 0.7, -1.3)
    assert torch.allclose(y_s.double(), r_s, atol=1e-5)
    assert torch.allclose(y_d.double(), r_d, atol=1e-5)
    # The message is not negligible, so the comparison above tests something.
    assert not torch.allclose(y_s, x_s, atol=1e-3)


def test_identity_at_gamma_zero_and_two_parameters():
    torch.manual_seed(1)
    module = CrossChannelAttention()
    assert sum(p.numel() for p in module.parameters()) == 2
    x_s, x_d = torch.randn(1, 4, 3, 3), torch.randn(1, 4, 3, 3)
    y_s, y_d = module(x_s, x_d)
    assert torch.equal(y_s, x_s) and torch.equal(y_d, x_d)


def test_gradients_reach_gammas_and_inputs():
    torch.manual_seed(2)
    module = CrossChannelAttention(gamma_init=0.5)
    x_s = torch.randn(2, 3, 4, 4, requires_grad=True)
    x_d = torch.randn(2, 3, 4, 4, requires_grad=True)
    w_s, w_d = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    y_s, y_d = module(x_s, x_d)
    ((y_s * w_s).sum() + (y_d * w_d).sum()).backward()
    for grad in (module.gamma_s.grad, module.gamma_d.grad, x_s.grad, x_d.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    # d loss / d gamma_s = <message to x_s, w_s>: check against the reference.
    xs, xd = x_s.detach().double(), x_d.detach().double()
    msg_s = (reference(xs, xd, 1.0, 0.0)[0] - xs)
    assert torch.allclose(module.gamma_s.grad.double(), (msg_s * w_s).sum(), atol=1e-4)


def test_gamma_zero_still_gives_gamma_gradient():
    # At initialisation (gamma = 0) the module is the identity but must still
    # be able to learn to exchange: the gammas receive a gradient.
    torch.manual_seed(0)
    module = CrossChannelAttention()
    x = torch.randn(1, 2, 3, 3)
    y_s, y_d = module(x, x.flip(1))
    (y_s.sum() + y_d.sum()).backward()
    assert module.gamma_s.grad.abs() > 0 and module.gamma_d.grad.abs() > 0


def test_half_precision_large_activations_stay_finite():
    # In float16 the C x C energy (sums of N = 4096 products of ~30 * 30)
    # would overflow; the module computes attention in float32.
    module = CrossChannelAttention(gamma_init=1.0)
    x_s = torch.full((1, 4, 64, 64), 30.0, dtype=torch.float16)
    x_d = torch.full((1, 4, 64, 64), 30.0, dtype=torch.float16)
    y_s, y_d = module(x_s, x_d)
    assert y_s.dtype == torch.float16 and torch.isfinite(y_s).all()
    # Uniform attention over identical channels: message = 30, y = 30 + 30.
    assert torch.allclose(y_s.float(), torch.full_like(y_s.float(), 60.0))
    assert torch.allclose(y_d.float(), torch.full_like(y_d.float(), 60.0))


def test_shape_mismatch_raises_clear_error():
    module = CrossChannelAttention()
    with pytest.raises(ValueError, match='same B x C x H x W'):
        module(torch.zeros(1, 4, 3, 3), torch.zeros(1, 5, 3, 3))
    with pytest.raises(ValueError, match='4-D'):
        cross_channel_attention(torch.zeros(4, 3), torch.zeros(4, 3), torch.zeros(1),
                                torch.zeros(1))


def test_autocast_computes_attention_in_float32():
    torch.manual_seed(3)
    x_s, x_d = torch.randn(1, 4, 6, 6), torch.randn(1, 4, 6, 6)
    module = CrossChannelAttention(gamma_init=0.9)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        y_s, y_d = module(x_s, x_d)
    # bfloat16 matmuls would be off by ~1e-2; float32 inside autocast is not.
    r_s, r_d = reference(x_s, x_d, 0.9, 0.9)
    assert y_s.dtype == torch.float32
    assert torch.allclose(y_s.double(), r_s, atol=1e-5)
    assert torch.allclose(y_d.double(), r_d, atol=1e-5)


# ------------------------------------------------------------------- normalised (cosine) energy
def cosine_reference(x_s, x_d, gamma_s, gamma_d, t):
    b, c, h, w = x_s.shape
    xs = x_s.double().reshape(b, c, -1)
    xd = x_d.double().reshape(b, c, -1)
    ns = xs / xs.norm(dim=-1, keepdim=True)
    nd = xd / xd.norm(dim=-1, keepdim=True)
    e = torch.einsum('bin,bjn->bij', ns, nd) / t
    a_sd, a_ds = e.softmax(-1), e.transpose(1, 2).softmax(-1)
    y_s = xs + gamma_s * torch.einsum('bij,bjn->bin', a_sd, xd)
    y_d = xd + gamma_d * torch.einsum('bij,bjn->bin', a_ds, xs)
    return y_s.reshape(b, c, h, w), y_d.reshape(b, c, h, w), a_sd


def entropy(a):
    return float(-(a * a.clamp(min=1e-300).log()).sum(-1).mean())


@pytest.mark.parametrize('learn', [False, True])
def test_cosine_energy_matches_reference_and_temperature(learn):
    torch.manual_seed(1)
    x_s, x_d = torch.randn(2, 6, 5, 7), torch.randn(2, 6, 5, 7)
    module = CrossChannelAttention(energy='cosine', temperature=0.2, learn_temperature=learn)
    with torch.no_grad():
        module.gamma_s.fill_(0.7)
        module.gamma_d.fill_(-0.4)
    y_s, y_d = module(x_s, x_d)
    r_s, r_d, _ = cosine_reference(x_s, x_d, 0.7, -0.4, 0.2)
    torch.testing.assert_close(y_s.double(), r_s, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y_d.double(), r_d, rtol=1e-5, atol=1e-5)
    names = {n for n, _ in module.named_parameters()}
    assert names == ({'gamma_s', 'gamma_d', 'log_temperature'} if learn else
                     {'gamma_s', 'gamma_d'})
    if learn:
        (y_s.sum() + y_d.sum()).backward()
        assert module.log_temperature.grad.abs() > 0
    # The DANet form stays the default and keeps exactly two parameters.
    assert CrossChannelAttention().energy == 'dot'
    assert sum(p.numel() for p in CrossChannelAttention().parameters()) == 2


def test_row_entropy_stats_by_hand_and_saturation():
    """Correlated post-ReLU channels of different norms saturate the dot-product softmax (every
    row puts its weight on the largest channel: entropy ~0); the cosine energy is scale-free
    and keeps the rows spread. The stats equal the formula."""
    torch.manual_seed(2)
    base = torch.rand(1, 1, 16, 16) * 4
    scale = torch.linspace(1.0, 3.0, 8).view(1, 8, 1, 1)
    x_s = (base + 0.3 * torch.rand(2, 8, 16, 16)).relu() * scale
    x_d = (base + 0.3 * torch.rand(2, 8, 16, 16)).relu() * scale
    dot, cos = CrossChannelAttention(), CrossChannelAttention(energy='cosine', temperature=0.1)
    dot.train(), cos.train()
    dot(x_s, x_d)
    cos(x_s, x_d)
    b, c = x_s.shape[:2]
    xs, xd = x_s.double().reshape(b, c, -1), x_d.double().reshape(b, c, -1)
    e = xs @ xd.transpose(1, 2) / math.sqrt(xs.shape[-1])
    assert dot.last_stats['entropy_sd'].item() == pytest.approx(entropy(e.softmax(-1)), abs=1e-4)
    assert dot.last_stats['entropy_ds'].item() == pytest.approx(
        entropy(e.transpose(1, 2).softmax(-1)), abs=1e-4)
    _, _, a_cos = cosine_reference(x_s, x_d, 0.0, 0.0, 0.1)
    assert cos.last_stats['entropy_sd'].item() == pytest.approx(entropy(a_cos), abs=1e-4)
    assert dot.last_stats['entropy_sd'].item() < 0.05  # saturated
    assert cos.last_stats['entropy_sd'].item() > 0.5 * math.log(c)  # spread over channels
    # not recorded in eval mode
    fresh = CrossChannelAttention().eval()
    fresh(x_s, x_d)
    assert fresh.last_stats == {}


def test_bad_energy_and_temperature():
    with pytest.raises(ValueError, match="'dot'"):
        CrossChannelAttention(energy='l2')
    with pytest.raises(ValueError, match='temperature'):
        CrossChannelAttention(energy='cosine', temperature=0.0)
