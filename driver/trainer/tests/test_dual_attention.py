import pytest
import torch
from torch import nn

import tiny_models
from boostgen_trainer.dual_attention import (
    DualChannelAttention,
    infer_hidden_size,
    parameter_overhead,
    wrap_attention,
)


@pytest.mark.parametrize("kind", ["timm", "mha"])
@pytest.mark.parametrize("grad", [False, True])
def test_wrapped_encoder_is_exactly_the_original_at_init(kind, grad):
    torch.manual_seed(0)
    vit = tiny_models.TinyViT(kind=kind).eval()
    x = torch.randn(3, 3, tiny_models.IMAGE_SIZE, tiny_models.IMAGE_SIZE)
    with torch.set_grad_enabled(grad):
        want = vit(x)
        wrap_attention(vit)
        got = vit(x)
    # α = sigmoid(0) = 0.5 and Attn+ = Attn: 0.5·y + 0.5·y is y, bit for bit.
    assert torch.sigmoid(torch.zeros(1)).item() == 0.5
    assert torch.equal(got, want)


@pytest.mark.parametrize("kind, cls", [("timm", tiny_models.Attention), ("mha", nn.MultiheadAttention)])
def test_wrap_finds_each_attention_layer_once(kind, cls):
    vit = tiny_models.TinyViT(depth=3, kind=kind)
    paths = wrap_attention(vit)
    assert paths == ["blocks.0.attn", "blocks.1.attn", "blocks.2.attn"]
    for blk in vit.blocks:
        assert isinstance(blk.attn, DualChannelAttention)
        assert isinstance(blk.attn.attn, cls) and isinstance(blk.attn.attn_plus, cls)
        assert blk.attn.attn_plus is not blk.attn.attn
        assert blk.attn.mix_logit.shape == (32,) and not blk.attn.mix_logit.any()
        # A deep copy: same values, separate storage.
        for (n, p), (_, q) in zip(blk.attn.attn.named_parameters(), blk.attn.attn_plus.named_parameters()):
            assert torch.equal(p, q) and p.data_ptr() != q.data_ptr(), n


def test_wrap_rejects_an_encoder_without_attention_and_double_wrapping():
    with pytest.raises(ValueError, match="no attention module found in Sequential"):
        wrap_attention(nn.Sequential(nn.Linear(4, 4)))
    vit = tiny_models.TinyViT()
    wrap_attention(vit)
    with pytest.raises(ValueError, match="blocks.0.attn is already wrapped"):
        wrap_attention(vit, lambda path, m: path.endswith("attn"))


def test_output_follows_equation_1_once_channels_differ():
    torch.manual_seed(0)
    attn = tiny_models.Attention(32, 4)
    dual = DualChannelAttention(attn, 32)
    with torch.no_grad():
        dual.mix_logit.normal_()
        for p in dual.attn_plus.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.randn(2, 5, 32)
    out, weights = dual(x)
    alpha = torch.sigmoid(dual.mix_logit)
    want = alpha * attn(x)[0] + (1 - alpha) * dual.attn_plus(x)[0]
    torch.testing.assert_close(out, want, rtol=0, atol=1e-6)
    assert torch.equal(weights, attn(x)[1])  # the extras come from the original channel


def test_hidden_size_and_parameter_overhead():
    assert infer_hidden_size(nn.MultiheadAttention(48, 4)) == 48
    assert infer_hidden_size(tiny_models.Attention(40, 4)) == 40
    with pytest.raises(ValueError, match="cannot tell the hidden size of ReLU"):
        infer_hidden_size(nn.ReLU())

    vit = tiny_models.TinyViT(dim=32, depth=2)
    base = sum(p.numel() for p in vit.parameters())
    attn = sum(p.numel() for blk in vit.blocks for p in blk.attn.parameters())
    wrap_attention(vit)
    got = parameter_overhead(vit)
    assert got["base"] == base
    assert got["added"] == attn + 2 * 32  # Attn+ and one a ∈ R^32 per layer
    # A ViT block is ~4d² of attention in ~12d²: about a third more, the
    # paper's +25–30% once embeddings and heads are counted.
    assert 0.25 < got["ratio"] < 0.36, got
