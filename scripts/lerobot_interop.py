"""LeRobot's own v2.1 code against lapa-bench's datasets, both ways.

Runs in a Python that has ``lerobot==0.3.3`` (its last release with the v2.1 layout lapa-bench writes),
not in the project's venv: that release pins ``torch<2.8`` and ``torchvision<0.23`` while the project
pins the CPU build of torch 2.13.0, beside which PyPI's torchvision does not import. ``make
lerobot-venv`` builds ``.venv-lerobot`` for it (torch 2.14.1 + torchvision 0.29.1, lerobot without its
pins); the test ``tests/test_dataset_format.py::test_lerobot_loads_a_collected_dataset`` runs this
script when that venv exists.

    # load a dataset written by `lapa-bench collect` with LeRobotDatasetMetadata / LeRobotDataset and
    # dump what LeRobot sees (every frame's image, state, action, indices, task) to an npz
    python scripts/lerobot_interop.py load DATASET_DIR OUT.npz
    # write a small dataset with LeRobotDataset.create / add_frame / save_episode (LeRobot's writer), and
    # the arrays that went in (expected.npz beside it): tests/fixtures/lerobot_v21 was made this way
    python scripts/lerobot_interop.py write FIXTURE_DIR

Nothing here downloads: the hub is put offline, every dataset is a local ``root``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402


def load(root: Path, out: Path) -> dict:
    import lerobot
    from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata

    repo_id = f"local/{root.name}"
    meta = LeRobotDatasetMetadata(repo_id, root=root)  # info, tasks, episodes, episodes_stats -> aggregate_stats
    ds = LeRobotDataset(repo_id, root=root)  # its default video backend (torchcodec, else pyav)
    keys = meta.video_keys + meta.image_keys
    cols = {k: [] for k in ["action", "observation.state", "episode_index", "frame_index", "index", "timestamp", *keys]}
    tasks = []
    for i in range(len(ds)):
        item = ds[i]
        for k in cols:
            v = item[k].numpy()
            if k in keys:  # (3, H, W) float in [0, 1] -> (H, W, 3) uint8
                v = np.round(v.transpose(1, 2, 0) * 255).astype(np.uint8)
            cols[k].append(v)
        tasks.append(item["task"])
    arrays = {k.replace(".", "__"): np.stack(v) for k, v in cols.items()}
    stats = {f"stats__{f}__{s}": np.asarray(v) for f, d in meta.stats.items() for s, v in d.items()}
    np.savez_compressed(out, **arrays, **stats, task=np.array(tasks))
    summary = {"lerobot": lerobot.__version__ if hasattr(lerobot, "__version__") else "0.3.3",
               "frames": len(ds), "episodes": meta.total_episodes, "fps": meta.fps, "video_keys": meta.video_keys,
               "codebase_version": meta.info["codebase_version"]}
    print(json.dumps(summary))
    return summary


def write(root: Path) -> None:
    """Two episodes (5 and 4 frames) of 32 x 48 frames with known pixels, states and actions."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    features = {
        "observation.images.image": {"dtype": "video", "shape": (32, 48, 3), "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (7,), "names": ["x", "y", "z", "roll", "pitch", "yaw",
                                                                           "gripper"]},
        "action": {"dtype": "float32", "shape": (7,), "names": ["dx", "dy", "dz", "droll", "dpitch", "dyaw",
                                                               "gripper"]},
    }
    ds = LeRobotDataset.create("local/lerobot_v21", fps=5, features=features, root=root, robot_type="widowx",
                               use_videos=True)
    rng = np.random.default_rng(0)
    expected = {"image": [], "state": [], "action": [], "episode_index": [], "task": []}
    yy, xx = np.mgrid[0:32, 0:48]
    for ep, (length, task) in enumerate([(5, "put the spoon on the towel"), (4, "put eggplant into yellow basket")]):
        for t in range(length):
            # smooth content (a codec keeps it within a few levels): gradients that move with t
            img = np.stack([(xx * 5 + 20 * t) % 256, (yy * 7 + 40 * ep) % 256, np.full_like(xx, 60 + 30 * t)], -1)
            img = img.astype(np.uint8)
            state = rng.normal(size=7).astype(np.float32)
            action = rng.uniform(-1, 1, size=7).astype(np.float32)
            ds.add_frame({"observation.images.image": img, "observation.state": state, "action": action}, task=task)
            for k, v in (("image", img), ("state", state), ("action", action), ("episode_index", ep), ("task", task)):
                expected[k].append(v)
        ds.save_episode()
    np.savez_compressed(root / "expected.npz", **{k: np.stack(v) for k, v in expected.items()})
    import lerobot

    (root / "MADE_BY.md").write_text(
        "Written by LeRobot's own code (`LeRobotDataset.create`, `add_frame`, `save_episode`) with\n"
        f"lerobot {getattr(lerobot, '__version__', '0.3.3')}, by `python scripts/lerobot_interop.py write {root}`\n"
        "(in `.venv-lerobot`, see `make lerobot-venv`). `expected.npz`: the arrays that went in.\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("load", help="load a lapa-bench dataset with LeRobot's code, dump what it sees")
    a.add_argument("root", type=Path)
    a.add_argument("out", type=Path)
    b = sub.add_parser("write", help="write a small v2.1 dataset with LeRobot's code")
    b.add_argument("root", type=Path)
    args = p.parse_args(argv)
    try:
        import lerobot  # noqa: F401
    except ImportError:
        sys.exit(f"{sys.executable} has no lerobot: run this with .venv-lerobot/bin/python (make lerobot-venv)")
    if args.cmd == "load":
        load(args.root, args.out)
    else:
        if args.root.exists() and any(args.root.iterdir()):
            sys.exit(f"{args.root} is not empty: LeRobot writes a new dataset; remove it first")
        write(args.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
