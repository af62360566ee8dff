import os
from pathlib import Path

import pytest

# One Anny cache for the whole run (built on first use, ~1 min; later runs reuse it).
os.environ.setdefault("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "anny"))


@pytest.fixture(scope="session")
def head_model():
    from relhead.assets.base import get_head_model

    return get_head_model("anny")


@pytest.fixture(scope="session")
def test_cfg():
    from relhead.config import resolve

    return resolve("test")
