"""What dual-channel attention costs in encoder time, as ratios.

Runs a stack of ViT blocks (tests/tiny_models.Block, timm-style attention) on
random tokens, plain and wrapped, and prints the median time of each and the
ratios: forward (wrapped/plain), and a Stage 3 training step (wrapped, Attn+
and α trainable) against a full fine-tuning step of the plain encoder.

    cd driver/trainer && $BOOSTGEN_PYTHON bench/dual_attention.py [--dim 192 --depth 6 --heads 3 --tokens 197 --batch 4]
"""

import argparse
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path[:0] = [os.path.join(os.path.dirname(__file__), ".."), os.path.join(os.path.dirname(__file__), "..", "tests")]

from boostgen_trainer.dual_attention import parameter_overhead, wrap_attention  # noqa: E402
from tiny_models import Block  # noqa: E402


def median_seconds(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--heads", type=int, default=3)
    p.add_argument("--tokens", type=int, default=197)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    torch.manual_seed(0)
    plain = nn.Sequential(*[Block(a.dim, a.heads, "timm") for _ in range(a.depth)])
    dual = nn.Sequential(*[Block(a.dim, a.heads, "timm") for _ in range(a.depth)])
    dual.load_state_dict(plain.state_dict())
    wrap_attention(dual)
    for n, q in dual.named_parameters():
        q.requires_grad_(".attn_plus." in n or n.endswith("mix_logit"))
    x = torch.randn(a.batch, a.tokens, a.dim)

    with torch.no_grad():
        fwd_plain = median_seconds(lambda: plain(x), a.reps)
        fwd_dual = median_seconds(lambda: dual(x), a.reps)
    step_plain = median_seconds(lambda: plain(x).square().mean().backward(), a.reps)
    step_dual = median_seconds(lambda: dual(x).square().mean().backward(), a.reps)
    overhead = parameter_overhead(dual)
    print(f"encoder: {a.depth} blocks, d={a.dim}, {a.tokens} tokens, batch {a.batch}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"parameters: +{overhead['ratio']:.1%} ({overhead['added']:,} added to {overhead['base']:,})")
    print(
        f"forward       plain {fwd_plain * 1e3:8.1f} ms   dual {fwd_dual * 1e3:8.1f} ms   ratio {fwd_dual / fwd_plain:.2f}"
    )
    print(
        f"train step    full FT {step_plain * 1e3:6.1f} ms   stage 3 {step_dual * 1e3:5.1f} ms   "
        f"ratio {step_dual / step_plain:.2f}"
    )


if __name__ == "__main__":
    main()
