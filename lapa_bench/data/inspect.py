"""`lapa-bench data info` and `lapa-bench data replay-check`."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from lapa_bench.data.lerobot import LeRobotDataset, open_datasets


def dataset_info(root, sheet=None, sheet_frames: int = 12) -> dict:
    parts = open_datasets(root)
    eps = [e for ds in parts for e in ds.episodes]
    tasks = Counter(e.get("task_name") or (e.get("tasks") or ["?"])[0] for e in eps)
    succ = [e["success"] for e in eps if "success" in e]
    extra = parts[0].info.get("lapa_bench", {})
    info = {"root": str(root), "datasets": len(parts), "episodes": len(eps),
            "frames": sum(ds.num_frames for ds in parts), "fps": parts[0].fps,
            "tasks": dict(tasks), "has_actions": all(ds.has_actions for ds in parts),
            "success_rate": (float(np.mean(succ)) if succ else None),
            "source": extra.get("assets", {}).get("kind", "unknown"), "kind": extra.get("kind", "unknown")}
    if info["has_actions"]:
        acts = np.concatenate([ds.episode(i, with_frames=False)["action"] for ds in parts for i in range(len(ds))])
        info["action_stats"] = {k: np.round(getattr(np, k)(acts, 0), 4).tolist() for k in ("mean", "std", "min", "max")}
    disj = [e["disjointness"]["disjoint"] for e in eps if "disjointness" in e]
    if disj:
        info["disjoint_from_eval"] = f"{sum(disj)}/{len(disj)} episodes"
    sheet = Path(sheet) if sheet else Path(root) / "contact_sheet.png"
    info["contact_sheet"] = str(contact_sheet(parts, sheet, sheet_frames))
    return info


def contact_sheet(parts: list[LeRobotDataset], path: Path, n: int = 12) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per = max(1, n // len(parts))
    picks = [(ds, int(i)) for ds in parts for i in np.linspace(0, len(ds) - 1, min(per, len(ds))).astype(int)]
    cols = 2 if len(picks) > 1 else 1
    rows = int(np.ceil(len(picks) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (ds, i) in zip(axes.flat, picks):
        frames = ds.frames(i)
        ax.imshow(np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]], axis=1))
        e = ds.episodes[i]
        ax.set_title(f"{Path(ds.root).name} ep {e['episode_index']}: {e.get('task_name', '')} "
                     + ("(success)" if e.get("success") else ""), fontsize=8)
    fig.suptitle("first / middle / last frame of sample episodes", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def format_info(info: dict) -> str:
    lines = [f"dataset      {info['root']}  ({info['datasets']} LeRobot dataset(s), {info['kind']}, "
             f"assets: {info['source']})",
             f"episodes     {info['episodes']}   frames {info['frames']}   fps {info['fps']}",
             "tasks        " + ", ".join(f"{k}: {v}" for k, v in info["tasks"].items())]
    if info["success_rate"] is not None:
        lines.append(f"success      {100 * info['success_rate']:.1f}%")
    if "disjoint_from_eval" in info:
        lines.append(f"disjoint     {info['disjoint_from_eval']} (>= 2 cm from every evaluation layout)")
    if "action_stats" in info:
        for k, v in info["action_stats"].items():
            lines.append(f"action {k:<5} {v}")
    lines.append(f"contact sheet {info['contact_sheet']}")
    return "\n".join(lines)


def _replay_part(root, max_episodes=None, position: int = 0, progress: bool = True,
                 policy: str | None = None, checkpoint: str | None = None) -> list[dict]:
    """Replay the episodes of one dataset (one task per dataset, as `collect` writes them).

    With ``policy`` (and ``checkpoint``), that policy acts closed loop from each recorded layout
    instead of the recorded actions, on the evaluation's native camera image.
    """
    from tqdm.auto import tqdm

    from lapa_bench.evaluate import run_episode
    from lapa_bench.policy import make_policy
    from tasks import get_task, make_env

    ds = LeRobotDataset(root)
    results, envs = [], {}
    idxs = list(range(len(ds)))[:max_episodes]
    what = policy or "replay"
    bar = tqdm(idxs, desc=f"{what} {Path(root).name}", position=position, disable=not progress, dynamic_ncols=True)
    agent = make_policy(policy, checkpoint=checkpoint) if policy else None
    try:
        for i in bar:
            e = ds.episodes[i]
            if e["task"] not in envs:
                shape = None if policy else tuple(ds.info["features"][ds.image_key]["shape"][:2])
                envs[e["task"]] = make_env(get_task(e["task"]), image_size=shape)
            env = envs[e["task"]]
            names = list(env.unwrapped_env.obj_names)
            env.set_layout([e["layout"][n]["xyz"] for n in names], [e["layout"][n]["quat"] for n in names])
            actor = agent or make_policy("replay", actions=ds.episode(i, with_frames=False)["action"])
            r = run_episode(env, actor, 0, e["seed"])
            results.append({"dataset": Path(root).name, "episode_index": e["episode_index"], "task": e["task"],
                            "recorded_success": e["success"], "replay_success": r["success_at_end"],
                            "success_once": r["success_once"], "grasped": r["grasped"], "error": r["error"]})
    finally:
        for env in envs.values():
            env.close()
    return results


def replay_check(root, max_episodes=None, out=None, progress: bool = True, workers: int = 1,
                 policy: str | None = None, checkpoint: str | None = None) -> dict:
    """Replay each episode's recorded actions open loop from its recorded layout and seed.

    A faithful recording reproduces the recorded success. ``max_episodes`` limits each dataset.
    ``policy``/``checkpoint``: run that policy closed loop from the recorded layouts instead (the
    *training-layout* check: can a policy finetuned on these demonstrations redo them?).
    """
    parts = [ds.root for ds in open_datasets(root)]
    if workers <= 1 or len(parts) == 1:
        results = [r for p in parts for r in _replay_part(p, max_episodes, 0, progress, policy, checkpoint)]
    else:
        import multiprocessing as mp
        import os
        from concurrent.futures import ProcessPoolExecutor

        from lapa_bench.provenance import set_torch_threads

        threads = max(1, (os.cpu_count() or 1) // workers)  # as the pipeline's eval workers
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                 initializer=set_torch_threads, initargs=(threads,)) as ex:
            futs = [ex.submit(_replay_part, p, max_episodes, i % workers, progress, policy, checkpoint)
                    for i, p in enumerate(parts)]
            results = [r for f in futs for r in f.result()]
    rec = [r for r in results if r["recorded_success"]]
    rate = float(np.mean([r["replay_success"] for r in rec])) if rec else 0.0
    how = f"{policy} ({checkpoint}) closed loop from the recorded layouts" if policy else "open-loop replay"
    print(f"[replay-check] {sum(r['replay_success'] for r in rec)}/{len(rec)} recorded successes "
          f"reproduced by {how} ({100 * rate:.1f}%)")
    if policy:
        for key in ("success_once", "grasped"):
            print(f"[replay-check] {key}: {sum(r[key] for r in rec)}/{len(rec)}")
        errors = [r["error"] for r in results if r["error"]]
        if errors:
            print(f"[replay-check] {len(errors)} episodes failed with an error, first: {errors[0]}")
    summary = {"rate": rate, "n": len(rec), "policy": policy, "checkpoint": checkpoint, "episodes": results}
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(summary, indent=2))
    return summary
