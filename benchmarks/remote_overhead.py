"""What serving a policy costs: the same policy in-process and through ``lapa-bench serve`` + ``--policy remote``
over loopback, measured alternately in one run: seconds per ``act`` call, and the wall time of whole SIMPLER
episodes (the target: the remote path adds at most 10 % to an episode).

    python benchmarks/remote_overhead.py [--task carrot] [--episodes 2] [--calls 200] [--checkpoint DIR]

Policies: ``zero`` (no compute: the protocol's own cost) and a 64 px ``scratch`` (the comparison's recipe;
untrained unless ``--checkpoint``), executing 1 action per call (every step crosses the wire).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

shared = Path(__file__).resolve().parents[2] / "shared" / "simpler-assets"
if not os.environ.get("MS_ASSET_DIR") and (shared / "data").is_dir():
    os.environ["MS_ASSET_DIR"] = str(shared)


def per_call(policy, calls: int) -> float:
    import numpy as np

    obs = {"image": np.zeros((480, 640, 3), np.uint8), "instruction": "put carrot on plate",
           "state": np.zeros(7, np.float32)}
    policy.reset("put carrot on plate", seed=0, context={"task": "carrot", "episode_id": 0})
    policy.act(obs)
    t0 = time.perf_counter()
    for _ in range(calls):
        policy.act(obs)
    return (time.perf_counter() - t0) / calls


def episodes(env, policy, ids) -> float:
    from lapa_bench.rollout import run_episode

    t0 = time.perf_counter()
    for eid in ids:
        run_episode(env, policy, eid, 0)
    return (time.perf_counter() - t0) / len(ids)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="carrot")
    ap.add_argument("--episodes", type=int, default=2)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()

    import torch

    from lapa_bench import provenance
    from lapa_bench.policy import make_policy
    from lapa_bench.serving.server import server_for
    from lapa_bench.tasks import get_task, make_env

    torch.manual_seed(0)
    ck = args.checkpoint
    if ck is None:
        ck = tempfile.mkdtemp()
        make_policy("scratch", preset="small", image_size=64, pool_prompt=True, query_tokens="per_step",
                    command_state=True, execute=1, device="cpu").save_pretrained(ck)
    rows = [("zero", lambda: make_policy("zero"), None), ("scratch", lambda: make_policy("scratch", checkpoint=ck,
                                                                                           device="cpu"), ck)]
    t = get_task(args.task)
    env = make_env(t, image_size=(128, 128), backend="cpu")
    ids = t.episode_ids[:args.episodes]
    print(f"task {args.task}, {len(ids)} episodes and {args.calls} calls per cell, loopback, revision "
          f"{provenance.git_sha()}, torch threads {provenance.torch_threads()}, {provenance.machine()}")
    print(f"{'policy':8s} {'act in-process':>15s} {'act remote':>11s} {'episode in-process':>19s} "
          f"{'episode remote':>15s} {'remote/in-process (episode)':>28s}")
    try:
        for name, build, checkpoint in rows:
            local = build()
            srv = server_for(build(), name, checkpoint).start()
            remote = make_policy("remote", url=srv.url)
            try:
                a_local, a_remote = per_call(local, args.calls), per_call(remote, args.calls)
                e_local = e_remote = 0.0
                for _ in range(2):  # alternating: both see the same load
                    e_local += episodes(env, local, ids)
                    e_remote += episodes(env, remote, ids)
                print(f"{name:8s} {1000 * a_local:13.2f}ms {1000 * a_remote:9.2f}ms {e_local / 2:18.2f}s "
                      f"{e_remote / 2:14.2f}s {e_remote / e_local:28.3f}", flush=True)
            finally:
                remote.close()
                srv.stop()
    finally:
        env.close()


if __name__ == "__main__":
    main()
