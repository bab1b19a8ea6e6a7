"""LAPA (stages 1-3) and Scratch (stage 3 alone) as training methods.

    # the whole recipe: LAQ on the videos -> latent pretraining -> action finetuning (policy `lapa`)
    lapa-bench lapa train --videos data/bridge_videos --data data/bridge_demos --out ckpt/lapa
    # Scratch: action finetuning of a fresh model (policy `scratch`)
    lapa-bench scratch train --data data/bridge_demos --out ckpt/scratch
    # the stages one at a time
    lapa-bench laq train --videos data/bridge_videos --out ckpt/laq
    lapa-bench lapa pretrain --videos data/bridge_videos --laq ckpt/laq --out ckpt/lapa_pre
    lapa-bench lapa finetune --data data/bridge_demos --init ckpt/lapa_pre --out ckpt/lapa

Each stage trains through the one loop (:func:`lapa_bench.training.train_model`) and is cached by
its done marker (``eval.json``); the LAQ labels are cached in ``OUT/latent_codes.npz``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args, get_type_hints

import numpy as np

from lapa_bench.errors import UserError
from lapa_bench.config import to_dict
from lapa_bench.policy import ModelPolicy
from lapa_bench.training import Inputs, TrainConfig, checkpoint, register_command, register_method, train_model
from lapa_bench.policies.lapa.configuration_lapa import LAPAConfig, lapa_tiny
from lapa_bench.data import open_sources
from lapa_bench.policies.laq.train import LAQTrainConfig


@dataclass
class ScratchConfig:
    """Action finetuning (stage 3): the settings every VLA method shares, so a comparison uses one recipe."""

    model: LAPAConfig = field(default_factory=lapa_tiny)  # used when a model is built (not for --init)
    finetune: TrainConfig = field(default_factory=TrainConfig)
    bins: Literal["uniform", "quantile"] = "uniform"  # action bin edges (policies/lapa/action_bins.py)
    max_episodes: int | None = None  # use only the first N episodes of each dataset
    # the learning check: an image-blind twin (same recipe, image zeroed) trains this fraction of the
    # finetuning steps first; eval.json compares the model with it and with the mean action (0: no twin)
    blind_twin_fraction: float = 0.5


@dataclass
class LAPATrainConfig(ScratchConfig):
    laq: LAQTrainConfig = field(default_factory=LAQTrainConfig)  # stage 1
    pretrain: TrainConfig = field(default_factory=TrainConfig)  # stage 2
    # what each frame of the latent pretraining is trained to predict: laq: its own LAQ codes (LAPA);
    # episode_shuffled: the codes of another frame of the same episode (a permutation of the episode's codes,
    # fixed by pretrain.seed): the target still needs the scene, objects and task, but not the motion at that
    # step; corpus_shuffled: a permutation over every frame of the corpus (a target that carries nothing).
    # The controls keep the videos, steps and the codes' marginal distribution (shuffled_targets)
    targets: Literal["laq", "episode_shuffled", "corpus_shuffled"] = "laq"


TARGETS = get_args(get_type_hints(LAPATrainConfig)["targets"])  # what stage 2 can predict (the field's own list)


def shuffled_targets(codes: dict, how: str, seed: int) -> dict:
    """``codes`` ``{episode_key: (T, ...)}`` with each step's code replaced as ``how`` says (:data:`TARGETS`).

    A permutation, so every code keeps its count: within each episode (``episode_shuffled``) or over every step
    of every episode (``corpus_shuffled``); the same ``seed`` gives the same permutation."""
    if how not in TARGETS:
        raise UserError(f"targets={how!r}; choose from {list(TARGETS)}")
    if how == "laq":
        return codes
    rng = np.random.default_rng([seed, TARGETS.index(how)])
    keys = sorted(codes)
    if how == "episode_shuffled":
        return {k: codes[k][rng.permutation(len(codes[k]))] for k in keys}
    flat = np.concatenate([codes[k] for k in keys])[rng.permutation(sum(len(codes[k]) for k in keys))]
    ends = np.cumsum([len(codes[k]) for k in keys])[:-1]
    return dict(zip(keys, np.split(flat, ends)))


# -- evaluation ----------------------------------------------------------------------------
def constant_accuracy(targets: np.ndarray) -> float:
    """Token accuracy of the best *constant* prediction (each position's most frequent class) on ``targets (N, K)``.

    An image-blind reference: a model whose ``val_accuracy`` does not beat it has learned only the
    marginal distribution of the tokens, not to read the image.
    """
    t = np.asarray(targets).reshape(len(targets), -1)
    return float(np.mean([np.bincount(t[:, j]).max() / len(t) for j in range(t.shape[1])]))


def evaluate(model, ds, device, name: str, batch_size: int = 64, max_batches: int = 20) -> dict:
    """Held-out loss and token accuracy, beside the best constant prediction's accuracy."""
    from lapa_bench.training.loop import to_device

    tot = acc = n = 0.0
    targets = []
    for b in range(0, min(len(ds), batch_size * max_batches), batch_size):
        batch = to_device(ds.collate(range(b, min(b + batch_size, len(ds)))), device)
        loss, m = model.loss(batch)
        k = len(batch["target"])
        tot, acc, n = tot + float(loss) * k, acc + float(m["accuracy"]) * k, n + k
        targets.append(batch["target"].cpu().numpy().reshape(k, -1))
    out = {"val_loss": tot / max(n, 1), "val_accuracy": acc / max(n, 1), "val_samples": int(n)}
    if targets:
        out["constant_accuracy"] = constant_accuracy(np.concatenate(targets))
        print(f"[{name}] held-out loss {out['val_loss']:.4f}, token accuracy {out['val_accuracy']:.3f} "
              f"({out['val_samples']} samples; the best constant prediction gets {out['constant_accuracy']:.3f})")
    return out


def _fit(model, sources, targets, train_cfg: TrainConfig, out: Path, device: str, name: str, state: dict):
    """Split by episode, train through the one loop, evaluate held-out episodes."""
    from lapa_bench.data import stored_image_size
    from lapa_bench.data.torch_datasets import StepSamples, split_episodes

    # the rollout goes through the stored size of the data this stage trains on (preprocess.py)
    model.config.source_size = stored_image_size(sources) or model.config.source_size
    train_eps, val_eps = split_episodes(len(targets), train_cfg.val_fraction, train_cfg.seed)
    kw = dict(preprocess=model.config.preprocess(), cache_episodes=10_000)
    train_ds = StepSamples(sources, targets, train_eps, **kw)
    val_ds = StepSamples(sources, targets, val_eps, **kw)
    print(f"[{name}] {len(train_ds)} train / {len(val_ds)} validation samples")
    return train_model(model, train_ds, train_cfg, out, device=device, name=name, state=state,
                       evaluate=(lambda m, dev: evaluate(m, val_ds, dev, name)) if len(val_ds) else None)


def _resume_or(out: Path, build):
    """The model in ``OUT/last`` when a run is in progress (its weights are loaded by the loop), else ``build()``."""
    from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

    last = out / checkpoint.LAST
    return LAPAModel.from_pretrained(last) if checkpoint.resume_step(out) else build()


# -- stages --------------------------------------------------------------------------------
def pretrain(cfg: LAPATrainConfig, videos: list[str], laq: str, out, device: str = "auto"):
    """Stage 2: predict the LAQ codes of steps t..t+chunk-1 from (image_t, instruction)."""
    from lapa_bench.policies.laq.modeling_laq import LAQ
    from lapa_bench.policies.laq.codes import label
    from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    laq_cfg = LAQ.from_pretrained(laq).config
    codes_path = out / "latent_codes.npz"
    sources = open_sources(videos, cfg.max_episodes, actions=False)
    if not codes_path.is_file():
        print(f"[lapa pretrain] labelling {sum(len(s) for s in sources)} episodes with the LAQ codes of {laq}")
        label(laq, videos, codes_path, max_episodes=cfg.max_episodes, device=device)
    codes = dict(np.load(codes_path))
    keys = [(s, i) for s in sources for i in range(len(s))]
    from lapa_bench.data import episode_key

    missing = [episode_key(s, i) for s, i in keys if episode_key(s, i) not in codes]
    if missing:
        raise UserError(f"{codes_path} has no codes for {missing[:3]}...; delete it to relabel")
    if cfg.targets != "laq":
        print(f"[lapa pretrain] control: targets {cfg.targets} (seed {cfg.pretrain.seed})")
        codes = shuffled_targets({episode_key(s, i): codes[episode_key(s, i)] for s, i in keys}, cfg.targets,
                                 cfg.pretrain.seed)
    from lapa_bench.data.torch_datasets import action_chunks

    # the codes of steps t..t+chunk-1 (as the action head predicts a chunk of actions), flattened
    k = cfg.model.chunk
    targets = {e: action_chunks(codes[episode_key(s, i)], k).reshape(len(codes[episode_key(s, i)]), -1)
               for e, (s, i) in enumerate(keys)}
    model = _resume_or(out, lambda: LAPAModel.build(replace(
        cfg.model, head="latent", code_seq_len=laq_cfg.code_seq_len, codebook_size=laq_cfg.codebook_size)))
    return _fit(model, sources, targets, cfg.pretrain, out, device, "lapa pretrain",
                {"stage": "latent pretraining", "videos": videos, "laq": str(laq), "targets": cfg.targets})


def finetune(cfg: ScratchConfig, data: list[str], out, init: str | None = None, policy_name: str | None = None,
             keep_head: bool = False, device: str = "auto"):
    """Stage 3: a new action head (bins or continuous, an action chunk) trained on labelled trajectories.

    ``init``: a stage-2 (latent) checkpoint -> policy ``lapa``; none -> a fresh model, policy
    ``scratch``. ``keep_head``: continue training the action head (bins, normalizer) of ``init`` (VPT,
    whose pretraining already predicts the pseudo-actions).
    """
    from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

    policy_name = policy_name or ("lapa" if init else "scratch")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = open_sources(data, cfg.max_episodes, actions=True)

    def build():
        if init and keep_head:
            model = LAPAModel.from_pretrained(init)
            if model.config.head != "action":
                raise UserError(f"{init} has a {model.config.head} head; keep_head needs an action head")
            return model
        return _new_action_model(cfg, init)

    return _train_actions(cfg, cfg.finetune, sources, out, device, policy_name, f"{policy_name} finetune", build,
                          state={"stage": "action finetuning", "data": data, "init": init})


def pretrain_on_actions(cfg: ScratchConfig, pretrain_cfg: TrainConfig, videos: list[str], pseudo: dict,
                        data: list[str], out, policy_name: str = "vpt", device: str = "auto"):
    """VPT's pretraining: the action head on videos labelled with pseudo-actions ``{episode_key: (T, 7)}``.

    The bins and the normalizer come from the *labelled* trajectories (``data``), so finetuning keeps them.
    """
    from lapa_bench.data import episode_key

    sources = open_sources(videos, cfg.max_episodes, actions=False)
    labelled = open_sources(data, cfg.max_episodes, actions=True)
    return _train_actions(cfg, pretrain_cfg, sources, Path(out), device, policy_name, f"{policy_name} pretrain",
                          lambda: _new_action_model(cfg),
                          actions=[pseudo[episode_key(s, i)] for s in sources for i in range(len(s))],
                          stats_from=labelled, state={"stage": "pretraining on pseudo-actions", "videos": videos},
                          twin=False)


def _new_action_model(cfg: ScratchConfig, init: str | None = None):
    """A model with an action head: fresh from ``cfg.model``, or the towers of the checkpoint ``init``."""
    from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

    if init is None:
        return LAPAModel.build(replace(cfg.model, head="action"))
    model = LAPAModel.from_pretrained(init)
    if model.config.command_state != cfg.model.command_state:
        raise UserError(f"{init} was trained with command_state {model.config.command_state}, this config asks for "
                         f"{cfg.model.command_state}: the proprio token's width comes from the checkpoint; set "
                         f"model.command_state to {model.config.command_state}")
    # the towers, projector, prompt and proprio token come from the checkpoint; the new head's settings apply
    for k in ("action_bins", "action_head", "chunk", "random_shift", *ModelPolicy.ROLLOUT_KEYS):
        setattr(model.config, k, getattr(cfg.model, k))
    model.replace_head("action")
    model.action_edges = model.action_edges.new_zeros(model.config.action_dim, model.config.action_bins + 1)
    model.action_centers = model.action_centers.new_zeros(model.config.action_dim, model.config.action_bins)
    return model


def _train_actions(cfg: ScratchConfig, train_cfg: TrainConfig, sources, out: Path, device: str, policy_name: str,
                   name: str, build, actions=None, stats_from=None, state=None, twin: bool = True):
    """Train an action head through the one loop, with the learning check (``training/checks.py``):
    held-out action error of the model, of the mean action and of an image-blind twin."""
    from lapa_bench.data import stored_image_size
    from lapa_bench.data.normalize import Normalizer
    from lapa_bench.data.command import add_command_stats
    from lapa_bench.data.torch_datasets import chunk_samples, episode_keys, split_episodes
    from lapa_bench.training.checks import action_errors, predict_batch, train_with_learning_check
    from lapa_bench.policies.lapa.action_bins import encode, fit_bins

    stats_from = stats_from or sources
    with_state = actions is None  # pseudo-labelled videos: no state (a zero state token)
    try:
        norm = Normalizer.from_datasets(stats_from, ("action", "observation.state"))
    except KeyError:  # datasets without proprioceptive states
        norm = Normalizer.from_datasets(stats_from, ("action",))
    if cfg.model.command_state:  # from the labelled trajectories, as the state's (lapa_bench.data.command)
        add_command_stats(norm, stats_from)
    train_eps, val_eps = split_episodes(sum(len(s) for s in sources), train_cfg.val_fraction, train_cfg.seed)
    # recorded in last/trainer_state.json: the training-layout check (data replay-check --policy) tells them apart
    state = {**(state or {}), "held_out_episodes": episode_keys(sources, val_eps)}
    episodes = [(s, i) for s in stats_from for i in range(len(s))]
    labelled_actions = [s.episode(i, with_frames=False)["action"] for s, i in episodes]
    bad = [f"{s.root.name} episode {i}" for (s, i), a in zip(episodes, labelled_actions) if not np.isfinite(a).all()]
    if bad:
        raise UserError(f"non-finite actions (nan or inf) in {', '.join(bad[:3])}"
                        + (f" and {len(bad) - 3} more episodes" if len(bad) > 3 else "")
                        + ": fix or drop them (`lapa-bench data info` lists them) before training")
    source_size = stored_image_size(sources)

    def prepared(blind: bool):
        def new():
            model = build()
            model.config.blind = blind
            if model.config.normalized:
                model.set_normalizer(norm)
            if model.config.action_head == "bins" and not model.action_edges.abs().sum():
                model.set_action_bins(*fit_bins(np.concatenate(labelled_actions), model.config.action_bins,
                                                cfg.bins))
            return model

        model = _resume_or(out / "blind_twin" if blind else out, new)
        model.config.source_size = source_size or model.config.source_size  # rollouts go through the stored size
        return model

    def datasets(model):
        c = model.config
        edges = model.action_edges.cpu().numpy()
        enc = (lambda ch: encode(ch, edges)) if c.action_head == "bins" else None
        return [chunk_samples(sources, eps, c.chunk, c.preprocess(), targets=enc, actions=actions,
                              state=with_state and c.proprio, command_state=c.command_state)
                for eps in (train_eps, val_eps)]

    def errors(m, dev, val):
        return action_errors(lambda b: predict_batch(m, b, dev), val, norm.stats["action"]["mean"],
                             norm.stats["action"]["std"])

    def tokens(m, dev, val):  # the discretized head's token accuracy beside the best constant's
        return evaluate(m, val, dev, name) if m.config.action_head == "bins" else {}

    def make_model():
        model = prepared(blind=False)
        model.policy_name = policy_name
        return model

    make_twin = (lambda: prepared(blind=True)) if twin and val_eps else None
    return train_with_learning_check(make_model, make_twin, datasets, train_cfg, out, errors=errors, extra=tokens,
                                     device=device, name=name, fraction=cfg.blind_twin_fraction, state=state)


# -- methods -------------------------------------------------------------------------------
@register_method("lapa", config=LAPATrainConfig, policy="lapa", needs=("data", "videos"),
                 shares=("laq.train", "pretrain"))
def train(cfg: LAPATrainConfig, inputs: Inputs, out, device: str = "auto") -> Path:
    """LAPA: LAQ on the videos, latent pretraining on its codes, action finetuning on the labelled data."""
    from lapa_bench.data.lerobot import dataset_settings
    from lapa_bench.policies.laq.train import train as train_laq

    out = Path(out)
    base = out
    if inputs.shared:  # stages 1-2 use only the videos: trained once for every run that shares them
        d = LAPATrainConfig()
        base = checkpoint.shared_stages(inputs.shared, {
            "method": "lapa", "videos": [dataset_settings(v) for v in inputs.videos], "laq": to_dict(cfg.laq),
            "pretrain": to_dict(cfg.pretrain), "model": to_dict(cfg.model), "max_episodes": cfg.max_episodes,
            "targets": cfg.targets},
            by=str(out), defaults={"laq": to_dict(d.laq), "pretrain": to_dict(d.pretrain), "model": to_dict(d.model),
                                   "targets": d.targets})
    laq, pre = base / "laq", base / "pretrain"
    if not checkpoint.is_done(laq):
        train_laq(cfg.laq, Inputs(videos=inputs.videos), laq, device)
    if not checkpoint.is_done(pre):
        pretrain(cfg, inputs.videos, str(laq), pre, device)
    finetune(cfg, inputs.data, out, init=str(pre), policy_name="lapa", device=device)
    return out


@register_method("scratch", config=ScratchConfig, policy="scratch", needs=("data",))
def train_scratch(cfg: ScratchConfig, inputs: Inputs, out, device: str = "auto") -> Path:
    """Scratch: LAPA's model and action head finetuned on the labelled trajectories only."""
    finetune(cfg, inputs.data, out, policy_name="scratch", device=device)
    return Path(out)


@dataclass(kw_only=True)
class PretrainCommand(LAPATrainConfig):
    """`lapa train`'s config (stage 2 reads model, pretrain, max_episodes) + the stage's inputs."""

    videos: list[str]  # dataset folders (actions, if any, are ignored)
    laq: str  # LAQ checkpoint folder (stage 1)
    out: str  # checkpoint folder


@register_command("lapa", "pretrain", PretrainCommand,
                  help="stage 2: pretrain the VLM to predict the LAQ codes of action-free videos")
def pretrain_command(cfg: PretrainCommand, device: str = "auto"):
    pretrain(cfg, cfg.videos, cfg.laq, cfg.out, device)


@dataclass(kw_only=True)
class FinetuneCommand(LAPATrainConfig):
    """`lapa train`'s config (stage 3 reads model, finetune, bins, max_episodes) + the stage's inputs."""

    data: list[str]  # dataset folders with actions
    out: str  # checkpoint folder
    init: str | None = None  # stage-2 checkpoint (omit for Scratch)
    policy_name: str | None = None  # registered name written into the checkpoint (default lapa / scratch)


@register_command("lapa", "finetune", FinetuneCommand,
                  help="stage 3: action head on labelled trajectories -> policy lapa (or scratch without --init)")
def finetune_command(cfg: FinetuneCommand, device: str = "auto"):
    finetune(cfg, cfg.data, cfg.out, init=cfg.init, policy_name=cfg.policy_name, device=device)
