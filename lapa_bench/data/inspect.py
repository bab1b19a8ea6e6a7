"""`lapa-bench data info`: counts, success, action stats and a contact sheet of a dataset."""
from __future__ import annotations

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
        per_episode = {f"{Path(ds.root).name} episode {i}": ds.episode(i, with_frames=False)["action"]
                       for ds in parts for i in range(len(ds))}
        acts = np.concatenate(list(per_episode.values()))
        info["action_stats"] = {k: np.round(getattr(np, k)(acts, 0), 4).tolist() for k in ("mean", "std", "min", "max")}
        bad = [name for name, a in per_episode.items() if not np.isfinite(a).all()]
        if bad:
            info["warnings"] = [f"non-finite actions (nan or inf) in {len(bad)} episodes: {', '.join(bad[:5])}"]
    attempts = {ds.root.name: max(e["attempt"] for e in ds.episodes) + 1 for ds in parts
                if ds.episodes and all("attempt" in e for e in ds.episodes)}
    if attempts:  # a collection keeps its successes only: the oracle's success = successes / attempts played
        won = {ds.root.name: sum(bool(e.get("success")) for e in ds.episodes) for ds in parts}
        info["oracle_success"] = {k: {"successes": won[k], "attempts": n, "rate": round(won[k] / n, 4)}
                                  for k, n in attempts.items()}
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
    for k, v in info.get("oracle_success", {}).items():
        lines.append(f"oracle       {k}: {v['successes']} successes in {v['attempts']} attempts ({100 * v['rate']:.1f}%)")
    if "disjoint_from_eval" in info:
        lines.append(f"disjoint     {info['disjoint_from_eval']} (>= 2 cm from every evaluation layout)")
    if "action_stats" in info:
        for k, v in info["action_stats"].items():
            lines.append(f"action {k:<5} {v}")
    lines += [f"WARNING      {w}" for w in info.get("warnings", [])]
    lines.append(f"contact sheet {info['contact_sheet']}")
    return "\n".join(lines)
