"""LAPA stages 2 and 3 (and the Scratch baseline, which is stage 3 alone).

    # stage 2: label action-free videos with the LAQ's codes, pretrain the VLM to predict them
    lapa-bench lapa pretrain --videos data/bridge_videos --laq ckpt/laq --out ckpt/lapa_pre
    # stage 3: new action head, finetune on labelled trajectories -> policy `lapa`
    lapa-bench lapa finetune --data data/bridge_demos --init ckpt/lapa_pre --out ckpt/lapa
    # Scratch: stage 3 from a fresh model -> policy `scratch`
    lapa-bench lapa finetune --data data/bridge_demos --out ckpt/scratch

Both resume from ``OUT/last``; the LAQ labels are cached in ``OUT/latent_codes.npz``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from policies.lapa.trainer import TrainLoopConfig


@dataclass
class StageConfig(TrainLoopConfig):
    out: str = "ckpt/lapa"
    preset: str = "tiny"
    overrides: dict = field(default_factory=dict)  # LAPAConfig fields, e.g. {"action_bins": 128}
    vision_backbone: str | None = None
    language_backbone: str | None = None
    val_fraction: float = 0.1
    max_episodes: int | None = None  # use only the first N episodes of each dataset


def _model_config(cfg: StageConfig, **kw):
    from policies.lapa.configuration_lapa import PRESETS, LAPAConfig

    if cfg.preset not in PRESETS:
        raise ValueError(f"unknown LAPA preset {cfg.preset!r}; choose from {sorted(PRESETS)}")
    base = asdict(PRESETS[cfg.preset]())
    base.update(cfg.overrides)
    base.update(kw)
    base.update(vision_backbone=cfg.vision_backbone, language_backbone=cfg.language_backbone)
    return LAPAConfig(**base)


def _sources(dirs, max_episodes, actions: bool):
    from lapa_bench.data import open_datasets

    out = []
    for d in dirs:
        for ds in open_datasets(d):
            if actions and not ds.has_actions:
                raise ValueError(f"{ds.root} has no actions; finetuning needs action-labelled trajectories")
            if max_episodes is not None:
                ds = ds.head(max_episodes)
            out.append(ds if actions else ds.without_actions())
    return out


def episode_key(ds, i: int) -> str:
    """The key of episode ``i`` of a dataset in a labels file (as `laq label` writes it)."""
    return f"{Path(ds.root).name}/{ds.episodes[i]['episode_index']}"


def pretrain(cfg: StageConfig, videos: list[str], laq: str):
    """Stage 2: predict the LAQ codes of step t from (image_t, instruction)."""
    from lapa_bench.data.torch_datasets import StepSamples, split_episodes
    from policies.lapa.modeling_laq import LAQ
    from policies.lapa.modeling_lapa import LAPAModel
    from policies.lapa.train_laq import label

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    laq_cfg = LAQ.from_pretrained(laq).config
    codes_path = out / "latent_codes.npz"
    sources = _sources(videos, cfg.max_episodes, actions=False)
    if not codes_path.is_file():
        print(f"[lapa pretrain] labelling {sum(len(s) for s in sources)} episodes with the LAQ codes of {laq}")
        label(laq, videos, codes_path, max_episodes=cfg.max_episodes)
    codes = dict(np.load(codes_path))
    targets, e = {}, 0
    for s in sources:
        for i in range(len(s)):
            key = episode_key(s, i)
            if key not in codes:
                raise ValueError(f"{codes_path} has no codes for {key}; delete it to relabel")
            targets[e] = codes[key]
            e += 1
    train_eps, val_eps = split_episodes(e, cfg.val_fraction, cfg.seed)
    if (out / "last" / "config.json").is_file():
        model = LAPAModel.from_pretrained(out / "last")
    else:
        model = LAPAModel.build(_model_config(cfg, head="latent", code_seq_len=laq_cfg.code_seq_len,
                                              codebook_size=laq_cfg.codebook_size))
    size = (model.config.image_size,) * 2
    train_ds = StepSamples(sources, targets, train_eps, image_size=size, cache_episodes=10_000)
    val_ds = StepSamples(sources, targets, val_eps, image_size=size, cache_episodes=10_000)
    (out / "stage.json").write_text(json.dumps({"stage": "latent pretraining", "videos": videos, "laq": str(laq),
                                                "config": asdict(cfg)}, indent=2, default=str))
    from policies.lapa.trainer import fit

    return fit(model, train_ds, val_ds, cfg, out, name="lapa pretrain", policy_name="lapa",
               extra_state={"videos": videos, "laq": str(laq)})


def finetune(cfg: StageConfig, data: list[str], init: str | None = None, policy_name: str | None = None,
             bin_strategy: str = "uniform", keep_head: bool = False):
    """Stage 3: a new action head over discretized actions, trained on labelled trajectories.

    ``init``: a stage-2 (latent) checkpoint -> policy ``lapa``; none -> a fresh model, policy
    ``scratch``. ``keep_head``: continue training the action head (and bins) of ``init`` (VPT,
    whose pretraining already predicts discretized pseudo-actions).
    """
    from lapa_bench.data.torch_datasets import StepSamples, split_episodes
    from policies.lapa.action_bins import fit_bins
    from policies.lapa.modeling_lapa import LAPAModel

    policy_name = policy_name or ("lapa" if init else "scratch")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = _sources(data, cfg.max_episodes, actions=True)
    actions = [s.episode(i, with_frames=False)["action"] for s in sources for i in range(len(s))]
    train_eps, val_eps = split_episodes(len(actions), cfg.val_fraction, cfg.seed)
    resuming = (out / "last" / "config.json").is_file()
    if resuming:
        model = LAPAModel.from_pretrained(out / "last")
    elif init and keep_head:
        model = LAPAModel.from_pretrained(init)
        if model.config.head != "action":
            raise ValueError(f"{init} has a {model.config.head} head; keep_head needs an action head")
    elif init:
        model = LAPAModel.from_pretrained(init)
        # the towers, projector and prompt come from the checkpoint; only the new head's settings apply
        if "action_bins" in cfg.overrides:
            model.config.action_bins = int(cfg.overrides["action_bins"])
        model.replace_head("action")
        model.action_edges = model.action_edges.new_zeros(model.config.action_dim, model.config.action_bins + 1)
        model.action_centers = model.action_centers.new_zeros(model.config.action_dim, model.config.action_bins)
    else:
        model = LAPAModel.build(_model_config(cfg, head="action"))
    if not resuming and not (init and keep_head):
        edges, centers = fit_bins(np.concatenate([actions[e] for e in train_eps]), model.config.action_bins,
                                  bin_strategy)
        model.set_action_bins(edges, centers)
    edges = model.action_edges.cpu().numpy()
    from policies.lapa.action_bins import encode

    targets = {e: encode(a, edges) for e, a in enumerate(actions)}
    size = (model.config.image_size,) * 2
    train_ds = StepSamples(sources, targets, train_eps, image_size=size, cache_episodes=10_000)
    val_ds = StepSamples(sources, targets, val_eps, image_size=size, cache_episodes=10_000)
    (out / "stage.json").write_text(json.dumps({"stage": "action finetuning", "data": data, "init": init,
                                                "bin_strategy": bin_strategy, "config": asdict(cfg)},
                                               indent=2, default=str))
    from policies.lapa.trainer import fit

    return fit(model, train_ds, val_ds, cfg, out, name=f"{policy_name} finetune", policy_name=policy_name,
               extra_state={"data": data, "init": init})


def pretrain_on_actions(cfg: StageConfig, videos: list[str], pseudo: dict, data: list[str],
                        policy_name: str = "vpt", bin_strategy: str = "uniform"):
    """VPT's pretraining: the action head on videos labelled with pseudo-actions ``{key: (T, 7)}``.

    The bins are fitted on the *labelled* trajectories' actions (``data``), so finetuning keeps them.
    """
    from lapa_bench.data.torch_datasets import StepSamples, split_episodes
    from policies.lapa.action_bins import encode, fit_bins
    from policies.lapa.modeling_lapa import LAPAModel

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = _sources(videos, cfg.max_episodes, actions=False)
    if (out / "last" / "config.json").is_file():
        model = LAPAModel.from_pretrained(out / "last")
    else:
        model = LAPAModel.build(_model_config(cfg, head="action"))
        labelled = [s.episode(i, with_frames=False)["action"] for s in _sources(data, cfg.max_episodes, True)
                    for i in range(len(s))]
        model.set_action_bins(*fit_bins(np.concatenate(labelled), model.config.action_bins, bin_strategy))
    edges = model.action_edges.cpu().numpy()
    targets, e = {}, 0
    for s in sources:
        for i in range(len(s)):
            targets[e] = encode(pseudo[episode_key(s, i)], edges)
            e += 1
    train_eps, val_eps = split_episodes(e, cfg.val_fraction, cfg.seed)
    size = (model.config.image_size,) * 2
    train_ds = StepSamples(sources, targets, train_eps, image_size=size, cache_episodes=10_000)
    val_ds = StepSamples(sources, targets, val_eps, image_size=size, cache_episodes=10_000)
    from policies.lapa.trainer import fit

    return fit(model, train_ds, val_ds, cfg, out, name=f"{policy_name} pretrain", policy_name=policy_name)
