import os

import pytest


def need_env(name: str, how: str) -> str:
    """The value of env var name; without it the test skips, or fails under
    BOOSTGEN_TEST_REQUIRE=1 (CI must never skip silently)."""
    value = os.environ.get(name)
    if value:
        return value
    msg = f"{name} is not set: {how}"
    if os.environ.get("BOOSTGEN_TEST_REQUIRE") == "1":
        pytest.fail(msg + " (BOOSTGEN_TEST_REQUIRE=1)")
    pytest.skip(msg)


S3_BUCKET = "boostgen-test"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # an anonymous request gets 403: the S3 handler is up
    except OSError:
        return False
    return True


@pytest.fixture
def s3_bucket(tmp_path, monkeypatch):
    """A real S3 server for the test: versitygw ($BOOSTGEN_VERSITYGW, from
    scripts/setup/versitygw.sh) on 127.0.0.1 with its posix backend, an empty
    bucket, and the AWS_* variables that point boto3 at it. Yields
    "s3://<bucket>"."""
    import subprocess
    import time

    binary = need_env("BOOSTGEN_VERSITYGW", 'run `eval "$(scripts/setup/versitygw.sh)"` first')
    root = tmp_path / "s3-root"
    root.mkdir()
    key, secret = "boostgen-test-key", "boostgen-test-secret-not-a-real-one"
    env = dict(os.environ, ROOT_ACCESS_KEY_ID=key, ROOT_SECRET_ACCESS_KEY=secret, VGW_REGION="us-east-1")
    log = open(tmp_path / "versitygw.log", "wb")
    proc = endpoint = None
    for _ in range(3):  # a free port can be taken before versitygw binds it
        endpoint = f"http://127.0.0.1:{_free_port()}"
        proc = subprocess.Popen(
            [binary, "--port", endpoint[len("http://") :], "--quiet", "posix", str(root)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline and not _answers(endpoint):
            time.sleep(0.02)  # polling the port, with a deadline
        if proc.poll() is None and _answers(endpoint):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail("versitygw did not start: " + (tmp_path / "versitygw.log").read_text(errors="replace"))

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    from boostgen_trainer import storage

    storage._s3_client.cache_clear()
    storage._s3_client().create_bucket(Bucket=S3_BUCKET)
    try:
        yield f"s3://{S3_BUCKET}"
    finally:
        storage._s3_client.cache_clear()
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
