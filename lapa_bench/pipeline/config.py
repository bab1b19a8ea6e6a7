"""The pipeline's config: the YAML's typed shape (corpora, runs, methods, evaluation), checked before any work."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from lapa_bench import config as C
from lapa_bench.app.collect import CollectConfig
from lapa_bench.errors import MissingFile, UserError


@dataclass
class CorpusSpec:
    tasks: list[str] = field(default_factory=lambda: ["all"])
    episodes: int = 10  # successful episodes per task
    image_size: tuple[int, int] = (128, 128)
    path: str | None = None  # use this existing dataset folder instead of collecting one
    # Bridge collections (defaults: collect's, CollectConfig): std (m) of DART noise on the executed translation,
    # the oracle's clean action recorded (collect --dart; recovery data); the degrees of yaw around the
    # evaluation orientations each object starts in (collect --yaw-jitter; 180: any yaw). The Panda videos take neither
    dart: float = CollectConfig.dart
    yaw_jitter: float = CollectConfig.yaw_jitter


@dataclass
class RunSpec:
    method: str  # a registered training method (`lapa-bench methods`)
    label: str | None = None  # its name in the table (default: the method, + the corpus when ambiguous)
    videos: Literal["bridge", "panda", "gripper"] = "bridge"  # the action-free corpus it uses (VIDEO_CORPORA)
    config: dict = field(default_factory=dict)  # overrides of methods.<method> for this run only
    demos_per_task: list[int] | None = None  # which of the pipeline's labelled-set sizes (default: all)
    train_seeds: list[int] | None = None  # which of the pipeline's training seeds (default: all)
    # the rollout settings its trained policies are checked and evaluated with (`lapa-bench eval --policy.KEY`,
    # e.g. {execute: 2}), over eval.policy_config; part of each evaluation's identity
    policy_config: dict = field(default_factory=dict)


@dataclass
class EvalSpec:
    tasks: list[str] = field(default_factory=lambda: ["all"])
    episodes: int = 24
    # one evaluation seed: SIMPLER fixes the layout by the episode id and learned policies act greedily, so more
    # seeds of one checkpoint replicate it (variance comes from trained seeds: train_seeds, or from more layouts)
    seeds: list[int] = field(default_factory=lambda: [0])
    bounds: list[str] = field(default_factory=lambda: ["scripted", "random"])
    bound_episodes: int | None = None  # default: episodes
    bound_seeds: list[int] | None = None  # default: seeds
    # the closed-loop learning check: each trained policy from the layouts of its first N training
    # demonstrations per task (`data replay-check --policy`), before the evaluation (0: skip)
    train_layouts: int = 0
    # the simulator of the evaluation (lapa-bench eval --backend / --num-envs)
    backend: str = "auto"
    num_envs: int = 1
    # the rollout settings of every trained policy's checks and evaluations (a run's policy_config goes over it)
    policy_config: dict = field(default_factory=dict)
    # a second evaluation of every cell of the main size: this many episodes per task on new random layouts drawn
    # from heldout_seed (disjoint from SIMPLER's: lapa-bench eval --layouts), reported as its own table in
    # report/heldout (0: none). Does the ranking hold off the layouts everyone reports on?
    heldout_episodes: int = 0
    heldout_seed: int = 5000


class VideoCorpus(NamedTuple):
    """An action-free corpus a run can read (``RunSpec.videos``)."""
    key: str  # its CorpusSpec in the config, and its folder under OUT/data
    name: str  # its stage: "collect NAME"
    seed_offset: int  # its collection seed minus the config's (distinct offsets keep the layouts of corpora apart)
    source: str  # its collector: bridge (the WidowX oracle), gripper (the same oracle driving the floating gripper), panda


VIDEO_CORPORA = {"bridge": VideoCorpus("videos", "videos", 1000, "bridge"),
                 "panda": VideoCorpus("panda", "panda videos", 0, "panda"),
                 "gripper": VideoCorpus("gripper", "gripper videos", 2000, "gripper")}


def _default_runs() -> list[RunSpec]:
    return [RunSpec("lapa", videos="bridge"), RunSpec("lapa", videos="panda"), RunSpec("scratch"),
            RunSpec("vpt"), RunSpec("unipi")]


@dataclass
class PipelineConfig:
    name: str = "pipeline"
    out: str = "runs/pipeline"
    note: str = ""  # printed and written with the report (e.g. "smoke run, not a result")
    seed: int = 0  # collection seed (training seeds are in each method's train config)
    device: str = "auto"  # where training runs: auto, cpu, cuda, cuda:N
    workers: int = 2  # parallel processes for collection and evaluation
    plugins: list[str] = field(default_factory=list)  # modules/folders registering extra methods or policies
    demos: CorpusSpec = field(default_factory=lambda: CorpusSpec(episodes=10))
    videos: CorpusSpec = field(default_factory=lambda: CorpusSpec(episodes=100))
    panda: CorpusSpec = field(default_factory=lambda: CorpusSpec(episodes=100))
    # the Bridge tasks in the Bridge scenes, played by ManiSkill's floating Panda gripper (tasks/floating_gripper.py)
    gripper: CorpusSpec = field(default_factory=lambda: CorpusSpec(episodes=100))
    methods: dict = field(default_factory=dict)  # method name -> its config (that method's dataclass)
    runs: list[RunSpec] = field(default_factory=_default_runs)
    # sweeps: labelled demonstrations per task (each size the first N of the one `demos` collection, so
    # the sets are nested; [] = all of it) x training seeds; a run trains once per (size, seed) it takes
    demos_per_task: list[int] = field(default_factory=list)
    train_seeds: list[int] = field(default_factory=lambda: [0])
    # the labelled-set size every training seed runs at; the other sizes of demos_per_task train only the first
    # seed (the data-efficiency line at one seed, the headline comparison at all of them). None: every size x seed
    main_size: int | None = None
    # in a sweep, the stages of a run that do not use the labelled data (LAPA's LAQ and latent pretraining) are
    # trained once and finetuned from by every labelled-set size: per_seed: once per training seed (the seeds stay
    # independent end to end); once: once for all seeds, with the first (cheapest; the seeds then vary only the
    # finetuning); none: every (size, seed) trains its own
    shared_stages: Literal["per_seed", "once", "none"] = "per_seed"
    eval: EvalSpec = field(default_factory=EvalSpec)
    # the report's reference: every other policy minus it, in points, with a paired-bootstrap 95 % interval over
    # layouts and trained seeds; a method of a sweep (e.g. scratch) compares each labelled-set size with its own.
    # A list gives one table per reference (the first is the headline; a pair is not repeated reversed)
    compare_to: str | list[str] | None = None

    @property
    def references(self) -> list[str]:
        """``compare_to`` as a list (empty when there is none)."""
        return [self.compare_to] if isinstance(self.compare_to, str) else list(self.compare_to or [])

    @classmethod
    def from_yaml(cls, path, overrides: dict | None = None) -> "PipelineConfig":
        p = Path(path)
        if not p.is_file():
            raise MissingFile(f"pipeline config {p} does not exist (see configs/ for the presets)")
        # top-level keys starting with "x-" only hold YAML anchors (as in docker-compose files)
        raw = C.merge({k: v for k, v in C.load_yaml(p).items() if not str(k).startswith("x-")}, overrides or {})
        raw.setdefault("name", p.stem)
        raw.setdefault("out", f"runs/{p.stem}")
        return cls.from_dict(raw, where=str(p))

    @classmethod
    def from_dict(cls, raw: dict, where: str = "pipeline") -> "PipelineConfig":
        from lapa_bench.device import parse_device
        from lapa_bench.plugins import load_plugin
        from lapa_bench.training.registry import get_method

        try:
            cfg = C.from_dict(cls, raw)
        except C.ConfigError as e:
            raise C.ConfigError(f"{where}: {e}") from None
        try:
            parse_device(cfg.device)
        except ValueError as e:
            raise C.ConfigError(f"{where}: device: {e}") from None
        for plugin in cfg.plugins:
            load_plugin(plugin)
        resolved = {}
        for name, section in cfg.methods.items():
            try:
                m = get_method(name)
            except KeyError as e:
                raise C.ConfigError(f"{where}: methods.{name}: {e.args[0]}") from None
            resolved[name] = C.to_dict(C.from_dict(m.config_class, section, where=f"{where}: methods.{name}"))
        cfg.methods = resolved
        if cfg.workers < 1:
            raise C.ConfigError(f"{where}: workers {cfg.workers}: give 1 or more processes")
        ev = cfg.eval
        for key, value in (("eval.episodes", ev.episodes), ("eval.num_envs", ev.num_envs),
                           ("eval.bound_episodes", ev.bound_episodes), ("eval.train_layouts", ev.train_layouts)):
            if value is not None and value < (0 if key == "eval.train_layouts" else 1):
                raise C.ConfigError(f"{where}: {key} {value}: must be >= {0 if key == 'eval.train_layouts' else 1}")
        if ev.episodes > 24 or (ev.bound_episodes or 1) > 24:
            raise C.ConfigError(f"{where}: eval.episodes: SIMPLER has 24 evaluation episodes per task")
        for key, seeds in (("eval.seeds", ev.seeds), ("eval.bound_seeds", ev.bound_seeds), ("train_seeds", cfg.train_seeds)):
            if seeds is not None and (not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds)):
                raise C.ConfigError(f"{where}: {key} {seeds}: give one or more distinct seeds >= 0")
        if len(set(cfg.demos_per_task)) != len(cfg.demos_per_task):
            raise C.ConfigError(f"{where}: demos_per_task {cfg.demos_per_task} names a size twice")
        try:
            from lapa_bench.tasks.env import resolve_backend

            resolve_backend(ev.backend)  # an unknown backend, or gpu without CUDA, stops here
        except ValueError as e:
            raise C.ConfigError(f"{where}: eval.backend: {e}") from None
        sizes = cfg.demos_per_task or [cfg.demos.episodes]
        if any(n < 1 for n in sizes) or (not cfg.demos.path and max(sizes) > cfg.demos.episodes):
            raise C.ConfigError(f"{where}: demos_per_task {sizes}: each size must be in 1..demos.episodes "
                                f"({cfg.demos.episodes}), the collection they are prefixes of")
        if not cfg.train_seeds or len(set(cfg.train_seeds)) != len(cfg.train_seeds):
            raise C.ConfigError(f"{where}: train_seeds {cfg.train_seeds}: give one or more distinct seeds")
        if cfg.main_size is not None and cfg.main_size not in sizes:
            raise C.ConfigError(f"{where}: main_size {cfg.main_size} is not one of demos_per_task {sizes}")
        labels = []
        for i, r in enumerate(cfg.runs):
            for key, allowed in (("demos_per_task", sizes), ("train_seeds", cfg.train_seeds)):
                extra = sorted(set(getattr(r, key) or []) - set(allowed))
                if extra:
                    raise C.ConfigError(f"{where}: runs[{i}].{key} {extra} not in the pipeline's {key} {allowed}")
            try:
                m = get_method(r.method)
            except KeyError as e:
                raise C.ConfigError(f"{where}: runs[{i}].method: {e.args[0]}") from None
            if m.policy is None:
                raise C.ConfigError(f"{where}: runs[{i}]: method {r.method!r} trains a component, not a policy; "
                                    "runs must name methods that produce a policy")
            C.from_dict(m.config_class, C.merge(cfg.methods.get(r.method, {}), r.config),
                        where=f"{where}: runs[{i}].config")
            if r.label is None:
                same = sum(x.method == r.method for x in cfg.runs) > 1
                r.label = f"{r.method} ({r.videos} videos)" if same and "videos" in m.needs else r.method
            labels.append(r.label)
        for ref in cfg.references:
            if ref not in labels + [r.method for r in cfg.runs] + cfg.eval.bounds:
                raise C.ConfigError(f"{where}: compare_to {ref!r} is neither a run's label ({labels}), a run's "
                                    f"method nor a bound ({cfg.eval.bounds})")
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise C.ConfigError(f"{where}: runs have the same label {dup}; give each a distinct `label`")
        return cfg

    def run_config(self, run: RunSpec, train_seed: int = 0):
        """The typed config of one run: ``methods.<method>`` with the run's own overrides; ``train_seed``
        is added to the seed of every training stage in it (0: the config's own seeds)."""
        from lapa_bench.training.registry import get_method, train_stages

        cfg = C.from_dict(get_method(run.method).config_class, C.merge(self.methods.get(run.method, {}), run.config))
        for _, tc in train_stages(cfg):
            tc.seed += train_seed
        return cfg

    def sweep(self, run: RunSpec) -> list[tuple[int, int]]:
        """The (demonstrations per task, training seed) pairs ``run`` trains."""
        sizes = run.demos_per_task or self.demos_per_task or [self.demos.episodes]
        seeds = run.train_seeds or self.train_seeds
        return [(n, s) for n in sizes for s in seeds if self.main_size in (None, n) or s == seeds[0]]

    @property
    def is_sweep(self) -> bool:
        return len(self.demos_per_task) > 1 or len(self.train_seeds) > 1


def validate(cfg: PipelineConfig) -> None:
    """Fail before any work on names that would only break a later stage."""
    from lapa_bench.app.panda_videos import PANDA_TASKS
    from lapa_bench.policy import available_policies
    from lapa_bench.tasks import resolve_tasks

    resolve_tasks(cfg.demos.tasks), resolve_tasks(cfg.videos.tasks), resolve_tasks(cfg.gripper.tasks)
    resolve_tasks(cfg.eval.tasks)
    if any(r.videos == "panda" for r in cfg.runs) and cfg.panda.tasks not in (["all"], []):
        bad = [t for t in cfg.panda.tasks if t not in PANDA_TASKS]
        if bad:
            raise UserError(f"unknown Panda task(s) {bad}; known: {', '.join(PANDA_TASKS)} or 'all'")
    if cfg.panda.dart != CollectConfig.dart:
        raise UserError(f"panda: dart {cfg.panda.dart}: the Panda videos come from their own scripted controller, "
                         "which takes no DART noise; remove panda.dart")
    if cfg.panda.yaw_jitter != CollectConfig.yaw_jitter:
        raise UserError(f"panda: yaw_jitter {cfg.panda.yaw_jitter}: the Panda videos sample their own layouts; "
                         "remove panda.yaw_jitter")
    bad = [b for b in cfg.eval.bounds if b not in available_policies()]
    if bad:
        raise UserError(f"unknown bound policy {bad}; known: {', '.join(available_policies())}")
    if cfg.demos.path:
        _check_given_demos(cfg)


def _check_given_demos(cfg: PipelineConfig) -> None:
    """A ``demos.path`` must hold what the cells are named by: at least the largest labelled-set size per task in a
    sweep (``demos_per_task``), exactly ``demos.episodes`` per task otherwise (the cells are named nN by it)."""
    from lapa_bench.data.lerobot import open_datasets

    if not Path(cfg.demos.path).is_dir():
        raise MissingFile(f"demos.path {cfg.demos.path} does not exist")
    have = {ds.root.name: len(ds) for ds in open_datasets(cfg.demos.path)}
    if cfg.demos_per_task:
        short = {k: v for k, v in have.items() if v < max(cfg.demos_per_task)}
        if short:
            raise UserError(f"demos.path {cfg.demos.path} holds {short} demonstrations, fewer than the "
                            f"{max(cfg.demos_per_task)} per task demos_per_task asks for: collect more, or ask for at "
                            f"most {min(have.values())}")
    elif set(have.values()) != {cfg.demos.episodes}:
        raise UserError(f"demos.path {cfg.demos.path} holds {have} demonstrations, but its cells are named by "
                        f"demos.episodes ({cfg.demos.episodes} per task): set demos.episodes to what it holds (or use "
                        "demos_per_task for the first N of it)")

