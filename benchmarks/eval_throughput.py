"""Evaluation throughput: episodes/s and env-steps/s of the batched rollout for several ``num_envs``.

For each policy (the ``scripted`` oracle, privileged: a copy per episode reading its own scene; an
untrained ``scratch``, preset small: one forward pass for all envs) it runs ``--episodes`` episodes of one task with
``lapa_bench.rollout.run_batch`` at every ``--num-envs`` value on the available backend (``auto``:
ManiSkill's GPU physics and rendering when CUDA is present, else the CPU, where N envs are N
single-scene envs stepped in one process), and the single-env CPU loop as the reference, all in one
run. Prints a table with the ratio of each row's episodes/s to the reference's.

    python benchmarks/eval_throughput.py [--task carrot] [--episodes 8] [--num-envs 1 8 24 72] [--backend auto]

On the CPU, lockstep envs do not run in parallel (one process): the ratio shows the batched policy
forward pass's gain only; parallel CPU evaluation is ``--shard``/the pipeline's ``workers``.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

shared = Path(__file__).resolve().parents[2] / "shared" / "simpler-assets"
if not os.environ.get("MS_ASSET_DIR") and (shared / "data").is_dir():
    os.environ["MS_ASSET_DIR"] = str(shared)


def measure(task, policy, backend: str, num_envs: int, episodes: int, image_size) -> dict:
    from lapa_bench.rollout import run_batch
    from lapa_bench.tasks import get_task, make_env

    t = get_task(task)
    env = make_env(t, image_size=image_size, num_envs=num_envs, backend=backend)
    try:
        ids = [t.episode_ids[i % len(t.episode_ids)] for i in range(episodes)]
        run_batch(env, policy, [(ids[0], 0)] * num_envs)  # warm-up (compilation, caches)
        t0, steps, done = time.perf_counter(), 0, 0
        while done < episodes:
            batch = [(ids[(done + b) % len(ids)], 0) for b in range(num_envs)]
            recs = run_batch(env, policy, batch)
            steps += sum(r["steps"] for r in recs)
            done += num_envs
        wall = time.perf_counter() - t0
    finally:
        env.close()
    return {"episodes": done, "seconds": wall, "eps_per_s": done / wall, "steps_per_s": steps / wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="carrot")
    ap.add_argument("--episodes", type=int, default=8, help="episodes per measurement, rounded up to whole batches")
    ap.add_argument("--num-envs", type=int, nargs="+", default=[1, 8, 24, 72])
    ap.add_argument("--backend", choices=["auto", "cpu", "gpu"], default="auto")
    ap.add_argument("--image-size", type=int, nargs=2, default=[128, 128], metavar=("H", "W"),
                    help="camera image size (default 128 128, the small recipe's)")
    args = ap.parse_args()

    import torch

    from lapa_bench import provenance
    from lapa_bench.policy import make_policy
    from lapa_bench.tasks.env import resolve_backend

    backend = resolve_backend(args.backend)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    policies = {"scripted": make_policy("scripted"), "scratch": make_policy("scratch", preset="small", device=dev)}
    size = tuple(args.image_size)
    print(f"task {args.task}, {args.episodes} episodes per row, images {size[0]}x{size[1]}, backend {backend}, "
          f"policy device {dev}, torch threads {provenance.torch_threads()}, {provenance.machine()}")
    print(f"{'policy':9s} {'backend':8s} {'num_envs':>8s} {'episodes/s':>11s} {'env-steps/s':>12s} {'x ref':>7s}")
    for name, policy in policies.items():
        ref = measure(args.task, policy, "cpu", 1, args.episodes, size)
        print(f"{name:9s} {'cpu':8s} {1:8d} {ref['eps_per_s']:11.3f} {ref['steps_per_s']:12.1f} {1.0:7.2f}  (reference)")
        for n in args.num_envs:
            if backend == "cpu" and n == 1:
                continue
            r = measure(args.task, policy, backend, n, max(args.episodes, n), size)
            print(f"{name:9s} {backend:8s} {n:8d} {r['eps_per_s']:11.3f} {r['steps_per_s']:12.1f} "
                  f"{r['eps_per_s'] / ref['eps_per_s']:7.2f}")


if __name__ == "__main__":
    main()
