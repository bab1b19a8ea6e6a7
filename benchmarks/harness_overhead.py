"""How much time does the lapa-bench harness add to a raw ManiSkill loop?

Both loops drive the *same* ManiSkill env object (SIMPLER carrot task, rgb rendering, CPU
physics): the raw loop calls ``reset``/``step`` with a zero action; the harness loop runs
``lapa_bench.app.evaluate.run_episode`` with the ``zero`` policy (observation conversion,
proprioception, action checks, metric bookkeeping). Episodes alternate between the two so
that machine noise hits both alike. Prints steps/s of each and the ratio.

    python benchmarks/harness_overhead.py [--episodes 4] [--task carrot]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

shared = Path(__file__).resolve().parents[2] / "shared" / "simpler-assets"
if not os.environ.get("MS_ASSET_DIR") and (shared / "data").is_dir():
    os.environ["MS_ASSET_DIR"] = str(shared)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=4, help="episodes per loop (default 4)")
    ap.add_argument("--task", default="carrot")
    args = ap.parse_args()

    from lapa_bench.rollout import run_episode
    from lapa_bench.policy import make_policy
    from lapa_bench.tasks import make_env

    env = make_env(args.task)
    raw_env = env._env
    policy = make_policy("zero")
    zero = np.zeros(7, np.float32)
    zero[6] = 1.0
    raw_t, har_t = [], []
    steps = env.max_steps
    run_episode(env, policy, 0, 0)  # warm-up
    for ep in range(args.episodes):
        t0 = time.perf_counter()
        raw_env.reset(seed=0, options={"episode_id": ep})
        for _ in range(steps):
            raw_env.step(zero)
        raw_t.append((time.perf_counter() - t0) / steps)
        t0 = time.perf_counter()
        r = run_episode(env, policy, ep, 0)
        har_t.append((time.perf_counter() - t0) / r["steps"])
    env.close()
    raw, har = statistics.median(raw_t), statistics.median(har_t)
    print(f"task {args.task}: {args.episodes} episodes x {steps} steps per loop, rendering on")
    print(f"raw ManiSkill loop : {1 / raw:7.2f} steps/s  ({1000 * raw:.1f} ms/step)")
    print(f"lapa-bench harness : {1 / har:7.2f} steps/s  ({1000 * har:.1f} ms/step)")
    print(f"overhead ratio (harness / raw time per step): {har / raw:.3f}  "
          f"({100 * (har / raw - 1):+.1f}%; target <= +5%)")


if __name__ == "__main__":
    main()
