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


def worker(steps: int, warmup: int, threads: int, compiled: bool = False) -> dict:
    """Seconds per step of forward + backward + AdamW on one random batch of the recipe's model."""
    import torch

    from policies.lapa.configuration_lapa import PRESETS
    from policies.lapa.modeling_lapa import LAPAModel

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    c = PRESETS["small"]()
    for k, v in dict(image_size=64, random_shift=4, execute=4, pool_prompt=True, query_tokens="per_step",
                     command_state=True, head="action").items():
        setattr(c, k, v)
    model = LAPAModel.build(c)
    b = 32
    batch = {"image": torch.rand(b, 3, 64, 64), "instruction": ["put carrot on plate"] * b,
             "state": torch.randn(b, model.config.state_dim if hasattr(model.config, "state_dim") else 7),
             "target": torch.randn(b, c.chunk, 7)}
    loss_fn = torch.compile(model.loss) if compiled else model.loss
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        loss, _ = loss_fn(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return {"s_per_step": sum(times) / len(times)}


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
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
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
