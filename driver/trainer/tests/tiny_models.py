"""Tiny, randomly initialised stand-ins for the real encoder and LLM, with
the real structure: a ViT whose attention layers compute softmax attention
(a timm-style `Attention` returning (output, weights), or torch's own
nn.MultiheadAttention as open_clip uses it), and a Qwen2-style decoder (RMSNorm,
rotary positions, grouped-query attention, SwiGLU MLP).

build_encoder and build_llm are what `--encoder py:tiny_models:build_encoder`
and `--llm py:tiny_models:build_llm` call; they seed their own generator so
every process gets the same "pretrained" weights, as a real checkpoint would.
"""

import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn

from boostgen_trainer.data import ByteTokenizer, ImageTransform
from boostgen_trainer.model import VisionTower

IMAGE_SIZE = 32
PATCH = 8


class Attention(nn.Module):
    """timm's ViT attention, returning (output, attention weights) like the
    Hugging Face encoders do."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c)), attn


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, kind: str):
        super().__init__()
        self.kind = kind
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads) if kind == "timm" else nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        h = self.norm1(x)
        h = self.attn(h)[0] if self.kind == "timm" else self.attn(h, h, h, need_weights=False)[0]
        x = x + h
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Returns [images, 1 + patches, dim]: a CLS token, then the patches."""

    def __init__(self, dim: int = 32, depth: int = 2, heads: int = 4, kind: str = "timm"):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, PATCH, PATCH)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + (IMAGE_SIZE // PATCH) ** 2, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, kind) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, pixels):
        x = self.patch_embed(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    a, b = x.chunk(2, -1)
    return torch.cat([-b, a], -1)


class Qwen2Attention(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, kv_heads * self.head_dim)
        self.v_proj = nn.Linear(dim, kv_heads * self.head_dim)
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x, cos, sin, mask):
        b, n, _ = x.shape
        q = self.q_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv_heads
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim) + mask
        out = scores.softmax(-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, n, -1))


class Qwen2Layer(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int, inter: int):
        super().__init__()
        self.input_layernorm = RMSNorm(dim)
        self.self_attn = Qwen2Attention(dim, heads, kv_heads)
        self.post_attention_layernorm = RMSNorm(dim)
        self.gate_proj = nn.Linear(dim, inter, bias=False)
        self.up_proj = nn.Linear(dim, inter, bias=False)
        self.down_proj = nn.Linear(inter, dim, bias=False)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class TinyQwen2ForCausalLM(nn.Module):
    """forward(inputs_embeds=, attention_mask=) -> .logits, like transformers'."""

    def __init__(self, vocab: int, dim: int = 32, layers: int = 2, heads: int = 4, kv_heads: int = 2, inter: int = 64):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList(Qwen2Layer(dim, heads, kv_heads, inter) for _ in range(layers))
        self.norm = RMSNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.head_dim = dim // heads

    def get_input_embeddings(self):
        return self.embed_tokens

    def forward(self, inputs_embeds, attention_mask):
        b, n, _ = inputs_embeds.shape
        pos = torch.arange(n, dtype=torch.float32)
        inv = 1.0 / (10000 ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim))
        ang = torch.cat([torch.outer(pos, inv)] * 2, -1)
        cos, sin = ang.cos().to(inputs_embeds.dtype), ang.sin().to(inputs_embeds.dtype)
        causal = torch.ones(n, n, dtype=torch.bool).tril()
        allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
        mask = torch.zeros(b, 1, n, n, dtype=inputs_embeds.dtype).masked_fill(
            ~allowed, torch.finfo(inputs_embeds.dtype).min
        )
        x = inputs_embeds
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return SimpleNamespace(logits=self.lm_head(self.norm(x)))


def _seeded(seed: int, make):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return make()


def build_encoder():
    vit = _seeded(1, TinyViT)
    return VisionTower(vit, 32, num_prefix_tokens=1), ImageTransform(IMAGE_SIZE, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def build_mha_encoder():
    vit = _seeded(1, lambda: TinyViT(kind="mha"))
    return VisionTower(vit, 32, num_prefix_tokens=1), ImageTransform(IMAGE_SIZE, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def build_llm():
    tok = ByteTokenizer()
    return _seeded(2, lambda: TinyQwen2ForCausalLM(tok.vocab_size)), tok.encode
