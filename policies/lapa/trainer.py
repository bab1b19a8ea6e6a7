"""One training loop for the VLA stages (LAPA pretraining/finetuning, Scratch, VPT), on CPU, one
GPU or several: it runs under Hugging Face ``accelerate``, so the same command scales with

    accelerate launch -m lapa_bench.cli lapa finetune ...

Resumes from ``OUT/last`` (weights, optimizer, step); logs loss/accuracy to ``OUT/log.csv`` (and
TensorBoard when installed); progress bar; held-out loss/accuracy in ``OUT/eval.json``.
"""
from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class TrainLoopConfig:
    steps: int = 1000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.0
    warmup_steps: int = 50
    log_every: int = 25
    save_every: int = 250
    seed: int = 0
    device: str = "auto"  # "cpu" forces the CPU; else accelerate's choice (CUDA when present)
    progress: bool = True


def collate(items: list[dict], model) -> dict:
    import torch

    tok = model.tokenize([x["instruction"] for x in items])
    return {"pixels": torch.stack([x["image"] for x in items]), **tok,
            "target": torch.stack([torch.as_tensor(x["target"]) for x in items]).long()}


def _batches(ds, batch_size, rng):
    while True:
        order = rng.permutation(len(ds))
        for i in range(0, len(order) - batch_size + 1, batch_size):
            yield [ds[int(k)] for k in order[i:i + batch_size]]


def evaluate(model, ds, device, batch_size: int = 64, max_batches: int = 20) -> dict:
    import torch

    was = model.training
    model.eval()
    tot = acc = n = 0.0
    targets = []
    with torch.no_grad():
        for b in range(0, min(len(ds), batch_size * max_batches), batch_size):
            batch = collate([ds[k] for k in range(b, min(b + batch_size, len(ds)))], model)
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(batch["pixels"], batch["input_ids"], batch["attention_mask"])
            loss, a = model.loss(logits, batch["target"])
            k = len(batch["target"])
            tot, acc, n = tot + float(loss) * k, acc + float(a) * k, n + k
            targets.append(batch["target"].cpu().numpy().reshape(k, -1))
    model.train(was)
    out = {"val_loss": tot / max(n, 1), "val_accuracy": acc / max(n, 1), "val_samples": int(n)}
    if targets:
        out["constant_accuracy"] = constant_accuracy(np.concatenate(targets))
    return out


def constant_accuracy(targets: np.ndarray) -> float:
    """Token accuracy of the best *constant* prediction (each position's most frequent class) on ``targets (N, K)``.

    An image-blind reference: a model whose ``val_accuracy`` does not beat it has learned only the
    marginal distribution of the tokens, not to read the image.
    """
    t = np.asarray(targets).reshape(len(targets), -1)
    return float(np.mean([np.bincount(t[:, j]).max() / len(t) for j in range(t.shape[1])]))


def fit(model, train_ds, val_ds, cfg: TrainLoopConfig, out, name: str = "train", policy_name: str = "lapa",
        extra_state: dict | None = None):
    """Train ``model`` (a :class:`LAPAModel`) on ``StepSamples``; returns the unwrapped model.

    Checkpoints: ``OUT/last`` while training (resumed automatically), the final model in ``OUT``.
    """
    import torch
    from tqdm.auto import tqdm

    try:
        from accelerate import Accelerator
    except ImportError:  # pragma: no cover - accelerate is a dependency; keep CPU training usable
        Accelerator = None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    last = out / "last"
    acc = Accelerator(cpu=cfg.device == "cpu") if Accelerator else None
    device = acc.device if acc else torch.device("cpu")
    main = acc.is_main_process if acc else True
    state = {"step": 0}
    if (last / "trainer_state.json").is_file():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(last / "model.safetensors"))
        state = json.loads((last / "trainer_state.json").read_text())
        print(f"[{name}] resuming from {last} at step {state['step']}")
    torch.manual_seed(cfg.seed + state["step"])
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if (last / "optimizer.pt").is_file():
        opt.load_state_dict(torch.load(last / "optimizer.pt", map_location=device))

    def lr_at(step):  # linear warm-up, cosine decay to 10%
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        p = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0)))

    for g in opt.param_groups:
        g["lr"] = cfg.lr * lr_at(state["step"])
    wrapped = model
    if acc:
        wrapped, opt = acc.prepare(model, opt)
    rank = acc.process_index if acc else 0
    rng = np.random.default_rng([cfg.seed, state["step"], rank])
    bs = min(cfg.batch_size, len(train_ds))
    batches = _batches(train_ds, bs, rng)
    n_train = sum(p.numel() for p in params)
    if main:
        print(f"[{name}] {len(train_ds)} train / {len(val_ds)} validation samples, batch {bs}, "
              f"{n_train / 1e6:.2f} M trainable of {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M "
              f"parameters, device {device}" + (f" x {acc.num_processes} processes" if acc and acc.num_processes > 1 else ""))
    logf = writer = tb = None
    if main:
        new_log = not (out / "log.csv").exists()
        logf = open(out / "log.csv", "a", newline="")
        writer = csv.writer(logf)
        if new_log:
            writer.writerow(["step", "loss", "accuracy", "lr", "samples_per_s"])
        try:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(out / "tb")
        except Exception:
            pass

    def save(where: Path):
        if acc:
            acc.wait_for_everyone()
        if not main:
            return
        model.save_pretrained(where, policy_name=policy_name)
        torch.save(opt.state_dict(), where / "optimizer.pt")
        (where / "trainer_state.json").write_text(json.dumps(
            {"step": state["step"], "train": asdict(cfg), **(extra_state or {})}, indent=2, default=str))

    bar = tqdm(total=cfg.steps, initial=state["step"], desc=name, disable=not (cfg.progress and main),
               dynamic_ncols=True)
    t0, seen = time.perf_counter(), 0
    try:
        while state["step"] < cfg.steps:
            batch = {k: v.to(device) for k, v in collate(next(batches), model).items()}
            logits = wrapped(batch["pixels"], batch["input_ids"], batch["attention_mask"])
            loss, accuracy = model.loss(logits, batch["target"])
            opt.zero_grad(set_to_none=True)
            if acc:
                acc.backward(loss)
            else:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            state["step"] += 1
            for g in opt.param_groups:
                g["lr"] = cfg.lr * lr_at(state["step"])
            seen += len(batch["target"])
            bar.update(1)
            if main and state["step"] % cfg.log_every == 0:
                sps = seen / (time.perf_counter() - t0)
                writer.writerow([state["step"], f"{loss.item():.5f}", f"{accuracy.item():.4f}",
                                 f"{opt.param_groups[0]['lr']:.2e}", f"{sps:.1f}"])
                logf.flush()
                if tb:
                    tb.add_scalar(f"{name}/loss", loss.item(), state["step"])
                    tb.add_scalar(f"{name}/accuracy", accuracy.item(), state["step"])
                bar.set_postfix_str(f"loss {loss.item():.4f} acc {accuracy.item():.3f}")
                t0, seen = time.perf_counter(), 0
            if state["step"] % cfg.save_every == 0:
                save(last)
    finally:
        bar.close()
        if logf:
            logf.close()
        if tb:
            tb.close()
    save(last)
    if main:
        model.save_pretrained(out, policy_name=policy_name)
        metrics = evaluate(model, val_ds, device) if len(val_ds) else {}
        (out / "eval.json").write_text(json.dumps(metrics, indent=2))
        if metrics:
            print(f"[{name}] held-out loss {metrics['val_loss']:.4f}, token accuracy {metrics['val_accuracy']:.3f} "
                  f"({metrics['val_samples']} samples; the best constant prediction gets "
                  f"{metrics['constant_accuracy']:.3f})")
    return model
