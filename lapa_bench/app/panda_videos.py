"""Cross-embodiment, action-free videos: a Franka Panda solving ManiSkill tabletop tasks.

They stand in for the "human videos" of the LAPA paper: another robot, another scene, no action
labels. Each task is solved by a small scripted end-effector controller reading the simulator
state (``pd_ee_delta_pose`` control). ManiSkill's own mplib motion planners are not used:
mplib 0.1.1, the version mani-skill 3.0.x pins, segfaults while building its planner.
Only the camera frames (and the instruction) are stored; the actions are not.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lapa_bench.errors import UnknownName
from lapa_bench.app.collect import CollectionConfig

PANDA_TASKS = {
    "PickCube-v1": "pick up the red cube and move it to the green goal",
    "StackCube-v1": "stack the red cube on the green cube",
    "PushCube-v1": "push the cube to the red and white target",
    "PullCube-v1": "pull the cube to the red and white target",
}


@dataclass
class PandaConfig(CollectionConfig):
    frame_skip: int = 4  # keep every k-th control step (20 Hz -> 5 Hz, Bridge's rate)
    max_steps: int = 100


class _Solver:
    """Waypoint follower on the TCP position, in the robot base frame (= world for these tasks)."""

    def __init__(self, env, task: str):
        self.u, self.task = env.unwrapped, task
        self.stage, self._dwell, self.waypoints, self.done = 0, 0, None, False

    def _tcp(self):
        return self.u.agent.tcp.pose.p[0].cpu().numpy()

    def _plan(self):
        u, half = self.u, 0.02
        if self.task == "PickCube-v1":
            c, g = u.cube.pose.p[0].cpu().numpy(), u.goal_site.pose.p[0].cpu().numpy()
            return [(c + [0, 0, 0.06], 1), (c, 1), (c, -1), (c + [0, 0, 0.08], -1), (g, -1)]
        if self.task == "StackCube-v1":
            a, b = u.cubeA.pose.p[0].cpu().numpy(), u.cubeB.pose.p[0].cpu().numpy()
            top = b + [0, 0, 2 * half + 0.005]
            return [(a + [0, 0, 0.06], 1), (a, 1), (a, -1), (a + [0, 0, 0.08], -1), (top + [0, 0, 0.04], -1),
                    (top, -1), (top, 1), (top + [0, 0, 0.05], 1)]
        o, g = u.obj.pose.p[0].cpu().numpy(), u.goal_region.pose.p[0].cpu().numpy()
        if self.task == "PushCube-v1":
            behind = o - [half + 0.03, 0, 0]
            return [(behind + [0, 0, 0.06], -1), (behind + [0, 0, -0.005], -1), (g - [half + 0.01, 0, -half], -1)]
        if self.task == "PullCube-v1":
            front = o + [half + 0.03, 0, 0]
            return [(front + [0, 0, 0.06], -1), (front + [0, 0, -0.005], -1), (g + [half + 0.01, 0, half], -1)]
        raise KeyError(self.task)

    def act(self):
        if self.waypoints is None:
            self.waypoints = self._plan()
        goal, grip = self.waypoints[self.stage]
        d = np.asarray(goal) - self._tcp()
        self._dwell += 1
        regrip = self.stage > 0 and self.waypoints[self.stage - 1][1] != grip
        if (np.linalg.norm(d) < 0.01 and self._dwell >= (6 if regrip else 0)) or self._dwell >= 25:
            if self.stage < len(self.waypoints) - 1:
                self.stage, self._dwell = self.stage + 1, 0
            else:
                self.done = True
        a = np.zeros(7, dtype=np.float32)
        a[:3] = np.clip(d / 0.1, -0.5, 0.5)  # normalized: 1 = 10 cm per step
        a[6] = grip
        return a


def dataset_name(task: str) -> str:
    """The folder of one Panda task's videos in a collection: ``PickCube-v1`` -> ``panda_PickCube``."""
    return f"panda_{task.split('-')[0]}"


def collect_panda_task(cfg: PandaConfig, task: str, position: int = 0) -> dict:
    import gymnasium as gym
    from tqdm.auto import tqdm

    import mani_skill.envs  # noqa: F401
    from lapa_bench.data.lerobot import LeRobotWriter
    from lapa_bench.tasks.env import _quiet_mani_skill

    _quiet_mani_skill()

    if task not in PANDA_TASKS:
        raise UnknownName(f"unknown Panda task {task!r}; known: {', '.join(PANDA_TASKS)}")
    root = Path(cfg.out) / dataset_name(task)
    fps = 20 // cfg.frame_skip
    writer = LeRobotWriter(root, fps=fps, image_shape=(*cfg.image_size, 3), robot_type="panda", with_actions=False,
                           extra_info={"kind": "action-free videos (cross-embodiment: Panda, ManiSkill tabletop)",
                                       "task": task, "frame_skip": cfg.frame_skip})
    have = len(writer.episodes)
    attempt = max([e["attempt"] for e in writer.episodes], default=-1)
    bar = tqdm(total=cfg.episodes, initial=min(have, cfg.episodes), desc=f"panda {task}", position=position,
               disable=not cfg.progress, dynamic_ncols=True)
    t0 = time.time()
    if have >= cfg.episodes:
        bar.close()
        return {"task": task, "episodes": have, "seconds": 0.0}
    h, w = cfg.image_size
    env = gym.make(task, obs_mode="rgb", control_mode="pd_ee_delta_pose", sim_backend="physx_cpu",
                   render_backend="cpu", sensor_configs=dict(width=w, height=h), max_episode_steps=cfg.max_steps)
    cam = None
    try:
        while have < cfg.episodes:
            attempt += 1
            if attempt >= cfg.episodes * 3:
                raise RuntimeError(f"{task}: only {have} successes in {attempt} attempts")
            obs, _ = env.reset(seed=cfg.seed * 1_000_003 + attempt)
            cam = cam or next(iter(obs["sensor_data"]))
            solver, frames, success = _Solver(env, task), [], False
            for step in range(cfg.max_steps):
                if step % cfg.frame_skip == 0:
                    frames.append(obs["sensor_data"][cam]["rgb"][0].cpu().numpy())
                obs, _, term, trunc, info = env.step(solver.act())
                success = bool(info["success"][0])
                if success and solver.done:
                    break
            frames.append(obs["sensor_data"][cam]["rgb"][0].cpu().numpy())
            if success and len(frames) >= 4:
                writer.add_episode(np.stack(frames), task=PANDA_TASKS[task],
                                   meta={"task": task, "success": True, "seed": cfg.seed * 1_000_003 + attempt,
                                         "attempt": attempt})
                have += 1
                bar.update(1)
    finally:
        env.close()
        bar.close()
    return {"task": task, "episodes": have, "seconds": round(time.time() - t0, 1)}


def collect_panda(cfg: PandaConfig, workers: int = 1) -> Path:
    """Action-free Panda videos of every task in ``cfg.tasks`` ('all' = the four) into ``OUT/panda_<Task>/``."""
    from lapa_bench.app.collect import run_collection

    names = list(PANDA_TASKS) if cfg.tasks in (["all"], [], None) else list(cfg.tasks)
    for n in names:
        if n not in PANDA_TASKS:
            raise UnknownName(f"unknown Panda task {n!r}; known: {', '.join(PANDA_TASKS)} or 'all'")
    return run_collection(collect_panda_task, cfg, names, workers)
