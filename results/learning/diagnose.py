"""Where a policy's closed loop leaves its own demonstration (results/learning, ninth round).

    python results/learning/diagnose.py DATA --policy P --checkpoint RUN [--max-episodes 10] [--policy.KEY V ...]
        [--only-failures FILE] --out OUT.json

Per recorded episode (the first N per task), the policy acts closed loop from the recorded layout, as
`data replay-check --policy`, and each step is compared with the demonstration at the same step: the end
effector's distance from the demonstration's, the gripper command, and the privileged object state. It writes
per episode: success, the step at which the end effector first strayed 1 / 2 / 5 cm from the demonstration,
the phase the demonstration was in at that step (from its gripper: before the close, carrying, after the
release), whether and when the gripper closed (policy vs demonstration), and at the end the source object's
horizontal distance from the target and its height above it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def phase_of(grip: np.ndarray, t: int) -> str:
    closed = np.flatnonzero(grip < 0)
    if not len(closed) or t < closed[0]:
        return "approach"
    return "carry" if t <= closed[-1] else "after release"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("--policy", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--max-episodes", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tasks", default="", help="comma-separated task folders (default: all)")
    args, rest = ap.parse_known_args(argv)
    overrides = {}
    for k, v in zip(rest[::2], rest[1::2]):
        overrides[k.removeprefix("--policy.")] = json.loads(v)
    from lapa_bench.app.replay import held_out_episodes, set_recorded_layout
    from lapa_bench.data import LeRobotDataset, episode_key
    from lapa_bench.policy import make_policy
    from lapa_bench.rollout import run_episode
    from lapa_bench.tasks import get_task, make_env

    agent = make_policy(args.policy, checkpoint=args.checkpoint, **overrides)
    held = held_out_episodes(args.checkpoint) or set()
    out = []
    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    for root in sorted(p for p in Path(args.data).iterdir() if (p / "meta").is_dir() and (not tasks or p.name in tasks)):
        ds = LeRobotDataset(root)
        env = None
        for i in range(min(args.max_episodes, len(ds))):
            e = ds.episodes[i]
            if episode_key(ds, i) in held:
                continue
            env = env or make_env(get_task(e["task"]))
            set_recorded_layout(env, e)
            demo = ds.episode(i, with_frames=False)
            ds_state, ds_act = np.asarray(demo["observation.state"]), np.asarray(demo["action"])
            ee, grip, src, tgt = [], [], [], []

            def on_step(obs, action):
                st = env.privileged_state()
                ee.append(obs["state"][:3].copy())
                grip.append(float(np.asarray(action)[6]))
                src.append(st["source"]["p"].copy())
                tgt.append(st["target"]["p"].copy())

            r = run_episode(env, agent, 0, e["seed"], on_step=on_step)
            ee, grip = np.array(ee), np.array(grip)
            n = min(len(ee), len(ds_state))
            dev = np.linalg.norm(ee[:n] - ds_state[:n, :3], axis=1)
            strays = {f"{int(c * 100)}cm": (int(np.argmax(dev > c)) if (dev > c).any() else None) for c in (0.01, 0.02, 0.05)}
            first_close = lambda g: int(np.argmax(g < 0)) if (g < 0).any() else None  # noqa: E731
            rec = {"task": root.name, "episode_index": i, "success_once": r["success_once"], "grasped": r["grasped"],
                   "stray_step": strays,
                   "stray_phase": {k: (phase_of(ds_act[:, 6], v) if v is not None else None) for k, v in strays.items()},
                   "close_step": {"policy": first_close(grip), "demo": first_close(ds_act[:, 6])},
                   "ee_dev_at_close_mm": (float(dev[first_close(grip)] * 1e3) if first_close(grip) is not None
                                          and first_close(grip) < n else None),
                   "end_src_target_xy_mm": float(np.linalg.norm(src[-1][:2] - tgt[-1][:2]) * 1e3),
                   "end_src_above_target_mm": float((src[-1][2] - tgt[-1][2]) * 1e3),
                   "end_gripper": grip[-1]}
            out.append(rec)
            print(json.dumps(rec), flush=True)
        if env is not None:
            env.close()
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
