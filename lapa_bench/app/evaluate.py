"""The evaluation engine: roll a policy out on SIMPLER tasks, one record per episode, resumable.

Protocol (SIMPLER's): every (task, episode id, seed) is one episode of the task's full horizon
(60 or 120 steps at 5 Hz; episodes never stop early). ``success_at_end``: the source object is
on the target at the last step; ``success_once``: it was at some step. ``grasped``: SIMPLER's
``is_src_obj_grasped`` at some step; ``consecutive_grasp``: grasped for >= 5 steps in a row.
An episode whose policy raises, or returns a NaN / wrongly shaped / out-of-bounds action,
stops there and is recorded as a failure with its reason; the run goes on.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lapa_bench.errors import UserError


from lapa_bench import assets, provenance
from lapa_bench.policy import Policy, TransportError, config_to_dict, format_exception, make_policy
from lapa_bench.io import write_json_atomic
from lapa_bench.records import EpisodeRecord, RecordWriter, done_keys, read_records, record_file
from lapa_bench.rollout import error_record, run_batch


class RunMismatchError(UserError):
    """The output dir holds a run of a different policy/checkpoint/config."""


@dataclass
class EvalConfig:
    policy: str
    out: str
    checkpoint: str | None = None
    policy_config: dict = field(default_factory=dict)
    tasks: list[str] = field(default_factory=lambda: ["all"])
    episodes: int = 24  # first N of each task's 24 evaluation episode ids
    seeds: list[int] = field(default_factory=lambda: [0])
    shard: tuple[int, int] | None = None  # (i, n), 0-based: this process runs items i, i+n, ...
    video: int = 0  # write mp4s of the first K episodes per task (first seed)
    label: str | None = None  # name in reports (default: policy name)
    image_size: tuple[int, int] | None = None
    # written into every record's `extra` (and part of the identity): e.g. a sweep's training seed and
    # labelled-set size, {"train_seed": 1, "demos_per_task": 25, "method": "scratch"}
    tags: dict = field(default_factory=dict)
    device: str = "auto"  # where a learned policy runs (runtime only: not part of the run's identity)
    # the simulator: "auto" (ManiSkill's GPU physics and rendering when CUDA is present), "cpu" or "gpu";
    # part of the identity (a run folder never mixes backends); `num_envs` episodes run in lockstep
    backend: str = "auto"
    num_envs: int = 1
    # < 1: the camera renders at that fraction of SIMPLER's 640x480 (intrinsics scaled): development checks only;
    # part of the identity (a folder of full-resolution records refuses it) and marked in the manifest
    render_scale: float = 1.0
    # None: SIMPLER's evaluation layouts (episode ids 0-23); a number: new random layouts drawn from this seed,
    # disjoint from SIMPLER's (lapa_bench.app.collect.sample_layout), episode id e being the e-th of each task's
    # (any count): does a result hold off the layouts everyone reports on? Part of the identity
    layouts: int | None = None
    retry_errors: bool = True  # an episode recorded with an error runs again (its reason stays in the records)
    progress: bool = True

    def identity(self, policy=None) -> dict:
        """What must match for two invocations to share an output dir (with ``policy``: what the policy adds,
        e.g. a served policy's server metadata: ``remote``)."""
        from lapa_bench.fingerprint import files_fingerprint

        # the checkpoint by its files, not by where it lies: the same command on a fresh clone (another path)
        # finds its folder its own, and another checkpoint at the same path is another run
        ident = {"policy": self.policy, "checkpoint": files_fingerprint(self.checkpoint) if self.checkpoint else None,
                 "policy_config": self.policy_config, "label": self.label or self.policy,
                 "image_size": list(self.image_size) if self.image_size else None}
        served = getattr(policy, "run_identity", None)
        if served is not None:
            ident["served"] = served()
        if self.tags:  # (runs without tags keep their identity)
            ident["tags"] = self.tags
        if self.sim_backend() != "physx_cpu":  # (CPU runs keep theirs)
            ident["sim_backend"] = self.sim_backend()
        if self.render_scale != 1.0:  # (full-resolution runs keep theirs)
            ident["render_scale"] = self.render_scale
        if self.layouts is not None:  # (SIMPLER's layouts keep their identity)
            ident["layouts"] = self.layouts
        return ident

    def sim_backend(self) -> str:
        from lapa_bench.tasks.env import resolve_backend

        return "physx_cuda" if resolve_backend(self.backend) == "gpu" else "physx_cpu"

    def __post_init__(self):
        if self.num_envs < 1:
            raise UserError(f"num_envs must be >= 1, got {self.num_envs}")

    def run_id(self, policy=None) -> str:
        """Short hash of the identity and of the checkpoint's files (config and weights): written into every
        record, so a run folder cannot mix runs even when its manifest is lost."""
        return _run_id(self.identity(policy), self.checkpoint)


def _run_id(identity: dict, checkpoint: str | None) -> str:
    import hashlib

    from lapa_bench.fingerprint import files_fingerprint

    h = hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode())
    if checkpoint:
        h.update(files_fingerprint(checkpoint).encode())
    return h.hexdigest()[:12]


def plan(tasks, episodes: int, seeds, layouts: int | None = None) -> list[tuple]:
    """Ordered work items (task_spec, episode_id, seed); ``layouts``: see :attr:`EvalConfig.layouts`."""
    from lapa_bench.tasks import resolve_tasks

    specs_ = list(dict.fromkeys(resolve_tasks(tasks)))  # a task or seed named twice runs once
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    items = []
    for t in specs_:
        if layouts is None and not 1 <= episodes <= len(t.episode_ids):
            raise UserError(f"--episodes must be in 1..{len(t.episode_ids)} for {t.name}, got {episodes}")
        if episodes < 1:
            raise UserError(f"--episodes must be >= 1, got {episodes}")
        for seed in seeds:
            for eid in (t.episode_ids[:episodes] if layouts is None else range(episodes)):
                items.append((t, eid, int(seed)))
    return items


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` (1-based, as on the command line) -> (i, n) 0-based."""
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"--shard must look like I/N (e.g. 1/4), got {text!r}") from None
    if not (n >= 1 and 1 <= i <= n):
        raise UserError(f"--shard I/N needs 1 <= I <= N, got {text!r}")
    return (i - 1, n)


def _write_video(path: Path, frames: list) -> None:
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    from lapa_bench.io import atomic_path

    tmp = atomic_path(path)
    imageio.mimsave(tmp, frames, fps=5, macro_block_size=1)
    tmp.replace(path)


# what describes the process that wrote a folder's records: kept from the last process that ran episodes
_WRITER_KEYS = ("device", "versions", "git_sha", "machine", "torch_threads", "updated")


def write_manifest(cfg: EvalConfig, out: Path, policy: Policy | None = None, runs_episodes: bool = True) -> dict:
    """Check ``out``'s identity against this run's (refusing another run's folder) and write its manifest.
    ``runs_episodes`` False (every planned episode is done): the revision, versions and machine recorded by
    the last process that wrote records stay."""
    path = out / "manifest.json"
    ident = cfg.identity(policy)
    old = None
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            old = None
        stored = json.loads(json.dumps(ident))  # as the manifest stores it (tuples become lists)
        if old is not None and old.get("identity") != stored:
            raise RunMismatchError(
                f"{out} already holds a run of {old.get('identity')}, not {ident}. "
                "Use another --out, or delete that folder to start over."
            )
    manifest = {
        "identity": ident,
        "config": {k: provenance.portable_path(v) if k in ("out", "checkpoint") else v
                   for k, v in dataclasses.asdict(cfg).items() if k not in ("progress", "device", "retry_errors")},
        "device": cfg.device,
        "policy_class": f"{type(policy).__module__}.{type(policy).__qualname__}" if policy else None,
        "resolved_policy_config": config_to_dict(policy.config) if policy else None,
        "versions": provenance.package_versions(),
        "git_sha": provenance.git_sha(),
        "assets": assets.asset_source(),
        "machine": provenance.machine(),
        # closed-loop outcomes of a marginal policy can flip with the float reduction order, which the
        # thread count sets (results/learning/README.md): record it with the run
        "torch_threads": provenance.torch_threads(),
        "sim_backend": cfg.sim_backend(),
        "num_envs": cfg.num_envs,
        "render": {"scale": cfg.render_scale, "note": None if cfg.render_scale == 1.0 else
                   "REDUCED RESOLUTION: a development check, not a SIMPLER result"},
        "created": (old or {}).get("created") or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if old and not runs_episodes:
        manifest.update({k: old[k] for k in _WRITER_KEYS if k in old})
    write_json_atomic(path, manifest, sort_keys=True)
    return manifest


def errored(out, tasks=None, episodes=None, seeds=None) -> list[dict]:
    """The latest records of a run that hold an error (of the planned episodes when given)."""
    from lapa_bench.records import latest_records

    keep = None
    if tasks is not None:
        keep = {(t.env_id, e, s) for t, e, s in plan(tasks, episodes, seeds)}
    return [r for k, r in latest_records(out).items() if r.get("error") and (keep is None or k in keep)]


def evaluate(cfg: EvalConfig, policy: Policy | None = None) -> Path:
    """Run (or resume) an evaluation; returns the output dir. See the module docstring."""
    from tqdm.auto import tqdm

    from lapa_bench.tasks import make_env

    out = Path(cfg.out)
    items = plan(cfg.tasks, cfg.episodes, cfg.seeds, cfg.layouts)
    cfg.sim_backend()  # an unavailable backend stops here, before the folder is made
    assets.check_assets()
    if cfg.shard is not None:
        i, n = cfg.shard
        items = items[i::n]
    if policy is None:
        policy = make_policy(cfg.policy, checkpoint=cfg.checkpoint, device=cfg.device, **cfg.policy_config)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out, cfg.shard)
    done = done_keys(out, retry_errors=cfg.retry_errors)
    todo = [it for it in items if (it[0].env_id, it[1], it[2]) not in done]
    write_manifest(cfg, out, policy, runs_episodes=bool(todo))
    run_id = cfg.run_id(policy)
    ours = {None, run_id}
    others = sorted({r["run_id"] for r in read_records(out) if r.get("run_id") not in ours})
    if others:
        raise RunMismatchError(f"{out} holds records of another run (run ids {others}, this one {run_id}: a "
                               "different policy, config or checkpoint). Use another --out, or delete that folder.")
    if len(todo) < len(items):
        retried = len(done_keys(out)) - len(done)
        print(f"[eval] {out}: {len(items) - len(todo)} of {len(items)} episodes already done; resuming"
              + (f" (retrying {retried} that errored)." if retried else "."))
    writer = RecordWriter(record_file(out, cfg.shard))
    label = cfg.label or cfg.policy
    video_eps = {}
    for t, eid, seed in items:  # first K episode ids per task, first seed
        if seed == cfg.seeds[0] and len(video_eps.setdefault(t.env_id, [])) < cfg.video:
            video_eps[t.env_id].append(eid)
    n_ok = n_done = 0
    bar = tqdm(total=len(todo), desc=f"eval {label}", unit="ep", disable=not cfg.progress, dynamic_ncols=True)
    env = None
    try:
        for batch in batches(todo, cfg.num_envs):
            t = batch[0][0]
            if env is None or env.task != t:
                if env is not None:
                    env.close()
                bar.set_description(f"eval {label} [{t.name}]")
                env = make_env(t, image_size=cfg.image_size, num_envs=cfg.num_envs, backend=cfg.backend,
                               render_scale=cfg.render_scale)
            padded = batch + [batch[-1]] * (cfg.num_envs - len(batch))  # a short last batch: repeats, dropped
            frames = [[] if eid in video_eps.get(t.env_id, []) and seed == cfg.seeds[0] else None
                      for _, eid, seed in padded]
            ids = [eid for _, eid, _ in padded] if cfg.layouts is None else _place(env, t, cfg.layouts, padded)
            try:
                results = run_batch(env, policy, [(i, seed) for i, (_, _, seed) in zip(ids, padded)], frames)
            except TransportError:  # the policy could not be reached: not an episode's failure; stop, resumable
                raise
            except Exception as e:  # the simulator itself failed: record it, rebuild the env
                results = [error_record(f"environment raised {format_exception(e)}") for _ in padded]
                env.close()
                env = None
            for (_, eid, seed), res, fr in zip(batch, results, frames):
                video = None
                if fr:
                    vp = out / "videos" / t.name / f"episode{eid:02d}_seed{seed}.mp4"
                    _write_video(vp, fr)
                    video = str(vp.relative_to(out))
                rec = EpisodeRecord(policy=cfg.policy, checkpoint=cfg.checkpoint, task=t.env_id,
                                    episode_id=int(eid), seed=int(seed), label=label, video=video, run_id=run_id,
                                    extra=dict(cfg.tags), **res)
                writer.append(rec)
                n_done += 1
                n_ok += rec.success_at_end
                bar.set_postfix_str(f"success {n_ok}/{n_done} ({100 * n_ok / n_done:.0f}%)")
                bar.update(1)
    finally:
        bar.close()
        if env is not None:
            env.close()
        lock.close()
    return out


def _place(env, task, layouts: int, items) -> list[int]:
    """Set each scene of ``env`` to its item's held-out layout (``EvalConfig.layouts``); the episode ids that
    select them. A layout is a function of the seed, the task and the episode id only."""
    from lapa_bench.app.collect import sample_layout
    from lapa_bench.tasks import TASKS

    first = getattr(env, "envs", [env])[0]
    ti = list(TASKS).index(task.name)
    return env.set_layouts([sample_layout(first, np.random.default_rng([layouts, ti, int(eid)]))[:2]
                            for _, eid, _ in items])


class RunFolderBusy(UserError, RuntimeError):
    """Another process is writing this run folder (shard)."""


def _lock(out: Path, shard):
    """One writer per run folder (and shard): an OS file lock, released when the process ends however it ends.
    A second ``eval`` on the same ``--out`` stops here instead of running every episode again beside the first."""
    import fcntl

    name = ".lock" if shard is None or shard[1] == 1 else f".lock.shard-{shard[0] + 1}-of-{shard[1]}"
    fh = open(out / name, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        who = fh.read().strip()
        fh.close()
        raise RunFolderBusy(f"{out} is being written by another evaluation ({who or 'another process'}); wait for "
                            "it to finish (a rerun then resumes), or split the work with --shard I/N instead") from None
    import os

    fh.truncate(0)
    fh.write(f"pid {os.getpid()} since {time.strftime('%H:%M:%S')}")
    fh.flush()
    return fh


def batches(items: list[tuple], size: int) -> list[list[tuple]]:
    """Consecutive work items of one task, ``size`` at a time (a run resumes at this granularity)."""
    out: list[list[tuple]] = []
    for it in items:
        if out and len(out[-1]) < size and out[-1][0][0] == it[0]:
            out[-1].append(it)
        else:
            out.append([it])
    return out
