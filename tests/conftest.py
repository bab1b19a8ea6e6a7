import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_ASSETS = REPO.parent / "shared" / "simpler-assets"
if not os.environ.get("MS_ASSET_DIR") and (SHARED_ASSETS / "data").is_dir():
    os.environ["MS_ASSET_DIR"] = str(SHARED_ASSETS)
# the suite runs alone: its in-process training uses every core (lapa-bench's one-thread default is for processes
# that share the machine); subprocesses that must be deterministic set their own count
os.environ.setdefault("LAPA_BENCH_THREADS", str(os.cpu_count() or 1))


def _assets_ok() -> bool:
    from lapa_bench.assets import missing_files

    return not missing_files()


# Simulator tests carry the `sim` marker. They FAIL (not skip) when the SIMPLER assets are missing, with
# the fix; to run without the simulator, opt out explicitly: `pytest -m "not sim"`.
requires_sim = pytest.mark.sim


def pytest_runtest_setup(item):
    if item.get_closest_marker("sim") is not None and not _assets_ok():
        pytest.fail("SIMPLER assets are missing: set MS_ASSET_DIR to an asset pack (e.g. ../shared/simpler-assets) "
                    "or run `lapa-bench assets download`; to run the tests without the simulator, "
                    "use `pytest -m \"not sim\"`", pytrace=False)


@pytest.fixture(scope="session")
def carrot_env():
    from lapa_bench.tasks import make_env

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
    from lapa_bench.policies.lapa.configuration_lapa import LAPAConfig

    return LAPAConfig(**base)


def tiny_dataset(root, episodes=4, T=8, size=32, states=False):
    from lapa_bench.data import LeRobotWriter
    from lapa_bench.specs import ACTION_NAMES, STATE_NAMES

    w = LeRobotWriter(root, fps=5, image_shape=(size, size, 3), action_names=ACTION_NAMES,
                      state_names=STATE_NAMES if states else None)
    yy, xx = np.mgrid[0:size, 0:size]
    rng = np.random.default_rng(0)
    for e in range(episodes):
        frames = np.stack([np.stack([(xx * 8 + 5 * t + 40 * e) % 256, yy * 8, xx * 4], -1) for t in range(T)])
        w.add_episode(frames.astype(np.uint8), task="put carrot on plate",
                      actions=(rng.normal(size=(T, 7)) * 0.01).astype(np.float32),
                      states=rng.normal(size=(T, 7)).astype(np.float32) if states else None)
    return root




def image_cued_dataset(root, episodes=12, T=10, size=32):
    """Demonstrations whose actions depend only on the image (a bright square left or right of centre
    -> move left or right, open or close): a model that reads the image beats the mean action and its
    image-blind twin; one that does not cannot."""
    from lapa_bench.data import LeRobotWriter
    from lapa_bench.specs import ACTION_NAMES, STATE_NAMES

    w = LeRobotWriter(root, fps=5, image_shape=(size, size, 3), action_names=ACTION_NAMES, state_names=STATE_NAMES)
    rng = np.random.default_rng(1)
    for e in range(episodes):
        side = np.full(T, rng.integers(0, 2))  # one side per episode: the whole chunk is predictable
        frames = np.full((T, size, size, 3), 40, np.uint8)
        for t in range(T):
            x0 = 2 if side[t] == 0 else size // 2 + 2
            frames[t, size // 3: size // 3 + 10, x0:x0 + 10] = 230
        actions = np.zeros((T, 7), np.float32)
        actions[:, 1] = np.where(side == 0, -0.02, 0.02)
        actions[:, 6] = np.where(side == 0, -1.0, 1.0)
        w.add_episode(frames, task="go to the square", actions=actions,
                      states=rng.normal(size=(T, 7)).astype(np.float32))
    return root
