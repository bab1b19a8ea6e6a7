"""Localization probe: how fast can a model regress where an object is from the image alone?

A bright 8 x 8 square at a random place in a 64 x 64 image; the target action is its (x, y) position
(dx, dy). `bc`'s CNN and the VLA (conv stem + a 4-layer width-128 Llama, the `small` recipe at 64 px)
train on fresh random batches of 32; the held-out MAE of (dx, dy) on 256 images is printed every 100
steps beside the mean predictor's. Used to find why `scratch` did not read the image in
results/learning (README there).

    OMP_NUM_THREADS=1 python results/learning/probe/localize.py bc|vla|vla_ro|vla_sincos|vla_qr [LR]   (INIT=0.08 for the LM init)
"""
import sys, time
import numpy as np, torch
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[3]))
from lapa_bench.policies.lapa.modeling_lapa import LAPAModel
from lapa_bench.policies.lapa.configuration_lapa import LAPAConfig
from lapa_bench.policies.bc.modeling_bc import BCModel
from lapa_bench.policies.bc.configuration_bc import BCConfig
torch.set_num_threads(1); torch.manual_seed(0)
S = 64
def batch(n, rng):
    img = np.full((n, 3, S, S), 0.15, np.float32)
    xy = rng.uniform(0.1, 0.8, size=(n, 2))
    for i, (x, y) in enumerate(xy):
        r, c = int(y * S), int(x * S)
        img[i, :, r:r + 8, c:c + 8] = 0.9
    a = np.zeros((n, 1, 7), np.float32); a[:, 0, 0] = xy[:, 0] - 0.45; a[:, 0, 1] = xy[:, 1] - 0.45; a[:, 0, 6] = 1
    return {"image": torch.tensor(img), "instruction": ["go"] * n, "state": torch.zeros(n, 7), "target": torch.tensor(a)}
def norm(m):
    m.action_mean.zero_(); m.action_std.fill_(0.2)
    if hasattr(m, "state_std"): m.state_std.fill_(1.0)
which = sys.argv[1]
lr = float(sys.argv[2]) if len(sys.argv) > 2 else 3e-4
if which == "bc":
    m = BCModel(BCConfig(image_size=S, width=16, depth=3, hidden=256, chunk=1, random_shift=0))
else:
    vis = {"model_type": "conv", "width": 16, "depth": 3, "readout": which == "vla_ro",
           "position": "sincos" if which == "vla_sincos" else "learned"}
    m = LAPAModel(LAPAConfig(image_size=S, vision=vis, text=dict(model_type="llama", vocab_size=259, hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256, initializer_range=float(__import__("os").environ.get("INIT", "0.02"))), prompt="{instruction}", max_prompt_tokens=16, action_head="l1", chunk=1, proprio=True,
                             query_readout=256 if which == "vla_qr" else 0))
norm(m)


class Squares:
    """The training stream for the one loop (lapa_bench.training.train_model): fresh random images."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def __len__(self):
        return 32 * 600

    def collate(self, idx):
        return batch(len(idx), self.rng)


def evaluate(model, device):
    with torch.no_grad():
        p = model.predict_batch(val["image"], val["instruction"], val["state"])
    return {"mae_xy": (p[:, 0, :2] - val["target"][:, 0, :2]).abs().mean().item()}


import tempfile  # noqa: E402

from lapa_bench.training import TrainConfig, train_model  # noqa: E402

val = batch(256, np.random.default_rng(1))
# the probe's measured settings: constant lr, no warm-up, no clipping, AdamW's usual weight decay
cfg = TrainConfig(steps=int(__import__("os").environ.get("STEPS", "600")), batch_size=32, lr=lr, weight_decay=0.01, schedule="constant", warmup_steps=0,
                  grad_clip=None, eval_every=100, log_every=100, save_every=10_000, progress=False)
t0 = time.time()
with tempfile.TemporaryDirectory() as out:
    train_model(m, Squares(), cfg, out, device="cpu", name=which, evaluate=evaluate)
    for line in open(f"{out}/val_log.jsonl"):
        r = __import__("json").loads(line)
        print(which, r["step"], f"val MAE xy {r['mae_xy']:.4f} (mean-pred {val['target'][:, 0, :2].abs().mean().item():.4f})")
print(f"{time.time() - t0:.0f} s")
