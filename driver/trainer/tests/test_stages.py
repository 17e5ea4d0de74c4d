import pytest

import tiny_models
from boostgen_trainer.data import BoostgenDataset, collate
from boostgen_trainer.dual_attention import wrap_attention
from boostgen_trainer.model import SpatialVLM, apply_stage
from fixtures import make_dataset


def tiny_vlm(stage):
    vision, transform = tiny_models.build_encoder()
    llm, encode = tiny_models.build_llm()
    if stage == 3:
        wrap_attention(vision.encoder)
    return SpatialVLM(vision, llm), encode, transform


def expected(name, stage):
    # Written out independently of model.is_trainable, from the paper's text.
    if name.startswith("projector."):
        return True
    if stage == 2:
        return name.startswith("llm.")
    if stage == 3:
        return ".attn_plus." in name or name.endswith("attn.mix_logit")
    return False


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_one_backward_pass_reaches_exactly_the_stage_parameters(tmp_path, stage):
    make_dataset(str(tmp_path), n=3)
    model, encode, transform = tiny_vlm(stage)
    names = apply_stage(model, stage)
    ds = BoostgenDataset(str(tmp_path), encode, transform)
    batch = collate(list(ds))
    assert batch["pixel_values"].shape[0] == 4  # the third record has two images
    model(batch).backward()

    got = {n for n, p in model.named_parameters() if p.grad is not None}
    want = {n for n, _ in model.named_parameters() if expected(n, stage)}
    assert got == want == set(names)
    for n, p in model.named_parameters():
        # At init Attn+ = Attn, so dL/da = σ'(a)·(Attn(x) − Attn+(x))·… is
        # exactly zero: α starts learning once Attn+ has moved.
        if n in want and not n.endswith("mix_logit"):
            assert p.grad.abs().sum() > 0, n

    spot = {
        1: ("projector.0.weight", "llm.lm_head.weight"),
        2: ("llm.layers.0.self_attn.q_proj.weight", "vision.encoder.blocks.0.attn.qkv.weight"),
        3: ("vision.encoder.blocks.1.attn.attn_plus.qkv.weight", "vision.encoder.blocks.1.attn.attn.qkv.weight"),
    }[stage]
    assert spot[0] in got and spot[1] not in got
    if stage == 3:
        assert "vision.encoder.blocks.0.attn.mix_logit" in got
        assert "vision.encoder.blocks.0.mlp.0.weight" not in got
        assert not any(n.startswith("llm.") for n in got)


def test_stage_3_needs_dual_channel_attention():
    model, _, _ = tiny_vlm(1)
    with pytest.raises(ValueError, match="stage 3 trains dual-channel attention"):
        apply_stage(model, 3)
