"""VPT (Baker et al. 2022) as the LAPA paper uses it as a baseline:

1. an inverse dynamics model (IDM) is trained on the labelled trajectories;
2. it labels the action-free video corpus with pseudo-actions;
3. the VLM (the same one as LAPA's) is pretrained to predict the discretized pseudo-actions;
4. it is finetuned on the labelled trajectories (same bins, same action head) -> policy ``vpt``.

    lapa-bench vpt train --data data/bridge_demos --videos data/bridge_videos --out ckpt/vpt

Every step is cached in OUT (``idm/``, ``pseudo_actions.npz``, ``pretrain/``, then the policy
itself at the top level); a rerun skips finished steps and resumes an interrupted one.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np


def train(cfg, data: list[str], videos: list[str], idm_steps: int = 1500, pretrain_steps: int | None = None,
          idm_overrides: dict | None = None, bin_strategy: str = "uniform") -> Path:
    """``cfg``: a ``StageConfig`` (its ``steps`` is the finetuning budget, like LAPA's and Scratch's)."""
    from policies.idm import train_idm
    from policies.lapa import train_lapa

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    idm_dir = out / "idm"
    if not (idm_dir / "eval.json").is_file():
        train_idm.train(train_idm.IDMTrainConfig(data=data, out=str(idm_dir), steps=idm_steps,
                                                 overrides=idm_overrides or {}, max_episodes=cfg.max_episodes,
                                                 seed=cfg.seed, device=cfg.device, progress=cfg.progress))
    pseudo_path = out / "pseudo_actions.npz"
    if not pseudo_path.is_file():
        pseudo = train_idm.label(idm_dir, videos, max_episodes=cfg.max_episodes, device=cfg.device)
        np.savez_compressed(pseudo_path, **pseudo)
    pseudo = dict(np.load(pseudo_path))
    pre = out / "pretrain"
    if not (pre / "eval.json").is_file():
        train_lapa.pretrain_on_actions(replace(cfg, out=str(pre), steps=pretrain_steps or cfg.steps), videos, pseudo,
                                       data, policy_name="vpt", bin_strategy=bin_strategy)
    train_lapa.finetune(cfg, data, init=str(pre), policy_name="vpt", keep_head=True)
    return out
