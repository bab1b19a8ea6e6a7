"""VPT (Baker et al. 2022) as the LAPA paper uses it as a baseline, as a training method:

1. an inverse dynamics model (IDM) is trained on the labelled trajectories;
2. it labels the action-free video corpus with pseudo-actions;
3. the VLM (the same one as LAPA's) is pretrained to predict the discretized pseudo-actions;
4. it is finetuned on the labelled trajectories (same bins, same action head) -> policy ``vpt``.

    lapa-bench vpt train --data data/bridge_demos --videos data/bridge_videos --out ckpt/vpt

Every step is cached in OUT (``idm/``, ``pseudo_actions.npz``, ``pretrain/``, then the policy
itself at the top level); a rerun skips finished steps and resumes an interrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lapa_bench.training import Inputs, TrainConfig, checkpoint, register_method
from lapa_bench.policies.idm.train import IDMTrainConfig
from lapa_bench.policies.lapa.train import ScratchConfig


@dataclass
class VPTTrainConfig(ScratchConfig):
    idm: IDMTrainConfig = field(default_factory=IDMTrainConfig)
    pretrain: TrainConfig = field(default_factory=TrainConfig)  # on the pseudo-actions


@register_method("vpt", config=VPTTrainConfig, policy="vpt", needs=("data", "videos"))
def train(cfg: VPTTrainConfig, inputs: Inputs, out, device: str = "auto") -> Path:
    """VPT: an IDM pseudo-labels the videos, the VLM pretrains on them, then finetunes."""
    from lapa_bench.policies.idm import train as idm
    from lapa_bench.policies.lapa.train import finetune, pretrain_on_actions

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    idm_dir = out / "idm"
    if not checkpoint.is_done(idm_dir):
        idm.train(cfg.idm, Inputs(data=inputs.data), idm_dir, device)
    pseudo_path = out / "pseudo_actions.npz"
    if not pseudo_path.is_file():
        np.savez_compressed(pseudo_path, **idm.label(idm_dir, inputs.videos, max_episodes=cfg.max_episodes,
                                                      device=device))
    pseudo = dict(np.load(pseudo_path))
    pre = out / "pretrain"
    if not checkpoint.is_done(pre):
        pretrain_on_actions(cfg, cfg.pretrain, inputs.videos, pseudo, inputs.data, pre, policy_name="vpt",
                            device=device)
    finetune(cfg, inputs.data, out, init=str(pre), policy_name="vpt", keep_head=True, device=device)
    return out
