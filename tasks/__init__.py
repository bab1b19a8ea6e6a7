"""The SIMPLER WidowX (BridgeData V2) task suite.

>>> from lapa_bench.tasks import TASKS, make_env
>>> env = make_env("carrot")            # short name, or the ManiSkill env id
>>> obs, info = env.reset(seed=0, options={"episode_id": 3})

Observation and action are documented once, in :mod:`lapa_bench.specs`.
"""
from __future__ import annotations

from lapa_bench.tasks.specs import TASKS, TaskSpec, get_task, resolve_tasks  # noqa: F401


def __getattr__(name):  # the env (gymnasium, ManiSkill) loads on first use: the task table needs no simulator
    if name in ("SimplerBridgeEnv", "make_env"):
        from lapa_bench.tasks import env

        return getattr(env, name)
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
