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
