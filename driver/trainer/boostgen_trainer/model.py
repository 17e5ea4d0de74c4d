"""The multi-modal model of SpatialBoost (Section 3.1): vision encoder f_V, a
2-layer GELU MLP projector g_P and a Qwen2 LLM f_L, plus the stage freeze
plans and the builders that turn model names into modules.

transformers and open_clip are imported inside the builders only, so this
module (and the tests) work with PyTorch alone.
"""

import importlib
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .data import IGNORE_INDEX, IMAGE_TOKEN_ID, ImageTransform
from .dual_attention import dual_channel_modules

DEFAULT_ENCODER = "hf:facebook/dinov2-large"
DEFAULT_LLM = "hf:Qwen/Qwen2-7B-Instruct"


class VisionTower(nn.Module):
    """Runs an encoder and returns its patch tokens, [images, tokens, dim].

    Accepts encoders returning a tensor, a Hugging Face output (its
    last_hidden_state) or a tuple (element output_index), and drops the
    num_prefix_tokens leading CLS/register tokens.
    """

    def __init__(self, encoder: nn.Module, hidden_size: int, num_prefix_tokens: int = 0, output_index: int = 0):
        super().__init__()
        self.encoder = encoder
        self.hidden_size = hidden_size
        self.num_prefix_tokens = num_prefix_tokens
        self.output_index = output_index

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        out = self.encoder(pixel_values)
        if hasattr(out, "last_hidden_state"):
            out = out.last_hidden_state
        elif isinstance(out, (tuple, list)):
            out = out[self.output_index]
        return out[:, self.num_prefix_tokens :]


def projector(vision_dim: int, llm_dim: int) -> nn.Sequential:
    """g_P: LLaVA-1.5's mlp2x_gelu."""
    return nn.Sequential(nn.Linear(vision_dim, llm_dim), nn.GELU(), nn.Linear(llm_dim, llm_dim))


class SpatialVLM(nn.Module):
    """f_L(g_P(f_V(images)) spliced into the text), trained with the SFT loss."""

    def __init__(self, vision: VisionTower, llm: nn.Module, max_length: int = 4096):
        super().__init__()
        self.vision = vision
        self.llm = llm
        self.projector = projector(vision.hidden_size, llm.get_input_embeddings().embedding_dim)
        self.max_length = max_length

    def visual_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        # Without trainable encoder parameters (Stages 1 and 2) the encoder
        # needs no graph: running it under no_grad saves its activations.
        needs_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.vision.parameters())
        with torch.set_grad_enabled(needs_grad):
            feats = self.vision(pixel_values)
        return self.projector(feats)

    def embed(
        self, input_ids: Sequence[torch.Tensor], labels: Sequence[torch.Tensor], pixel_values: Optional[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Builds the LLM input: each IMAGE_TOKEN_ID replaced by the next
        image's visual tokens (labelled IGNORE_INDEX), truncated to
        max_length and right-padded. Returns (embeds, attention_mask, labels)."""
        table = self.llm.get_input_embeddings()
        device = table.weight.device
        vis = None
        if pixel_values is not None:
            vis = self.visual_tokens(pixel_values.to(device))
        n_images = 0 if vis is None else vis.shape[0]
        seqs, labs = [], []
        k = 0
        for ids, lab in zip(input_ids, labels):
            ids, lab = ids.to(device), lab.to(device)
            text = table(ids.clamp(min=0))
            pieces, lpieces, start = [], [], 0
            for pos in (ids == IMAGE_TOKEN_ID).nonzero().flatten().tolist():
                if k >= n_images:
                    raise ValueError(f"batch has more image tokens than its {n_images} images")
                pieces += [text[start:pos], vis[k].to(text.dtype)]
                lpieces += [lab[start:pos], lab.new_full((vis.shape[1],), IGNORE_INDEX)]
                k, start = k + 1, pos + 1
            pieces.append(text[start:])
            lpieces.append(lab[start:])
            seqs.append(torch.cat(pieces)[: self.max_length])
            labs.append(torch.cat(lpieces)[: self.max_length])
        if k != n_images:
            raise ValueError(f"batch has {n_images} images but {k} image tokens")
        longest = max(s.shape[0] for s in seqs)
        embeds = seqs[0].new_zeros((len(seqs), longest, seqs[0].shape[1]))
        mask = torch.zeros((len(seqs), longest), dtype=torch.long, device=device)
        out_labels = torch.full((len(seqs), longest), IGNORE_INDEX, dtype=torch.long, device=device)
        for i, (s, l) in enumerate(zip(seqs, labs)):
            embeds[i, : s.shape[0]] = s
            mask[i, : s.shape[0]] = 1
            out_labels[i, : l.shape[0]] = l
        return embeds, mask, out_labels

    def forward(self, batch: Dict) -> torch.Tensor:
        """The SFT loss of a collated batch: mean next-token cross-entropy
        over the gpt-turn tokens."""
        embeds, mask, labels = self.embed(batch["input_ids"], batch["labels"], batch.get("pixel_values"))
        out = self.llm(inputs_embeds=embeds, attention_mask=mask)
        logits = out.logits if hasattr(out, "logits") else out
        logits = logits[:, :-1].float()
        target = labels[:, 1:]
        if not (target != IGNORE_INDEX).any():
            # Everything truncated away: a zero that keeps the graph (and DDP) intact.
            return logits.sum() * 0.0
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE_INDEX)


# --- stage freeze plans (Section 3.1, Appendix A) --------------------------------------------


def is_trainable(name: str, stage: int) -> bool:
    """Whether the SpatialVLM parameter called name trains in stage:
    1 projector; 2 projector + LLM; 3 projector + Attn+ + α (the original
    encoder weights and the LLM stay frozen)."""
    if name.startswith("projector."):
        return True
    if stage == 2:
        return name.startswith("llm.")
    if stage == 3:
        return name.startswith("vision.") and (".attn_plus." in name or name.endswith(".mix_logit"))
    if stage != 1:
        raise ValueError(f"stage must be 1, 2 or 3, got {stage}")
    return False


def apply_stage(model: SpatialVLM, stage: int) -> List[str]:
    """Sets requires_grad by the stage's plan; returns the trainable names."""
    if stage == 3 and not dual_channel_modules(model.vision):
        raise ValueError("stage 3 trains dual-channel attention, but the encoder has none: wrap it first")
    names = []
    for name, p in model.named_parameters():
        p.requires_grad_(is_trainable(name, stage))
        if p.requires_grad:
            names.append(name)
    return names


# --- builders ---------------------------------------------------------------------------------
#
# Model names: "hf:<repo>" (also a bare "<org>/<repo>"), "open_clip:<arch>/<pretrained>",
# or "py:<module>:<function>" for any function returning what the builder returns
# (tests use this for tiny models).


def _split(name: str) -> Tuple[str, str]:
    for scheme in ("hf:", "open_clip:", "py:"):
        if name.startswith(scheme):
            return scheme[:-1], name[len(scheme) :]
    return "hf", name


def _py(ref: str, what: str):
    module, _, func = ref.partition(":")
    if not module or not func:
        raise ValueError(f"{what} py:{ref}: expected py:<module>:<function>")
    return getattr(importlib.import_module(module), func)()


def build_vision(name: str) -> Tuple[VisionTower, ImageTransform]:
    """The encoder f_V and the image preprocessing that goes with it."""
    scheme, ref = _split(name)
    if scheme == "py":
        return _py(ref, "encoder")
    if scheme == "open_clip":
        import open_clip

        arch, _, pretrained = ref.partition("/")
        model = open_clip.create_model(arch, pretrained=pretrained or None)
        visual = model.visual
        visual.output_tokens = True  # forward returns (pooled, patch tokens)
        size = visual.image_size if isinstance(visual.image_size, int) else visual.image_size[0]
        transform = ImageTransform(size, tuple(visual.image_mean), tuple(visual.image_std))
        return VisionTower(visual, visual.transformer.width, 0, output_index=1), transform

    from transformers import AutoImageProcessor, AutoModel

    model = AutoModel.from_pretrained(ref)
    if hasattr(model, "vision_model"):  # CLIP/SigLIP: keep the vision tower only
        model = model.vision_model
    if getattr(model, "use_head", False):
        # SigLIP's attention-pooling head: unused here (we take the patch
        # tokens), and its attention must not be wrapped and trained in vain.
        model.use_head, model.head = False, None
    cfg = model.config
    prefix = 0  # SigLIP: patch tokens only
    if "dino" in cfg.model_type:  # CLS + registers lead the patch tokens
        prefix = 1 + int(getattr(cfg, "num_register_tokens", 0) or 0)
    elif cfg.model_type.startswith("clip"):  # CLS first
        prefix = 1
    proc = AutoImageProcessor.from_pretrained(ref)
    size = proc.crop_size if getattr(proc, "do_center_crop", False) else proc.size
    transform = ImageTransform(_side(size, ref), tuple(proc.image_mean), tuple(proc.image_std))
    return VisionTower(model, cfg.hidden_size, prefix), transform


def _side(size, ref: str) -> int:
    """The square input side from an image processor's size (a dict, or the
    SizeDict of the fast processors)."""
    for key in ("height", "shortest_edge"):
        try:
            v = size[key]
        except (KeyError, TypeError, AttributeError):
            v = None
        if v:
            return int(v)
    raise ValueError(f"encoder {ref}: cannot tell the input size from its image processor ({size!r})")


class HFTokenizer:
    """A transformers tokenizer as a plain encode function (picklable, for
    DataLoader workers)."""

    def __init__(self, tok):
        self.tok = tok

    def encode(self, text: str) -> List[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"]


def build_llm(name: str, dtype: Optional[torch.dtype] = None) -> Tuple[nn.Module, Callable[[str], List[int]]]:
    """The LLM f_L and its tokenizer's encode function."""
    scheme, ref = _split(name)
    if scheme == "py":
        return _py(ref, "llm")
    if scheme != "hf":
        raise ValueError(f"llm {name}: only hf: and py: LLMs are supported")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    llm = AutoModelForCausalLM.from_pretrained(ref, dtype=dtype or torch.float32)
    return llm, HFTokenizer(AutoTokenizer.from_pretrained(ref)).encode
