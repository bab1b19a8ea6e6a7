"""Training throughput (samples/s) and peak memory of each stage's tiny and full configs.

    python benchmarks/train_throughput.py [--steps 10] [--batch-size 32] [--device auto] [--stages laq lapa ...]

Stages: ``laq`` (stage 1), ``lapa-pretrain`` (stage 2, latent head), ``lapa-finetune`` (stage 3,
action head; also Scratch and VPT), ``idm`` (VPT/UniPi) and ``unipi`` (video diffusion model).
Full configs are skipped on a CPU (printed with the reason): a few steps of GPU-sized models take
minutes there and say nothing useful; the full VLA (7B) is skipped on any single device in fp32.
Compare the tiny LAQ's samples/s with ``benchmarks/data_loader.py``'s pairs/s.
"""
from __future__ import annotations

import argparse
import resource
import time


def _timed(model, loss_fn, steps: int, device: str) -> dict:
    import torch

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for i in range(steps + 2):  # 2 warm-up steps
        if i == 2:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS, MiB
    return {"seconds": time.perf_counter() - t0, "peak_mib": peak,
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def build(stage: str, preset: str, batch_size: int, device: str):
    """(model, loss_fn) for one training step of a stage on random data."""
    import torch

    b = batch_size
    if stage == "laq":
        from policies.lapa.configuration_laq import PRESETS
        from policies.lapa.modeling_laq import LAQ

        c = PRESETS[preset]()
        m = LAQ(c).to(device).train()
        x = torch.rand(b, 3, c.image_size, c.image_size, device=device)
        return m, lambda: m(x, torch.roll(x, 1, dims=3))["loss"]
    if stage.startswith("lapa"):
        from policies.lapa.configuration_lapa import PRESETS
        from policies.lapa.modeling_lapa import LAPAModel

        c = PRESETS[preset]()
        c.head = "latent" if stage == "lapa-pretrain" else "action"
        m = LAPAModel(c).to(device).train()
        x = torch.rand(b, 3, c.image_size, c.image_size, device=device)
        tok = {k: v.to(device) for k, v in m.tokenize(["put the spoon on the towel"] * b).items()}
        y = torch.randint(0, c.num_classes, (b, c.num_queries), device=device)
        return m, lambda: m.loss(m(x, **tok), y)[0]
    if stage == "idm":
        from policies.idm.modeling_idm import IDM, PRESETS

        c = PRESETS[preset]()
        m = IDM(c).to(device).train()
        x = torch.rand(b, 3, c.image_size, c.image_size, device=device)
        a = torch.randn(b, 7, device=device)
        return m, lambda: m.loss(x, x, a)
    if stage == "unipi":
        from policies.unipi.modeling_unipi import PRESETS, VideoUNet

        c = PRESETS[preset]()
        m = VideoUNet(c).to(device).train()
        x = torch.rand(b, 3, c.image_size, c.image_size, device=device)
        fut = torch.rand(b, c.plan_frames, 3, c.image_size, c.image_size, device=device)
        return m, lambda: m.loss(x, fut, ["stack the blocks"] * b)
    raise ValueError(f"unknown stage {stage!r}")


STAGES = ("laq", "lapa-pretrain", "lapa-finetune", "idm", "unipi")


def skip_reason(stage: str, preset: str, device: str) -> str | None:
    if preset != "full":
        return None
    if stage.startswith("lapa"):
        return "7B-parameter VLA: fp32 AdamW needs ~112 GB; use bf16 + sharding (accelerate/FSDP) on several GPUs"
    if device == "cpu":
        return "GPU-sized config; run with a CUDA device"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    args = ap.parse_args()
    import torch

    from lapa_bench.provenance import torch_device

    device = torch_device(args.device)
    torch.manual_seed(0)
    print(f"device {device}, batch {args.batch_size}, {args.steps} timed steps (after 2 warm-up steps)")
    print(f"{'stage':<14} {'config':<6} {'params(M)':>9} {'samples/s':>10} {'peak MiB':>9}")
    for stage in args.stages:
        for preset in ("tiny", "full"):
            why = skip_reason(stage, preset, device)
            if why:
                print(f"{stage:<14} {preset:<6} skipped: {why}")
                continue
            model, loss_fn = build(stage, preset, args.batch_size, device)
            r = _timed(model, loss_fn, args.steps, device)
            print(f"{stage:<14} {preset:<6} {r['params_m']:>9.2f} {args.steps * args.batch_size / r['seconds']:>10.1f} "
                  f"{r['peak_mib']:>9.0f}")
            del model, loss_fn
            if device.startswith("cuda"):
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
