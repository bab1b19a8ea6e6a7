"""The commanded state: what the arm was told, which one observation does not show.

A policy that sees one frame and the measured pose misses two things the oracle's actions depend on:

* **the controller's target.** SIMPLER's WidowX controller (``arm_pd_ee_target_delta_pose_align2``,
  :mod:`lapa_bench.specs`) adds each action's ``dx, dy, dz`` to its previous *target*, not to the measured
  pose, and the PD loop lets the measured end effector lag behind that target (on the oracle's demonstrations
  by 4-5 mm median, ~19 mm at the 90th percentile: as much as a typical step); the oracle computes its moves
  from the target. The target starts at the measured position at reset and moves by exactly the executed
  translations (checked in the simulator to 1e-5 m, ``tests/test_command.py``);
* **how long ago the gripper was told to close or open.** The oracle waits a fixed number of steps after
  closing before it lifts (and after opening before it retreats); a policy that cannot count those steps
  sits at the grasp with the object in its fingers (results/learning, ninth round: most of `bc`'s failures
  on its own training layouts).

With ``command_state`` a policy appends 5 numbers to its proprioceptive state: the target minus the measured
position (3, m), the last gripper command (+1 open / -1 close; +1 before any) and the steps since that command
last changed (capped at :data:`AGE_CAP`). Both are known to whoever sends the actions:

* training: :func:`command_features` of a labelled episode's states and executed actions (``collect`` records
  the executed action unless the collection used ``--dart``, which records the oracle's clean one: refused);
* rollout: :class:`CommandTracker` keeps them per episode slot from the actions the policy returned; the
  training features come from the same tracker run over the recorded actions.
"""
from __future__ import annotations

import numpy as np

from lapa_bench.errors import UnknownName, UserError

NAMES = ("target_dx", "target_dy", "target_dz", "gripper_command", "gripper_command_age")
DIM = len(NAMES)
KEY = "command_state"  # the normalizer's feature name for its statistics
AGE_CAP = 10  # steps: older commands all read as "long ago"


def check_command_state(proprio: bool, command_state: bool) -> None:
    """A model config's ``command_state`` against its ``proprio`` (checked where a config is built)."""
    if command_state and not proprio:
        raise UserError("command_state extends the proprioceptive state: it needs proprio: true")


def state_dim(command_state: bool) -> int:
    """Width of a policy's proprioceptive input: the 7-D state, + :data:`DIM` with ``command_state``."""
    return 7 + (DIM if command_state else 0)


class CommandTracker:
    """Per episode slot, the commanded state: the target position (the measured position at the first
    observation after :meth:`reset`, plus every translation returned since), the last gripper command and its
    age. The harness executes each returned action, or ends the episode."""

    def __init__(self):
        self._slots: dict[int, list] = {}  # slot -> [target (3,), last gripper command, steps since it changed]

    def reset(self) -> None:
        self._slots.clear()

    def features(self, states: np.ndarray, slots) -> np.ndarray:
        """``(B, 7)`` measured states -> ``(B, 5)`` commanded-state features (:data:`NAMES`)."""
        out = []
        for st, b in zip(np.asarray(states, np.float64), slots):
            target, cmd, age = self._slots.setdefault(int(b), [st[:3].copy(), 1.0, AGE_CAP])
            out.append([*(target - st[:3]), cmd, age])
        return np.asarray(out, np.float32).reshape(len(out), DIM)

    def executed(self, slot: int, actions: np.ndarray) -> None:
        """Record the ``(n, 7)`` actions returned for ``slot`` (after clipping: what the harness executes)."""
        s = self._slots.get(int(slot))
        if s is None:
            raise RuntimeError("CommandTracker.executed before features: the first observation sets the target")
        for a in np.asarray(actions, np.float64):
            s[0] = s[0] + a[:3]
            cmd = 1.0 if a[6] >= 0 else -1.0
            s[1], s[2] = (cmd, 1) if cmd != s[1] else (cmd, min(s[2] + 1, AGE_CAP))


def command_features(states: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """``(T, 7)`` measured states and ``(T, 7)`` executed actions of one episode -> ``(T, 5)``: at step t the
    features a :class:`CommandTracker` gives after actions 0..t-1."""
    s, a = np.asarray(states), np.asarray(actions)
    if len(s) != len(a):
        raise UserError(f"command_features: {len(s)} states for {len(a)} actions")
    tr, out = CommandTracker(), []
    for t in range(len(s)):
        out.append(tr.features(s[t:t + 1], [0])[0])
        tr.executed(0, a[t:t + 1])
    return np.asarray(out, np.float32).reshape(len(s), DIM)


def check_executed_actions(sources) -> None:
    """Refuse datasets whose recorded actions are not the executed ones (``collect --dart``)."""
    for s in sources:
        dart = (getattr(s, "info", None) or {}).get("lapa_bench", {}).get("dart") or 0
        if dart:
            raise UserError(f"{getattr(s, 'root', s)} was collected with --dart {dart}: its recorded actions are the "
                             "oracle's clean ones, not the executed ones, so the commanded state cannot be rebuilt; "
                             "train with command_state: false, or collect without --dart")


def command_stats(sources) -> dict:
    """Mean / std / min / max of :func:`command_features` over every episode of ``sources`` (the normalizer's
    ``command_state`` feature, beside ``meta/stats.json``'s)."""
    check_executed_actions(sources)
    parts = []
    for s in sources:
        for i in range(len(s)):
            d = s.episode(i, with_frames=False)
            parts.append(command_features(d["observation.state"], d["action"]))
    x = np.concatenate(parts).astype(np.float64)
    return {"mean": x.mean(0).tolist(), "std": x.std(0).tolist(), "min": x.min(0).tolist(), "max": x.max(0).tolist()}


def add_command_stats(normalizer, sources):
    """``normalizer`` with the ``command_state`` statistics of ``sources`` added (in place; returned)."""
    normalizer.stats[KEY] = command_stats(sources)
    return normalizer


def state_stats(normalizer, command_state: bool) -> tuple[list, list]:
    """The mean and std of a policy's proprioceptive input: ``observation.state``'s, followed by the
    ``command_state`` feature's when the policy appends it."""
    parts = [normalizer.stats["observation.state"]]
    if command_state:
        if KEY not in normalizer.stats:
            raise UnknownName(f"the normalizer has no {KEY!r} statistics: build it with add_command_stats(normalizer, "
                           "sources)")
        parts.append(normalizer.stats[KEY])
    return [x for p in parts for x in p["mean"]], [x for p in parts for x in p["std"]]
