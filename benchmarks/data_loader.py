"""Frame pairs per second from mp4 (the LAQ loader), by number of DataLoader workers.

    python benchmarks/data_loader.py                       # synthetic 256x256 dataset made here
    python benchmarks/data_loader.py --data data/demos     # a collected dataset (folder of datasets)

Prints pairs/s for shuffled batches of ``FramePairs`` for each worker count. Compare with the
tiny LAQ config's training throughput (samples/s, ``benchmarks/train_throughput.py`` once the
trainer exists): the loader keeps up when its pairs/s exceed the trainer's samples/s.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def synthetic(root: Path, episodes: int, length: int, size: int) -> Path:
    from lapa_bench.data.lerobot import LeRobotWriter

    w = LeRobotWriter(root, fps=5, image_shape=(size, size, 3), with_actions=False)
    yy, xx = np.mgrid[0:size, 0:size]
    for e in range(episodes):
        frames = np.stack([np.stack([(xx + 3 * t + e) % 256, (yy * 2 + t) % 256, (xx + yy) % 256], -1)
                           for t in range(length)]).astype(np.uint8)
        w.add_episode(frames, task=f"task {e % 4}")
    return root


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="dataset folder (default: a synthetic one)")
    ap.add_argument("--horizon", type=int, default=1)
    ap.add_argument("--image-size", type=int, default=None, help="resize to SxS (default: as stored)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=40, help="timed batches after one warm-up batch")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()

    import torch

    from lapa_bench.data import open_datasets
    from lapa_bench.data.torch_datasets import FramePairs

    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory()
        t0 = time.time()
        root = synthetic(Path(tmp.name) / "synthetic", episodes=24, length=60, size=256)
        print(f"synthetic dataset: 24 episodes x 60 frames, 256x256, written in {time.time() - t0:.1f} s")
    else:
        root = Path(args.data)
    sources = open_datasets(root)
    size = (args.image_size, args.image_size) if args.image_size else None
    print(f"{'workers':>7} {'pairs/s':>9} {'batches':>8}")
    for nw in args.workers:
        ds = FramePairs(sources, horizon=args.horizon, image_size=size)
        dl = torch.utils.data.DataLoader(
            ds, batch_size=args.batch_size, shuffle=True, num_workers=nw,
            collate_fn=lambda b: (torch.stack([x["x_t"] for x in b]), torch.stack([x["x_th"] for x in b])),
            persistent_workers=False, generator=torch.Generator().manual_seed(0))
        it = iter(dl)
        next(it)  # warm-up: worker start-up is not loader throughput
        n, t0 = 0, time.perf_counter()
        for i, (a, b) in enumerate(it):
            n += len(a)
            if i + 1 >= args.batches:
                break
        dt = time.perf_counter() - t0
        print(f"{nw:>7} {n / dt:>9.1f} {i + 1:>8}")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
