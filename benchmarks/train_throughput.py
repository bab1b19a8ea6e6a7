"""Training throughput (samples/s) and peak memory of each stage's tiny and full configs.

    python benchmarks/train_throughput.py [--steps 10] [--batch-size 32] [--device auto]

Stages covered so far: LAQ (stage 1). Full configs are skipped on a CPU (printed with the
reason): a few steps of the 1024-wide model take minutes there and say nothing useful.
Compare the tiny LAQ's samples/s with ``benchmarks/data_loader.py``'s pairs/s.
"""
from __future__ import annotations

import argparse
import resource
import time


def bench_laq(preset: str, steps: int, batch_size: int, device: str) -> dict:
    import torch

    from policies.lapa.configuration_laq import PRESETS
    from policies.lapa.modeling_laq import LAQ

    cfg = PRESETS[preset]()
    model = LAQ(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.rand(batch_size, 3, cfg.image_size, cfg.image_size, device=device)
    y = torch.roll(x, 1, dims=3)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for i in range(steps + 2):  # 2 warm-up steps
        if i == 2:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        out = model(x, y)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS, MiB
    dt = time.perf_counter() - t0
    return {"samples_per_s": steps * batch_size / dt, "peak_mib": peak,
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    from lapa_bench.provenance import torch_device

    device = torch_device(args.device)
    print(f"device {device}, batch {args.batch_size}, {args.steps} timed steps")
    print(f"{'stage':<6} {'config':<6} {'params(M)':>9} {'samples/s':>10} {'peak MiB':>9}")
    for preset in ("tiny", "full"):
        if preset == "full" and device == "cpu":
            print(f"{'laq':<6} {preset:<6} skipped: the full config (width 1024, 256 px) is GPU-sized; run with a CUDA device")
            continue
        r = bench_laq(preset, args.steps, args.batch_size, device)
        print(f"{'laq':<6} {preset:<6} {r['params_m']:>9.2f} {r['samples_per_s']:>10.1f} {r['peak_mib']:>9.0f}")


if __name__ == "__main__":
    main()
