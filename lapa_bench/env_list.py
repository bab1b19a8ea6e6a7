"""N single-scene envs behind the batched env API: the ground floor that both the task envs (``tasks/env.py``)
and the rollout engine (``lapa_bench/rollout.py``) build on, so that neither imports the other."""
from __future__ import annotations

import numpy as np

from lapa_bench.errors import UserError


class EnvList:
    """N single-scene envs of one task behind the batched API (``reset_batch``/``step_batch``): the CPU's
    way to roll N episodes in lockstep (one policy forward pass for all of them)."""

    def __init__(self, envs: list):
        self.envs = list(envs)
        e = self.envs[0]
        self.task, self.instruction, self.max_steps = e.task, e.instruction, e.max_steps
        self.num_envs, self.backend = len(self.envs), getattr(e, "backend", "cpu")
        self.sim_backend = getattr(e, "sim_backend", "physx_cpu")

    def reset_batch(self, seeds, episode_ids) -> list[dict]:
        if len(seeds) != self.num_envs or len(episode_ids) != self.num_envs:
            raise UserError(f"reset_batch needs {self.num_envs} seeds and episode ids, got {len(seeds)}, "
                             f"{len(episode_ids)}")
        return [env.reset(seed=int(s), options={"episode_id": int(i)})[0]
                for env, s, i in zip(self.envs, seeds, episode_ids)]

    def step_batch(self, actions, read=None) -> tuple[list[dict], list[dict]]:
        read = [True] * self.num_envs if read is None else read
        out = [_step(env, a, r) for env, a, r in zip(self.envs, np.asarray(actions, dtype=np.float32), read)]
        return [o[0] for o in out], [o[4] for o in out]

    def set_layouts(self, layouts: list) -> list[int]:
        """One custom layout per env (data collection); returns the episode ids that select them."""
        for env, (xyz, quat) in zip(self.envs, layouts):
            env.set_layout(xyz, quat)
        return [0] * self.num_envs

    def scene(self, b: int):
        return self.envs[b]

    def close(self):
        for env in self.envs:
            env.close()


def _step(env, action, read: bool):
    """``env.step``, telling an env that can skip its render (``read=False``) that nobody reads this image."""
    return env.step(action) if read else env.step(action, read=False)
