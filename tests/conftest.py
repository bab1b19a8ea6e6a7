import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_ASSETS = REPO.parent / "shared" / "simpler-assets"
if not os.environ.get("MS_ASSET_DIR") and (SHARED_ASSETS / "data").is_dir():
    os.environ["MS_ASSET_DIR"] = str(SHARED_ASSETS)


def _assets_ok() -> bool:
    from lapa_bench.assets import missing_files

    return not missing_files()


requires_sim = pytest.mark.skipif(
    not _assets_ok() and not os.environ.get("CI"),
    reason="SIMPLER assets not installed (run `lapa-bench assets download` or set MS_ASSET_DIR)",
)


@pytest.fixture(scope="session")
def carrot_env():
    from tasks import make_env

    env = make_env("carrot")
    yield env
    env.close()
