import json
import math
import os
import subprocess
import sys

import pytest
import torch

import tiny_models
from boostgen_trainer import storage
from boostgen_trainer.data import BoostgenDataset, collate, read_manifest
from boostgen_trainer.model import apply_stage
from boostgen_trainer.train import (
    LocalSession,
    TrainConfig,
    build_model,
    load_encoder,
    read_bundle,
    run_local,
    train_worker,
    write_bundle,
)
from fixtures import make_dataset

ENCODER = "py:tiny_models:build_encoder"
LLM = "py:tiny_models:build_llm"
HERE = os.path.dirname(os.path.abspath(__file__))


def config(data, out, stage, **kw):
    kw.setdefault("batch_size", 4)
    kw.setdefault("loader_workers", 0)
    kw.setdefault("epochs", 1)
    if stage == 1:
        kw.setdefault("encoder", ENCODER)
        kw.setdefault("llm", LLM)
    return TrainConfig(stage=stage, data=data, out=out, ray=False, **kw)


def dataset_loss(model, data, encode, transform):
    model.eval()
    with torch.no_grad():
        return model(collate(list(BoostgenDataset(data, encode, transform)))).item()


def bundle_loss(data, bundle, stage):
    model, encode, transform, _ = build_model(config(data, "unused", stage, init=bundle))
    return dataset_loss(model, data, encode, transform)


def fresh_loss(data):
    model, encode, transform, _ = build_model(config(data, "unused", 1))
    return dataset_loss(model, data, encode, transform)


class Recording(LocalSession):
    """The real local session, also keeping the metrics it logs, and able to
    crash right after a given checkpoint."""

    def __init__(self, cfg, crash_after=None):
        super().__init__(cfg)
        self.steps, self.crash_after = [], crash_after

    def report(self, metrics):
        super().report(metrics)
        self.steps.append(metrics)

    def checkpoint(self, state, metrics):
        super().checkpoint(state, metrics)  # which reports, too
        if metrics["step"] == self.crash_after:
            raise RuntimeError("simulated crash")


def test_each_stage_lowers_the_loss_and_hands_its_bundle_on(tmp_path):
    data = str(tmp_path / "data")
    make_dataset(data, n=12)
    outs = {s: str(tmp_path / f"stage{s}") for s in (1, 2, 3)}
    lrs = {1: 1e-2, 2: 3e-3, 3: 3e-3}
    before = fresh_loss(data)
    for stage in (1, 2, 3):
        init = outs[stage - 1] if stage > 1 else None
        cfg = config(data, outs[stage], stage, init=init, lr=lrs[stage], epochs=4, warmup_ratio=0)
        session = Recording(cfg)
        done = train_worker(cfg, session)
        assert [m["step"] for m in session.steps] == list(range(1, 13))  # 12 records / 4 = 3 steps × 4 epochs
        after = bundle_loss(data, outs[stage], stage)
        assert after < before, f"stage {stage}: loss {before} -> {after}"
        assert done["bundle"] == storage.join(outs[stage], "model")
        before = after

    d, b = read_bundle(outs[3])
    assert b["stage"] == 3 and b["encoder"] == ENCODER and b["llm"] == LLM
    assert b["dual_channel"] == ["blocks.0.attn", "blocks.1.attn"]
    assert 0.25 < b["parameter_overhead"]["ratio"] < 0.36
    # Stage 3 keeps Stage 2's LLM: its bundle points at it rather than copying it.
    assert b["files"]["llm"] == os.path.abspath(os.path.join(outs[2], "model", "llm.pt"))
    assert b["files"]["encoder"] == "encoder.pt"

    # The tuned encoder, on its own: original weights untouched, Attn+ and α trained.
    base, _ = tiny_models.build_encoder()
    tuned, _ = load_encoder(outs[3])
    base_sd, tuned_sd = base.encoder.state_dict(), tuned.encoder.state_dict()
    for name, t in base_sd.items():
        if ".attn." in name:
            head, tail = name.split(".attn.", 1)
            assert torch.equal(tuned_sd[f"{head}.attn.attn.{tail}"], t), name
            assert not torch.equal(tuned_sd[f"{head}.attn.attn_plus.{tail}"], t), name
        else:
            assert torch.equal(tuned_sd[name], t), name
    assert all(tuned_sd[f"blocks.{i}.attn.mix_logit"].abs().sum() > 0 for i in (0, 1))

    # And Stage 2's LLM really is what Stage 3 ran with: unchanged by Stage 3.
    llm2 = storage.load_torch(os.path.join(outs[2], "model", "llm.pt"))
    model3, *_ = build_model(config(data, "unused", 3, init=outs[3]))
    assert all(torch.equal(model3.llm.state_dict()[k], v) for k, v in llm2.items())


def test_a_crashed_run_resumes_where_its_checkpoint_left_off(tmp_path):
    data = str(tmp_path / "data")
    make_dataset(data, n=12)
    kw = dict(epochs=2, checkpoint_every=2, lr=1e-2)
    straight_cfg = config(data, str(tmp_path / "a"), 1, **kw)
    straight = Recording(straight_cfg)
    train_worker(straight_cfg, straight)

    crashing_cfg = config(data, str(tmp_path / "b"), 1, **kw)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_worker(crashing_cfg, Recording(crashing_cfg, crash_after=4))
    assert sorted(os.listdir(tmp_path / "b" / "checkpoints")) == ["step-000000002", "step-000000004"]
    resumed = Recording(crashing_cfg)
    train_worker(crashing_cfg, resumed)

    assert [m["step"] for m in resumed.steps] == [5, 6]
    assert [m["loss"] for m in resumed.steps] == [m["loss"] for m in straight.steps[4:]]
    a = storage.load_torch(str(tmp_path / "a" / "model" / "projector.pt"))
    b = storage.load_torch(str(tmp_path / "b" / "model" / "projector.pt"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # Only the newest keep_checkpoints (2) checkpoints stay.
    assert sorted(os.listdir(tmp_path / "b" / "checkpoints")) == ["step-000000004", "step-000000006"]


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_a_bundle_reloads_to_the_same_outputs(tmp_path, stage):
    data = str(tmp_path / "data")
    make_dataset(data, n=4)
    init = None
    if stage > 1:
        init = str(tmp_path / "before")
        run_local(config(data, init, 1, max_steps=1))
    cfg = config(data, str(tmp_path / "out"), stage, init=init)
    model, encode, transform, init_bundle = build_model(cfg)
    # Move every weight the stage trains, as training would.
    torch.manual_seed(5)
    with torch.no_grad():
        for name in apply_stage(model, stage):
            p = dict(model.named_parameters())[name]
            p.add_(torch.randn_like(p) * 0.05)
    write_bundle(cfg, model, init_bundle, read_manifest(data), steps=0)

    reloaded, *_ = build_model(config(data, "unused", stage, init=cfg.out))
    want = model.state_dict()
    assert reloaded.state_dict().keys() == want.keys()
    assert all(torch.equal(t, want[k]) for k, t in reloaded.state_dict().items())
    assert dataset_loss(reloaded, data, encode, transform) == dataset_loss(model, data, encode, transform)
    if stage == 3:
        pix = collate(list(BoostgenDataset(data, encode, transform)))["pixel_values"]
        with torch.no_grad():
            assert torch.equal(load_encoder(cfg.out)[0](pix), model.vision(pix))


def test_bf16_autocast_trains(tmp_path):
    data = str(tmp_path / "data")
    make_dataset(data, n=4)
    done = run_local(config(data, str(tmp_path / "out"), 1, precision="bf16", max_steps=1))
    assert done["step"] == 1 and math.isfinite(done["loss"])


def cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), HERE]))
    return subprocess.run(
        [sys.executable, "-m", "boostgen_trainer", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_trains_the_three_stages_in_turn(tmp_path):
    data = str(tmp_path / "data")
    make_dataset(data, n=8)
    common = ["--data", data, "--no-ray", "--batch-size", "4", "--loader-workers", "0"]
    r = cli("--stage", "1", "--out", "s1", "--encoder", ENCODER, "--llm", LLM, *common, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["done"]["step"] == 2
    r = cli("--stage", "2", "--out", "s2", "--init", "s1", "--max-steps", "1", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = cli("--stage", "3", "--out", "s3", "--init", "s2", *common, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert '"parameter_overhead"' in r.stderr
    b = json.loads((tmp_path / "s3" / "model" / "bundle.json").read_text())
    assert (b["stage"], b["steps"], b["encoder"], b["llm"]) == (3, 2, ENCODER, LLM)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--stage", "2", "--out", "o"], "stage 2 starts from the bundle of stage 1: pass --init"),
        (
            ["--stage", "1", "--out", "o", "--encoder", ENCODER, "--llm", LLM, "--data", "nowhere"],
            "nowhere: no manifest.json",
        ),
        (
            ["--stage", "1", "--out", "o", "--batch-size", "64", "--encoder", ENCODER, "--llm", LLM],
            "8 records, fewer than one batch of 64",
        ),
        (["--stage", "3", "--out", "o", "--init", "nothing-here"], "nothing-here: no bundle.json"),
        (
            ["--stage", "2", "--out", "o", "--init", "s1", "--llm", "hf:Qwen/Qwen2-7B"],
            "--llm hf:Qwen/Qwen2-7B differs from the --init bundle's py:tiny_models:build_llm",
        ),
    ],
)
def test_cli_names_what_is_wrong(tmp_path, args, message):
    make_dataset(str(tmp_path / "data"), n=8)
    if "s1" in args:
        run_local(config(str(tmp_path / "data"), str(tmp_path / "s1"), 1, max_steps=1))
    if "--data" not in args:
        args = args + ["--data", "data"]
    r = cli(*args, "--no-ray", "--loader-workers", "0", cwd=tmp_path)
    assert r.returncode == 1 and message in r.stderr, r.stderr


@pytest.mark.parametrize(
    "content, message",
    [("{not json", r"bundle.json: not JSON"), ('{"format": "other/v9"}', r"bundle.json: format is 'other/v9'")],
)
def test_a_bad_bundle_is_named(tmp_path, content, message):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "bundle.json").write_text(content)
    with pytest.raises(ValueError, match=message):
        read_bundle(str(tmp_path))


def test_cli_without_ray_installed_says_to_pass_no_ray(tmp_path):
    import importlib.util

    if importlib.util.find_spec("ray") is not None:
        pytest.skip("ray is installed here: this test is about its absence")
    make_dataset(str(tmp_path / "data"), n=4)
    r = cli("--stage", "1", "--data", "data", "--out", "o", cwd=tmp_path)
    assert r.returncode == 1 and "ray[train] is not installed here; install it or pass --no-ray" in r.stderr


def test_two_processes_under_torchrun_train_like_one(tmp_path):
    # DDP over gloo on 127.0.0.1: each rank takes half of every batch, in two
    # accumulated micro-batches of one; the fixture's records all have the
    # same number of answer tokens, so the averaged gradient is the one-process
    # one, up to summation order. The ranks get the environment torchrun gives
    # them (Debian's torch 1.13 torchrun itself breaks on Python 3.11).
    import socket

    data = str(tmp_path / "data")
    make_dataset(data, n=12)
    common = ["--stage", "1", "--data", data, "--no-ray", "--encoder", ENCODER, "--llm", LLM, "--batch-size", "4"]
    common += ["--loader-workers", "0", "--lr", "1e-3", "--checkpoint-every", "2"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ranks = []
    for rank in range(2):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), HERE]), OMP_NUM_THREADS="1")
        env.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        args = [sys.executable, "-m", "boostgen_trainer", *common, "--out", "ddp", "--num-workers", "2"]
        args += ["--micro-batch-size", "1"]
        ranks.append(
            subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    outs = [p.communicate(timeout=300) for p in ranks]
    for p, (_, err) in zip(ranks, outs):
        assert p.returncode == 0, err[-4000:]
    done = [json.loads(line)["done"] for out, _ in outs for line in out.splitlines() if line.startswith('{"done"')]
    assert len(done) == 1 and done[0]["step"] == 3
    assert sorted(os.listdir(tmp_path / "ddp" / "checkpoints")) == ["step-000000002", "step-000000003"]

    r = cli(*common, "--out", "one", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a = storage.load_torch(str(tmp_path / "ddp" / "model" / "projector.pt"))
    b = storage.load_torch(str(tmp_path / "one" / "model" / "projector.pt"))
    before = build_model(config(data, "unused", 1))[0].projector.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6)
        assert not torch.equal(a[k], before[k]), k  # and it did train
