"""python -m boostgen_trainer: train one SpatialBoost stage."""

import argparse
import json
import os
import sys
from typing import List, Optional

from .data import DatasetError
from .train import RECIPES, TrainConfig, run_local, run_ray


def parse_args(argv: Optional[List[str]] = None) -> TrainConfig:
    recipes = "; ".join(
        f"stage {s}: lr {r['lr']:g}, batch {r['batch_size']}, {r['epochs']:g} epoch" for s, r in RECIPES.items()
    )
    p = argparse.ArgumentParser(
        prog="python -m boostgen_trainer",
        description="Train one SpatialBoost stage (1 projector; 2 projector+LLM; 3 dual-channel "
        "attention+projector) on a boostgen dataset. Defaults follow the paper: " + recipes + ".",
    )
    p.add_argument("--stage", type=int, required=True, choices=(1, 2, 3))
    p.add_argument("--data", required=True, help="boostgen output folder or s3:// prefix holding manifest.json")
    p.add_argument("--out", required=True, help="folder or s3:// prefix for checkpoints and the bundle (OUT/model)")
    p.add_argument("--init", help="the previous stage's --out (or its bundle); required for stages 2 and 3")
    p.add_argument(
        "--encoder",
        help="hf:<repo>, open_clip:<arch>/<pretrained> or py:<module>:<function> "
        "(default: the --init bundle's, else hf:facebook/dinov2-large)",
    )
    p.add_argument(
        "--llm",
        help="hf:<repo> or py:<module>:<function> (default: the --init bundle's, " "else hf:Qwen/Qwen2-7B-Instruct)",
    )
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int, help="global batch size, over all workers")
    p.add_argument(
        "--micro-batch-size", type=int, help="per worker and forward pass; the rest is gradient accumulation"
    )
    p.add_argument("--epochs", type=float)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many optimizer steps (0: no cap)")
    p.add_argument("--max-length", type=int, default=4096, help="tokens per sample, visual tokens included")
    p.add_argument("--warmup-ratio", type=float, default=0.03)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shuffle-buffer", type=int, default=1024)
    p.add_argument("--loader-workers", type=int, default=2, help="DataLoader processes per worker")
    p.add_argument(
        "--attention-classes",
        help="comma-separated class names of the encoder's attention modules "
        "to wrap in Stage 3 (default: the DINOv2/v3, SigLIP, open_clip and timm ones)",
    )
    p.add_argument("--checkpoint-every", type=int, default=500, help="optimizer steps between checkpoints")
    p.add_argument("--keep-checkpoints", type=int, default=2)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--num-workers", type=int, default=1, help="Ray Train workers (one per GPU)")
    p.add_argument("--use-gpu", action="store_true")
    p.add_argument("--no-ray", action="store_true", help="train in this process, without Ray (or under torchrun)")
    p.add_argument("--run-name", help="Ray run name; the same name resumes (default stageN)")
    p.add_argument("--max-failures", type=int, default=3, help="Ray worker failures to recover from")
    a = p.parse_args(argv)
    if a.no_ray and a.num_workers != int(os.environ.get("WORLD_SIZE", "1")):
        p.error("--no-ray trains in this process, one of WORLD_SIZE under torchrun: --num-workers must match it")
    return TrainConfig(
        stage=a.stage,
        data=a.data,
        out=a.out,
        init=a.init,
        encoder=a.encoder,
        llm=a.llm,
        lr=a.lr,
        batch_size=a.batch_size,
        micro_batch_size=a.micro_batch_size,
        epochs=a.epochs,
        max_steps=a.max_steps,
        max_length=a.max_length,
        warmup_ratio=a.warmup_ratio,
        weight_decay=a.weight_decay,
        grad_clip=a.grad_clip,
        seed=a.seed,
        shuffle_buffer=a.shuffle_buffer,
        loader_workers=a.loader_workers,
        attention_classes=a.attention_classes.split(",") if a.attention_classes else None,
        checkpoint_every=a.checkpoint_every,
        keep_checkpoints=a.keep_checkpoints,
        precision=a.precision,
        gradient_checkpointing=a.gradient_checkpointing,
        use_gpu=a.use_gpu,
        num_workers=a.num_workers,
        ray=not a.no_ray,
        run_name=a.run_name,
        max_failures=a.max_failures,
    )


def main(argv: Optional[List[str]] = None) -> int:
    cfg = parse_args(argv)
    try:
        metrics = run_ray(cfg) if cfg.ray else run_local(cfg)
    except (DatasetError, ValueError, OSError) as e:  # bad input, missing files: a message, no traceback
        print(f"boostgen_trainer: {e}", file=sys.stderr)
        return 1
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one summary
        print(json.dumps({"done": metrics}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
