import json
import os

import pytest
import torch

import tiny_models
from boostgen_trainer.data import (
    IGNORE_INDEX,
    IMAGE_TOKEN_ID,
    BoostgenDataset,
    ByteTokenizer,
    DatasetError,
    collate,
    iter_records,
    read_manifest,
    tokenize_record,
)
from fixtures import make_dataset, make_records, write_manifest, write_shard, write_shard_bytes


def test_reads_every_record_the_manifest_lists(tmp_path):
    root = str(tmp_path)
    want = make_dataset(root, n=20, shard_size=8)
    m = read_manifest(root)
    assert [s.path for s in m.shards] == ["part-00000.jsonl.zst", "part-00001.jsonl.zst", "part-00002.jsonl.zst"]
    assert m.records == 20
    assert list(iter_records(m)) == want
    # A shuffled pass has the same records, in an order set by the seed alone.
    shuffled = list(iter_records(m, seed=7, shuffle_buffer=5))
    assert shuffled != want and sorted(r["id"] for r in shuffled) == [r["id"] for r in want]
    assert list(iter_records(m, seed=7, shuffle_buffer=5)) == shuffled


def test_reads_plain_jsonl_shards(tmp_path):
    root = str(tmp_path)
    recs = make_records(root, 3)
    write_manifest(root, [write_shard(root, "part-00000.jsonl", recs, compress=False)])
    assert list(iter_records(read_manifest(root))) == recs


def test_reads_shards_of_several_zstd_frames(tmp_path):
    import zstandard

    root = str(tmp_path)
    recs = make_records(root, 4)
    lines = [json.dumps(r).encode() + b"\n" for r in recs]
    data = b"".join(zstandard.ZstdCompressor().compress(b"".join(lines[i : i + 2])) for i in (0, 2))
    write_manifest(root, [write_shard_bytes(root, "part-00000.jsonl.zst", data, 4)])
    assert list(iter_records(read_manifest(root))) == recs


def test_a_shard_that_is_not_zstd_is_named(tmp_path):
    root = str(tmp_path)
    write_manifest(root, [write_shard_bytes(root, "part-00000.jsonl.zst", b"this is not zstd", 1)])
    with pytest.raises(DatasetError, match=r"part-00000.jsonl.zst: cannot decompress"):
        list(iter_records(read_manifest(root)))


def test_a_folder_without_manifest_is_rejected(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=2)
    os.remove(os.path.join(root, "manifest.json"))
    with pytest.raises(DatasetError, match="no manifest.json"):
        read_manifest(root)
    with pytest.raises(DatasetError, match="no manifest.json"):
        BoostgenDataset(root, ByteTokenizer().encode, tiny_models.build_encoder()[1])


def _edit_manifest(root, edit):
    path = os.path.join(root, "manifest.json")
    with open(path) as f:
        doc = json.load(f)
    edit(doc)
    with open(path, "w") as f:
        json.dump(doc, f)


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d["shards"][0].update(sha256="0" * 64),
            r"part-00000.jsonl.zst: sha256 is [0-9a-f]{64}, manifest.json says 0{64}",
        ),
        (
            lambda d: d["shards"][0].update(records=7),
            r"part-00000.jsonl.zst: manifest.json says 7 records, shard has 8",
        ),
        (
            lambda d: d["shards"][0].update(bytes=d["shards"][0]["bytes"] - 1),
            r"part-00000.jsonl.zst: manifest.json says \d+ bytes, shard has more",
        ),
        (
            lambda d: d["shards"][1].update(path="part-00009.jsonl.zst"),
            r"part-00009.jsonl.zst: listed in manifest.json but missing",
        ),
        (
            lambda d: d["shards"][0].update(path="../elsewhere.jsonl.zst"),
            r"shards\[0\].path: path '../elsewhere.jsonl.zst' must be relative",
        ),
        (
            lambda d: d["shards"][0].update(path="/etc/passwd.jsonl"),
            r"shards\[0\].path: path '/etc/passwd.jsonl' must be relative",
        ),
        (
            lambda d: d["shards"][0].update(records="8"),
            r"shards\[0\].records: expected a non-negative integer, got '8'",
        ),
        (lambda d: d.update(schema_version="boostgen.manifest/v2"), r"schema_version is 'boostgen.manifest/v2'"),
        (lambda d: d.pop("shards"), r"field shards must be a list"),
    ],
)
def test_a_shard_or_manifest_that_disagrees_is_an_error(tmp_path, edit, message):
    root = str(tmp_path)
    make_dataset(root, n=12, shard_size=8)
    _edit_manifest(root, edit)
    with pytest.raises(DatasetError, match=message):
        list(iter_records(read_manifest(root)))


def test_a_tampered_shard_is_an_error_before_any_of_its_records_is_used(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=4)
    path = os.path.join(root, "part-00000.jsonl.zst")
    data = bytearray(open(path, "rb").read())
    data[-5] ^= 1
    open(path, "wb").write(bytes(data))
    records = iter_records(read_manifest(root))
    with pytest.raises(DatasetError, match="sha256"):
        next(records)


def test_labels_cover_exactly_the_gpt_turns():
    tok = ByteTokenizer()
    rec = {
        "id": "r1",
        "image": ["images/a.png", "images/b.png"],
        "conversations": [
            {"from": "human", "value": "<image>\n<image>\nWhat is the depth value at pixel point (0.5, 0.3)?"},
            {"from": "gpt", "value": "1.234 m"},
            {"from": "human", "value": "And the other?"},
            {"from": "gpt", "value": "2.5 m"},
        ],
    }
    ids, labels, images = tokenize_record(rec, tok.encode)
    assert images == ["images/a.png", "images/b.png"]
    assert len(ids) == len(labels)
    assert ids.count(IMAGE_TOKEN_ID) == 2
    im_end = tok.encode("<|im_end|>")[0]
    trained = bytes(t for t in labels if t != IGNORE_INDEX and t < 256).decode()
    assert trained == "1.234 m2.5 m"
    assert [t for t in labels if t >= 256] == [im_end, im_end]  # each answer learns to stop
    assert all(l == IGNORE_INDEX for i, l in zip(ids, labels) if i == IMAGE_TOKEN_ID)


@pytest.mark.parametrize(
    "rec, message",
    [
        (
            {
                "id": "x",
                "image": "a.png",
                "conversations": [{"from": "human", "value": "no token"}, {"from": "gpt", "value": "a"}],
            },
            r"id 'x'.*0 <image> tokens for 1 images",
        ),
        (
            {"id": "x", "conversations": [{"from": "human", "value": "<image> q"}, {"from": "gpt", "value": "a"}]},
            r"id 'x'.*1 <image> tokens for 0 images",
        ),
        (
            {"id": "x", "image": "../a.png", "conversations": []},
            r"id 'x'.*image\[0\]: path '../a.png' must be relative",
        ),
        ({"id": "x", "conversations": [{"from": "robot", "value": "hi"}]}, r"conversations\[0\].from is 'robot'"),
        ({"id": "x", "conversations": [{"from": "human", "value": "hi"}]}, r"id 'x'.*no gpt turn"),
        ({"id": "x"}, r"id 'x'.*conversations must be a non-empty list"),
    ],
)
def test_bad_records_are_named(rec, message):
    with pytest.raises(DatasetError, match=message):
        tokenize_record(rec, ByteTokenizer().encode, where="shard line 3")


def test_records_are_dealt_to_ranks_and_loader_workers_without_overlap(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=14, shard_size=5)
    _, transform = tiny_models.build_encoder()
    encode = ByteTokenizer().encode

    def ids(rank, world, workers, skip=0):
        ds = BoostgenDataset(
            root,
            encode,
            transform,
            rank=rank,
            world_size=world,
            seed=3,
            shuffle_buffer=4,
            skip=skip,
            micro_batch_size=2,
        )
        loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate, num_workers=workers)
        return [b["ids"] for b in loader]

    single = ids(0, 1, 0)
    assert sorted(i for b in single for i in b) == [f"rec-{i:04d}" for i in range(14)]
    # Two DataLoader processes yield the very same batches as none.
    assert ids(0, 1, 2) == single
    # Two ranks split the records between them, 7 each.
    r0, r1 = [i for b in ids(0, 2, 0) for i in b], [i for b in ids(1, 2, 0) for i in b]
    assert len(r0) == len(r1) == 7 and not set(r0) & set(r1) and len(set(r0) | set(r1)) == 14
    # Resuming skips exactly the records already trained on.
    assert ids(0, 1, 0, skip=4) == single[2:]


def test_examples_carry_pixels_in_image_order(tmp_path):
    root = str(tmp_path)
    make_dataset(root, n=3)
    _, transform = tiny_models.build_encoder()
    ex = list(BoostgenDataset(root, ByteTokenizer().encode, transform))
    assert [e["pixel_values"].shape for e in ex] == [(1, 3, 32, 32), (1, 3, 32, 32), (2, 3, 32, 32)]
    assert [int((e["input_ids"] == IMAGE_TOKEN_ID).sum()) for e in ex] == [1, 1, 2]


def test_a_missing_image_is_named(tmp_path):
    root = str(tmp_path)
    recs = make_dataset(root, n=2)
    os.remove(os.path.join(root, recs[1]["image"]))
    ds = BoostgenDataset(root, ByteTokenizer().encode, tiny_models.build_encoder()[1])
    with pytest.raises(DatasetError, match=r"record 1 \(id 'rec-0001'\): image images/.*\.png not found"):
        list(ds)
