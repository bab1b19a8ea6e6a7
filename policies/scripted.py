"""``scripted``: a privileged pick-and-place oracle.

It reads the source and target object poses from the simulator (``SimplerBridgeEnv.
privileged_state``) and drives the delta end-effector controller through approach, descend,
grasp, lift, carry, place and release. It is an **upper bound** for the table and the
**demonstration generator** for the data pipeline, never a learned result: no learned policy
sees what it sees.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lapa_bench import specs
from lapa_bench.geometry import quat_to_matrix, wrap_angle
from lapa_bench.policy import Policy, register_policy


@dataclass
class ScriptedConfig:
    max_step: float = 0.03  # m per action (translation, norm)
    max_rot_step: float = 0.25  # rad per action (yaw)
    hover: float = 0.07  # m above the grasp point before descending
    carry_height: float = 0.08  # m above the place point while carrying
    grasp_depth: float = 0.0  # m, grasp point relative to the object's centre (negative: lower)
    place_clearance: float = 0.02  # m of free fall allowed when releasing
    close_steps: int = 3
    release_steps: int = 3
    tolerance: float = 0.012  # m, distance at which a waypoint counts as reached
    noise: float = 0.0  # std of Gaussian noise added to translations (diverse demonstrations)
    # std (m) of Gaussian noise added to the *executed* translation only: the action the oracle meant
    # (recorded_action) stays clean, so a collection records how it recovers from states off its own path
    # (DART, Laskey et al. 2017: recovery data for behaviour cloning, whose closed-loop errors compound)
    dart: float = 0.0


PHASES = ("approach", "descend", "close", "lift", "carry", "lower", "release", "retreat", "done")


@register_policy("scripted")
class ScriptedPolicy(Policy):
    """Privileged oracle (object poses from the simulator): upper bound and demo generator."""

    config_class = ScriptedConfig
    privileged = True

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self._env = None
        self._rng = np.random.default_rng(0)
        self.phase = "approach"

    def bind_env(self, env):
        self._env = env

    def reset(self, instruction, seed=None, context=None):
        if self._env is None:
            raise RuntimeError("scripted is privileged: the harness must call bind_env(env) first")
        ep = int((context or {}).get("episode_id", 0))
        self._rng = np.random.default_rng([int(seed or 0), ep, 7])
        self.phase, self._timer, self._plan = "approach", 0, None

    # -- geometry ------------------------------------------------------------------------
    @staticmethod
    def _long_axis_xy(obj) -> np.ndarray | None:
        """Horizontal direction of the object's longest horizontal extent (None if round/square)."""
        r = quat_to_matrix(obj["q"])
        half = obj["half_size"]
        best, best_len = None, 0.0
        lens = []
        for i in range(3):
            v = r[:, i][:2] * half[i]
            lens.append(np.linalg.norm(v))
            if lens[-1] > best_len:
                best, best_len = v, lens[-1]
        lens = sorted(lens)
        if lens[-1] < 1.3 * lens[-2]:
            return None
        return best / np.linalg.norm(best)

    def _yaw_error(self, st) -> float:
        f1, f2 = st["fingers"]
        c = (f1 - f2)[:2]
        c = c / (np.linalg.norm(c) + 1e-9)
        src = st["source"]
        long_axis = self._long_axis_xy(src)
        if long_axis is not None:
            want = np.array([-long_axis[1], long_axis[0]])  # close across the long axis
            err = wrap_angle(np.arctan2(want[1], want[0]) - np.arctan2(c[1], c[0]))
            return float(wrap_angle(2 * err) / 2)  # finger axis is symmetric: mod pi
        # square-ish (cube): align with the nearest face, mod pi/2
        r = quat_to_matrix(src["q"])
        ax = r[:, 0][:2]
        err = wrap_angle(np.arctan2(ax[1], ax[0]) - np.arctan2(c[1], c[0]))
        return float(wrap_angle(4 * err) / 4)

    def _waypoints(self, st):
        src, tgt = st["source"], st["target"]
        r = quat_to_matrix(src["q"])
        src_half_z = float(np.abs(r[2]) @ src["half_size"])
        tgt_r = quat_to_matrix(tgt["q"])
        tgt_half_z = float(np.abs(tgt_r[2]) @ tgt["half_size"])
        grasp = src["p"] + np.array([0, 0, self.config.grasp_depth])
        place = tgt["p"].copy()
        place[2] = tgt["p"][2] + tgt_half_z + src_half_z + self.config.place_clearance
        return {"grasp": grasp, "place": place, "src_half_z": src_half_z}

    # -- control -------------------------------------------------------------------------
    def _move(self, ee_target, goal, gripper, yaw=0.0):
        c = self.config
        d = goal - ee_target
        n = np.linalg.norm(d)
        if n > c.max_step:
            d = d * (c.max_step / n)
        if c.noise:
            d = d + self._rng.normal(0, c.noise, 3)
        a = np.zeros(specs.ACTION_DIM, dtype=np.float32)
        a[:3] = d
        a[5] = np.clip(yaw, -c.max_rot_step, c.max_rot_step)
        a[6] = gripper
        return a

    def act(self, obs):
        """The action to execute; with ``dart``, the clean one is kept for :meth:`recorded_action`."""
        a = self._act()
        self.label = a.copy()
        if self.config.dart:
            a[:3] += self._rng.normal(0, self.config.dart, 3).astype(np.float32)
        return a

    def recorded_action(self, slot: int = 0) -> np.ndarray:
        """The action the oracle meant at its last step (slot: the episode in a batch): the one a
        collection records; it differs from the executed one only by the ``dart`` noise."""
        return (self._slots[slot] if hasattr(self, "_slots") else self).label

    def _act(self):
        c = self.config
        st = self._env.privileged_state()
        ee, tgt_pose = st["ee"]["p"], st["ee_target"]["p"]
        if self._plan is None:
            self._plan = self._waypoints(st)
        plan = self._plan
        self._timer += 1
        open_, close = specs.GRIPPER_OPEN, specs.GRIPPER_CLOSE

        def reached(goal):
            return np.linalg.norm(ee - goal) < c.tolerance

        def advance(nxt):
            self.phase, self._timer = nxt, 0

        if self.phase == "approach":
            plan["grasp"] = st["source"]["p"] + np.array([0, 0, c.grasp_depth])
            goal = plan["grasp"] + np.array([0, 0, c.hover])
            yaw = self._yaw_error(st)
            if reached(goal) and abs(yaw) < 0.05 or self._timer > 15:
                advance("descend")
            return self._move(tgt_pose, goal, open_, yaw)
        if self.phase == "descend":
            goal = plan["grasp"]
            if reached(goal) or self._timer > 6:
                advance("close")
            return self._move(tgt_pose, goal, open_)
        if self.phase == "close":
            if self._timer >= c.close_steps:
                advance("lift")
            return self._move(tgt_pose, tgt_pose, close)
        if self.phase == "lift":
            goal = np.append(ee[:2], plan["place"][2] + c.carry_height)
            if reached(goal) or self._timer > 4:
                advance("carry")
            return self._move(tgt_pose, goal, close)
        if self.phase == "carry":
            goal = plan["place"] + np.array([0, 0, c.carry_height])
            if reached(goal) or self._timer > 12:
                advance("lower")
            return self._move(tgt_pose, goal, close)
        if self.phase == "lower":
            goal = plan["place"]
            if reached(goal) or self._timer > 5:
                advance("release")
            return self._move(tgt_pose, goal, close)
        if self.phase == "release":
            if self._timer >= c.release_steps:
                advance("retreat")
            return self._move(tgt_pose, tgt_pose, open_)
        if self.phase == "retreat":
            goal = plan["place"] + np.array([0, 0, c.carry_height])
            if reached(goal) or self._timer > 5:
                advance("done")
            return self._move(tgt_pose, goal, open_)
        return self._move(tgt_pose, tgt_pose, open_)
