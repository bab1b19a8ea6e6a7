"""The one training loop. Every model in lapa-bench (LAQ, the VLA stages, the IDM, UniPi's video
model, and any new baseline) trains through :func:`train_model`.

The model contract (three methods):

* ``loss(batch) -> (loss, metrics)``: a scalar tensor and a dict of floats/0-d tensors to log;
* ``save_pretrained(directory)`` (see :mod:`lapa_bench.training.checkpoint`);
* optionally ``on_step_end() -> dict``: after each optimizer step (e.g. LAQ's dead-code replacement).

The data contract: ``len(data)`` samples and ``data.collate(indices) -> batch`` (a dict of tensors
and lists). The loop draws shuffled batches epoch by epoch, moves tensors to the device, clips,
schedules (linear warm-up, then constant or cosine to ``min_lr_ratio``), logs ``OUT/log.csv`` (and
TensorBoard when installed) with a progress bar, saves ``OUT/last`` every ``save_every`` steps and
resumes from it, then writes the model to ``OUT`` and the held-out metrics to ``OUT/eval.json``.
With ``eval_every`` it also evaluates the held-out data periodically (``OUT/val_log.jsonl``), and with
``keep: best`` the model is the step with the lowest held-out ``best_metric`` (``OUT/best``).

One code path for the CPU, one GPU (``--device cuda:1``) and several (``accelerate launch -m
lapa_bench.app.cli ...``: under a launcher, ``WORLD_SIZE > 1``, the loop runs under ``accelerate``).
"""
from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lapa_bench.errors import UserError
from lapa_bench.training import checkpoint
from lapa_bench.training.checkpoint import BEST


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.0
    schedule: Literal["constant", "cosine"] = "cosine"
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    grad_clip: float | None = 1.0
    val_fraction: float = 0.1  # episodes held out for eval.json
    seed: int = 0
    log_every: int = 25
    save_every: int = 250
    # held-out evaluation every N steps (0: only at the end), appended to OUT/val_log.jsonl
    eval_every: int = 0
    # which weights become the model: the "last" step's, or the "best" held-out `best_metric` among the
    # periodic evaluations and the last step (chosen on the held-out episodes the check reports on)
    keep: Literal["last", "best"] = "last"
    best_metric: str = "action_error"
    # torch.compile the model's forward for training: faster steps where the model compiles well
    # (benchmarks/train_throughput.py --compile measures it); the weights and held-out metrics are those of the
    # same model, computed by fused kernels, so they match an eager run within float noise, not bit for bit
    compile: bool = False
    progress: bool = True

    def __post_init__(self):
        for k in ("steps", "batch_size", "log_every", "save_every", "eval_every"):
            if getattr(self, k) < (0 if k in ("steps", "eval_every") else 1):
                raise UserError(f"train.{k} must be >= {0 if k in ('steps', 'eval_every') else 1}, "
                                 f"got {getattr(self, k)}")
        if self.keep == "best" and not self.eval_every:
            raise UserError("train.keep best needs periodic held-out evaluations: set train.eval_every "
                             "(e.g. 500)")
        if not 0 <= self.val_fraction < 1:
            raise UserError(f"train.val_fraction must be in [0, 1), got {self.val_fraction}")

    def lr_factor(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.schedule == "constant":
            return 1.0
        p = min(1.0, (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps))
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))


class TrainingDiverged(RuntimeError):
    """The loss stopped being a number: the run stops instead of finishing with nan weights."""


def _loss_module(model):
    """``model.loss`` as a module's ``forward``, so that DDP (accelerate) sees the call and syncs gradients."""
    import torch

    class LossModule(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.model = m

        def forward(self, batch):
            return self.model.loss(batch)

    return LossModule(model)


class _Runtime:
    """Where the loop runs: plain torch on one device, or ``accelerate`` under a multi-process launcher."""

    def __init__(self, device: str):
        from lapa_bench.device import resolve_device

        self.acc = None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            from accelerate import Accelerator

            self.acc = Accelerator(cpu=device == "cpu")
            self.device, self.main, self.rank = self.acc.device, self.acc.is_main_process, self.acc.process_index
        else:
            self.device, self.main, self.rank = resolve_device(device), True, 0
            if self.device.type == "cuda":
                import torch

                torch.cuda.set_device(self.device)

    def prepare(self, module, opt):
        return self.acc.prepare(module, opt) if self.acc else (module, opt)

    def backward(self, loss):
        self.acc.backward(loss) if self.acc else loss.backward()

    def barrier(self):
        if self.acc:
            self.acc.wait_for_everyone()

    def describe(self) -> str:
        return f"{self.device}" + (f" x {self.acc.num_processes} processes" if self.acc else "")


def to_device(batch: dict, device) -> dict:
    import torch

    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


class _Batches:
    """Shuffled batches epoch by epoch (the last partial batch of an epoch dropped), with a state that
    :func:`train_model` saves in ``last/`` so that a resumed run draws exactly the batches it would have."""

    def __init__(self, n: int, batch_size: int, rng):
        self.n, self.bs, self.rng, self.order, self.pos = n, batch_size, rng, None, 0

    def __next__(self):
        if self.order is None or self.pos + self.bs > self.n:
            self.order, self.pos = self.rng.permutation(self.n), 0
        self.pos += self.bs
        return self.order[self.pos - self.bs:self.pos]

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "order": None if self.order is None else self.order.tolist(),
                "pos": self.pos, "n": self.n, "batch_size": self.bs}

    def load(self, st: dict) -> None:
        if (st["n"], st["batch_size"]) != (self.n, self.bs):
            raise UserError(f"the resume state was saved for {st['n']} samples in batches of {st['batch_size']}, "
                             f"this run has {self.n} in batches of {self.bs}")
        self.rng.bit_generator.state = st["rng"]
        self.order = None if st["order"] is None else np.asarray(st["order"])
        self.pos = st["pos"]


RNG_FILE = "rng.pt"  # in OUT/last: every RNG's state and the batch order's position, for exact resumes


def _rng_state(batches: _Batches) -> dict:
    import random

    import torch

    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
          "batches": batches.state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict, batches: _Batches | None = None) -> None:
    import random

    import torch

    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
    if batches is not None:
        batches.load(st["batches"])


def _scalar(v) -> float:
    return float(v.detach()) if hasattr(v, "detach") else float(v)


def _numeric(v) -> bool:
    """A number, or a flat dict of numbers (e.g. the per-dimension errors): what the held-out curve keeps."""
    if isinstance(v, dict):
        return bool(v) and all(isinstance(x, (int, float)) for x in v.values())
    return isinstance(v, (int, float))


def train_model(model, data, cfg: TrainConfig, out, *, device: str = "auto", name: str = "train",
                evaluate=None, state: dict | None = None):
    """Train ``model`` on ``data`` (see the module docstring) into ``out``; returns the model.

    ``evaluate(model, device) -> dict``: held-out metrics for ``eval.json`` (the done marker).
    ``state``: extra fields recorded in ``last/trainer_state.json`` (e.g. the run's inputs).
    """
    import torch
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    last = out / checkpoint.LAST
    rt = _Runtime(device)
    model.to(rt.device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = checkpoint.load_state(last, model, opt, rt.device)
    # wall time over every process that trained this run (a resumed run adds to what its resume state recorded)
    seconds_before = float(json.loads((last / checkpoint.STATE_FILE).read_text()).get("seconds", 0)) if step else 0.0
    if step:
        print(f"[{name}] resuming from {last} at step {step}")
    if cfg.compile:
        model.compile()  # in place: the model's forward (its loss's tokenizing and augmentation stay eager)
    wrapped, opt = rt.prepare(_loss_module(model), opt)
    bs = min(cfg.batch_size, len(data))
    if bs < 1:
        raise UserError(f"[{name}] no training samples (check the dataset folders and max_episodes)")
    batches = _Batches(len(data), bs, np.random.default_rng([cfg.seed, 0, rt.rank]))
    rng_file = last / (RNG_FILE if rt.rank == 0 else f"rng.rank{rt.rank}.pt")
    saved_rng = torch.load(rng_file, weights_only=False) if step and rng_file.is_file() else None
    if saved_rng is not None and saved_rng.get("step") == step:  # exact: the RNGs and batch order where they were
        _set_rng_state(saved_rng, batches)
    else:
        if step:  # a resume state saved before RNG states were: close to, not equal to, an uninterrupted run
            print(f"[{name}] {last} has no RNG state: the resumed run draws other batches than an uninterrupted one")
            batches = _Batches(len(data), bs, np.random.default_rng([cfg.seed, step, rt.rank]))
        torch.manual_seed(cfg.seed + step)
    if rt.main:
        total = sum(p.numel() for p in model.parameters())
        print(f"[{name}] {len(data)} training samples, batch {bs}, {sum(p.numel() for p in params) / 1e6:.2f} M "
              f"trainable of {total / 1e6:.2f} M parameters, device {rt.describe()}")
    logf = writer = tb = None
    if rt.main:
        log_path = out / "log.csv"
        header = None
        if log_path.is_file() and log_path.stat().st_size:
            with open(log_path) as f:
                header = next(csv.reader(f), None)
        logf = open(log_path, "a", newline="")
        if header:
            writer = csv.DictWriter(logf, header, extrasaction="ignore")
        try:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(out / "tb")
        except Exception:
            pass

    def save_last():
        rt.barrier()
        from lapa_bench.io import atomic_path

        last.mkdir(parents=True, exist_ok=True)
        tmp = atomic_path(rng_file)
        torch.save({**_rng_state(batches), "step": step}, tmp)  # before the state file: a step is resumable only with its RNGs
        os.replace(tmp, rng_file)
        if rt.main:
            checkpoint.save_state(last, model, opt, step, {"name": name, "train": asdict(cfg), **(state or {}),
                                                           "seconds": round(seconds_before + time.perf_counter()
                                                                            - started, 3)})

    def set_lr():
        for g in opt.param_groups:
            g["lr"] = cfg.lr * cfg.lr_factor(step)

    best_dir = out / BEST
    if step == 0:  # a fresh run: nothing of an earlier one competes
        import shutil

        shutil.rmtree(best_dir, ignore_errors=True)
        (out / "val_log.jsonl").unlink(missing_ok=True)

    def held_out():
        """Held-out metrics; the RNGs are left as they were, so evaluating does not change the training."""
        saved = _rng_state(batches)
        model.eval()
        with torch.no_grad():
            m = evaluate(model, rt.device) if evaluate else {}
        model.train()
        _set_rng_state(saved)
        return m

    def record(m: dict):
        """This step's held-out metrics into OUT/val_log.jsonl; with keep=best, OUT/best keeps the best weights."""
        value = m.get(cfg.best_metric)
        with open(out / "val_log.jsonl", "a") as f:
            f.write(json.dumps({"step": step, **{k: v for k, v in m.items() if _numeric(v)}}) + "\n")
        if cfg.keep == "best":
            if value is None:
                raise UserError(f"[{name}] train.keep best: the held-out metrics have no {cfg.best_metric!r} "
                                 f"(they have {sorted(m)}): set train.best_metric to one of them")
            prev = checkpoint.best_info(best_dir)
            if prev is None or value < prev["value"]:
                checkpoint.save_best(best_dir, model, step, cfg.best_metric, float(value))

    def periodic_eval():
        rt.barrier()
        if rt.main and evaluate:
            record(held_out())

    bar = tqdm(total=cfg.steps, initial=step, desc=name, disable=not (cfg.progress and rt.main), dynamic_ncols=True)
    t0, seen, started = time.perf_counter(), 0, time.perf_counter()
    try:
        while step < cfg.steps:
            set_lr()
            batch = to_device(data.collate(next(batches)), rt.device)
            loss, metrics = wrapped(batch)
            opt.zero_grad(set_to_none=True)
            rt.backward(loss)
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            extra = model.on_step_end() if hasattr(model, "on_step_end") else {}
            step += 1
            seen += bs
            bar.update(1)
            if rt.main and (step % cfg.log_every == 0 or step == cfg.steps):
                if not math.isfinite(loss.item()):  # never a finished run of nan weights
                    raise TrainingDiverged(f"[{name}] the loss is {loss.item()} at step {step}: the data hold "
                                           "non-finite values (`lapa-bench data info DIR` says where) or the run "
                                           f"diverged (lower the learning rate); delete {out} before rerunning")
                row = {"step": step, "loss": f"{loss.item():.6f}", "lr": f"{opt.param_groups[0]['lr']:.3e}",
                       "samples_per_s": f"{seen / (time.perf_counter() - t0):.1f}",
                       **{k: f"{_scalar(v):.5g}" for k, v in {**metrics, **(extra or {})}.items()}}
                if writer is None:
                    writer = csv.DictWriter(logf, list(row), extrasaction="ignore")
                    writer.writeheader()
                writer.writerow(row)
                logf.flush()
                if tb:
                    for k, v in row.items():
                        if k != "step":
                            tb.add_scalar(f"{name}/{k}", float(v), step)
                bar.set_postfix_str(" ".join(f"{k} {row[k]}" for k in list(row)[1:2] + list(metrics)[:2]))
                t0, seen = time.perf_counter(), 0
            if step % cfg.save_every == 0:
                save_last()
            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.steps:
                periodic_eval()
    finally:
        bar.close()
        if logf:
            logf.close()
        if tb:
            tb.close()
    save_last()
    if rt.main:
        metrics, selected = held_out(), None  # the last step's
        if cfg.eval_every and evaluate:
            record(metrics)  # the curve ends at the last step, which competes for best too
        if cfg.keep == "best" and evaluate:
            selected = checkpoint.best_info(best_dir)
            if selected and selected["step"] != step:  # an earlier step was better: its weights, its metrics
                checkpoint.load_best(best_dir, model, rt.device)
                metrics = held_out()
            if selected:
                print(f"[{name}] keeping the weights of step {selected['step']} (best held-out "
                      f"{selected['metric']} {selected['value']:.4f})")
        model.save_pretrained(out)
        if selected:
            metrics["selected"] = selected
        # the wall time of every process that trained it, in ms (a short run is not 0)
        metrics.setdefault("train", {"steps": cfg.steps, "device": str(rt.device),
                                     "seconds": round(seconds_before + time.perf_counter() - started, 3)})
        checkpoint.finish(out, metrics)
    return model
