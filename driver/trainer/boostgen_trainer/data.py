"""Reading boostgen datasets: manifest.json, its shards, and the images the
records point at, turned into token ids, labels and pixel tensors.

A reader trusts only the manifest: it never lists the dataset folder, reads
exactly the shards the manifest names, and checks each shard's size, sha256
and record count against it before a single record of that shard is used.
Shards stream one at a time; images load per record, and only on the worker
that trains on that record.
"""

import hashlib
import io
import json
import random
import re
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from . import storage

MANIFEST = "manifest.json"
SCHEMA_VERSION = "boostgen.manifest/v1"
IMAGE_TOKEN = "<image>"
# Placeholder id marking where an image's visual tokens go (LLaVA's
# convention); the model replaces each with that image's projected features.
IMAGE_TOKEN_ID = -200
# Label of positions that carry no loss (everything but the gpt turns).
IGNORE_INDEX = -100

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DatasetError(ValueError):
    """A dataset that does not match its manifest or the record format."""


@dataclass(frozen=True)
class Shard:
    path: str
    records: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    root: str
    shards: Tuple[Shard, ...]
    config_sha256: str

    @property
    def records(self) -> int:
        return sum(s.records for s in self.shards)


def read_manifest(root: str) -> Manifest:
    """Reads and checks root/manifest.json."""
    uri = storage.join(root, MANIFEST)
    try:
        raw = storage.read_bytes(uri)
    except FileNotFoundError:
        raise DatasetError(
            f"{root}: no {MANIFEST}; boostgen writes it last, so this is not a boostgen "
            "dataset or its run did not finish"
        ) from None
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise DatasetError(f"{uri}: not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise DatasetError(f"{uri}: expected a JSON object")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DatasetError(f"{uri}: schema_version is {version!r}, this trainer reads {SCHEMA_VERSION!r}")
    items = doc.get("shards")
    if not isinstance(items, list):
        raise DatasetError(f"{uri}: field shards must be a list")
    shards = []
    for i, s in enumerate(items):
        where = f"{uri}: shards[{i}]"
        if not isinstance(s, dict):
            raise DatasetError(f"{where}: expected an object")
        try:
            path = storage.safe_relpath(s.get("path"), f"{where}.path")
        except ValueError as e:
            raise DatasetError(str(e)) from None
        if not (path.endswith(".jsonl") or path.endswith(".jsonl.zst")):
            raise DatasetError(f"{where}.path: {path!r} is neither .jsonl nor .jsonl.zst")
        for field in ("records", "bytes"):
            v = s.get(field)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise DatasetError(f"{where}.{field}: expected a non-negative integer, got {v!r}")
        sha = s.get("sha256")
        if not isinstance(sha, str) or not _SHA256.match(sha):
            raise DatasetError(f"{where}.sha256: expected 64 lowercase hex digits, got {sha!r}")
        shards.append(Shard(path, s["records"], s["bytes"], sha))
    return Manifest(root, tuple(shards), str(doc.get("config_sha256", "")))


def read_shard(manifest: Manifest, shard: Shard) -> List[dict]:
    """Returns the records of one shard, after checking its size, sha256 and
    record count against the manifest."""
    uri = storage.join(manifest.root, shard.path)
    try:
        data = storage.read_bytes(uri, limit=shard.bytes + 1)
    except FileNotFoundError:
        raise DatasetError(f"{uri}: listed in {MANIFEST} but missing") from None
    if len(data) != shard.bytes:
        raise DatasetError(
            f"{uri}: {MANIFEST} says {shard.bytes} bytes, shard has {'more' if len(data) > shard.bytes else len(data)}"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != shard.sha256:
        raise DatasetError(f"{uri}: sha256 is {digest}, {MANIFEST} says {shard.sha256}")
    stream = io.BytesIO(data)
    if shard.path.endswith(".zst"):
        import zstandard

        # A shard may hold several zstd frames (concatenated writes).
        stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True))
    records = []
    try:
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise DatasetError(f"{uri}: line {n}: not JSON: {e}") from None
            if not isinstance(rec, dict):
                raise DatasetError(f"{uri}: line {n}: expected a JSON object")
            records.append(rec)
    except DatasetError:
        raise
    except Exception as e:  # zstandard.ZstdError (zstandard is imported lazily)
        raise DatasetError(f"{uri}: cannot decompress: {e}") from None
    if len(records) != shard.records:
        raise DatasetError(f"{uri}: {MANIFEST} says {shard.records} records, shard has {len(records)}")
    return records


def iter_records(manifest: Manifest, seed: Optional[int] = None, shuffle_buffer: int = 0) -> Iterator[dict]:
    """Yields every record of the dataset. With a seed, shard order is
    shuffled and records pass through a shuffle buffer; the order depends
    only on the seed, so every worker sees the same sequence."""
    shards = list(manifest.shards)
    rng = random.Random(seed)
    if seed is not None:
        rng.shuffle(shards)

    def plain() -> Iterator[dict]:
        for s in shards:
            yield from read_shard(manifest, s)

    if seed is None or shuffle_buffer <= 1:
        yield from plain()
        return
    buf: List[dict] = []
    for rec in plain():
        buf.append(rec)
        if len(buf) >= shuffle_buffer:
            i = rng.randrange(len(buf))
            buf[i], buf[-1] = buf[-1], buf[i]
            yield buf.pop()
    rng.shuffle(buf)
    yield from buf


# --- records -> token ids and labels -------------------------------------------------------


@dataclass(frozen=True)
class ChatFormat:
    """How turns become text. The default is Qwen2's ChatML. Only the
    assistant answer and assistant_end carry loss."""

    system: str = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    user_start: str = "<|im_start|>user\n"
    user_end: str = "<|im_end|>\n<|im_start|>assistant\n"
    assistant_end: str = "<|im_end|>"
    turn_sep: str = "\n"


class ByteTokenizer:
    """UTF-8 bytes as ids 0–255 and ChatML's markers as single ids after them:
    a tokenizer with no dependencies, for tests and debugging runs with tiny
    models (real runs use the LLM's own tokenizer)."""

    SPECIAL = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")

    def __init__(self):
        self.vocab_size = 256 + len(self.SPECIAL)
        self._split = re.compile("(" + "|".join(re.escape(s) for s in self.SPECIAL) + ")")
        self.pad_token_id = 256 + self.SPECIAL.index("<|endoftext|>")

    def encode(self, text: str) -> List[int]:
        ids: List[int] = []
        for part in self._split.split(text):
            if part in self.SPECIAL:
                ids.append(256 + self.SPECIAL.index(part))
            elif part:
                ids.extend(part.encode("utf-8"))
        return ids


def record_images(rec: dict, where: str) -> List[str]:
    img = rec.get("image")
    if img is None:
        return []
    paths = [img] if isinstance(img, str) else img
    if not isinstance(paths, list):
        raise DatasetError(f"{where}: field image must be a path or a list of paths")
    try:
        return [storage.safe_relpath(p, f"{where}: image[{i}]") for i, p in enumerate(paths)]
    except ValueError as e:
        raise DatasetError(str(e)) from None


def record_where(rec: dict, where: str) -> str:
    """where, with the record's id when it has one, for error messages."""
    rid = rec.get("id")
    return f"{where} (id {rid!r})" if rid is not None else where


def tokenize_record(
    rec: dict, encode: Callable[[str], List[int]], fmt: ChatFormat = ChatFormat(), where: str = "record"
) -> Tuple[List[int], List[int], List[str]]:
    """Returns (input_ids, labels, image paths) for one record. input_ids
    holds IMAGE_TOKEN_ID where each image goes; labels are IGNORE_INDEX
    everywhere but the gpt turns."""
    where = record_where(rec, where)
    images = record_images(rec, where)
    conv = rec.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise DatasetError(f"{where}: field conversations must be a non-empty list")
    ids: List[int] = []
    labels: List[int] = []

    def add(text: str, train: bool) -> None:
        t = encode(text)
        ids.extend(t)
        labels.extend(t if train else [IGNORE_INDEX] * len(t))

    add(fmt.system, False)
    n_image_tokens = 0
    answers = 0
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise DatasetError(f"{where}: conversations[{i}] must be an object with a string value")
        role, value = turn.get("from"), turn["value"]
        if role == "human":
            add(fmt.user_start, False)
            for j, chunk in enumerate(value.split(IMAGE_TOKEN)):
                if j:
                    ids.append(IMAGE_TOKEN_ID)
                    labels.append(IGNORE_INDEX)
                    n_image_tokens += 1
                add(chunk, False)
            add(fmt.user_end, False)
        elif role == "gpt":
            if IMAGE_TOKEN in value:
                raise DatasetError(f"{where}: conversations[{i}]: {IMAGE_TOKEN} in a gpt turn")
            add(value + fmt.assistant_end, True)
            add(fmt.turn_sep, False)
            answers += 1
        else:
            raise DatasetError(f"{where}: conversations[{i}].from is {role!r}, expected 'human' or 'gpt'")
    if n_image_tokens != len(images):
        raise DatasetError(f"{where}: {n_image_tokens} {IMAGE_TOKEN} tokens for {len(images)} images")
    if answers == 0:
        raise DatasetError(f"{where}: no gpt turn, nothing to learn from")
    return ids, labels, images


# --- images ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageTransform:
    """Resize to size×size and normalise: the preprocessing of ViT encoders
    (the encoder's own processor supplies size, mean and std)."""

    size: int = 224
    mean: Tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: Tuple[float, float, float] = (0.229, 0.224, 0.225)

    def __call__(self, data: bytes, where: str = "image") -> torch.Tensor:
        import numpy as np
        from PIL import Image

        try:
            img = Image.open(io.BytesIO(data)).convert("RGB")
        except Exception as e:
            raise DatasetError(f"{where}: cannot decode image: {e}") from None
        img = img.resize((self.size, self.size), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1) / 255.0
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std


# --- the dataset -----------------------------------------------------------------------------


class BoostgenDataset(torch.utils.data.IterableDataset):
    """Streams training examples from a boostgen dataset.

    Records are dealt round-robin to ranks (record i goes to rank i mod
    world_size), after a seeded shuffle that every rank repeats identically,
    and then to DataLoader workers a micro-batch at a time, so that the
    DataLoader, which takes batches from its workers in turn, yields the same
    batches whatever its num_workers. skip drops this rank's first skip
    records (without loading their images) to resume mid-epoch.
    """

    def __init__(
        self,
        root: str,
        encode: Callable[[str], List[int]],
        transform: Callable[[bytes, str], torch.Tensor],
        fmt: ChatFormat = ChatFormat(),
        rank: int = 0,
        world_size: int = 1,
        seed: Optional[int] = None,
        shuffle_buffer: int = 1024,
        skip: int = 0,
        micro_batch_size: int = 1,
        manifest: Optional[Manifest] = None,
    ):
        super().__init__()
        self.manifest = manifest or read_manifest(root)
        self.encode, self.transform, self.fmt = encode, transform, fmt
        self.rank, self.world_size = rank, world_size
        self.seed, self.shuffle_buffer, self.skip = seed, shuffle_buffer, skip
        self.micro_batch_size = micro_batch_size

    def __iter__(self) -> Iterator[Dict]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        mine = 0
        for i, rec in enumerate(iter_records(self.manifest, self.seed, self.shuffle_buffer)):
            if i % self.world_size != self.rank:
                continue
            mine += 1
            if mine <= self.skip or ((mine - self.skip - 1) // self.micro_batch_size) % workers != worker:
                continue
            yield self.example(rec, f"{self.manifest.root}: record {i}")

    def example(self, rec: dict, where: str) -> Dict:
        ids, labels, images = tokenize_record(rec, self.encode, self.fmt, where)
        where = record_where(rec, where)
        pixels = []
        for p in images:
            uri = storage.join(self.manifest.root, p)
            try:
                data = storage.read_bytes(uri)
            except FileNotFoundError:
                raise DatasetError(f"{where}: image {p} not found") from None
            pixels.append(self.transform(data, uri))
        return {
            "id": rec.get("id"),
            "input_ids": torch.tensor(ids, dtype=torch.long),
            "labels": torch.tensor(labels, dtype=torch.long),
            "pixel_values": torch.stack(pixels) if pixels else None,
        }


def collate(examples: Sequence[Dict]) -> Dict:
    """Keeps sequences unpadded (the model pads after splicing in the visual
    tokens) and concatenates all images of the batch in order."""
    pix = [e["pixel_values"] for e in examples if e["pixel_values"] is not None]
    return {
        "ids": [e["id"] for e in examples],
        "input_ids": [e["input_ids"] for e in examples],
        "labels": [e["labels"] for e in examples],
        "pixel_values": torch.cat(pix) if pix else None,
    }
