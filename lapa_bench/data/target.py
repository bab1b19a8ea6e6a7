"""The controller's commanded target: state the arm keeps that one observation does not show.

SIMPLER's WidowX controller (``arm_pd_ee_target_delta_pose_align2``, :mod:`lapa_bench.specs`) adds each
action's ``dx, dy, dz`` to its previous *target*, not to the measured pose, and the PD loop lets the measured
end effector lag behind that target (on the oracle's demonstrations by 4-5 mm median, ~19 mm at the 90th
percentile: as much as a typical step). The scripted oracle computes its action from the target, so a policy
that sees only the measured pose in ``state`` cannot tell how far the arm still has to catch up, and its
small errors compound closed loop. The target is known to whoever sends the actions: it starts at the measured
position at reset and moves by exactly the executed translations (checked in the simulator to 1e-4 mm,
``tests/test_target.py``). With ``target_offset`` a policy appends ``target - measured position`` (3-D, m) to
its proprioceptive state:

* training: :func:`target_offsets` from a labelled episode's states and executed actions (``collect`` records
  the executed action unless the collection used ``--dart``, which records the oracle's clean one: refused);
* rollout: :class:`TargetTracker` sums the actions the policy returned since reset, per episode slot.
"""
from __future__ import annotations

import numpy as np

NAMES = ("target_dx", "target_dy", "target_dz")
KEY = "target_offset"  # the normalizer's feature name for its statistics


def target_offsets(states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """``(T, 7)`` measured states and ``(T, 7)`` executed actions of one episode -> ``(T, 3)``: at step t the
    commanded target position (the first state's position plus the translations of actions 0..t-1) minus the
    measured one."""
    s, a = np.asarray(states, np.float64), np.asarray(actions, np.float64)
    if len(s) != len(a):
        raise ValueError(f"target_offsets: {len(s)} states for {len(a)} actions")
    before = np.concatenate([np.zeros((1, 3)), np.cumsum(a[:-1, :3], 0)]) if len(a) else np.zeros((0, 3))
    return (s[:1, :3] + before - s[:, :3]).astype(np.float32)


def check_executed_actions(sources) -> None:
    """Refuse datasets whose recorded actions are not the executed ones (``collect --dart``)."""
    for s in sources:
        dart = (getattr(s, "info", None) or {}).get("lapa_bench", {}).get("dart") or 0
        if dart:
            raise ValueError(f"{getattr(s, 'root', s)} was collected with --dart {dart}: its recorded actions are the "
                             "oracle's clean ones, not the executed ones, so the commanded target cannot be rebuilt; "
                             "train with target_offset: false, or collect without --dart")


def offset_stats(sources) -> dict:
    """Mean / std / min / max of :func:`target_offsets` over every episode of ``sources`` (the normalizer's
    ``target_offset`` feature, beside ``meta/stats.json``'s)."""
    check_executed_actions(sources)
    parts = []
    for s in sources:
        for i in range(len(s)):
            d = s.episode(i, with_frames=False)
            parts.append(target_offsets(d["observation.state"], d["action"]))
    x = np.concatenate(parts).astype(np.float64)
    return {"mean": x.mean(0).tolist(), "std": x.std(0).tolist(), "min": x.min(0).tolist(), "max": x.max(0).tolist()}


def add_offset_stats(normalizer, sources):
    """``normalizer`` with the ``target_offset`` statistics of ``sources`` added (in place; returned)."""
    normalizer.stats[KEY] = offset_stats(sources)
    return normalizer


class TargetTracker:
    """Per episode slot, the commanded target position: the measured position at the first observation after
    :meth:`reset`, plus every translation the policy returned since (the harness executes each returned action,
    or ends the episode)."""

    def __init__(self):
        self._target: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        self._target.clear()

    def offsets(self, states: np.ndarray, slots) -> np.ndarray:
        """``(B, 7)`` measured states -> ``(B, 3)`` offsets of the target from them."""
        out = []
        for st, b in zip(np.asarray(states, np.float64), slots):
            t = self._target.setdefault(int(b), st[:3].copy())
            out.append(t - st[:3])
        return np.asarray(out, np.float32).reshape(len(out), 3)

    def executed(self, slot: int, actions: np.ndarray) -> None:
        """Record the ``(n, 7)`` actions returned for ``slot`` (after clipping: what the harness executes)."""
        b = int(slot)
        if b not in self._target:
            raise RuntimeError("TargetTracker.executed before offsets: the first observation sets the target")
        self._target[b] = self._target[b] + np.asarray(actions, np.float64)[:, :3].sum(0)


def state_stats(normalizer, target_offset: bool) -> tuple[list, list]:
    """The mean and std of a policy's proprioceptive input: ``observation.state``'s, followed by the
    ``target_offset`` feature's when the policy appends it."""
    parts = [normalizer.stats["observation.state"]]
    if target_offset:
        if KEY not in normalizer.stats:
            raise KeyError(f"the normalizer has no {KEY!r} statistics: build it with add_offset_stats(normalizer, "
                           "sources)")
        parts.append(normalizer.stats[KEY])
    return [x for p in parts for x in p["mean"]], [x for p in parts for x in p["std"]]
