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


class _RandomBatches:
    """A data source of one fixed random batch (the loop's data contract: len + collate)."""

    def __init__(self, batch: dict, size: int):
        self.batch, self.size = batch, size

    def __len__(self):
        return self.size

    def collate(self, idx):
        return self.batch


def _timed(model, batch: dict, steps: int, device: str, compile: bool = False) -> dict:
    """Train through the one loop (lapa_bench.training.train_model); samples/s after 2 warm-up steps,
    from the loop's own log (a row every 2 steps)."""
    import csv
    import tempfile

    import torch

    from lapa_bench.training import TrainConfig, train_model

    bs = len(next(v for v in batch.values() if hasattr(v, "shape")))
    cfg = TrainConfig(steps=steps + 2, batch_size=bs, lr=1e-4, warmup_steps=0, schedule="constant", log_every=2,
                      save_every=10**9, progress=False, compile=compile)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        train_model(model, _RandomBatches(batch, bs), cfg, tmp, device=device, name="bench")
        rows = list(csv.DictReader(open(f"{tmp}/log.csv")))[1:]
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS, MiB
    sps = sum(float(r["samples_per_s"]) for r in rows) / max(len(rows), 1)
    return {"samples_per_s": sps, "peak_mib": peak, "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def build(stage: str, preset: str, batch_size: int, device: str):
    """(model, batch) for training steps of a stage on random data."""
    import torch

    b = batch_size
    if stage == "laq":
        from lapa_bench.policies.laq.configuration_laq import PRESETS
        from lapa_bench.policies.laq.modeling_laq import LAQ

        c = PRESETS[preset]()
        x = torch.rand(b, 3, c.image_size, c.image_size)
        return LAQ(c), {"x_t": x, "x_th": torch.roll(x, 1, dims=3)}
    if stage == "recipe64":  # the comparison's VLA: 64 px small preset, continuous L1 head, proprio with command state
        from lapa_bench.policies.lapa.configuration_lapa import PRESETS
        from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

        c = PRESETS["small"]()
        for k, v in dict(image_size=64, random_shift=4, pool_prompt=True, query_tokens="per_step",
                         command_state=True, head="action").items():
            setattr(c, k, v)
        return LAPAModel.build(c), {"image": torch.rand(b, 3, 64, 64), "instruction": ["put carrot on plate"] * b,
                                    "state": torch.randn(b, c.state_dim), "target": torch.randn(b, c.chunk, 7)}
    if stage.startswith("lapa"):
        from lapa_bench.policies.lapa.configuration_lapa import PRESETS
        from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

        c = PRESETS[preset]()
        c.head = "latent" if stage == "lapa-pretrain" else "action"
        return LAPAModel(c), {"image": torch.rand(b, 3, c.image_size, c.image_size),
                              "instruction": ["put the spoon on the towel"] * b,
                              "target": torch.randint(0, c.num_classes, (b, c.num_queries))}
    if stage == "idm":
        from lapa_bench.policies.idm.configuration_idm import PRESETS
        from lapa_bench.policies.idm.modeling_idm import IDM

        c = PRESETS[preset]()
        x = torch.rand(b, 3, c.image_size, c.image_size)
        return IDM(c), {"x_t": x, "x_th": x, "action": torch.randn(b, 7)}
    if stage == "unipi":
        from lapa_bench.policies.unipi.configuration_unipi import PRESETS
        from lapa_bench.policies.unipi.modeling_unipi import VideoUNet

        c = PRESETS[preset]()
        return VideoUNet(c), {"x_t": torch.rand(b, 3, c.image_size, c.image_size),
                              "future": torch.rand(b, c.plan_frames, 3, c.image_size, c.image_size),
                              "instruction": ["stack the blocks"] * b}
    raise ValueError(f"unknown stage {stage!r}")


STAGES = ("laq", "lapa-pretrain", "lapa-finetune", "idm", "unipi", "recipe64")


def skip_reason(stage: str, preset: str, device: str) -> str | None:
    if stage == "recipe64" and preset == "full":
        return "one config (the 64 px recipe), shown as tiny"
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
    ap.add_argument("--compile", action="store_true",
                    help="also measure each row with train.compile (torch.compile of the forward), eager and compiled "
                         "alternating, and print compiled/eager")
    args = ap.parse_args()
    import torch

    from lapa_bench.device import resolve_device

    device = str(resolve_device(args.device))
    torch.manual_seed(0)
    print(f"device {device}, batch {args.batch_size}, {args.steps} timed steps (after 2 warm-up steps)")
    print(f"{'stage':<14} {'config':<6} {'params(M)':>9} {'samples/s':>10} {'peak MiB':>9}")
    for stage in args.stages:
        for preset in ("tiny", "full"):
            why = skip_reason(stage, preset, device)
            if why:
                print(f"{stage:<14} {preset:<6} skipped: {why}")
                continue
            model, batch = build(stage, preset, args.batch_size, device)
            r = _timed(model, batch, args.steps, device)
            print(f"{stage:<14} {preset:<6} {r['params_m']:>9.2f} {r['samples_per_s']:>10.1f} {r['peak_mib']:>9.0f}",
                  flush=True)
            if args.compile:
                torch.manual_seed(0)
                cm, cb = build(stage, preset, args.batch_size, device)
                _timed(cm, cb, 2, device, compile=True)  # compilation happens here, not in the timed steps
                c = _timed(cm, cb, args.steps, device, compile=True)
                e = _timed(model, batch, args.steps, device)  # eager again, after the compiled run
                eager = (r["samples_per_s"] + e["samples_per_s"]) / 2
                print(f"{stage:<14} {'compiled':<6} {'':>9} {c['samples_per_s']:>10.1f} {c['peak_mib']:>9.0f}  "
                      f"compiled/eager {c['samples_per_s'] / eager:.2f}", flush=True)
            del model, batch
            if device.startswith("cuda"):
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
