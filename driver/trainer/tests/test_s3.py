"""Reading datasets from, and writing checkpoints and bundles to, a real S3 server."""

import json
import os

import pytest

from boostgen_trainer import storage
from boostgen_trainer.data import DatasetError, iter_records, read_manifest
from boostgen_trainer.train import TrainConfig, read_bundle, run_local
from fixtures import make_dataset


def upload(folder: str, dest: str) -> None:
    for dirpath, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as fh:
                storage.write_bytes(storage.join(dest, rel), fh.read())


def test_trains_from_and_to_s3(tmp_path, s3_bucket):
    local = str(tmp_path / "data")
    records = make_dataset(local, n=8, shard_size=5)
    data = f"{s3_bucket}/datasets/tiny"
    upload(local, data)
    assert list(iter_records(read_manifest(data))) == records

    common = dict(data=data, ray=False, loader_workers=0, batch_size=4, checkpoint_every=1)
    s1 = f"{s3_bucket}/runs/s1"
    done = run_local(
        TrainConfig(stage=1, out=s1, encoder="py:tiny_models:build_encoder", llm="py:tiny_models:build_llm", **common)
    )
    assert done["bundle"] == f"{s1}/model"
    assert storage.list_names(f"{s1}/checkpoints") == ["step-000000001", "step-000000002"]
    s2 = f"{s3_bucket}/runs/s2"
    run_local(TrainConfig(stage=2, out=s2, init=s1, max_steps=1, **common))
    d, b = read_bundle(s2)
    assert d == f"{s2}/model" and b["files"]["llm"] == "llm.pt"
    # Stage 3 points at Stage 2's LLM in the bucket, and loads it from there.
    s3 = f"{s3_bucket}/runs/s3"
    run_local(TrainConfig(stage=3, out=s3, init=s2, max_steps=1, **common))
    _, b3 = read_bundle(s3)
    assert b3["files"]["llm"] == f"{s2}/model/llm.pt"
    assert storage.exists(f"{s3}/model/encoder.pt")
    # A rerun resumes from the newest checkpoint: nothing left to train.
    again = run_local(TrainConfig(stage=3, out=s3, init=s2, max_steps=1, **common))
    assert again["step"] == 1


def test_s3_dataset_without_manifest_or_with_a_bad_shard_is_rejected(tmp_path, s3_bucket):
    local = str(tmp_path / "data")
    make_dataset(local, n=4)
    with pytest.raises(DatasetError, match="no manifest.json"):
        read_manifest(f"{s3_bucket}/nothing-here")
    data = f"{s3_bucket}/d"
    upload(local, data)
    manifest = json.loads(storage.read_bytes(f"{data}/manifest.json"))
    manifest["shards"][0]["sha256"] = "f" * 64
    storage.write_bytes(f"{data}/manifest.json", json.dumps(manifest).encode())
    with pytest.raises(DatasetError, match=r"s3://.*/d/part-00000.jsonl.zst: sha256 is"):
        list(iter_records(read_manifest(data)))
