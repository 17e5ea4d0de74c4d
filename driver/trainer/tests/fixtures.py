"""Writes datasets in the exact format boostgen produces: manifest.json, a
zstd-compressed JSONL shard and small PNGs under images/."""

import hashlib
import io
import json
import os
import random

import zstandard
from PIL import Image

QUESTIONS = [
    ("What is the depth value at pixel point (0.512, 0.334)?", "1.234 m"),
    ("Which is closer to the camera, the chair or the table?", "The chair."),
    ("What is the distance between the lamp and the sofa?", "2.05 m"),
]


def _png(rng: random.Random) -> bytes:
    img = Image.new("RGB", (24, 20), tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(20):
        img.putpixel((rng.randrange(24), rng.randrange(20)), tuple(rng.randrange(256) for _ in range(3)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_records(root: str, n: int, seed: int = 0, multi_every: int = 3):
    """n records whose images are written under root/images; every
    multi_every-th record has two images."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        images = []
        for _ in range(2 if multi_every and i % multi_every == multi_every - 1 else 1):
            data = _png(rng)
            h = hashlib.sha256(data).hexdigest()
            rel = f"images/{h[:2]}/{h}.png"
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), "wb") as f:
                f.write(data)
            images.append(rel)
        conv = []
        for j, (q, a) in enumerate(QUESTIONS):
            prefix = "<image>\n" * len(images) if j == 0 else ""
            conv += [{"from": "human", "value": prefix + q}, {"from": "gpt", "value": a}]
        records.append(
            {
                "id": f"rec-{i:04d}",
                "image": images[0] if len(images) == 1 else images,
                "conversations": conv,
                "meta": {"source": "fixture", "index": i},
            }
        )
    return records


def write_shard(root: str, name: str, records, compress: bool = True) -> dict:
    raw = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    return write_shard_bytes(root, name, zstandard.ZstdCompressor().compress(raw) if compress else raw, len(records))


def write_shard_bytes(root: str, name: str, data: bytes, records: int) -> dict:
    """Writes data as shard name and returns its manifest entry."""
    with open(os.path.join(root, name), "wb") as f:
        f.write(data)
    return {"path": name, "records": records, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def write_manifest(root: str, shards) -> None:
    doc = {
        "schema_version": "boostgen.manifest/v1",
        "generator": "boostgen 0.1.0",
        "config_sha256": "0" * 64,
        "seed": 1,
        "shards": shards,
        "totals": {"records": sum(s["records"] for s in shards), "rejects": 2, "future_field": True},
        "another_future_key": {"ignored": 1},
    }
    with open(os.path.join(root, "manifest.json"), "w") as f:
        json.dump(doc, f)


def make_dataset(root: str, n: int = 12, shard_size: int = 8, seed: int = 0) -> list:
    """A complete dataset of n records in zstd shards of shard_size; returns the records."""
    os.makedirs(root, exist_ok=True)
    records = make_records(root, n, seed)
    shards = [
        write_shard(root, f"part-{i // shard_size:05d}.jsonl.zst", records[i : i + shard_size])
        for i in range(0, n, shard_size)
    ]
    write_manifest(root, shards)
    return records
