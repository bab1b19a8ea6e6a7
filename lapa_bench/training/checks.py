"""The learning check every action-predicting method writes to ``eval.json``.

A trained model is not a result until it beats its references offline: the **mean action** (the
best image-blind, state-blind constant) and an **image-blind twin** (the same model and recipe with
the image zeroed, trained in the same run). Errors are mean absolute errors per action dimension on
held-out episodes, over the whole predicted chunk, and a total in units of each dimension's std
(``meta/stats.json``), so that centimetres and the +-1 gripper weigh alike.
"""
from __future__ import annotations

import numpy as np

from lapa_bench.specs import ACTION_NAMES


def action_errors(predict, ds, action_mean, action_std, batch_size: int = 64, max_batches: int = 40) -> dict:
    """``predict(batch) -> (B, K, 7)`` actions in env units; ``ds`` yields the raw ``action`` chunks ``(K, 7)``."""
    err = base = None
    n = 0
    mean = np.asarray(action_mean, np.float64)
    for b in range(0, min(len(ds), batch_size * max_batches), batch_size):
        batch = ds.collate(range(b, min(b + batch_size, len(ds))))
        target = batch["action"].numpy().astype(np.float64)
        target = target.reshape(len(target), -1, target.shape[-1])
        pred = np.asarray(predict(batch), np.float64).reshape(target.shape)
        e = np.abs(pred - target).sum((0, 1))
        m = np.abs(mean - target).sum((0, 1))
        err, base = (e, m) if err is None else (err + e, base + m)
        n += target.shape[0] * target.shape[1]
    if not n:
        return {}
    err, base = err / n, base / n
    std = np.maximum(np.asarray(action_std, np.float64), 1e-6)
    total, base_total = float((err / std).mean()), float((base / std).mean())
    return {"action_mae": dict(zip(ACTION_NAMES, np.round(err, 6).tolist())),
            "mean_action_mae": dict(zip(ACTION_NAMES, np.round(base, 6).tolist())),
            "action_error": total, "mean_action_error": base_total,
            "ratio_to_mean_action": total / max(base_total, 1e-12), "val_steps": n}


def predict_batch(model, batch: dict, device):
    """A model's actions ``(B, K, 7)`` for a batch of the data sets (its ``predict_batch(pixels, instructions, state)``)."""
    state = batch["state"].to(device) if "state" in batch else None
    return model.predict_batch(batch["image"].to(device), batch["instruction"], state).cpu()


def verdict(m: dict) -> dict:
    """Adds ``learned``: the model beats the mean action (ratio <= 0.6) and its image-blind twin."""
    twin = m.get("blind_twin", {}).get("action_error")
    m["beats_blind_twin"] = None if twin is None else bool(m["action_error"] < twin)
    m["learned"] = bool(m["ratio_to_mean_action"] <= 0.6 and m["beats_blind_twin"] is not False)
    return m


def format_check(name: str, m: dict) -> str:
    if "action_error" not in m:
        return f"[{name}] no held-out episodes: no learning check"
    twin = m.get("blind_twin", {}).get("action_error")
    flag = "" if m.get("learned") else "  <-- DOES NOT LEARN (no better than its references)"
    return (f"[{name}] held-out action error {m['action_error']:.3f} (std units) vs mean action "
            f"{m['mean_action_error']:.3f} (ratio {m['ratio_to_mean_action']:.2f})"
            + (f", image-blind twin {twin:.3f}" if twin is not None else "") + flag)


def train_with_learning_check(make_model, make_twin, data, cfg, out, *, errors, device: str, name: str,
                              fraction: float, extra=None, state: dict | None = None):
    """Train a model through the one loop with the learning check in its ``eval.json``.

    ``make_twin()`` builds the image-blind twin (``None``: no twin); it is built and trained first, in
    ``OUT/blind_twin``, for ``fraction`` of ``cfg.steps`` (cached by its ``eval.json``), then
    ``make_model()`` for all of them. ``data(model) -> (train_ds, val_ds)`` is called once, with the
    first model built (the twin and the model share their data). ``errors(model, device, val_ds)``:
    held-out :func:`action_errors`; ``extra(model, device, val_ds)``: more held-out metrics (e.g. token
    accuracy).
    """
    import json
    from dataclasses import replace
    from pathlib import Path

    from lapa_bench.training import checkpoint
    from lapa_bench.training.loop import train_model

    out = Path(out)
    cached = []

    def datasets(m):
        if not cached:
            cached.append(data(m))
        return cached[0]

    def measure(m, dev):
        val = cached[0][1]
        return {**(extra(m, dev, val) if extra else {}), **errors(m, dev, val)}

    twin = {}  # {}: no twin (the model is still judged against the mean action)
    if make_twin is not None and fraction > 0:
        tdir = out / "blind_twin"
        if not checkpoint.is_done(tdir):
            m = make_twin()
            tr, va = datasets(m)
            if len(va):
                train_model(m, tr, replace(cfg, steps=max(1, int(cfg.steps * fraction))), tdir, device=device,
                            name=f"{name} (blind twin)", evaluate=measure)
        if checkpoint.is_done(tdir):
            t = json.loads((tdir / checkpoint.EVAL_FILE).read_text())
            twin = {k: t[k] for k in ("action_error", "ratio_to_mean_action") if k in t}
            twin["steps_fraction"] = fraction

    def evaluate(m, dev):
        res = measure(m, dev)
        if "action_error" in res:
            res = verdict({**res, "blind_twin": twin} if twin else res)
            print(format_check(name, res))
        return res

    model = make_model()
    tr, va = datasets(model)
    print(f"[{name}] {len(tr)} train / {len(va)} validation samples")
    return train_model(model, tr, cfg, out, device=device, name=name, state=state,
                       evaluate=evaluate if len(va) else None)
