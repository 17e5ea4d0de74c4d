"""One training loop for the three stages, run by Ray Train's TorchTrainer on
a cluster or in this process (--no-ray) for debugging and tests.

What a stage leaves behind is a bundle, OUT/model/bundle.json plus weight
files; the next stage's --init points at it:

    {"format": "boostgen.trainer-bundle/v1", "stage": 2, "encoder": "...", "llm": "...",
     "dual_channel": ["blocks.0.attn", ...],          # encoder modules wrapped (Stage 3)
     "files": {"projector": "projector.pt",           # relative to the bundle, or a URI
               "llm": "llm.pt" | "s3://.../llm.pt" | null,   # null: the pretrained weights
               "encoder": "encoder.pt" | null}, ...}

bundle.json is written last, so a bundle that has one is complete. Stage 3's
encoder.pt is the tuned encoder on its own (a state_dict with the
dual-channel layers); load_encoder() rebuilds it.
"""

import contextlib
import dataclasses
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch

from . import storage
from .data import BoostgenDataset, ImageTransform, Manifest, collate, read_manifest
from .dual_attention import (
    DEFAULT_ATTENTION_CLASSES,
    DualChannelAttention,
    parameter_overhead,
    wrap_attention,
)
from .model import DEFAULT_ENCODER, DEFAULT_LLM, SpatialVLM, VisionTower, apply_stage, build_llm, build_vision

BUNDLE = "bundle.json"
BUNDLE_FORMAT = "boostgen.trainer-bundle/v1"

# Appendix A. Stage 2's learning rate is not in the paper; 2e-5 is our choice
# (LLaVA-1.5's visual instruction tuning uses it too).
RECIPES = {
    1: {"lr": 2e-3, "batch_size": 256, "epochs": 1.0},
    2: {"lr": 2e-5, "batch_size": 128, "epochs": 1.0},
    3: {"lr": 2e-5, "batch_size": 128, "epochs": 1.0},
}


@dataclass
class TrainConfig:
    stage: int
    data: str
    out: str
    init: Optional[str] = None
    encoder: Optional[str] = None
    llm: Optional[str] = None
    lr: Optional[float] = None  # None: the stage's recipe
    batch_size: Optional[int] = None  # global, over all workers and accumulation
    micro_batch_size: Optional[int] = None  # per worker per forward; None: batch_size / workers
    epochs: Optional[float] = None
    max_steps: int = 0  # 0: no cap
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    max_length: int = 4096
    seed: int = 0
    shuffle_buffer: int = 1024
    loader_workers: int = 2
    attention_classes: Optional[List[str]] = None
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    precision: str = "fp32"  # "bf16": autocast, and frozen weights stored in bf16
    gradient_checkpointing: bool = False
    use_gpu: bool = False
    num_workers: int = 1
    ray: bool = True
    run_name: Optional[str] = None
    max_failures: int = 3

    def resolved(self) -> "TrainConfig":
        """A copy with the recipe's defaults filled in, checked."""
        if self.stage not in RECIPES:
            raise ValueError(f"--stage must be 1, 2 or 3, got {self.stage}")
        c = dataclasses.replace(self)
        for k, v in RECIPES[self.stage].items():
            if getattr(c, k) is None:
                setattr(c, k, v)
        if c.precision not in ("fp32", "bf16"):
            raise ValueError(f"--precision must be fp32 or bf16, got {c.precision!r}")
        for k in ("batch_size", "num_workers", "checkpoint_every", "keep_checkpoints"):
            if getattr(c, k) < 1:
                raise ValueError(f"--{k.replace('_', '-')} must be at least 1, got {getattr(c, k)}")
        if c.micro_batch_size is None:
            c.micro_batch_size = max(1, c.batch_size // c.num_workers)
        if c.batch_size % (c.num_workers * c.micro_batch_size):
            raise ValueError(
                f"--batch-size {c.batch_size} is not a multiple of --num-workers {c.num_workers} "
                f"× --micro-batch-size {c.micro_batch_size}"
            )
        if c.stage > 1 and not c.init:
            raise ValueError(f"stage {c.stage} starts from the bundle of stage {c.stage - 1}: pass --init")
        return c


# --- bundles --------------------------------------------------------------------------------


def read_bundle(uri: str) -> Tuple[str, dict]:
    """Finds the bundle at uri (a bundle folder, or a stage's --out folder)
    and returns (its folder, its bundle.json)."""
    for d in (uri, storage.join(uri, "model")):
        path = storage.join(d, BUNDLE)
        if storage.exists(path):
            try:
                doc = json.loads(storage.read_bytes(path))
            except ValueError as e:
                raise ValueError(f"{path}: not JSON: {e}") from None
            if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
                got = doc.get("format") if isinstance(doc, dict) else None
                raise ValueError(f"{path}: format is {got!r}, expected {BUNDLE_FORMAT!r}")
            return d, doc
    raise ValueError(f"{uri}: no {BUNDLE} there or under model/; --init takes the --out of an earlier stage")


def _file(bundle_dir: str, ref: Optional[str]) -> Optional[str]:
    """A bundle's file reference as a URI that works from anywhere."""
    if ref is None or storage.is_s3(ref) or os.path.isabs(ref):
        return ref
    uri = storage.join(bundle_dir, ref)
    return uri if storage.is_s3(uri) else os.path.abspath(uri)


def _restore_encoder(vision: VisionTower, bundle_dir: str, bundle: dict) -> None:
    dual = bundle.get("dual_channel") or []
    if dual:
        wanted = set(dual)
        got = wrap_attention(vision.encoder, lambda path, _m: path in wanted)
        if sorted(got) != sorted(dual):
            raise ValueError(f"{bundle_dir}: bundle wraps {sorted(wanted - set(got))} which the encoder lacks")
    enc = _file(bundle_dir, bundle["files"].get("encoder"))
    if enc:
        vision.encoder.load_state_dict(storage.load_torch(enc))


def load_encoder(bundle_uri: str) -> Tuple[VisionTower, ImageTransform]:
    """The tuned encoder of a bundle (with its dual-channel layers), on its
    own, with its preprocessing: what downstream probing needs."""
    d, b = read_bundle(bundle_uri)
    vision, transform = build_vision(b["encoder"])
    _restore_encoder(vision, d, b)
    return vision, transform


def _names(cfg: TrainConfig, init: Optional[Tuple[str, dict]]) -> Tuple[str, str]:
    """The encoder and LLM names: the flags', else the --init bundle's, else
    the defaults; a flag that contradicts the bundle is an error."""
    names = []
    for what, given, default in (("encoder", cfg.encoder, DEFAULT_ENCODER), ("llm", cfg.llm, DEFAULT_LLM)):
        had = init[1].get(what) if init else None
        if given and had and given != had:
            raise ValueError(f"--{what} {given} differs from the --init bundle's {had}")
        names.append(given or had or default)
    return names[0], names[1]


def _init_file(init: Optional[Tuple[str, dict]], key: str) -> Optional[str]:
    return _file(init[0], init[1]["files"].get(key)) if init else None


def build_model(cfg: TrainConfig):
    """The model for cfg's stage, with the --init bundle's weights loaded and,
    for Stage 3, dual-channel attention in the encoder. Returns (model,
    encode, transform, (bundle folder, bundle) or None)."""
    init = read_bundle(cfg.init) if cfg.init else None
    encoder_name, llm_name = _names(cfg, init)
    vision, transform = build_vision(encoder_name)
    if init:
        _restore_encoder(vision, *init)
    if cfg.stage == 3 and not (init and init[1].get("dual_channel")):
        wrap_attention(vision.encoder, cfg.attention_classes or DEFAULT_ATTENTION_CLASSES)
    # A frozen LLM (Stages 1 and 3) under bf16 is loaded in bf16: half the
    # memory, on every worker. A trained one keeps fp32 master weights.
    llm_dtype = torch.bfloat16 if cfg.precision == "bf16" and cfg.stage != 2 else None
    llm, encode = build_llm(llm_name, llm_dtype)
    llm_file = _init_file(init, "llm")
    if llm_file:
        llm.load_state_dict(storage.load_torch(llm_file))
    model = SpatialVLM(vision, llm, cfg.max_length)
    proj = _init_file(init, "projector")
    if proj:
        model.projector.load_state_dict(storage.load_torch(proj))
    return model, encode, transform, init


def write_bundle(cfg: TrainConfig, model: SpatialVLM, init, manifest: Manifest, steps: int) -> str:
    out = storage.join(cfg.out, "model")
    files = {"projector": "projector.pt", "llm": None, "encoder": None}
    storage.save_torch(model.projector.state_dict(), storage.join(out, "projector.pt"))
    if cfg.stage == 2:
        storage.save_torch(model.llm.state_dict(), storage.join(out, "llm.pt"))
        files["llm"] = "llm.pt"
    else:
        files["llm"] = _init_file(init, "llm")
    dual = [n for n, m in model.vision.encoder.named_modules() if isinstance(m, DualChannelAttention)]
    if dual:
        storage.save_torch(model.vision.encoder.state_dict(), storage.join(out, "encoder.pt"))
        files["encoder"] = "encoder.pt"
    else:
        files["encoder"] = _init_file(init, "encoder")
    encoder_name, llm_name = _names(cfg, init)
    doc = {
        "format": BUNDLE_FORMAT,
        "stage": cfg.stage,
        "encoder": encoder_name,
        "llm": llm_name,
        "dual_channel": dual,
        "files": files,
        "steps": steps,
        "data": {"uri": manifest.root, "records": manifest.records, "config_sha256": manifest.config_sha256},
    }
    if dual:
        doc["parameter_overhead"] = parameter_overhead(model.vision.encoder)
    storage.write_bytes(storage.join(out, BUNDLE), json.dumps(doc, indent=2).encode())
    return out


# --- sessions: what differs between one process and a Ray worker ---------------------------


def log(metrics: Dict) -> None:
    print(json.dumps(metrics), flush=True)


class LocalSession:
    """This machine without Ray: one process, or one of several that torchrun
    started (RANK, WORLD_SIZE and LOCAL_RANK in the environment), trained with
    DDP over gloo on CPUs or NCCL on GPUs. Rank 0 writes checkpoints to
    OUT/checkpoints/step-NNNNNNNNN/state.pt, where every rank resumes from."""

    def __init__(self, cfg: TrainConfig):
        self.rank = int(os.environ.get("RANK", "0"))
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(f"cuda:{local_rank}" if cfg.use_gpu else "cpu")
        self.dir = storage.join(cfg.out, "checkpoints")
        self.keep = cfg.keep_checkpoints
        if self.world_size > 1 and not torch.distributed.is_initialized():
            if cfg.use_gpu:
                torch.cuda.set_device(self.device)
            torch.distributed.init_process_group("nccl" if cfg.use_gpu else "gloo")

    def prepare(self, model):
        model = model.to(self.device)
        if self.world_size == 1:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def _steps(self) -> List[str]:
        return sorted(n for n in storage.list_names(self.dir) if n.startswith("step-"))

    def load_checkpoint(self) -> Optional[dict]:
        for name in reversed(self._steps()):
            uri = storage.join(self.dir, name, "state.pt")
            if storage.exists(uri):  # state.pt lands atomically: present means complete
                return storage.load_torch(uri, weights_only=False)
        return None

    def checkpoint(self, state: Callable[[], dict], metrics: Dict) -> None:
        if self.rank == 0:
            storage.save_torch(state(), storage.join(self.dir, f"step-{metrics['step']:09d}", "state.pt"))
            for name in self._steps()[: -self.keep]:
                storage.remove(storage.join(self.dir, name, "state.pt"))
                if not storage.is_s3(self.dir):
                    with contextlib.suppress(OSError):  # not empty: leave it
                        os.rmdir(storage.join(self.dir, name))
        self.report(metrics)

    def report(self, metrics: Dict) -> None:
        if self.rank == 0:
            log(metrics)

    def close(self) -> None:
        if self.world_size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


class RaySession:
    """A Ray Train worker: checkpoints go through ray.train.report to
    RunConfig's storage_path, and come back via ray.train.get_checkpoint()
    after a failure or a restart of the same run."""

    def __init__(self, cfg: TrainConfig):
        from ray import train
        import ray.train.torch as ray_torch

        self.train, self.ray_torch = train, ray_torch
        ctx = train.get_context()
        self.rank, self.world_size = ctx.get_world_rank(), ctx.get_world_size()
        self.device = ray_torch.get_device()

    def prepare(self, model):
        return self.ray_torch.prepare_model(model)  # to the device; DDP when world_size > 1

    def load_checkpoint(self) -> Optional[dict]:
        ckpt = self.train.get_checkpoint()
        if ckpt is None:
            return None
        with ckpt.as_directory() as d:
            return storage.load_torch(os.path.join(d, "state.pt"), weights_only=False)

    def checkpoint(self, state: Callable[[], dict], metrics: Dict) -> None:
        with tempfile.TemporaryDirectory() as d:
            ckpt = None
            if self.rank == 0:
                torch.save(state(), os.path.join(d, "state.pt"))
                ckpt = self.train.Checkpoint.from_directory(d)
            self.train.report(metrics, checkpoint=ckpt)
        if self.rank == 0:
            log(metrics)

    def report(self, metrics: Dict) -> None:
        self.train.report(metrics)
        if self.rank == 0:
            log(metrics)


# --- the loop -------------------------------------------------------------------------------


def warmup_cosine(total: int, warmup_ratio: float) -> Callable[[int], float]:
    warm = max(1, math.ceil(total * warmup_ratio))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return factor


def train_worker(cfg: TrainConfig, session) -> Dict:
    """Trains one stage on one worker; returns the last step's metrics."""
    cfg = cfg.resolved()
    torch.manual_seed(cfg.seed)
    model, encode, transform, init = build_model(cfg)
    trainable = apply_stage(model, cfg.stage)
    if cfg.stage == 3 and session.rank == 0:
        print(json.dumps({"parameter_overhead": parameter_overhead(model.vision.encoder)}), file=sys.stderr)
    bf16 = cfg.precision == "bf16"
    if bf16:
        # Only the LLM's frozen weights: the encoder's are exported in Stage 3's
        # encoder.pt and must stay exactly the pretrained ones.
        for p in model.llm.parameters():
            if not p.requires_grad:
                p.data = p.data.to(torch.bfloat16)
    if cfg.gradient_checkpointing and hasattr(model.llm, "gradient_checkpointing_enable"):
        # Non-reentrant: gradients must reach the (trainable) visual tokens
        # through a frozen LLM in Stages 1 and 3.
        model.llm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    manifest = read_manifest(cfg.data)
    micro = cfg.micro_batch_size
    accum = cfg.batch_size // (session.world_size * micro)
    if cfg.num_workers != session.world_size:
        raise ValueError(f"configured for {cfg.num_workers} workers, running on {session.world_size}")
    steps_per_epoch = manifest.records // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{cfg.data}: {manifest.records} records, fewer than one batch of {cfg.batch_size}")
    total = math.ceil(cfg.epochs * steps_per_epoch)
    if cfg.max_steps:
        total = min(total, cfg.max_steps)

    state = session.load_checkpoint()
    if state is not None:
        if state["stage"] != cfg.stage or sorted(state["trainable"]) != sorted(trainable):
            raise ValueError(f"{cfg.out}: checkpoint is of another stage or model; use a fresh --out")
        with torch.no_grad():
            params = dict(model.named_parameters())
            for n, t in state["trainable"].items():
                params[n].copy_(t)
    core = model
    model = session.prepare(model)
    params = [p for p in core.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total, cfg.warmup_ratio))
    step = 0
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = state["step"]

    def snapshot() -> dict:
        return {
            "stage": cfg.stage,
            "step": step,
            "trainable": {n: p.detach().cpu() for n, p in core.named_parameters() if p.requires_grad},
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "config": dataclasses.asdict(cfg),
        }

    device_type = session.device.type
    metrics: Dict = {"stage": cfg.stage, "step": step}
    model.train()
    while step < total:
        epoch, in_epoch = divmod(step, steps_per_epoch)
        ds = BoostgenDataset(
            cfg.data,
            encode,
            transform,
            rank=session.rank,
            world_size=session.world_size,
            seed=cfg.seed + epoch,
            shuffle_buffer=cfg.shuffle_buffer,
            skip=in_epoch * accum * micro,
            micro_batch_size=micro,
            manifest=manifest,
        )
        loader = torch.utils.data.DataLoader(
            ds,
            batch_size=micro,
            collate_fn=collate,
            num_workers=cfg.loader_workers,
            pin_memory=device_type == "cuda",
        )
        batches = iter(loader)
        while in_epoch < steps_per_epoch and step < total:
            opt.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for i in range(accum):
                batch = next(batches)
                sync = contextlib.nullcontext()
                if i < accum - 1 and hasattr(model, "no_sync"):
                    sync = model.no_sync()  # DDP: all-reduce once per optimizer step
                with sync:
                    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
                        loss = model(batch) / accum
                    loss.backward()
                loss_sum += loss.item()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            in_epoch += 1
            metrics = {
                "stage": cfg.stage,
                "step": step,
                "epoch": round(step / steps_per_epoch, 4),
                "loss": loss_sum,
                "lr": sched.get_last_lr()[0],
            }
            if step % cfg.checkpoint_every == 0 or step == total:
                session.checkpoint(snapshot, metrics)
            else:
                session.report(metrics)
        del batches, loader
    if session.rank == 0:
        metrics["bundle"] = write_bundle(cfg, core, init, manifest, step)
    return metrics


def run_local(cfg: TrainConfig) -> Dict:
    """Trains in this process (one of WORLD_SIZE under torchrun)."""
    session = LocalSession(cfg)
    try:
        return train_worker(cfg, session)
    finally:
        session.close()


def _ray_worker(config: dict) -> None:
    cfg = TrainConfig(**config)
    train_worker(cfg, RaySession(cfg))


def run_ray(cfg: TrainConfig) -> Dict:
    """Runs the stage on a Ray cluster (ray.init() finds it through
    RAY_ADDRESS, or starts a local one)."""
    try:
        import ray.train
        from ray.train.torch import TorchTrainer
    except ImportError:
        raise SystemExit("ray[train] is not installed here; install it or pass --no-ray") from None
    cfg = cfg.resolved()
    # Ray workers run in directories of their own: local paths must be absolute.
    for k in ("data", "out", "init"):
        v = getattr(cfg, k)
        if v and not storage.is_s3(v):
            setattr(cfg, k, os.path.abspath(v))
    storage_path = storage.join(cfg.out, "ray")
    trainer = TorchTrainer(
        _ray_worker,
        train_loop_config=dataclasses.asdict(cfg),
        scaling_config=ray.train.ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu),
        run_config=ray.train.RunConfig(
            name=cfg.run_name or f"stage{cfg.stage}",
            storage_path=storage_path,
            failure_config=ray.train.FailureConfig(max_failures=cfg.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=cfg.keep_checkpoints),
        ),
    )
    result = trainer.fit()
    return dict(result.metrics or {})
