"""Dual-channel attention (SpatialBoost, Section 3.1, Equation 1).

Every attention layer Attn of the vision encoder gets a twin Attn+ that starts
as an exact copy, and the two are mixed per hidden channel:

    Attn_final(x) = α·Attn(x) + (1−α)·Attn+(x),   α = sigmoid(a), a ∈ R^d, a = 0 at init.

At init α = 0.5 and Attn+ = Attn, so 0.5·y + 0.5·y = y exactly in binary
floating point (halving and doubling only change the exponent; the one
exception is a subnormal y whose last bit halving drops, far below anything an
encoder produces): the wrapped encoder computes bit-for-bit what the
original did. Stage 3 trains Attn+ and a only.
"""

import copy
from typing import Callable, Iterable, List, Optional, Sequence, Union

import torch
from torch import nn

# Class names of the attention modules of the encoders we support. Each is the
# module whose output goes straight into the residual stream (the
# output projection included), which is where Equation 1 mixes.
DEFAULT_ATTENTION_CLASSES = (
    "Dinov2Attention",  # transformers DINOv2 (wraps Dinov2SelfAttention + output dense)
    "Dinov2WithRegistersAttention",
    "DINOv3ViTAttention",  # transformers DINOv3
    "SiglipAttention",  # transformers SigLIP / SigLIP2 vision towers
    "Siglip2Attention",
    "CLIPAttention",  # transformers CLIP vision towers
    "MultiheadAttention",  # torch.nn, used by open_clip's ResidualAttentionBlock
    "Attention",  # timm ViTs
)

Predicate = Callable[[str, nn.Module], bool]


class DualChannelAttention(nn.Module):
    """Wraps one attention module as Equation 1.

    Attributes are named so that the frozen original keeps its own parameter
    names under `attn.` and the trainable parts are easy to select:
    `attn_plus.*` and `mix_logit` (the paper's a).
    """

    def __init__(self, attn: nn.Module, dim: int):
        super().__init__()
        self.attn = attn
        self.attn_plus = copy.deepcopy(attn)
        self.mix_logit = nn.Parameter(torch.zeros(dim, dtype=_param_dtype(attn)))

    def forward(self, *args, **kwargs):
        out = self.attn(*args, **kwargs)
        out_plus = self.attn_plus(*args, **kwargs)
        if isinstance(out, torch.Tensor):
            return self._mix(out, out_plus)
        if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
            # (hidden, attention weights, ...): mix the hidden states, keep the
            # original channel's extras (they describe the frozen path).
            return type(out)((self._mix(out[0], out_plus[0]),) + tuple(out[1:]))
        raise TypeError(
            f"dual-channel attention: wrapped {type(self.attn).__name__} returned "
            f"{type(out).__name__}; expected a tensor or a tuple starting with one"
        )

    def _mix(self, y: torch.Tensor, y_plus: torch.Tensor) -> torch.Tensor:
        if y.shape[-1] != self.mix_logit.shape[0]:
            raise ValueError(
                f"dual-channel attention: {type(self.attn).__name__} output has "
                f"hidden size {y.shape[-1]}, mixture factor has {self.mix_logit.shape[0]}"
            )
        alpha = torch.sigmoid(self.mix_logit).to(y.dtype)
        # Written as α·y + (1−α)·y⁺, not y⁺ + α·(y − y⁺): only this form is
        # exact at init.
        return alpha * y + (1 - alpha) * y_plus


def _param_dtype(m: nn.Module) -> torch.dtype:
    for p in m.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def infer_hidden_size(attn: nn.Module) -> int:
    """The hidden size d of an attention module's output.

    Uses `embed_dim`/`hidden_size` when the module has one, else the
    out_features of its last Linear (the output projection in every ViT we know).
    """
    for name in ("embed_dim", "hidden_size"):
        v = getattr(attn, name, None)
        if isinstance(v, int) and v > 0:
            return v
    last = None
    for m in attn.modules():
        if isinstance(m, nn.Linear):
            last = m
    if last is None:
        raise ValueError(
            f"dual-channel attention: cannot tell the hidden size of {type(attn).__name__} "
            "(no embed_dim/hidden_size attribute and no Linear inside); pass dim="
        )
    return last.out_features


def class_name_predicate(names: Iterable[str]) -> Predicate:
    wanted = frozenset(names)
    return lambda _path, m: type(m).__name__ in wanted


def wrap_attention(
    encoder: nn.Module,
    match: Union[Predicate, Sequence[str], None] = None,
    dim: Optional[int] = None,
) -> List[str]:
    """Replaces, in place, every attention module of encoder with a
    DualChannelAttention and returns the dotted paths that were wrapped.

    match is a predicate (path, module) -> bool or a list of class names
    (default DEFAULT_ATTENTION_CLASSES). A matched module's children are not
    searched, so an attention block is wrapped once, not also its inner parts.
    It is an error to find nothing: a silent no-op would train only α-free
    projector weights while claiming Stage 3.
    """
    if match is None:
        match = DEFAULT_ATTENTION_CLASSES
    pred = match if callable(match) else class_name_predicate(match)
    wrapped: List[str] = []

    def visit(parent: nn.Module, prefix: str) -> None:
        for name, child in list(parent.named_children()):
            path = prefix + name
            if isinstance(child, DualChannelAttention):
                raise ValueError(f"dual-channel attention: {path} is already wrapped")
            if pred(path, child):
                d = dim if dim is not None else infer_hidden_size(child)
                setattr(parent, name, DualChannelAttention(child, d))
                wrapped.append(path)
            else:
                visit(child, path + ".")

    visit(encoder, "")
    if not wrapped:
        raise ValueError(
            f"dual-channel attention: no attention module found in {type(encoder).__name__} "
            "(looked for classes "
            + (", ".join(match) if not callable(match) else "matching the given predicate")
            + "); pass --attention-classes"
        )
    return wrapped


def dual_channel_modules(model: nn.Module) -> List[DualChannelAttention]:
    return [m for m in model.modules() if isinstance(m, DualChannelAttention)]


def parameter_overhead(encoder: nn.Module) -> dict:
    """Parameter counts of a wrapped encoder: base (what it had before), added
    (Attn+ and α) and the ratio added/base (the paper reports +25–30%)."""
    added = 0
    for m in dual_channel_modules(encoder):
        added += sum(p.numel() for p in m.attn_plus.parameters()) + m.mix_logit.numel()
    total = sum(p.numel() for p in encoder.parameters())
    base = total - added
    return {"base": base, "added": added, "ratio": added / base if base else 0.0}
