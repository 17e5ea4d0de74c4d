"""Trains on what the real boostgen binary writes, not only on our fixtures."""

import math
import os
import subprocess

import tiny_models
from boostgen_trainer.data import BoostgenDataset, ByteTokenizer, read_manifest
from boostgen_trainer.train import TrainConfig, run_local
from conftest import need_env

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_trains_a_few_steps_on_boostgen_output(tmp_path):
    how = "scripts/test.sh builds boostgen and sets it (with BOOSTGEN_QUICKSTART)"
    binary = os.path.join(REPO, need_env("BOOSTGEN_BIN", how))
    quickstart = os.path.join(REPO, need_env("BOOSTGEN_QUICKSTART", how))
    out = str(tmp_path / "gen")
    r = subprocess.run(
        [binary, "run", quickstart, "--out", out, "--limit", "8"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, f"boostgen run failed:\n{r.stderr[-4000:]}"

    m = read_manifest(out)
    assert 0 < m.records <= 8
    # Every record parses, its <image> tokens match its images, its images decode.
    _, transform = tiny_models.build_encoder()
    examples = list(BoostgenDataset(out, ByteTokenizer().encode, transform))
    assert len(examples) == m.records
    assert all(e["pixel_values"] is not None for e in examples)

    done = run_local(
        TrainConfig(
            stage=1,
            data=out,
            out=str(tmp_path / "s1"),
            ray=False,
            loader_workers=0,
            encoder="py:tiny_models:build_encoder",
            llm="py:tiny_models:build_llm",
            batch_size=min(2, m.records),
            max_steps=3,
        )
    )
    assert done["step"] == min(3, m.records // min(2, m.records))
    assert math.isfinite(done["loss"]) and done["loss"] > 0
