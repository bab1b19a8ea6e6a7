"""Small rotation helpers (numpy; quaternions are wxyz, Euler angles are extrinsic XYZ)."""
from __future__ import annotations

import numpy as np


def quat_to_euler_xyz(q) -> np.ndarray:
    """wxyz quaternion -> (roll, pitch, yaw), extrinsic XYZ (R = Rz(yaw) Ry(pitch) Rx(roll))."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0))
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return np.array([roll, pitch, yaw])


def quat_to_matrix(q) -> np.ndarray:
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def wrap_angle(a):
    """Wrap to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def quat_mul(a, b) -> np.ndarray:
    """Hamilton product of wxyz quaternions."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


def quat_conj(q) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def pose_in_frame(p_frame, q_frame, p, q) -> tuple[np.ndarray, np.ndarray]:
    """Express the world pose (p, q) in the frame whose world pose is (p_frame, q_frame)."""
    r = quat_to_matrix(q_frame)
    return r.T @ (np.asarray(p) - p_frame), quat_mul(quat_conj(q_frame), q)
