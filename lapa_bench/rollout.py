"""The rollout primitive: one episode of a policy in an env, as a record's fields.

Used by the evaluation engine, data collection checks and the replay check alike, so none of them
imports another. (Protocol: see :mod:`lapa_bench.app.evaluate`.)
"""
from __future__ import annotations

import random
import time

import numpy as np

from lapa_bench.policy import Policy, format_exception
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


def run_episode(env, policy: Policy, episode_id: int, seed: int, frames: list | None = None,
                on_step=None) -> dict:
    """Roll one episode out; returns the record fields (never raises for policy errors).

    ``frames``: a list to receive every image (reset frame included). ``on_step(obs, action)``
    is called for each executed step with the observation the action was chosen from.
    """
    t0 = time.perf_counter()
    seed_everything(seed, episode_id)
    if policy.privileged:
        policy.bind_env(env)
    obs, info = env.reset(seed=int(seed), options={"episode_id": int(episode_id)})
    out = dict(success_at_end=False, success_once=False, grasped=False, consecutive_grasp=False,
               steps=0, error=None)
    if frames is not None:
        frames.append(obs["image"])
    context = {"task": env.task.name, "env_id": env.task.env_id, "episode_id": int(episode_id)}
    try:
        policy.reset(env.instruction, seed=int(seed), context=context)
    except Exception as e:
        out["error"] = f"policy.reset raised {format_exception(e)}"
    queue: list = []
    success = False
    for _ in range(env.max_steps if out["error"] is None else 0):
        if not queue:
            try:
                queue = list(check_action(policy.act(obs)))
            except Exception as e:
                out["error"] = (f"invalid action: {e}" if isinstance(e, InvalidActionError)
                                else f"policy.act raised {format_exception(e)}")
                break
        action = queue.pop(0)
        if on_step is not None:
            on_step(obs, action)
        obs, _, _, _, info = env.step(action)
        out["steps"] += 1
        success = bool(info["success"])
        out["success_once"] |= success
        out["grasped"] |= bool(info.get("is_src_obj_grasped", False))
        out["consecutive_grasp"] |= bool(info.get("consecutive_grasp", False))
        if frames is not None:
            frames.append(obs["image"])
    if out["error"] is None:
        out["success_at_end"] = success
    else:  # a crashed episode is a failure, whatever happened before the crash
        out["success_at_end"] = out["success_once"] = False
    out["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return out
