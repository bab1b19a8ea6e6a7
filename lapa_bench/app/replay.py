"""`lapa-bench data replay-check`: replay each recorded episode from its recorded layout (open loop),
or run a policy closed loop from the layouts of its own training data (the training-layout check)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from lapa_bench.errors import UserError
from lapa_bench.data.lerobot import LeRobotDataset, open_datasets
from lapa_bench.io import write_json_atomic


def held_out_episodes(checkpoint) -> set[str] | None:
    """The episode keys a training run held out for its learning check (``last/trainer_state.json``; for a
    run's ``last/`` folder itself, its ``trainer_state.json``), or None when the checkpoint does not record
    them (runs made before they were recorded)."""
    import json

    paths = [Path(checkpoint) / "last" / "trainer_state.json", Path(checkpoint) / "trainer_state.json"] if checkpoint else []
    path = next((p for p in paths if p.is_file()), None)
    if path is None:
        return None
    keys = json.loads(path.read_text()).get("held_out_episodes")
    return None if keys is None else set(keys)


def set_recorded_layout(env, episode: dict) -> None:
    """Place the objects of ``env``'s next reset (with episode id 0) where a recorded episode
    (``LeRobotDataset.episodes[i]``) started them."""
    names = list(env.unwrapped_env.obj_names)
    env.set_layout([episode["layout"][n]["xyz"] for n in names], [episode["layout"][n]["quat"] for n in names])


def _replay_part(root, max_episodes=None, position: int = 0, progress: bool = True,
                 policy: str | None = None, checkpoint: str | None = None, policy_config: dict | None = None) -> list[dict]:
    """Replay the episodes of one dataset (one task per dataset, as `collect` writes them).

    With ``policy`` (and ``checkpoint``), that policy acts closed loop from each recorded layout
    instead of the recorded actions, on the evaluation's native camera image; each result then says
    whether the run trained on that episode or held it out (``held_out``; None when not recorded).
    ``policy_config``: overrides of the policy's config (e.g. ``{"execute": 4}``), as ``eval --policy.KEY``.
    """
    from tqdm.auto import tqdm

    from lapa_bench.data import episode_key
    from lapa_bench.rollout import run_episode
    from lapa_bench.policy import make_policy
    from lapa_bench.tasks import get_task, make_env

    ds = LeRobotDataset(root)
    results, envs = [], {}
    idxs = list(range(len(ds)))[:max_episodes]
    what = policy or "replay"
    bar = tqdm(idxs, desc=f"{what} {Path(root).name}", position=position, disable=not progress, dynamic_ncols=True)
    agent = make_policy(policy, checkpoint=checkpoint, **(policy_config or {})) if policy else None
    held = held_out_episodes(checkpoint) if policy else None
    try:
        for i in bar:
            e = ds.episodes[i]
            if e["task"] not in envs:
                shape = None if policy else tuple(ds.info["features"][ds.image_key]["shape"][:2])
                envs[e["task"]] = make_env(get_task(e["task"]), image_size=shape)
            env = envs[e["task"]]
            set_recorded_layout(env, e)
            actor = agent or make_policy("replay", actions=ds.episode(i, with_frames=False)["action"])
            r = run_episode(env, actor, 0, e["seed"])
            results.append({"dataset": Path(root).name, "episode_index": e["episode_index"], "task": e["task"],
                            "recorded_success": e["success"], "replay_success": r["success_at_end"],
                            "success_once": r["success_once"], "grasped": r["grasped"], "error": r["error"],
                            "outcome": r["outcome"],
                            "held_out": None if held is None else episode_key(ds, i) in held})
    finally:
        for env in envs.values():
            env.close()
    return results


def replay_check(root, max_episodes=None, out=None, progress: bool = True, workers: int = 1,
                 policy: str | None = None, checkpoint: str | None = None, policy_config: dict | None = None) -> dict:
    """Replay each episode's recorded actions open loop from its recorded layout and seed.

    A faithful recording reproduces the recorded success. ``max_episodes`` limits each dataset.
    ``policy``/``checkpoint``: run that policy closed loop from the recorded layouts instead (the
    *training-layout* check: can a policy finetuned on these demonstrations redo them?), with
    ``policy_config`` overriding its config (e.g. ``{"execute": 4}``: the rollout setting of a chunk policy).
    """
    parts = [ds.root for ds in open_datasets(root)]
    if workers <= 1 or len(parts) == 1:
        results = [r for p in parts for r in _replay_part(p, max_episodes, 0, progress, policy, checkpoint, policy_config)]
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        from lapa_bench.provenance import set_torch_threads, worker_threads

        threads = worker_threads(workers)  # as the pipeline's eval workers
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                 initializer=set_torch_threads, initargs=(threads,)) as ex:
            futs = [ex.submit(_replay_part, p, max_episodes, i % workers, progress, policy, checkpoint, policy_config)
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
        trained = [r for r in rec if r["held_out"] is False]
        recorded = any(r["held_out"] is not None for r in rec)  # the checkpoint names its held-out episodes
        if len(trained) < len(rec) and recorded:  # some were held out
            print(f"[replay-check] of which the {len(trained)} layouts it trained on (the rest were held out for "
                  f"its learning check): success_once {sum(r['success_once'] for r in trained)}/{len(trained)}, "
                  f"grasped {sum(r['grasped'] for r in trained)}/{len(trained)}")
        counts = Counter(r["outcome"] for r in (trained if recorded else rec))
        print("[replay-check] outcomes: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
        errors = [r["error"] for r in results if r["error"]]
        if errors:
            print(f"[replay-check] {len(errors)} episodes failed with an error, first: {errors[0]}")
    from lapa_bench.provenance import portable_path

    summary = {"rate": rate, "n": len(rec), "policy": policy, "checkpoint": portable_path(checkpoint),
               "policy_config": policy_config or {}, "episodes": results}
    if checkpoint:  # which weights were checked (a check of other weights is not reused: pipeline.learning_check)
        from lapa_bench.fingerprint import files_fingerprint

        summary["checkpoint_fingerprint"] = files_fingerprint(checkpoint)
    if out:
        write_json_atomic(out, summary)
    return summary


def half_precision(checkpoint, demos, max_episodes: int = 10, workers: int = 1) -> dict:
    """Store a policy checkpoint's weights in half precision (:func:`lapa_bench.training.checkpoint.to_half`) only
    if that keeps its success on its training layouts: the training-layout check (the first ``max_episodes``
    layouts per task of ``demos``, the demonstrations it was trained on) runs on the float32 weights, then on the
    float16 ones; fewer successes in float16 restore the float32 file and raise. Writes ``CHECKPOINT/half.json``
    (both checks, the conversion, both files' fingerprints) and returns it."""
    import shutil
    import tempfile

    from lapa_bench.config import ConfigError
    from lapa_bench.fingerprint import files_fingerprint
    from lapa_bench.policy import read_checkpoint_config
    from lapa_bench.training.checkpoint import MODEL_FILE, halvable, to_half

    ck = Path(checkpoint)
    try:
        policy, _ = read_checkpoint_config(ck)
    except ConfigError as e:
        raise ConfigError(f"{e}. Only a policy checkpoint is converted: its training-layout check shows whether half "
                          "precision keeps its success") from None
    halvable(ck)  # already half precision: refused before the checks run

    def successes() -> tuple[int, int]:
        eps = replay_check(demos, max_episodes=max_episodes, workers=workers, policy=policy, checkpoint=str(ck),
                           progress=False)["episodes"]
        return sum(bool(e["success_once"]) for e in eps), len(eps)

    fp32 = files_fingerprint(ck)
    before = successes()
    with tempfile.TemporaryDirectory(dir=ck) as keep:
        backup = Path(keep) / MODEL_FILE
        shutil.copy2(ck / MODEL_FILE, backup)
        change = to_half(ck)
        after = successes()
        if after[0] < before[0]:
            shutil.copy2(backup, ck / MODEL_FILE)
            raise UserError(f"{ck}: half precision solves {after[0]}/{after[1]} training layouts against "
                             f"{before[0]}/{before[1]} in float32; the float32 weights are restored")
    info = {"dtype": "float16", **change, "fingerprint": {"float32": fp32, "float16": files_fingerprint(ck)},
            "training_layouts": {"demos": str(demos), "max_episodes_per_task": max_episodes,
                                 "success_once": {"float32": f"{before[0]}/{before[1]}",
                                                  "float16": f"{after[0]}/{after[1]}"}}}
    write_json_atomic(ck / "half.json", info)
    print(f"[checkpoint half] {ck}: {change['converted']} tensors in float16 "
          f"({change['bytes']['before'] / 2**20:.1f} -> {change['bytes']['after'] / 2**20:.1f} MiB); training "
          f"layouts {before[0]}/{before[1]} in float32, {after[0]}/{after[1]} in float16")
    return info
