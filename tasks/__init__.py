"""The SIMPLER WidowX (BridgeData V2) task suite.

>>> from lapa_bench.tasks import TASKS, make_env
>>> env = make_env("carrot")            # short name, or the ManiSkill env id
>>> obs, info = env.reset(seed=0, options={"episode_id": 3})

Observation and action are documented once, in :mod:`lapa_bench.specs`.
"""
from __future__ import annotations

from lapa_bench.tasks.specs import TASKS, TaskSpec, get_task, resolve_tasks  # noqa: F401

GYM_NAMESPACE = "lapa_bench"


def gymnasium_id(task: str, embodiment: str = "widowx") -> str:
    """The gymnasium id of a task (``lapa_bench/SimplerCarrot-v0``; the floating gripper's:
    ``lapa_bench/SimplerCarrotFloatingGripper-v0``), registered when this package is imported, so another harness
    makes it with ``gymnasium.make("lapa_bench.tasks:lapa_bench/SimplerCarrot-v0", image_size=(128, 128))``."""
    name = get_task(task).name.capitalize() + ("FloatingGripper" if embodiment == "floating_gripper" else "")
    return f"{GYM_NAMESPACE}/Simpler{name}-v0"


def _register_gymnasium_ids() -> None:
    """Every task x embodiment as a gymnasium id (the entry point loads ManiSkill only when an env is made); the
    env truncates at the task's horizon itself."""
    import gymnasium

    for t in TASKS.values():
        for body in ("widowx", "floating_gripper"):
            gid = gymnasium_id(t.name, body)
            if gid not in gymnasium.registry:
                gymnasium.register(gid, entry_point="lapa_bench.tasks.env:SimplerBridgeEnv",
                                   kwargs={"task": t.name, "embodiment": body}, disable_env_checker=False)


_register_gymnasium_ids()


def __getattr__(name):  # the env (gymnasium, ManiSkill) loads on first use: the task table needs no simulator
    if name in ("SimplerBridgeEnv", "make_env"):
        from lapa_bench.tasks import env

        return getattr(env, name)
    raise AttributeError(f"module 'lapa_bench.tasks' has no attribute {name!r}")
