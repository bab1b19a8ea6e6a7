"""The small training loop shared by the single-model trainers (IDM, UniPi's video model).

Resumes from ``OUT/last`` (weights via the model's ``save_pretrained``/``from_pretrained``,
optimizer, step), logs ``step,loss`` to ``OUT/log.csv``, shows a progress bar, and saves every
``save_every`` steps and at the end. (The VLA stages use ``policies.lapa.trainer`` with accelerate.)
"""
from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np


def start(cfg, presets: dict, model_cls, config_cls, name: str):
    """(out, device, model, state): the model from ``OUT/last`` when it exists (resume), else built
    from ``presets[cfg.preset]`` with ``cfg.overrides`` at step 0."""
    import torch

    from lapa_bench.provenance import torch_device

    if cfg.preset not in presets:
        raise ValueError(f"unknown {name} preset {cfg.preset!r}; choose from {sorted(presets)}")
    out, device = Path(cfg.out), torch_device(cfg.device)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    last = out / "last"
    if (last / "model.safetensors").is_file():
        state = json.loads((last / "trainer_state.json").read_text())
        print(f"[{name}] resuming from {last} at step {state['step']}")
        return out, device, model_cls.from_pretrained(last), state
    base = asdict(presets[cfg.preset]())
    base.update(cfg.overrides)
    return out, device, model_cls(config_cls(**base)), {"step": 0}


def run(model, state: dict, cfg, out: Path, batch_loss, name: str, lr: float, weight_decay: float = 0.0,
        clip: float | None = None) -> None:
    """``batch_loss(rng) -> loss`` draws one batch and returns its loss; ``cfg`` has steps, seed,
    log_every, save_every, progress (its fields are recorded in the trainer state)."""
    import torch
    from tqdm.auto import tqdm

    out, last = Path(out), Path(out) / "last"
    device = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    if (last / "optimizer.pt").is_file():
        opt.load_state_dict(torch.load(last / "optimizer.pt", map_location=device))
    rng = np.random.default_rng([cfg.seed, state["step"]])
    new_log = not (out / "log.csv").exists()
    logf = open(out / "log.csv", "a", newline="")
    w = csv.writer(logf)
    if new_log:
        w.writerow(["step", "loss"])

    def save():
        model.save_pretrained(last)
        torch.save(opt.state_dict(), last / "optimizer.pt")
        (last / "trainer_state.json").write_text(json.dumps({"step": state["step"], "config": asdict(cfg)},
                                                            default=str))

    bar = tqdm(total=cfg.steps, initial=state["step"], desc=name, disable=not cfg.progress, dynamic_ncols=True)
    try:
        while state["step"] < cfg.steps:
            loss = batch_loss(rng)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            state["step"] += 1
            bar.update(1)
            if state["step"] % cfg.log_every == 0:
                w.writerow([state["step"], f"{loss.item():.5f}"])
                logf.flush()
                bar.set_postfix_str(f"loss {loss.item():.4f}")
            if state["step"] % cfg.save_every == 0:
                save()
    finally:
        bar.close()
        logf.close()
    save()
