"""Collect scripted demonstrations on the SIMPLER Bridge tasks, disjoint from evaluation.

Every demonstration starts from a randomized layout in which **no movable object starts within
``min_eval_distance`` (2 cm) of its own position in any of the task's 24 evaluation episodes**;
the check runs in code before each episode and its result is stored in the episode metadata.
Objects that never move across the evaluation layouts (the sink's basket target) are part of
the fixed scene and are recorded as such. Demonstrations are rolled out by the privileged
``scripted`` oracle with small action noise (for diversity) and written in the LeRobot v2.1
layout. Interrupting loses at most the episode in flight; re-running resumes.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lapa_bench.errors import UserError
from lapa_bench import assets, specs
from lapa_bench.geometry import quat_mul

MIN_EVAL_DISTANCE = 0.02  # m
# who plays the oracle in a Bridge collection of each source (`collect --source`, a pipeline corpus's source)
EMBODIMENT_OF_SOURCE = {"bridge": "widowx", "gripper": "floating_gripper"}


@dataclass
class CollectionConfig:
    """What every collection shares (the Bridge demonstrations and the Panda videos)."""

    tasks: list[str]
    episodes: int  # successful episodes per task
    out: str
    image_size: tuple[int, int] = (256, 256)
    seed: int = 0
    progress: bool = True


@dataclass
class CollectConfig(CollectionConfig):
    keep_failures: bool = False
    noise: float = 0.002  # m, std of the oracle's translation noise
    # m, std of noise on the executed translation only, the recorded action staying the oracle's clean one
    # (DART recovery data: lapa_bench.policies.scripted.ScriptedConfig.dart); 0: off
    dart: float = 0.0
    # degrees: each movable object starts in one of the task's evaluation orientations turned by a uniform yaw
    # in +-yaw_jitter (positions stay >= min_eval_distance from every evaluation position); 180: any yaw
    yaw_jitter: float = 180.0
    max_attempts_factor: int = 3  # give up on a task after episodes * factor attempts
    # attempts played in lockstep in one process (the GPU path: one ManiSkill env with num_envs scenes;
    # on the CPU, num_envs single-scene envs); the dataset is the same for any value
    num_envs: int = 1
    backend: str = "auto"
    # who plays the oracle's actions: widowx (SIMPLER's robot: demonstrations) or floating_gripper (ManiSkill's
    # floating Panda gripper in the same scenes, tasks/floating_gripper.py: videos of another body)
    embodiment: str = "widowx"

    def __post_init__(self):
        if self.num_envs < 1:
            raise UserError(f"num_envs must be >= 1, got {self.num_envs}")
        if not 0.0 <= self.yaw_jitter <= 180.0:
            raise UserError(f"yaw_jitter must be in [0, 180] degrees, got {self.yaw_jitter}")


def _yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def sample_layout(env, rng: np.random.Generator, min_dist: float = MIN_EVAL_DISTANCE,
                  margin: float = 0.04, tries: int = 1000, yaw_jitter: float = CollectConfig.yaw_jitter):
    """A random layout (xyz, quat per object) disjoint from the evaluation layouts, plus its check.

    Positions are uniform over the evaluation positions' box (+ ``margin``); orientations are one of the
    evaluation orientations turned about z by a uniform angle in +-``yaw_jitter`` degrees (180: any yaw)."""
    u = env.unwrapped_env
    eval_xy = env.evaluation_layouts()
    xyz_cfg, quat_cfg = (t.cpu().numpy() for t in env._eval_layouts)
    names = list(u.obj_names)
    fixed = [n for n in names if np.ptp(eval_xy[n], axis=0).max() < 1e-6]
    movable = [n for n in names if n not in fixed]
    lo = np.min([eval_xy[n].min(0) for n in movable], 0) - margin
    hi = np.max([eval_xy[n].max(0) for n in movable], 0) + margin
    half = {n: (np.array(u.model_db[n]["bbox"]["max"]) - np.array(u.model_db[n]["bbox"]["min"])) / 2 for n in names}
    for _ in range(tries):
        xyz = xyz_cfg[0].copy()
        quat = quat_cfg[rng.integers(len(quat_cfg))].copy()
        for i, n in enumerate(names):
            if n in fixed:
                continue
            xyz[i, :2] = rng.uniform(lo, hi)
            quat[i] = quat_mul(_yaw_quat(np.radians(rng.uniform(-yaw_jitter, yaw_jitter))), quat[i])
        dists = {n: float(np.linalg.norm(eval_xy[n] - xyz[names.index(n), :2], axis=1).min()) for n in movable}
        if min(dists.values()) < min_dist:
            continue
        if len(movable) == 2:  # keep the two objects apart
            a, b = movable
            need = np.linalg.norm(half[a][:2]) + np.linalg.norm(half[b][:2]) * 0.8
            if np.linalg.norm(xyz[0, :2] - xyz[1, :2]) < need:
                continue
        check = {"min_eval_distance_m": dists, "threshold_m": min_dist, "fixed_objects": fixed,
                 "disjoint": True}
        return xyz, quat, check
    raise RuntimeError(f"could not sample a layout disjoint from evaluation for {env.task.name}")


def check_disjoint(env, layout: dict, min_dist: float = MIN_EVAL_DISTANCE) -> dict:
    """Re-check a stored layout ({name: {"xyz": ...}}) against the evaluation layouts."""
    eval_xy = env.evaluation_layouts()
    out = {}
    for n, v in layout.items():
        if np.ptp(eval_xy[n], axis=0).max() < 1e-6:
            continue
        out[n] = float(np.linalg.norm(eval_xy[n] - np.asarray(v["xyz"])[:2], axis=1).min())
    return {"min_eval_distance_m": out, "disjoint": all(d >= min_dist for d in out.values())}


class _Attempts:
    """One task's env(s) and oracle; :meth:`run` plays attempts (each a pure function of the config, the
    task and the attempt number, so attempts may run in any process or batch and are written in attempt
    order). ``num_envs`` attempts at a time in lockstep (``cfg.backend``), or one on the CPU."""

    def __init__(self, cfg: CollectConfig, task_name: str, num_envs: int = 1):
        from lapa_bench.policy import make_policy
        from lapa_bench.tasks import TASKS, get_task, make_env

        self.cfg, self.task = cfg, get_task(task_name)
        self.ti = list(TASKS).index(self.task.name)
        self.policy = make_policy("scripted", noise=cfg.noise, dart=cfg.dart)
        self.env = make_env(self.task, image_size=cfg.image_size, num_envs=num_envs,
                            backend=cfg.backend if num_envs > 1 else "cpu", embodiment=cfg.embodiment)
        self.first = getattr(self.env, "envs", [self.env])[0]  # evaluation layouts, object names
        self.names = list(self.first.unwrapped_env.obj_names)

    def run(self, attempts: list[int]) -> list[tuple[bool, dict | None]]:
        """-> per attempt (success, the episode to write or None)."""
        from lapa_bench.rollout import run_batch

        cfg, task = self.cfg, self.task
        env = self.env
        if len(attempts) != env.num_envs:
            raise UserError(f"{len(attempts)} attempts for {env.num_envs} scenes")
        seeds = [cfg.seed * 1_000_003 + self.ti * 10_007 + a for a in attempts]
        layouts = [sample_layout(self.first, np.random.default_rng([cfg.seed, self.ti, a]), yaw_jitter=cfg.yaw_jitter)
                   for a in attempts]
        ids = env.set_layouts([(xyz, quat) for xyz, quat, _ in layouts])
        steps = [([], [], []) for _ in attempts]

        def rec(b, obs, action):  # the observation, and the action the oracle meant there (DART: not the executed one)
            for store, x in zip(steps[b], (obs["image"], obs["state"], self.policy.recorded_action(b))):
                store.append(x)

        results = run_batch(env, self.policy, list(zip(ids, seeds)), on_step=rec)
        out = []
        for a, seed, (xyz, quat, check), (frames, states, actions), res in zip(attempts, seeds, layouts, steps, results):
            ok = bool(res["success_at_end"] and res["error"] is None)
            if not (ok or cfg.keep_failures):
                out.append((ok, None))
                continue
            meta = {"task": task.env_id, "task_name": task.name, "success": ok,
                    "success_once": bool(res["success_once"]), "seed": int(seed), "attempt": a,
                    "layout": {n: {"xyz": xyz[i].tolist(), "quat": quat[i].tolist()} for i, n in enumerate(self.names)},
                    "disjointness": check}
            out.append((ok, dict(frames=np.stack(frames), task=task.instruction, states=np.stack(states),
                                 actions=np.stack(actions), meta=meta)))
        return out

    def close(self):
        self.env.close()


_WORKER: _Attempts | None = None  # a pool process's attempts (collect_task with workers > 1)


def _worker_init(cfg, task_name):
    global _WORKER
    _WORKER = _Attempts(cfg, task_name)


def _worker_run(attempt: int):
    return _WORKER.run([attempt])[0]


def _attempt_results(cfg: CollectConfig, task_name: str, first: int, workers: int):
    """Yield ``(attempt, (success, episode))`` for attempts first, first + 1, ... in order, computed by
    ``workers`` processes (``workers`` attempts ahead at most) or in this process, ``cfg.num_envs`` at a
    time."""
    if workers <= 1:
        n = cfg.num_envs
        att = _Attempts(cfg, task_name, n)
        try:
            a = first
            while True:
                yield from zip(range(a, a + n), att.run(list(range(a, a + n))))
                a += n
        finally:
            att.close()
        return
    if cfg.num_envs > 1:
        raise UserError("collect: use --workers (CPU processes) or --num-envs (scenes in lockstep), not both")
    import multiprocessing as mp
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                             initargs=(cfg, task_name)) as ex:
        pending, nxt = deque(), first
        try:
            while True:
                while len(pending) < 2 * workers:
                    pending.append((nxt, ex.submit(_worker_run, nxt)))
                    nxt += 1
                a, fut = pending.popleft()
                yield a, fut.result()
        finally:
            for _, fut in pending:
                fut.cancel()


def _check_resume(root: Path, cfg: CollectConfig) -> None:
    """A collection resumes only with the oracle settings it was started with (one dataset, one oracle)."""
    info = root / "meta" / "info.json"
    if not info.is_file():
        return
    meta = json.loads(info.read_text())
    had = meta.get("lapa_bench", {})
    if "noise" not in had:  # not written by `collect` (no oracle settings recorded)
        return
    shape = list(meta.get("features", {}).get("observation.images.image", {}).get("shape", [])[:2])
    if shape and shape != list(cfg.image_size):
        raise UserError(f"{root} holds frames of {shape[0]}x{shape[1]}; resuming it with --image-size "
                         f"{cfg.image_size[0]}x{cfg.image_size[1]} would mix two sizes in one dataset: pass "
                         f"--image-size {shape[0]}x{shape[1]}, or collect into a new --out")
    if had.get("embodiment", "widowx") != cfg.embodiment:
        raise UserError(f"{root} was collected with the {had.get('embodiment', 'widowx')}; resuming it with the "
                         f"{cfg.embodiment} would mix two bodies in one dataset: collect into a new --out")
    for key in ("seed", "keep_failures"):
        if had.get(key) != getattr(cfg, key):
            raise UserError(f"{root} was collected with {key} {had.get(key)}; resuming it with {getattr(cfg, key)} "
                             f"would mix two collections in one dataset: pass {key} {had.get(key)}, or collect into "
                             "a new --out")
    for key in ("noise", "dart", "yaw_jitter"):
        old, new = had.get(key), float(getattr(cfg, key))
        if old is None or abs(float(old) - new) > 1e-12:
            raise UserError(f"{root} was collected with --{key} {old}; resuming it with --{key} {new} would mix two "
                             f"oracles in one dataset: pass --{key} {old}, or collect into a new --out")


def collect_task(cfg: CollectConfig, task_name: str, position: int = 0, workers: int = 1) -> dict:
    """Collect ``cfg.episodes`` successful demonstrations of one task into ``OUT/<task>/``; ``workers``
    processes play attempts ahead, written in attempt order (the dataset is the same for any count)."""
    from tqdm.auto import tqdm

    from lapa_bench.data.lerobot import LeRobotWriter
    from lapa_bench.tasks import get_task

    task = get_task(task_name)
    root = Path(cfg.out) / task.name
    _check_resume(root, cfg)
    writer = LeRobotWriter(root, fps=specs.CONTROL_HZ, image_shape=(*cfg.image_size, 3),
                           state_names=specs.STATE_NAMES, action_names=specs.ACTION_NAMES,
                           extra_info={"kind": "demonstrations", "collector": "scripted", "seed": cfg.seed,
                                       "keep_failures": cfg.keep_failures, "noise": cfg.noise,
                                       "dart": cfg.dart, "yaw_jitter": cfg.yaw_jitter,
                                       "assets": assets.asset_source(),
                                       "disjointness": {"threshold_m": MIN_EVAL_DISTANCE, "checked_in_code": True},
                                       # (the WidowX, SIMPLER's robot, unless named)
                                       **({} if cfg.embodiment == "widowx" else {"embodiment": cfg.embodiment})})
    have = sum(1 for e in writer.episodes if e["success"])
    attempt = max([e["attempt"] for e in writer.episodes], default=-1)
    t0 = time.time()
    bar = tqdm(total=cfg.episodes, initial=min(have, cfg.episodes), desc=f"collect {task.name}", unit="ep",
               position=position, disable=not cfg.progress, dynamic_ncols=True, leave=True)
    if have >= cfg.episodes:
        bar.close()
        return {"task": task.name, "episodes": len(writer.episodes), "seconds": 0.0}
    results = _attempt_results(cfg, task.name, attempt + 1, workers)
    try:
        for attempt, (ok, episode) in results:
            if attempt >= cfg.episodes * cfg.max_attempts_factor:
                raise RuntimeError(f"{task.name}: only {have} successes in {attempt} attempts")
            if episode is not None:
                writer.add_episode(episode["frames"], task=episode["task"], states=episode["states"],
                                   actions=episode["actions"], meta=episode["meta"])
            if ok:
                have += 1
                bar.update(1)
            bar.set_postfix_str(f"attempts {attempt + 1}")
            if have >= cfg.episodes:
                break
    finally:
        results.close()
        bar.close()
    return {"task": task.name, "episodes": len(writer.episodes), "seconds": round(time.time() - t0, 1)}


def run_per_task(fn, cfg, names: list[str], workers: int) -> list[dict]:
    """``fn(cfg, name, position)`` for every name, ``workers`` at a time in spawned processes."""
    if workers <= 1 or len(names) == 1:
        return [fn(cfg, n) for n in names]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
        futs = [ex.submit(fn, cfg, n, i % workers) for i, n in enumerate(names)]
        return [f.result() for f in futs]


def write_collection_summary(out: Path, cfg, workers: int, results: list[dict], wall: float) -> None:
    from dataclasses import asdict

    from lapa_bench.io import write_json_atomic

    write_json_atomic(Path(out) / "collection.json", {"config": asdict(cfg), "workers": workers, "parts": results,
                                                      "wall_seconds_last_run": round(wall, 1)}, sort_keys=True)
    n = sum(r["episodes"] for r in results)
    print(f"[collect] {out}: {n} episodes in {len(results)} task datasets ({wall:.0f} s this run)")


def collect(cfg: CollectConfig, workers: int = 1) -> Path:
    """Collect every task of ``cfg.tasks`` into ``OUT/<task>/`` (one LeRobot dataset per task), one task
    after another, each with ``workers`` processes playing its attempts (every core, for any number of
    tasks; the datasets do not depend on ``workers``)."""
    from lapa_bench.tasks import resolve_tasks

    assets.check_assets()
    names = [t.name for t in resolve_tasks(cfg.tasks)]
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = [collect_task(cfg, n, workers=workers) for n in names]
    write_collection_summary(out, cfg, workers, results, time.time() - t0)
    return out


def run_collection(task_fn, cfg: CollectionConfig, names: list[str], workers: int) -> Path:
    """``task_fn`` over the task ``names`` (``workers`` at a time), then ``OUT/collection.json``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = run_per_task(task_fn, cfg, names, workers)
    write_collection_summary(out, cfg, workers, results, time.time() - t0)
    return out
