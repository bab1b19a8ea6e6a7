"""The rollout primitive: episodes of a policy in an env, as records' fields (one at a time, or a batch
in lockstep on an env with several scenes).

Used by the evaluation engine, data collection checks and the replay check alike, so none of them
imports another. (Protocol: see :mod:`lapa_bench.app.evaluate`.)
"""
from __future__ import annotations

import random
import time

import numpy as np

from lapa_bench.errors import UserError
from lapa_bench import specs
from lapa_bench.policy import Policy, TransportError, format_exception
from lapa_bench.env_list import EnvList  # noqa: F401  (re-exported: the rollout's env for N single-scene envs)
from lapa_bench.specs import InvalidActionError, check_action


def seed_everything(seed: int, episode_id: int) -> None:
    s = (int(seed) * 1000003 + int(episode_id)) % (2**31)
    random.seed(s)
    np.random.seed(s)
    try:
        import torch

        torch.manual_seed(s)
    except ImportError:
        pass


def _step_batch(env, actions, read: list[bool]):
    """``env.step_batch``; the ``read`` hint only when some image goes unread (envs without it still work)."""
    return env.step_batch(actions) if all(read) else env.step_batch(actions, read=read)


def _new_record() -> dict:
    return dict(success_at_end=False, success_once=False, grasped=False, consecutive_grasp=False, steps=0,
                error=None, outcome=None)


def error_record(error: str) -> dict:
    """The record fields of an episode that could not run at all (e.g. the simulator raised)."""
    return dict(_new_record(), wall_seconds=0.0, error=error, outcome="error")


LIFT_M = 0.02  # the source object counts as lifted once it rose this much above its height at reset

# Why an episode ended as it did (a record's ``outcome``), from the success / grasp flags and, where the scene
# exposes ``privileged_state()`` (the simulator does), the source object's height.
OUTCOMES = {
    "success": "the source object is on the target at the last step",
    "success_lost": "it was on the target at some step, not at the last one",
    "never_grasped": "the source object was never grasped",
    "not_lifted": f"grasped, but never lifted {LIFT_M * 100:.0f} cm above where it started while grasped",
    "held_off_target": "grasped and lifted, still held at the last step, never on the target",
    "released_off_target": "grasped and lifted, let go (dropped or placed) off the target",
    "grasped_no_success": "grasped, never on the target (a scene without privileged state: lift unknown)",
    "error": "the policy or the environment raised, or returned an invalid action (see error)",
}


def classify_outcome(rec: dict, lifted: bool | None, held_at_end: bool) -> str:
    """One of :data:`OUTCOMES` for a finished episode's record fields."""
    if rec["error"] is not None:
        return "error"
    if rec["success_at_end"]:
        return "success"
    if rec["success_once"]:
        return "success_lost"
    if not rec["grasped"]:
        return "never_grasped"
    if lifted is None:
        return "grasped_no_success"
    if not lifted:
        return "not_lifted"
    return "held_off_target" if held_at_end else "released_off_target"


def _source_height(env, b: int) -> float | None:
    scene = env.scene(b) if hasattr(env, "scene") else None
    state = getattr(scene, "privileged_state", None)
    return None if state is None else float(state()["source"]["p"][2])


def run_episode(env, policy: Policy, episode_id: int, seed: int, frames: list | None = None,
                on_step=None) -> dict:
    """Roll one episode out; returns the record fields (never raises for policy errors).

    ``frames``: a list to receive every image (reset frame included). ``on_step(obs, action)``
    is called for each executed step with the observation the action was chosen from.
    (:func:`run_batch` with one env: the same code path.)
    """
    return run_batch(EnvList([env]), policy, [(episode_id, seed)], None if frames is None else [frames],
                     None if on_step is None else (lambda b, obs, action: on_step(obs, action)))[0]


def run_batch(env, policy: Policy, items: list[tuple[int, int]], frames: list | None = None,
              on_step=None) -> list[dict]:
    """Roll ``len(items)`` episodes ``(episode_id, seed)`` out in lockstep, scene b of ``env`` (the batched
    API: ``num_envs``, ``reset_batch``, ``step_batch``) running item b; returns one record's fields per
    item (never raises for policy errors).

    Per episode, exactly as one at a time: the policy's action chunks are queued and executed in order,
    a NaN/out-of-shape action or an exception ends that episode as a failure with its reason (the other
    scenes go on; an ended scene is stepped with a zero action and ignored), and every episode runs to the
    task's ``max_steps``; each record says why it ended as it did (``outcome``, :func:`classify_outcome`).
    RNGs are seeded from the first item (:func:`seed_everything`); with one item this is :func:`run_episode`.
    ``frames``: per item, a list to receive its images (or None); ``on_step(b, obs, action)`` for each
    executed step of item b.

    Only what is read is rendered: a step's image is needed when the policy will be asked for a new chunk
    from it, when ``frames`` records it, or when ``on_step`` is given (it sees every observation); the
    other steps tell the env ``read=False`` (:meth:`lapa_bench.tasks.env.SimplerBridgeEnv.step`), which skips the
    camera. The records are the same either way (``tests/test_sim.py``).
    """
    n = len(items)
    if n != env.num_envs:
        raise UserError(f"run_batch: {n} episodes for an env with {env.num_envs} scenes")
    t0 = time.perf_counter()
    seed_everything(items[0][1], items[0][0])
    if policy.privileged:  # each episode's policy reads its own scene
        policy.bind_scenes([env.scene(b) for b in range(n)])
    obs = env.reset_batch([s for _, s in items], [e for e, _ in items])
    out = [_new_record() for _ in items]
    z0 = [_source_height(env, b) for b in range(n)]  # None: no privileged state, lift unknown
    lifted = [False if z is not None else None for z in z0]
    held = [False] * n
    grab = [frames is not None and frames[b] is not None for b in range(n)]
    for b in range(n):
        if grab[b]:
            frames[b].append(obs[b]["image"])
    contexts = [{"task": env.task.name, "env_id": env.task.env_id, "episode_id": int(e)} for e, _ in items]
    try:
        errors = policy.reset_batch([env.instruction] * n, [int(s) for _, s in items], contexts)
    except TransportError:
        raise
    except Exception as e:
        errors = [e] * n
    for rec, e in zip(out, errors):
        if e is not None:
            rec["error"] = f"policy.reset raised {format_exception(e)}"
    queues: list[list] = [[] for _ in items]
    success = [False] * n
    live = [rec["error"] is None for rec in out]
    for t in range(env.max_steps if any(live) else 0):
        need = [b for b in range(n) if live[b] and not queues[b]]
        if need:
            try:
                acts = policy.act_batch([obs[b] for b in need], need)
            except TransportError:  # not a failure of these episodes: the caller stops (nothing recorded)
                raise
            except Exception as e:
                acts = [e] * len(need)
            for b, a in zip(need, acts):
                try:
                    if isinstance(a, Exception):
                        raise a
                    queues[b] = list(check_action(a))
                except Exception as e:
                    out[b]["error"] = (f"invalid action: {e}" if isinstance(e, InvalidActionError)
                                       else f"policy.act raised {format_exception(e)}")
                    live[b] = False
        if not any(live):
            break
        actions = np.zeros((n, specs.ACTION_DIM), np.float32)
        for b in range(n):
            if live[b]:
                actions[b] = queues[b].pop(0)
                if on_step is not None:
                    on_step(b, obs[b], actions[b])
        last = t == env.max_steps - 1
        read = [grab[b] or on_step is not None or (live[b] and not queues[b] and not last) for b in range(n)]
        obs, infos = _step_batch(env, actions, read)
        for b in range(n):
            if not live[b]:
                continue
            rec, info = out[b], infos[b]
            rec["steps"] += 1
            success[b] = bool(info["success"])
            rec["success_once"] |= success[b]
            held[b] = bool(info.get("is_src_obj_grasped", False))
            rec["grasped"] |= held[b]
            if held[b] and lifted[b] is False:
                lifted[b] = _source_height(env, b) - z0[b] >= LIFT_M
            rec["consecutive_grasp"] |= bool(info.get("consecutive_grasp", False))
            if grab[b]:
                frames[b].append(obs[b]["image"])
    wall = round(time.perf_counter() - t0, 3)
    for b, rec in enumerate(out):
        if rec["error"] is None:
            rec["success_at_end"] = success[b]
        else:  # a crashed episode is a failure, whatever happened before the crash
            rec["success_at_end"] = rec["success_once"] = False
        rec["wall_seconds"] = round(wall / n, 3)  # the batch's wall time, shared
        rec["outcome"] = classify_outcome(rec, lifted[b], held[b])
    return out
