"""Rendering only what is read: episodes/s of the old path (every step renders, ``torch.isin`` greenscreen)
against the new one (a step renders only when its image is read; the greenscreen mask from a lookup table),
measured side by side in one process, the variants alternating so that both see the same load.

Rows: the ``scripted`` oracle (one action per call: it reads every frame, so only the greenscreen helps) and a
64 px ``scratch`` policy (the comparison's recipe, untrained unless ``--checkpoint``) executing 1 and 4
actions of each predicted chunk. Records (success, grasp, steps, outcome) are checked equal between the paths.

    python benchmarks/render_savings.py [--task carrot] [--episodes 4] [--repeats 2] [--checkpoint DIR]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

shared = Path(__file__).resolve().parents[2] / "shared" / "simpler-assets"
if not os.environ.get("MS_ASSET_DIR") and (shared / "data").is_dir():
    os.environ["MS_ASSET_DIR"] = str(shared)


def run(env, policy, ids, old: bool) -> tuple[float, list]:
    """Seconds for the episodes ``ids`` and their records, on the old path or the new one."""
    from lapa_bench import rollout

    u = env.unwrapped_env
    saved_step, saved_gs = rollout._step_batch, u._green_sceen_rgb
    if old:
        rollout._step_batch = lambda e, a, read: e.step_batch(a)
        u._green_sceen_rgb = u._lapa_original_green_screen
    try:
        t0, recs = time.perf_counter(), []
        for eid in ids:
            r = rollout.run_episode(env, policy, eid, 0)
            recs.append({k: v for k, v in r.items() if k != "wall_seconds"})
        return time.perf_counter() - t0, recs
    finally:
        rollout._step_batch, u._green_sceen_rgb = saved_step, saved_gs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="carrot")
    ap.add_argument("--episodes", type=int, default=4, help="episodes per measurement")
    ap.add_argument("--repeats", type=int, default=2, help="old/new alternations per row")
    ap.add_argument("--checkpoint", default=None, help="a scratch checkpoint (default: an untrained 64 px model)")
    args = ap.parse_args()

    from lapa_bench import provenance
    from lapa_bench.policy import make_policy
    from lapa_bench.tasks import get_task, make_env

    t = get_task(args.task)
    ids = t.episode_ids[:args.episodes]
    vla = dict(preset="small", image_size=64, pool_prompt=True, query_tokens="per_step", command_state=True)
    rows = [("scripted", lambda: make_policy("scripted"), "-")]
    for ex in (1, 4):
        if args.checkpoint:
            rows.append(("scratch", lambda ex=ex: make_policy("scratch", checkpoint=args.checkpoint, device="cpu",
                                                              execute=ex), ex))
        else:
            rows.append(("scratch", lambda ex=ex: make_policy("scratch", device="cpu", execute=ex, **vla), ex))
    env = make_env(t, image_size=(128, 128), backend="cpu")
    print(f"task {args.task}, {len(ids)} episodes x {args.repeats} repeats per cell, revision {provenance.git_sha()}, "
          f"torch threads {provenance.torch_threads()}, {provenance.machine()}")
    print(f"{'policy':9s} {'execute':>7s} {'old eps/s':>10s} {'new eps/s':>10s} {'new/old':>8s}  records")
    try:
        for name, build, ex in rows:
            policy = build()
            run(env, policy, ids[:1], old=False)  # warm-up
            secs = {True: 0.0, False: 0.0}
            recs = {}
            for _ in range(args.repeats):
                for old in (True, False):
                    s, r = run(env, policy, ids, old)
                    secs[old] += s
                    recs.setdefault(old, r)
            n = len(ids) * args.repeats
            same = "identical" if recs[True] == recs[False] else "DIFFER"
            print(f"{name:9s} {str(ex):>7s} {n / secs[True]:10.3f} {n / secs[False]:10.3f} "
                  f"{secs[True] / secs[False]:8.2f}  {same}", flush=True)
    finally:
        env.close()


if __name__ == "__main__":
    main()
