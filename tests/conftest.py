import os
from pathlib import Path

import numpy as np
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


# -- helpers shared by test files ----------------------------------------------------------
def micro(**kw):
    base = dict(image_size=32, vision=dict(model_type="clip_vision_model", image_size=32, patch_size=8, hidden_size=32,
                                           intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
                text=dict(model_type="llama", vocab_size=259, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128),
                prompt="{instruction}", max_prompt_tokens=24, action_bins=16, codebook_size=8, code_seq_len=4)
    base.update(kw)
    from policies.lapa.configuration_lapa import LAPAConfig

    return LAPAConfig(**base)


def tiny_dataset(root, episodes=4, T=8, size=32):
    from lapa_bench.data import LeRobotWriter
    from lapa_bench.specs import ACTION_NAMES

    w = LeRobotWriter(root, fps=5, image_shape=(size, size, 3), action_names=ACTION_NAMES)
    yy, xx = np.mgrid[0:size, 0:size]
    rng = np.random.default_rng(0)
    for e in range(episodes):
        frames = np.stack([np.stack([(xx * 8 + 5 * t + 40 * e) % 256, yy * 8, xx * 4], -1) for t in range(T)])
        w.add_episode(frames.astype(np.uint8), task="put carrot on plate",
                      actions=(rng.normal(size=(T, 7)) * 0.01).astype(np.float32))
    return root


