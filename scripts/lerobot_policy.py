"""A LeRobot policy benchmarked here: trained with LeRobot's own code, served to `lapa-bench eval --policy remote`.

Runs in LeRobot's Python (``.venv-lerobot``, ``make lerobot-venv``: LeRobot 0.3.3 and its own torch), never in the
project's venv. Nothing downloads: the hub is offline and the ACT backbone starts from random weights.

    PY=.venv-lerobot/bin/python
    # 1. the four per-task datasets of `lapa-bench collect` as one LeRobot dataset (LeRobot 0.3.3 trains on one),
    #    frames brought to 64 px exactly as lapa-bench's own preprocessing does (INTER_AREA)
    $PY scripts/lerobot_policy.py merge results/mini/data/demos/{spoon,carrot,stack,eggplant} \
        --out runs/lerobot/act_demos25 --image-size 64
    # 2. train ACT with LeRobot's training script (`python -m lerobot.scripts.train`), the arguments it is given
    #    are printed and written to OUT/command.txt
    $PY scripts/lerobot_policy.py train runs/lerobot/act_demos25 --out runs/lerobot/act_demos25_train --steps 4000
    # 3. serve it (prints the URL), then evaluate from the project's venv:
    $PY scripts/lerobot_policy.py serve runs/lerobot/act_demos25_train --port 8765
    lapa-bench eval --policy remote --policy.url ws://127.0.0.1:8765 --episodes 24 --out results/lerobot_act/eval

The server speaks lapa-bench's protocol (``lapa_bench/serving/protocol.py``, numpy + msgpack only) through the
project's ``PolicyServer``: its metadata names LeRobot's policy type, its resolved config and the checkpoint's
fingerprint, so a run's identity changes with the checkpoint. ``act`` runs the same policy in-process on saved
observations (the check that the served policy returns the same actions).
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # lapa_bench.serving and lapa_bench.data.preprocess: numpy/msgpack/cv2 only

import numpy as np  # noqa: E402

from lapa_bench.policy import Policy  # noqa: E402  (no torch: numpy, and gymnasium for its spaces)

IMAGE_KEY = "observation.images.image"
# ACT sized for a 2-core CPU and 64 px frames at 5 Hz: chunks of 4 actions executed whole (as `scratch`'s
# execute 4), a smaller transformer than ACT's default (dim 512, 4 encoder layers), no pretrained backbone.
ACT_ARGS = {
    "policy.type": "act", "policy.device": "cpu", "policy.push_to_hub": "false",
    "policy.pretrained_backbone_weights": "null", "policy.chunk_size": "4", "policy.n_action_steps": "4",
    "policy.dim_model": "256", "policy.dim_feedforward": "1024", "policy.n_encoder_layers": "2",
    "policy.n_vae_encoder_layers": "2", "policy.optimizer_lr": "1e-4", "policy.optimizer_lr_backbone": "1e-4",
}


def _source_size(root: Path) -> tuple[int, int]:
    shape = json.loads((root / "meta" / "info.json").read_text())["features"][IMAGE_KEY]["shape"]
    return int(shape[0]), int(shape[1])


def merge(sources: list[Path], out: Path, image_size: int) -> None:
    """Read each dataset with LeRobot's loader, write one dataset with LeRobot's writer (PNG frames)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lapa_bench.data.preprocess import resize

    if out.exists():
        sys.exit(f"{out} exists: remove it or choose another --out")
    first = json.loads((sources[0] / "meta" / "info.json").read_text())
    features = {k: {kk: (tuple(vv) if kk == "shape" else vv) for kk, vv in first["features"][k].items()
                    if kk in ("dtype", "shape", "names")} for k in ("observation.state", "action")}
    features[IMAGE_KEY] = {"dtype": "image", "shape": (image_size, image_size, 3),
                           "names": ["height", "width", "channels"]}
    dst = LeRobotDataset.create("local/" + out.name, fps=first["fps"], features=features, root=out,
                                robot_type=first.get("robot_type"), use_videos=False)
    made = []
    for root in sources:
        src = LeRobotDataset("local/" + root.name, root=root)
        size = (image_size, image_size)
        episode = None
        for i in range(len(src)):
            item = src[i]
            if episode is not None and int(item["episode_index"]) != episode:
                dst.save_episode()
            episode = int(item["episode_index"])
            img = np.round(item[IMAGE_KEY].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
            dst.add_frame({IMAGE_KEY: resize(img, size), "observation.state": item["observation.state"].numpy(),
                           "action": item["action"].numpy()}, task=item["task"])
        dst.save_episode()
        made.append({"source": str(root), "episodes": src.num_episodes, "frames": len(src)})
        print(f"[merge] {root}: {src.num_episodes} episodes, {len(src)} frames", flush=True)
    (out / "merged_from.json").write_text(json.dumps({"sources": made, "image_size": image_size,
                                                      "source_size": list(_source_size(sources[0]))}, indent=2))


def train(dataset: Path, out: Path, steps: int, batch_size: int, seed: int, extra: list[str]) -> None:
    """LeRobot's own training script on ``dataset``; its checkpoint lands in OUT/checkpoints/last/pretrained_model."""
    args = {"dataset.repo_id": "local/" + dataset.name, "dataset.root": str(dataset), **ACT_ARGS,
            "output_dir": str(out), "job_name": out.name, "steps": str(steps), "batch_size": str(batch_size),
            "save_freq": str(max(1, steps // 4)), "log_freq": "100", "eval_freq": "0", "num_workers": "0",
            "seed": str(seed),
            "wandb.enable": "false"}
    cmd = [sys.executable, "-m", "lerobot.scripts.train", *[f"--{k}={v}" for k, v in args.items()], *extra]
    print(" ".join(cmd), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True)
    (out / "command.txt").write_text(" ".join(cmd) + "\n")
    if (dataset / "merged_from.json").is_file():  # the frames' stored size, for the server's preprocessing
        (out / "merged_from.json").write_text((dataset / "merged_from.json").read_text())


def _checkpoint(path: Path) -> Path:
    for p in (path, path / "pretrained_model", path / "checkpoints" / "last" / "pretrained_model"):
        if (p / "config.json").is_file() and (p / "model.safetensors").is_file():
            return p
    sys.exit(f"{path} holds no LeRobot checkpoint (config.json + model.safetensors, or "
             "checkpoints/last/pretrained_model from `train`)")


class LeRobotPolicy(Policy):
    """A LeRobot policy behind lapa-bench's policy interface (:class:`lapa_bench.policy.Policy`: reset / act, and
    its default batched path, one :meth:`spawn` per episode), as the server needs it.

    A frame is brought to the size `lapa-bench collect` stored and then to the policy's, with lapa-bench's one
    resize (:func:`lapa_bench.data.preprocess.resize`), exactly as collection and `merge` did;
    ``select_action`` keeps LeRobot's own action queue (``n_action_steps``)."""

    def __init__(self, path: Path):
        from lerobot.policies.factory import get_policy_class

        from lapa_bench.data.preprocess import resize, to_tensor

        super().__init__()
        self.path = _checkpoint(path)
        cfg = json.loads((self.path / "config.json").read_text())
        self.type = cfg["type"]
        self.policy = get_policy_class(self.type).from_pretrained(str(self.path))
        self.policy.eval()
        size = tuple(cfg["input_features"][IMAGE_KEY]["shape"][1:])  # (3, H, W) -> (H, W)
        merged = self.path.parents[2] / "merged_from.json" if len(self.path.parents) > 2 else None
        source = json.loads(merged.read_text())["source_size"] if merged and merged.is_file() else None
        steps = [tuple(source), size] if source else [size]  # as collection stored it, then as merge did
        self.preprocess = lambda img: to_tensor(functools.reduce(resize, steps, img)[None])
        # what the server's metadata names: LeRobot's policy type and its scalar settings
        self.resolved = {"type": self.type, **{k: v for k, v in cfg.items() if isinstance(v, (int, float, str, bool))}}

    def reset(self, instruction="", seed=None, context=None):
        self.policy.reset()

    def act(self, obs: dict) -> np.ndarray:
        import torch

        img = self.preprocess(np.asarray(obs["image"]))  # (1, 3, H, W) in [0, 1]
        state = torch.as_tensor(np.asarray(obs["state"], np.float32))[None]
        with torch.inference_mode():
            a = self.policy.select_action({IMAGE_KEY: img, "observation.state": state, "task": [obs["instruction"]]})
        return np.clip(a[0].numpy().astype(np.float32), -1.0, 1.0)

    def spawn(self) -> "LeRobotPolicy":
        """An episode of the batched path: LeRobot keeps its action queue inside the policy module, so each
        episode gets its own copy of it (the weights are only read here)."""
        import copy

        other = copy.copy(self)
        other.policy = copy.deepcopy(self.policy)
        return other


def _fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file()):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return "sha256:" + h.hexdigest()[:16]


def serve(path: Path, host: str, port: int, threads: int) -> None:
    import importlib.metadata as md

    import torch

    from lapa_bench.serving import protocol
    from lapa_bench.serving.server import PolicyServer

    torch.set_num_threads(threads)
    policy = LeRobotPolicy(path)
    versions = {p: md.version(p) for p in ("lerobot", "torch", "numpy")}
    meta = protocol.metadata(f"lerobot/{policy.type}", policy.resolved, _fingerprint(policy.path), versions,
                             image_size=None)
    server = PolicyServer(policy, meta, host, port)
    server.start()
    print(f"serving LeRobot {policy.type} from {policy.path} at {server.url}", flush=True)
    try:
        import threading

        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


def act(path: Path, observations: Path, out: Path) -> None:
    """In-process actions for saved observations (``images`` (T, H, W, 3), ``states`` (T, 7), ``instruction``),
    one episode from a reset."""
    import torch

    torch.set_num_threads(1)
    d = np.load(observations)
    policy = LeRobotPolicy(path)
    policy.reset()
    acts = [policy.act({"image": img, "state": s, "instruction": str(d["instruction"])})
            for img, s in zip(d["images"], d["states"])]
    np.save(out, np.stack(acts))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("merge", help="several lapa-bench datasets -> one LeRobot dataset (LeRobot's reader/writer)")
    m.add_argument("sources", type=Path, nargs="+")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--image-size", type=int, default=64, help="square side of the stored frames (default 64)")
    t = sub.add_parser("train", help="train ACT with `python -m lerobot.scripts.train` (any further --KEY=VALUE "
                       "goes to it, e.g. --policy.dim_model=128)")
    t.add_argument("dataset", type=Path)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--steps", type=int, default=6000)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("serve", help="serve a LeRobot checkpoint with lapa-bench's protocol")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    s.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    a = sub.add_parser("act", help="in-process actions of a checkpoint on saved observations")
    a.add_argument("checkpoint", type=Path)
    a.add_argument("observations", type=Path)
    a.add_argument("out", type=Path)
    args, extra = p.parse_known_args(argv)
    if extra and (args.cmd != "train" or not all(a.startswith("--") and "=" in a for a in extra)):
        p.error(f"unrecognized arguments: {' '.join(extra)} (only `train` passes --KEY=VALUE on to LeRobot)")
    try:
        import lerobot  # noqa: F401
    except ImportError:
        sys.exit(f"{sys.executable} has no lerobot: run this with .venv-lerobot/bin/python (make lerobot-venv)")
    if args.cmd == "merge":
        merge(args.sources, args.out, args.image_size)
    elif args.cmd == "train":
        train(args.dataset, args.out, args.steps, args.batch_size, args.seed, extra)
    elif args.cmd == "serve":
        serve(args.checkpoint, args.host, args.port, args.threads)
    else:
        act(args.checkpoint, args.observations, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
