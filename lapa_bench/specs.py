"""Observation and action specs of every lapa-bench environment: written down once, here.

Observation (a ``dict``):

``image``
    ``uint8`` array of shape ``(H, W, 3)``, RGB, from SIMPLER's ``3rd_view_camera``
    (640x480 unless ``make_env(..., image_size=(H, W))`` resizes it). Background pixels are
    the real Bridge photo (SIMPLER's green-screening).
``instruction``
    ``str``, the task's language instruction, e.g. ``"put carrot on plate"``.
``state``
    ``float32`` array of shape ``(7,)``, proprioception of the WidowX 250 S, in the robot
    base frame: end-effector (``ee_gripper_link``) position ``x, y, z`` in metres, its
    orientation as extrinsic ``XYZ`` Euler angles ``roll, pitch, yaw`` in radians, and the
    gripper opening in the action's units (-1 closed ... +1 open).

Action: ``float32`` array of shape ``(7,)``, applied at 5 Hz (one action = 0.2 s):

====  ==============  =====================================================================
 idx   name            meaning
====  ==============  =====================================================================
 0-2   dx, dy, dz      change of the end-effector *target* position, metres, robot base
                       frame (x forward, y left, z up). Typical |d| <= 0.03 per step.
 3-5   droll, dpitch,  change of the end-effector target orientation: extrinsic XYZ Euler
       dyaw            angles in radians, rotation about the base-frame axes applied on the
                       left (``q_target = dq * q_target``). Bounds +-pi/2.
 6     gripper         absolute gripper command in [-1, 1]: **-1 closes, +1 opens**
                       (Bridge's 0=closed/1=open maps to ``2*g - 1``).
====  ==============  =====================================================================

The arm controller is ManiSkill's ``arm_pd_ee_target_delta_pose_align2`` (deltas accumulate
on the previous *target*, not on the measured pose) with ``normalize_action=False``; the
gripper is ``gripper_pd_joint_pos`` with ``normalize_action=True``. Actions outside the
bounds are rejected by the harness (an episode whose policy returns them fails, with reason).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTION_DIM = 7
STATE_DIM = 7
ACTION_NAMES = ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")
STATE_NAMES = ("x", "y", "z", "roll", "pitch", "yaw", "gripper")
# Bounds accepted by the harness (the controller's own limits).
ACTION_LOW = np.array([-1, -1, -1, -np.pi / 2, -np.pi / 2, -np.pi / 2, -1], dtype=np.float32)
ACTION_HIGH = -ACTION_LOW
# What a "typical" action looks like (used by the `random` policy and for sanity checks).
TYPICAL_ACTION_SCALE = np.array([0.02, 0.02, 0.02, 0.1, 0.1, 0.1, 1.0], dtype=np.float32)
GRIPPER_OPEN = 1.0
GRIPPER_CLOSE = -1.0
CONTROL_HZ = 5
DEFAULT_IMAGE_SIZE = (480, 640)  # (H, W)


def action_space():
    import gymnasium as gym

    return gym.spaces.Box(ACTION_LOW, ACTION_HIGH, shape=(ACTION_DIM,), dtype=np.float32)


def observation_space(image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE):
    import string

    import gymnasium as gym

    h, w = image_size
    return gym.spaces.Dict(
        {
            "image": gym.spaces.Box(0, 255, shape=(h, w, 3), dtype=np.uint8),
            "instruction": gym.spaces.Text(max_length=256, charset=string.printable),
            "state": gym.spaces.Box(-np.inf, np.inf, shape=(STATE_DIM,), dtype=np.float32),
        }
    )


class InvalidActionError(ValueError):
    """A policy returned an action the harness cannot execute."""


@dataclass(frozen=True)
class ActionCheck:
    """Validates what ``Policy.act`` returned; returns an ``(k, 7)`` float32 chunk."""

    dim: int = ACTION_DIM

    def __call__(self, action) -> np.ndarray:
        try:
            a = np.asarray(action, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise InvalidActionError(f"action is not numeric: {e}") from None
        if a.ndim == 1:
            a = a[None]
        if a.ndim != 2 or a.shape[1] != self.dim or a.shape[0] == 0:
            raise InvalidActionError(
                f"action has shape {np.shape(action)}; expected ({self.dim},) or a chunk (k, {self.dim})"
            )
        if not np.all(np.isfinite(a)):
            raise InvalidActionError(f"action contains NaN/inf: {a.tolist()}")
        if np.any(a < ACTION_LOW - 1e-6) or np.any(a > ACTION_HIGH + 1e-6):
            raise InvalidActionError(
                f"action out of bounds {ACTION_LOW.tolist()}..{ACTION_HIGH.tolist()}: {a.tolist()}"
            )
        return a


check_action = ActionCheck()
