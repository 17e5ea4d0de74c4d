"""Reading and writing by URI: a local path or s3://bucket/key.

boto3 is imported only when an s3:// URI is used. The endpoint comes from
AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (for MinIO and other S3-compatible
servers; older boto3 releases do not read these themselves), credentials from
boto3's usual chain. Local writes go to a temporary file renamed into place,
so a reader never sees half a file.
"""

import functools
import os
import posixpath
import tempfile
from typing import List, Tuple

import torch


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> Tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"{uri}: no bucket in s3:// URI")
    return bucket, key


def join(base: str, *parts: str) -> str:
    if is_s3(base):
        return posixpath.join(base.rstrip("/"), *parts)
    return os.path.join(base, *parts)


def safe_relpath(rel: object, what: str) -> str:
    """Checks that rel is a relative, '/'-separated path that stays inside
    its root (no '..', no absolute path): datasets are input, not trusted."""
    if not isinstance(rel, str) or not rel:
        raise ValueError(f"{what}: expected a relative path, got {rel!r}")
    parts = rel.split("/")
    if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{what}: path {rel!r} must be relative and stay inside the dataset")
    return rel


@functools.lru_cache(maxsize=1)
def _s3_client():
    import boto3  # lazy: only s3:// users need it
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return boto3.client("s3")
    # S3-compatible servers at an address of their own rarely have the
    # wildcard DNS that virtual-hosted bucket names need.
    return boto3.client("s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}))


def _is_missing(err: Exception) -> bool:
    code = str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def exists(uri: str) -> bool:
    if not is_s3(uri):
        return os.path.exists(uri)
    bucket, key = split_s3(uri)
    try:
        _s3_client().head_object(Bucket=bucket, Key=key)
        return True
    except Exception as e:  # botocore.exceptions.ClientError; botocore is lazy
        if _is_missing(e):
            return False
        raise


def read_bytes(uri: str, limit: int = -1) -> bytes:
    """Reads uri, at most limit bytes when limit >= 0."""
    if not is_s3(uri):
        with open(uri, "rb") as f:
            return f.read(limit)
    bucket, key = split_s3(uri)
    kw = {"Range": f"bytes=0-{limit - 1}"} if limit > 0 else {}
    try:
        body = _s3_client().get_object(Bucket=bucket, Key=key, **kw)["Body"]
    except Exception as e:
        if _is_missing(e):
            raise FileNotFoundError(f"{uri}: no such object") from e
        raise
    with body:
        return body.read()


def write_bytes(uri: str, data: bytes) -> None:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        _s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        return
    with _atomic_local(uri) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def list_names(uri: str) -> List[str]:
    """Names of the entries directly under the folder (or s3 prefix) uri."""
    if not is_s3(uri):
        return sorted(os.listdir(uri)) if os.path.isdir(uri) else []
    bucket, key = split_s3(uri)
    prefix = key.rstrip("/") + "/" if key else ""
    names = set()
    for page in _s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        for p in page.get("CommonPrefixes", []):
            names.add(p["Prefix"][len(prefix) :].rstrip("/"))
        for o in page.get("Contents", []):
            names.add(o["Key"][len(prefix) :])
    return sorted(n for n in names if n)


def remove(uri: str) -> None:
    """Removes the file or object at uri; a missing one is not an error."""
    if is_s3(uri):
        bucket, key = split_s3(uri)
        _s3_client().delete_object(Bucket=bucket, Key=key)
    elif os.path.exists(uri):
        os.remove(uri)


def save_torch(obj, uri: str) -> None:
    """torch.save to uri; large objects stream through a temporary file (and
    boto3's multipart upload), never a whole copy in memory."""
    if not is_s3(uri):
        with _atomic_local(uri) as tmp:
            torch.save(obj, tmp)
        return
    bucket, key = split_s3(uri)
    with tempfile.NamedTemporaryFile(suffix=".pt") as tmp:
        torch.save(obj, tmp.name)
        _s3_client().upload_file(tmp.name, bucket, key)


def load_torch(uri: str, weights_only: bool = True):
    """torch.load of uri. weights_only (tensors and containers of them) is for
    weight files, which may come from elsewhere and so must not run code;
    training checkpoints hold numbers too, which torch 1.13's weights-only
    loader cannot read, and come from this run's own --out."""
    if not is_s3(uri):
        return torch.load(uri, map_location="cpu", weights_only=weights_only)
    bucket, key = split_s3(uri)
    with tempfile.NamedTemporaryFile(suffix=".pt") as tmp:
        _s3_client().download_file(bucket, key, tmp.name)
        return torch.load(tmp.name, map_location="cpu", weights_only=weights_only)


class _atomic_local:
    """Context manager yielding a temporary path beside path, renamed onto
    path on success and removed on failure."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self) -> str:
        d = os.path.dirname(self.path) or "."
        os.makedirs(d, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(self.path) + ".")
        os.close(fd)
        return self.tmp

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)
        return False
