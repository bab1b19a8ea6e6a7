"""Threads that do not fight: seconds per training step of the comparison's recipe (the 64 px `scratch` VLA,
batch 32) alone and with a second, identical process running at the same time, for torch thread counts and
OpenMP's wait policy. Every row is measured in this one run (the processes of a row start together).

    python benchmarks/threads.py [--steps 30] [--warmup 5]

OpenMP's default wait policy spins a waiting thread for a while: two processes with two threads each on two
cores then keep pre-empting each other's spinning threads. One thread per process (``lapa-bench``'s default,
``LAPA_BENCH_THREADS`` overrides it) or ``OMP_WAIT_POLICY=PASSIVE`` avoid it; the table says what each costs alone.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def worker(steps: int, warmup: int, threads: int) -> dict:
    """Seconds per step of the recipe's model on one random batch, through the one training loop."""
    import torch

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train_throughput import _timed, build

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, batch = build("recipe64", "tiny", 32, "cpu")
    _timed(model, batch, warmup, "cpu")
    return {"s_per_step": 32 / _timed(model, batch, steps, "cpu")["samples_per_s"]}


def run_row(n_procs: int, threads: int, policy: str, steps: int, warmup: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": policy}
    cmd = [sys.executable, __file__, "--worker", "--threads", str(threads), "--steps", str(steps),
           "--warmup", str(warmup)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n_procs)]
    outs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    return max(o["s_per_step"] for o in outs)  # the slower of the processes that ran together


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.steps, args.warmup, args.threads)))
        return
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository
    from lapa_bench import provenance

    print(f"revision {provenance.git_sha()}, {os.cpu_count()} cores, {args.steps} timed steps after {args.warmup}, "
          f"{provenance.machine()}")
    rows = [(1, 1, "ACTIVE"), (1, 2, "ACTIVE"), (1, 2, "PASSIVE"),
            (2, 1, "ACTIVE"), (2, 2, "ACTIVE"), (2, 2, "PASSIVE")]
    alone = {}
    print(f"{'processes':>9} {'threads':>7} {'OMP_WAIT_POLICY':>15} {'s/step':>8} {'vs 1 process, 1 thread':>23}")
    for n, t, pol in rows:
        s = run_row(n, t, pol, args.steps, args.warmup)
        alone.setdefault("ref", s)
        print(f"{n:>9} {t:>7} {pol:>15} {s:8.3f} {s / alone['ref']:23.2f}", flush=True)


if __name__ == "__main__":
    main()
