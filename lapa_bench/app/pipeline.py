"""One command from data to the comparison table: ``lapa-bench pipeline configs/NAME.yaml``.

Stages (each cached in ``OUT``; a rerun skips what is done and resumes what was interrupted):

1. ``collect demos``   labelled trajectories: the scripted oracle on the Bridge tasks (disjoint from eval)
2. ``collect videos``  the action-free Bridge video corpus (more oracle episodes, actions dropped)
3. ``collect panda``   cross-embodiment videos (Panda tabletop tasks), when a run uses them;
   ``collect gripper``  another embodiment in the same scenes (the floating Panda gripper on the Bridge tasks)
4. one training stage per entry of ``runs``: a registered training method (``lapa-bench methods``)
   with its config from ``methods.<name>``, on the demos and the run's video corpus
5. ``eval``    every trained policy (and the ``scripted``/``random`` bounds) on the SIMPLER tasks
6. ``report``  table (both success definitions) + plot in ``OUT/report``

The YAML maps onto :class:`PipelineConfig` (typed, nested dataclasses): unknown keys and wrongly
typed values stop the run before any work, naming the key. ``methods.<name>`` is validated against
that method's own config class, so a method's defaults live in one place (its dataclass);
``lapa-bench pipeline CONFIG --print-config`` prints everything resolved. Stage wall times go to
``OUT/pipeline.json``.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from lapa_bench.errors import MissingFile, UserError
from lapa_bench import config as C
from lapa_bench.app.collect import CollectConfig


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


def slug(label: str) -> str:
    return label.replace(" ", "_").replace("(", "").replace(")", "")


class Stages:
    """Runs named stages once, records their wall time, and prints what it does."""

    def __init__(self, out: Path, needs_sim=(), check_sim=None, device: str = "auto"):
        self.needs_sim, self.check_sim = set(needs_sim), check_sim  # assets are checked only when needed
        self.device = device  # where this process trains: recorded with each stage
        self.path = out / "pipeline.json"
        self.state = json.loads(self.path.read_text()) if self.path.is_file() else {"stages": {}}

    def run(self, name: str, fn, done: bool = False, accumulate: bool = False):
        """``done``: skip when already finished. ``accumulate``: a stage that is re-entered to resume
        (evaluation) adds this call's seconds to those recorded before instead of replacing them."""
        rec = self.state["stages"].get(name, {})
        if done and rec.get("status") == "done":
            print(f"[pipeline] {name}: cached ({rec.get('seconds', 0):.0f} s when it ran)")
            return
        if name in self.needs_sim and self.check_sim is not None:
            self.check_sim()
        print(f"[pipeline] {name}: running")
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0 + (rec.get("seconds", 0) if accumulate and rec.get("status") == "done" else 0)
        self.state["stages"][name] = {"status": "done", "seconds": round(dt, 1), **self.provenance}
        self._save(name)
        print(f"[pipeline] {name}: done in {dt:.0f} s")

    @property
    def provenance(self) -> dict:
        """What a finished stage records beside its wall time: the command, revision, device and when."""
        import sys

        from lapa_bench import provenance

        return {"command": " ".join(["lapa-bench", *sys.argv[1:]]) if sys.argv and "lapa" in sys.argv[0] else None,
                "revision": provenance.git_sha(), "device": self.device, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def _save(self, name: str):
        """Write this stage's entry; several pipeline processes may share OUT (``--cells``): each adds its own
        entries to what is in the file now, under a file lock."""
        import fcntl

        from lapa_bench.io import write_json_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            now = json.loads(self.path.read_text()) if self.path.is_file() else {"stages": {}}
            now["stages"][name] = self.state["stages"][name]
            write_json_atomic(self.path, now)
            self.state = now

    def summary(self) -> str:
        w = max([len(k) for k in self.state["stages"]] + [28])
        rows = [f"  {k:<{w}} {v['seconds']:>8.0f} s" for k, v in self.state["stages"].items()]
        total = sum(v["seconds"] for v in self.state["stages"].values())
        return "\n".join(["[pipeline] stage wall times:", *rows, f"  {'total':<{w}} {total:>8.0f} s"])


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


GROUPS = ("data", "train", "eval", "report")


def cell_id(r: RunSpec, n: int, seed: int) -> str:
    """``"LABEL/nN/sS"``: the run's label as a folder name, labelled demonstrations per task, training seed."""
    return f"{slug(r.label)}/n{n}/s{seed}"


def cells(cfg: PipelineConfig) -> dict[str, tuple]:
    """Every cell of ``cfg``: :func:`cell_id` -> (run, N, S). A cell is one trained policy with its checks and
    evaluation."""
    return {cell_id(r, n, s): (r, n, s) for r in cfg.runs for n, s in cfg.sweep(r)}


def select_cells(cfg: PipelineConfig, wanted: list[str] | None) -> set[str] | None:
    if wanted is None:
        return None
    known = cells(cfg)
    bad = [c for c in wanted if c not in known and c != "bounds"]
    if bad:
        raise UserError(f"unknown cell(s) {bad}; this config's cells are {', '.join(known)} (and 'bounds': the "
                         "scripted/random bounds' evaluation)")
    return set(wanted)


def run(cfg: PipelineConfig, until: str = "report", only: list[str] | None = None) -> Path:
    """Run the stages of ``cfg`` in order, up to and including the group ``until``. ``only``: the cells to run
    (:func:`cells`; ``"bounds"`` for the bounds' evaluation); the collections then hold what those cells need,
    and the report covers every cell evaluated in ``OUT`` so far, naming those not yet run."""
    from lapa_bench import assets

    if until not in GROUPS:
        raise UserError(f"until={until!r}; choose from {list(GROUPS)}")
    validate(cfg)
    selected = select_cells(cfg, only)
    chosen = {k: v for k, v in cells(cfg).items() if selected is None or k in selected}
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.note:
        print(f"[pipeline] {cfg.name}: {cfg.note}")
    st = Stages(out, needs_sim={"collect demos", *(f"collect {c.name}" for c in VIDEO_CORPORA.values())},
                check_sim=assets.check_assets, device=cfg.device)
    where = _collect_corpora(cfg, chosen, selected, out, st)
    if until == "data":
        _write_config(cfg, out)
        return _stop(st, out, until)
    ckpts = _train_cells(cfg, chosen, where, out, st)
    _write_config(cfg, out)  # every cached stage passed its fingerprint check: this config describes OUT
    if until == "train":
        return _stop(st, out, until)
    learning_check(ckpts, out / "checks", cfg.eval.train_layouts, cfg.workers, st)
    _probe_laqs(cfg, chosen, where, out, st)
    _evaluate_cells(cfg, ckpts, selected is None or "bounds" in selected, out, st)
    if until == "eval":
        return _stop(st, out, until)
    _report_cells(cfg, ckpts, selected, out, st)
    print(st.summary())
    print(f"[pipeline] table and plot: {out / 'report'}")
    return out


def report_only(cfg: PipelineConfig) -> Path:
    """The report stage alone, from the files in ``OUT``: every cell evaluated there (and the bounds), the others
    named as not yet run; nothing is collected, trained or evaluated, so a fresh clone needs neither data nor the
    simulator. Each evaluated cell's training fingerprint is checked against this config and the recorded data
    settings first: a cell made with other settings is refused, as a run of it would be."""
    validate(cfg)
    out = Path(cfg.out)
    for cell, (r, n, seed) in cells(cfg).items():
        names = _names(cfg, r, n, seed)
        if any((out / "eval" / slug(names.key)).glob("records*.jsonl")):
            _check_cell(cfg, r, n, seed, out / slug(r.label) / names.sub, out / "data")
    st = Stages(out, device=cfg.device)
    _report_cells(cfg, {}, set(), out, st)
    print(f"[pipeline] table and plot (from the files in {out}): {out / 'report'}")
    return out


def _check_cell(cfg: PipelineConfig, r: RunSpec, n: int, seed: int, run_out: Path, data: Path) -> None:
    """Refuse (FingerprintMismatch) an evaluated cell whose training settings differ from what ``cfg`` asks for,
    its inputs' settings taken from the data folders' sidecars (``data/*.settings.json``: the data need not be
    here). The first ``n`` episodes per task of a collection have its settings with ``n`` episodes."""
    from lapa_bench.data.lerobot import settings_sidecar
    from lapa_bench.training.registry import claim_settings, get_method, training_settings

    def recorded(folder: Path, first: int | None = None) -> list[dict]:
        side = settings_sidecar(folder)
        if not side.is_file():
            raise MissingFile(f"{side} is missing: the settings of the data cell {cell_id(r, n, seed)} "
                                    "trained on are unknown; run the cell's command instead of --report")
        sets = json.loads(side.read_text())["settings"]
        return [{**d, "episodes": min(first, d["episodes"])} for d in sets] if first else sets

    m = get_method(r.method)
    corpora = {"data": [recorded(data / "demos", n if cfg.demos_per_task else None)]}
    if "videos" in m.needs:
        corpora["videos"] = [recorded(data / VIDEO_CORPORA[r.videos].key)]
    claim_settings(m, training_settings(m, cfg.run_config(r, seed), corpora=corpora), run_out, exists=True,
                   fix=f"rerun the cell ({cell_id(r, n, seed)}) with the settings that made it, or delete {run_out} "
                       "and its evaluation to make it again")


def _collect_corpora(cfg: PipelineConfig, chosen: dict, selected, out: Path, st: "Stages") -> dict:
    """The data stages: the labelled demonstrations (the first N per task the chosen cells need) and the video
    corpora their methods read (skipped when no chosen cell still reads one); returns corpus name -> folder."""
    from lapa_bench.data.lerobot import write_settings_sidecar
    from lapa_bench.training.registry import get_method

    data = out / "data"
    runs_now = [r for r, _, _ in chosen.values()]
    uses_videos = any("videos" in get_method(r.method).needs for r in runs_now)
    demos_spec = cfg.demos
    if selected is not None and chosen and cfg.demos_per_task and not cfg.demos.path:
        # the first N per task of the one collection (attempts are a function of their number: a later, larger
        # collection extends this one, and its first N are these)
        demos_spec = dataclasses.replace(cfg.demos, episodes=max(n for _, n, _ in chosen.values()))
    corpora = {"demos": (demos_spec, data / "demos", cfg.seed, "bridge")}
    for v, c in VIDEO_CORPORA.items():
        if uses_videos and any(r.videos == v for r in runs_now):
            # the seeds keep the collections' layouts apart (and every Bridge one disjoint from evaluation)
            corpora[c.name] = (getattr(cfg, c.key), data / c.key, cfg.seed + c.seed_offset, c.source)
    where = {}
    for name, (spec, folder, seed, source) in corpora.items():
        if spec.path:
            where[name] = Path(spec.path)
            continue
        where[name] = folder
        recipe = {**C.to_dict(spec), "seed": seed, "source": source}
        if name != "demos" and not _corpus_needed(cfg, chosen, name, out) and _sidecar_matches(folder, recipe):
            print(f"[pipeline] collect {name}: not needed (every stage that reads it is done; the settings it was "
                  f"made with: {folder.name}.settings.json)")
            continue
        label = f"collect {name}" + (f" ({spec.episodes}/task)" if spec is not getattr(cfg, name.split()[0], spec) else "")
        st.run(label, lambda spec=spec, folder=folder, seed=seed, source=source:
               _collect(spec, folder, seed, source, cfg.workers), done=_collected(folder, spec, source))
        write_settings_sidecar(folder, recipe)
        _check_corpus(folder)
    return where


def _train_cells(cfg: PipelineConfig, chosen: dict, where: dict, out: Path, st: "Stages") -> dict:
    """The training stages of the chosen cells (a finished run is reused only when its fingerprint matches);
    returns key (the run's label; in a sweep "label (N/task) seed S") -> :class:`Trained`."""
    from lapa_bench.training.registry import Inputs, claim_training, get_method, run_method

    ckpts = {}
    for r in cfg.runs:
        m = get_method(r.method)
        videos = where.get(VIDEO_CORPORA[r.videos].name)
        for n, seed in cfg.sweep(r):
            if cell_id(r, n, seed) not in chosen:
                continue
            demos = _labelled_demos(cfg, where, n, out)
            inputs = Inputs(data=[str(demos)], videos=[str(videos)] if videos and "videos" in m.needs else [],
                            shared=_shared_folder(cfg, out / slug(r.label), seed))
            key, row, sub, tags = _names(cfg, r, n, seed)
            run_out = out / slug(r.label) / sub
            rcfg = cfg.run_config(r, seed)
            done = claim_training(m, rcfg, inputs, run_out)  # a finished run made with other settings stops here
            st.run(key, lambda m=m, rcfg=rcfg, inputs=inputs, run_out=run_out: run_method(
                m, rcfg, inputs, run_out, cfg.device), done=done)
            ckpts[key] = Trained(m.policy, run_out, row, tags, demos, C.merge(cfg.eval.policy_config, r.policy_config))
    return ckpts


def _evaluate_cells(cfg: PipelineConfig, ckpts: dict, bounds: bool, out: Path, st: "Stages") -> None:
    """SIMPLER's evaluation of every trained policy (and, with ``bounds``, of the bounds), resumable."""
    from lapa_bench import assets
    from lapa_bench.app.evaluate import EvalConfig

    ev = cfg.eval
    todo = []
    jobs = [(key, t.policy, str(t.checkpoint), ev.episodes, ev.seeds, t.row, t.tags, t.policy_config)
            for key, t in ckpts.items()]
    if bounds:
        jobs += [(b, b, None, ev.bound_episodes or ev.episodes, ev.bound_seeds or ev.seeds, b, {}, {})
                 for b in ev.bounds]
    for key, name, ck, n, seeds, row, tags, pc in jobs:
        todo.append((key, EvalConfig(policy=name, checkpoint=ck, out=str(out / "eval" / slug(key)), tasks=ev.tasks,
                                     episodes=n, seeds=seeds, label=row, tags=tags, device=cfg.device,
                                     backend=ev.backend, num_envs=ev.num_envs, policy_config=pc)))
    if ev.heldout_episodes:  # the main size's cells (and the bounds) again, on the held-out layouts
        for key, name, ck, _, seeds, row, tags, pc in jobs:
            if tags and tags.get("demos_per_task") != _main_size(cfg):
                continue
            todo.append((f"{key} on held-out layouts", EvalConfig(
                policy=name, checkpoint=ck, out=str(out / "eval_heldout" / slug(key)), tasks=ev.tasks,
                episodes=ev.heldout_episodes, seeds=seeds, label=row, tags=tags, device=cfg.device,
                backend=ev.backend, num_envs=ev.num_envs, layouts=ev.heldout_seed, policy_config=pc)))
    st.run("eval (" + ", ".join(t[0] for t in todo) + ")",
           lambda: (assets.check_assets(), _evaluate_all(todo, cfg.workers, cfg.plugins)), accumulate=True)


def _report_cells(cfg: PipelineConfig, ckpts: dict, selected, out: Path, st: "Stages") -> None:
    """The report of exactly the episodes the config asks for: the cells run now or, with ``--cells``, every cell
    evaluated in ``OUT`` so far (the others named as not yet run)."""
    from lapa_bench.app.evaluate import plan as eval_plan
    from lapa_bench.records import done_keys

    ev = cfg.eval
    # success at any step first (the LAPA paper's definition), then at the end (SimplerEnv's), then grasping
    metrics = ["success_once", "success_at_end", "grasped", "consecutive_grasp"]

    def keys(n, seeds):
        return {(t.env_id, int(e), int(sd)) for t, e, sd in eval_plan(ev.tasks, n, seeds)}

    want = keys(ev.episodes, ev.seeds)  # a cell's episodes
    runs, missing = [], []
    if selected is None:  # the cells of this run, and the bounds
        runs = [out / "eval" / slug(key) for key in ckpts] + [out / "eval" / b for b in ev.bounds]
    else:  # the report covers every cell evaluated so far (all its episodes), and names the others
        for cell, (r, n, seed) in cells(cfg).items():
            d = out / "eval" / slug(_names(cfg, r, n, seed).key)
            have = len(want & done_keys(d)) if any(d.glob("records*.jsonl")) else 0
            if have == len(want):
                runs.append(d)
            else:  # e.g. evaluated right now by another process: not a row until complete
                missing.append(f"`{cell}`" + (f" (evaluation in progress: {have} of {len(want)} episodes)"
                                                if have else ""))
        runs += [out / "eval" / b for b in ev.bounds if any((out / "eval" / b).glob("records*.jsonl"))]

    # exactly the episodes the current config asks for (a folder may hold more from earlier settings)
    planned = {str(d): want for d in runs}
    planned.update({str(out / "eval" / b): keys(ev.bound_episodes or ev.episodes, ev.bound_seeds or ev.seeds)
                    for b in ev.bounds})
    def tables() -> str:  # after the report's own tables: each LAQ, each cell's compute
        path = out / "pipeline.json"
        stages = json.loads(path.read_text())["stages"] if path.is_file() else {}
        collected = {k: v["seconds"] for k, v in stages.items() if k.startswith("collect") and v.get("seconds")}
        return check_table(out) + laq_table(out) + compute_table(cell_compute(cfg, out, stages), collected)

    st.run("report", lambda: _report(runs, out / "report", metrics, _report_references(cfg), missing, planned,
                                     tables()))
    if ev.heldout_episodes:
        _report_heldout(cfg, out, metrics, st)
    if cfg.note:
        (out / "report" / "NOTE.md").write_text(f"**{cfg.name}**: {cfg.note}\n")


def _main_size(cfg: PipelineConfig) -> int | None:
    """The labelled-set size of the headline comparison (every trained seed runs it)."""
    return cfg.main_size or (max(cfg.demos_per_task) if cfg.demos_per_task else None)


def _report_heldout(cfg: PipelineConfig, out: Path, metrics, st: "Stages") -> None:
    """``report/heldout``: the main size's cells (and the bounds) on the held-out layouts, every folder whose
    planned episodes are all done, with the paired differences against the same references."""
    from lapa_bench.app.evaluate import plan as eval_plan
    from lapa_bench.records import done_keys

    ev = cfg.eval
    root = out / "eval_heldout"
    runs, missing, planned = [], [], {}

    def complete(d: Path, seeds) -> bool:
        want = {(t.env_id, int(e), int(sd)) for t, e, sd in eval_plan(ev.tasks, ev.heldout_episodes, seeds,
                                                                      ev.heldout_seed)}
        if any(d.glob("records*.jsonl")) and want <= done_keys(d):
            runs.append(d)
            planned[str(d)] = want
            return True
        return False

    for cell, (r, n, seed) in cells(cfg).items():
        if (not cfg.is_sweep or n == _main_size(cfg)) and not complete(root / slug(_names(cfg, r, n, seed).key),
                                                                       ev.seeds):
            missing.append(f"`{cell}`")
    for b in ev.bounds:
        complete(root / slug(b), ev.bound_seeds or ev.seeds)
    if not runs:
        return
    note = (f"\nEvery cell on {ev.heldout_episodes} new random layouts per task (seed {ev.heldout_seed}, disjoint from "
            "SIMPLER's evaluation layouts, drawn apart from the training collections'): the same policies on layouts "
            "no one tuned on.\n")
    st.run("report (held-out layouts)", lambda: _report(runs, out / "report" / "heldout", metrics,
                                                        _report_references(cfg), missing, planned, note))


def plan(cfg: PipelineConfig) -> dict:
    """What ``run(cfg)`` would do, before it does any of it: the episodes each collection simulates, every training
    stage of every (run, labelled-set size, seed) with its steps x batch (stages shared through
    ``shared_stages`` counted once, as they train), and the episodes the checks and the evaluation simulate;
    ``done`` marks what is cached in ``cfg.out`` already. Totals per stage kind make the budget arithmetic
    (measured seconds per sample or episode x these counts) one multiplication each."""
    from lapa_bench.app.panda_videos import PANDA_TASKS
    from lapa_bench.training import checkpoint
    from lapa_bench.training.registry import get_method, train_stages
    from lapa_bench.tasks import resolve_tasks

    out = Path(cfg.out)
    uses = {v for r in cfg.runs if "videos" in get_method(r.method).needs for v in [r.videos]}
    corpora = [("demos", cfg.demos)] + [(c.name, getattr(cfg, c.key)) for v, c in VIDEO_CORPORA.items() if v in uses]
    n_tasks = lambda names: len(resolve_tasks(names))  # noqa: E731
    panda_tasks = lambda names: len(PANDA_TASKS if names in (["all"], []) else names)  # noqa: E731
    collect = [{"corpus": name, "episodes": 0 if spec.path else spec.episodes * (
        panda_tasks(spec.tasks) if name == "panda videos" else n_tasks(spec.tasks)), "path": spec.path}
        for name, spec in corpora]

    trainings, seen = [], set()
    for r in cfg.runs:
        m = get_method(r.method)
        for n, seed in cfg.sweep(r):
            sub = f"n{n}_s{seed}" if cfg.is_sweep else ""
            run_out = out / slug(r.label) / sub
            shared = _shared_folder(cfg, out / slug(r.label), seed)
            for path, tc in train_stages(cfg.run_config(r, seed)):
                where = shared if shared and path in m.shares else str(run_out)
                if (where, path) in seen:
                    continue
                seen.add((where, path))
                # a stage that can be shared trains into its own folder (laq/, pretrain/), the rest into the run's
                stage_dir = Path(where) / path.split(".")[0] if path in m.shares else run_out
                trainings.append({"cell": cell_id(r, n, seed), "run": r.label, "demos_per_task": n,
                                  "train_seed": seed, "stage": f"{r.method}.{path}",
                                  "steps": tc.steps, "batch_size": tc.batch_size, "shared": where != str(run_out),
                                  "done": checkpoint.is_done(stage_dir)})
    ev, tasks = cfg.eval, n_tasks(cfg.eval.tasks)
    checkpoints = sum(len(cfg.sweep(r)) for r in cfg.runs)
    simulate = {"train-layout checks": checkpoints * ev.train_layouts * n_tasks(cfg.demos.tasks),
                "evaluation": checkpoints * tasks * ev.episodes * len(ev.seeds),
                "bounds": len(ev.bounds) * tasks * (ev.bound_episodes or ev.episodes) * len(ev.bound_seeds or ev.seeds),
                "held-out layouts": (sum(n == _main_size(cfg) or not cfg.is_sweep for r in cfg.runs for n, _ in cfg.sweep(r))
                                     + len(ev.bounds)) * tasks * ev.heldout_episodes * len(ev.seeds)}
    kinds: dict = {}
    for t in trainings:
        k = kinds.setdefault(t["stage"], {"trainings": 0, "steps": 0, "samples": 0})
        k["trainings"] += 1
        k["steps"] += t["steps"]
        k["samples"] += t["steps"] * t["batch_size"]
    return {"collect": collect, "trainings": trainings, "per_stage": kinds, "checkpoints": checkpoints,
            "simulate": simulate}


def format_plan(p: dict) -> str:
    lines = ["[pipeline] plan: collections (episodes simulated)"]
    lines += [f"  {c['corpus']:<14} {c['episodes']:>7}" + (f"  (uses {c['path']})" if c["path"] else "")
              for c in p["collect"]]
    lines.append(f"[pipeline] plan: {len(p['trainings'])} training stages for {p['checkpoints']} policies "
                 "(steps x batch; shared: trained once for the runs that share it; done: cached)")
    for t in p["trainings"]:
        lines.append(f"  {t['cell']:<22} {t['stage']:<22} "
                     f"{t['steps']:>6} x {t['batch_size']:<4}" + ("  shared" if t["shared"] else "")
                     + ("  done" if t["done"] else ""))
    lines.append("[pipeline] plan: per stage kind (blind twins add their fraction of a finetuning stage)")
    lines += [f"  {k:<22} {v['trainings']:>3} x  {v['steps']:>8} steps  {v['samples']:>10} samples"
              for k, v in p["per_stage"].items()]
    lines.append("[pipeline] plan: episodes simulated after training")
    lines += [f"  {k:<22} {v:>7}" for k, v in p["simulate"].items()]
    return "\n".join(lines)


class CellNames(NamedTuple):
    """How a cell is named where it appears."""
    key: str  # its stages' key in pipeline.json (its evaluation folder: slug(key))
    row: str  # its table row (the seeds of one size pooled)
    sub: str  # its run's sub-folder (OUT/LABEL/SUB)
    tags: dict  # what its records carry (method, demos per task, trained seed)


def _names(cfg: PipelineConfig, r: RunSpec, n: int, seed: int) -> CellNames:
    """A cell's names (:class:`CellNames`)."""
    if not cfg.is_sweep:
        return CellNames(r.label, r.label, "", {})
    # a run folder per (size, seed); one table row per size, its seeds pooled
    row = f"{r.label} ({n}/task)" if len(cfg.demos_per_task) > 1 else r.label
    return CellNames(f"{row} seed {seed}", row, f"n{n}_s{seed}",
                     {"method": r.label, "demos_per_task": n, "train_seed": seed})


class Trained(NamedTuple):
    """A trained run of the pipeline: its policy name, checkpoint, table row, record tags, labelled data, and the
    rollout settings it is checked and evaluated with."""
    policy: str
    checkpoint: Path
    row: str
    tags: dict
    demos: Path
    policy_config: dict = {}


def _collected(folder: Path, spec: CorpusSpec, source: str) -> bool:
    """The collection in ``folder`` holds ``spec.episodes`` per task already (else collect runs, and resumes)."""
    from lapa_bench.app.panda_videos import PANDA_TASKS, dataset_name
    from lapa_bench.data.lerobot import DatasetFormatError, open_datasets
    from lapa_bench.tasks import resolve_tasks

    try:
        sets = open_datasets(folder)
    except DatasetFormatError:
        return False
    names = [dataset_name(t) for t in (PANDA_TASKS if spec.tasks in (["all"], []) else spec.tasks)] \
        if source == "panda" else [t.name for t in resolve_tasks(spec.tasks)]
    have = {ds.root.name: len(ds) for ds in sets}
    return all(have.get(n, 0) >= spec.episodes for n in names)


def _check_corpus(folder: Path) -> None:
    """A collection looked at by eye and by numbers, beside it (committed, as its settings sidecar is):
    ``NAME.contact_sheet.png`` (first / middle / last frame of sample episodes) and ``NAME.check.json`` (episodes per
    task, the oracle's successes per attempt, disjointness from the evaluation layouts), made once per contents."""
    from lapa_bench.data.inspect import dataset_info
    from lapa_bench.data.lerobot import dataset_settings
    from lapa_bench.fingerprint import canonical
    from lapa_bench.io import write_json_atomic

    path = folder.parent / f"{folder.name}.check.json"
    made_from = canonical(dataset_settings(folder))
    if path.is_file() and json.loads(path.read_text()).get("made_from") == made_from:
        return
    sheet = folder.parent / f"{folder.name}.contact_sheet.png"
    info = {k: v for k, v in dataset_info(folder, sheet=sheet).items() if k not in ("root", "contact_sheet")}
    write_json_atomic(path, {"made_from": made_from, "contact_sheet": sheet.name, **info}, sort_keys=True)
    rates = info.get("oracle_success", {})
    print(f"[pipeline] {folder.name}: {info['episodes']} episodes; oracle success "
          + ", ".join(f"{k} {100 * v['rate']:.0f}%" for k, v in rates.items()) + f" ({path.name}, {sheet.name})")


def _sidecar_matches(folder: Path, recipe: dict) -> bool:
    from lapa_bench.data.lerobot import settings_sidecar

    side = settings_sidecar(folder)
    return side.is_file() and json.loads(side.read_text()).get("spec") == json.loads(json.dumps(recipe))


def _corpus_needed(cfg: PipelineConfig, chosen: dict, corpus: str, out: Path) -> bool:
    """Whether a chosen cell still has a stage that reads the video corpus ``corpus``: a run not finished whose
    method does not share its video stages, or whose shared video stages are not all finished."""
    from lapa_bench.training import checkpoint
    from lapa_bench.training.registry import get_method

    for r, n, seed in chosen.values():
        m = get_method(r.method)
        if "videos" not in m.needs or corpus != VIDEO_CORPORA[r.videos].name:
            continue
        run_out = out / slug(r.label) / _names(cfg, r, n, seed).sub
        if checkpoint.is_done(run_out):
            continue
        shared = _shared_folder(cfg, out / slug(r.label), seed)
        if not m.shares or shared is None:
            return True
        if not all(checkpoint.is_done(Path(shared) / path.split(".")[0]) for path in m.shares):
            return True
    return False


def _write_config(cfg: PipelineConfig, out: Path) -> None:
    from lapa_bench.io import write_json_atomic

    write_json_atomic(out / "config.json", C.to_dict(cfg))


def _probe_laqs(cfg: PipelineConfig, chosen: dict, where: dict, out: Path, st: "Stages") -> None:
    """Each chosen LAPA cell's LAQ (one per seed: shared stages) probed against the labelled demonstrations of the
    main size: do its codes carry the true actions (held-out R^2 of a linear probe, :func:`lapa_bench.policies.laq.codes.probe`)?
    ``laq/probe.json`` keeps the LAQ's and the data's fingerprints; a probe of another LAQ or other data is redone."""
    from lapa_bench.data.lerobot import dataset_settings
    from lapa_bench.fingerprint import canonical, files_fingerprint
    from lapa_bench.io import write_json_atomic

    n = cfg.main_size or max(cfg.demos_per_task or [cfg.demos.episodes])
    for r, _, seed in chosen.values():
        shared = _shared_folder(cfg, out / slug(r.label), seed)
        laq = Path(shared) / "laq" if shared else None
        if laq is None or not (laq / "eval.json").is_file():
            continue
        demos = _labelled_demos(cfg, where, n, out)
        made_from = {"laq": files_fingerprint(laq), "data": canonical(dataset_settings(demos)), "demos_per_task": n}
        path = laq / "probe.json"
        if path.is_file() and json.loads(path.read_text()).get("made_from") == made_from:
            continue

        def probe_one(laq=laq, demos=demos, path=path, made_from=made_from):
            from lapa_bench.policies.laq.codes import probe

            write_json_atomic(path, {**probe(laq, [str(demos)], device=cfg.device), "made_from": made_from})

        st.run(f"LAQ probe ({r.label} seed {seed}, {n}/task)", probe_one)


TRAIN_LAYOUT_BAR = 0.5  # the learning check's closed-loop bar: success on at least this share of its training layouts


def check_failures(row: dict) -> list[str]:
    """Why a cell fails its learning check (a row of ``checks/learning_check.json``; empty: it passes): offline,
    its held-out action error not below the mean action's or its blind twin's; closed loop, success on fewer than
    :data:`TRAIN_LAYOUT_BAR` of its own training layouts."""
    why = []
    if row.get("learned") is False:
        err = row.get("action_error")
        beaten = [name for name, ref in (("the mean action", row.get("mean_action_error")),
                                         ("its blind twin", row.get("blind_twin_error")))
                  if err is None or ref is None or err >= ref]
        why.append(f"offline, not below {' nor '.join(beaten) or 'its references'}")
    k, _, n = str(row.get("train_layout_success_once", "")).partition("/")
    if n and int(k) < TRAIN_LAYOUT_BAR * int(n):
        why.append(f"succeeds on {k} of its {n} training layouts")
    return why


def check_table(out: Path) -> str:
    """Each checked cell's learning check (``checks/learning_check.json``): held-out action error against the mean
    action and the image-blind twin, success on its own training layouts, and whether it passes; a cell that fails
    is still evaluated and in the tables above, and this marks it."""
    path = out / "checks" / "learning_check.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    if not rows:
        return ""
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = []
    for r in rows:
        why = check_failures(r)
        half = f" (weights in float16; float32: {r['half']['float32']})" if r.get("half") else ""
        lines.append(f"| {r['label']} | {fmt(r.get('action_error'))} / {fmt(r.get('mean_action_error'))} / "
                     f"{fmt(r.get('blind_twin_error'))} | {r.get('train_layout_success_once', '-')}{half} | "
                     + ("**fails**: " + "; ".join(why) if why else "passes") + " |")
    return ("\n### Learning check (before evaluation; a cell that fails it is evaluated and reported all the same)\n\n"
            "| cell | held-out action error: model / mean action / blind twin | training layouts (success any step) | "
            "check |\n|---|---|---|---|\n" + "\n".join(lines) + "\n\n"
            f"Passes: the held-out action error beats both references (`-`: the policy has no offline action error, "
            f"e.g. UniPi's actions come from planned frames) and the policy succeeds on at least "
            f"{TRAIN_LAYOUT_BAR:.0%} of its own training layouts. The held-out errors are the float32 weights'; "
            f"a cell stored in float16 is checked on its training layouts in both.\n")


def laq_table(out: Path) -> str:
    """The LAQ of every LAPA run in ``out`` that has one (per trained seed): how far it beats copying the first
    frame, how many codes it uses and the largest one's share, and its probe R^2 (codes -> true actions)."""
    rows = []
    for ev_file in sorted(out.glob("*/shared/*/laq/eval.json")):
        ev, laq = json.loads(ev_file.read_text()), ev_file.parent
        pr = json.loads((laq / "probe.json").read_text()) if (laq / "probe.json").is_file() else {}
        counts = ev.get("usage") or [0]
        r2 = pr.get("r2", {})
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        rows.append(f"| {laq.parts[-4]} | {laq.parts[-2]} | {100 * ev['improvement_vs_copy']:.1f} % | "
                    f"{ev.get('codes_used', '-')}/{len(counts)} | {100 * max(counts) / max(sum(counts), 1):.1f} % | "
                    f"{fmt(pr.get('r2_translation'))} ({' '.join(fmt(r2.get(k)) for k in ('dx', 'dy', 'dz'))}) | "
                    f"{pr.get('made_from', {}).get('demos_per_task', '-')} |")
    if not rows:
        return ""
    return ("\n### LAPA's latent actions (the LAQ each LAPA row finetunes from)\n\n"
            "| run | trained seed | reconstruction below copying | codes used | largest code | probe R^2: xyz mean "
            "(dx dy dz) | probe data (demos/task) |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            "Reconstruction and code usage on held-out video pairs (the LAQ's `eval.json`); probe: a linear map from "
            "one-hot codes to the true action summed over the frame gap, fitted on 80 % of the labelled episodes, "
            "R^2 on the rest (`laq/probe.json`).\n")


def _train_seconds(folder: Path):
    """(seconds, device, complete) of a training stage folder: its wall time over every process that trained it,
    or, where ``seconds_of`` says so, the last process's only (``complete`` False)."""
    ev = json.loads((folder / "eval.json").read_text()) if (folder / "eval.json").is_file() else None
    if ev is None or "train" not in ev:
        return None
    tr = ev["train"]
    return tr["seconds"], tr.get("device"), tr.get("seconds_of") != "last process"


def cell_compute(cfg: PipelineConfig, out: Path, stages: dict) -> list[dict]:
    """Each finished cell's compute, stage by stage (also written to the cell's folder as ``compute.json``):
    its training stages (the shared ones once per seed, named as such), the training-layout check (from
    ``stages``, pipeline.json's) and the SIMPLER evaluation (the sum of its episodes' wall times)."""
    from lapa_bench.io import write_json_atomic
    from lapa_bench.records import read_records

    rows = []
    for cell, (r, n, seed) in cells(cfg).items():
        names = _names(cfg, r, n, seed)
        run_out = out / slug(r.label) / names.sub
        if not (run_out / "eval.json").is_file():
            continue
        parts = []
        shared = _shared_folder(cfg, out / slug(r.label), seed)
        folders = [(f"{p.name} (shared by seed {seed}'s cells)", p, True) for p in sorted(Path(shared).iterdir())
                   if p.is_dir() and (p / "eval.json").is_file()] if shared and Path(shared).is_dir() else []
        folders += [(p.name, p, False) for p in sorted(run_out.iterdir()) if p.is_dir()
                    and (p / "eval.json").is_file() and p.name != "blind_twin"]
        main = "finetune" if hasattr(cfg.run_config(r, seed), "finetune") else "train"  # bc's, UniPi's video model
        folders += [(main, run_out, False), ("blind twin", run_out / "blind_twin", False)]
        for name, folder, is_shared in folders:
            t = _train_seconds(folder)
            if t is not None:
                parts.append({"stage": name, "seconds": t[0], "device": t[1],
                              # a stage other cells share: its folder, so that totals count it once
                              **({"shared": folder.relative_to(out).as_posix()} if is_shared else {}),
                              **({} if t[2] else {"note": "the last process only (made before runs summed "
                                                          "their resumptions)"})})
        check = stages.get(f"train-layout check ({names.key})")
        if check:
            parts.append({"stage": "training-layout check", "seconds": check["seconds"], "device": "cpu"})
        recs = read_records(out / "eval" / slug(names.key)) if (out / "eval" / slug(names.key)).is_dir() else []
        if recs:
            parts.append({"stage": f"SIMPLER evaluation ({len(recs)} episodes)", "device": "cpu",
                          "seconds": round(sum(x.get("wall_seconds") or 0 for x in recs), 1)})
        write_json_atomic(run_out / "compute.json", {"cell": cell, "stages": parts})
        rows.append({"cell": cell, "stages": parts})
    return rows


def compute_table(rows: list[dict], collected: dict | None = None) -> str:
    """``rows`` from :func:`cell_compute`; ``collected``: the data stages' seconds (shared by every cell)."""
    if not rows:
        return ""
    lines = ["| cell | stage | wall time | device |", "|---|---|---|---|"]
    total, shared_seen = 0.0, set()
    for row in rows:
        for p in row["stages"]:
            lines.append(f"| {row['cell']} | {p['stage']}{' *' if 'note' in p else ''} | {p['seconds'] / 60:.1f} min | "
                         f"{p['device']} |")
            if p.get("shared"):  # counted once, by the first cell that lists it
                if p["shared"] in shared_seen:
                    continue
                shared_seen.add(p["shared"])
            total += p["seconds"] or 0
    data = sum((collected or {}).values())
    return ("\n### Compute per cell (each cell's `compute.json`)\n\n" + "\n".join(lines)
            + f"\n\nTotal: {total / 3600:.1f} h for these cells (shared stages counted once)"
            + (f", plus {data / 3600:.1f} h collecting their data (" + ", ".join(
                f"{k}: {v / 60:.0f} min" for k, v in collected.items()) + ")" if data else "")
            + ". `*`: the last process's time only (made before runs summed their resumptions).\n")


def _report(runs, folder: Path, metrics, compare_to: list[str], missing, planned, tables: str = "") -> None:
    """The report of ``runs``; ``tables`` and the cells ``missing`` (markdown, one line each) are appended to its
    table.md."""
    from lapa_bench.app.report import build_report

    res = build_report(runs, folder, metric="success_once", metrics=metrics, compare_to=compare_to, planned=planned)
    avg = res["summary"][res["summary"]["task"] == "Average"]
    if len(avg) and (avg["errors"] >= avg["episodes"]).all():
        raise UserError(f"every evaluated episode ended with an error (the reasons: {folder / 'table.md'} and "
                           "the records): the table holds no result")
    note = tables
    if missing:
        note += "\n### Cells not yet run\n\n" + "\n".join(f"- {c}" for c in missing) + "\n"
    if note:
        with open(folder / "table.md", "a") as f:
            f.write(note)
        print(note)


def _report_references(cfg: PipelineConfig) -> list[str]:
    """``compare_to`` as the records name it: each reference's run label (a method name means its first run). In a
    sweep over sizes that label is the records' ``method`` tag, so each size is compared with the same size of it."""
    out = []
    for ref in cfg.references:
        run = next((r for r in cfg.runs if ref in (r.label, r.method)), None)
        out.append(run.label if run is not None else ref)
    return out


def _shared_folder(cfg: PipelineConfig, run_root: Path, seed: int) -> str | None:
    """Where a run's stages that do not use the labelled data go in a sweep (``shared_stages``), else None."""
    if not cfg.is_sweep or cfg.shared_stages == "none":
        return None
    return str(run_root / "shared" / (f"s{seed}" if cfg.shared_stages == "per_seed" else "all_seeds"))


def _labelled_demos(cfg: PipelineConfig, where: dict, n: int, out: Path) -> Path:
    """The labelled demonstrations a cell of size ``n`` trains on: the first ``n`` per task in a sweep over sizes,
    else the whole collection."""
    if not cfg.demos_per_task:
        return where["demos"]
    return _labelled_subset(where["demos"], n, out / "data" / f"demos_n{n}")


def _labelled_subset(demos: Path, n: int, folder: Path) -> Path:
    """The first ``n`` demonstrations per task (cached; the whole collection when it has no more)."""
    from lapa_bench.data.lerobot import open_datasets, subset_datasets

    if all(len(ds) <= n for ds in open_datasets(demos)):
        return demos
    subset_datasets(demos, folder, n)
    return folder


def learning_check(ckpts: dict, folder: Path, train_layouts: int, workers: int, st) -> list[dict]:
    """Before evaluating: each policy's offline learning check (``eval.json``: held-out action error vs the
    mean action and the image-blind twin) and, with ``train_layouts``, its success closed loop from the
    layouts of its own training demonstrations. Prints a table; a policy that does not beat its
    references is flagged (its evaluation is a bug report about the recipe, not a finding)."""
    from lapa_bench.app.replay import replay_check
    from lapa_bench.fingerprint import files_fingerprint
    from lapa_bench.io import write_json_atomic

    rows = []
    for label, t in ckpts.items():
        policy, ck = t.policy, t.checkpoint
        ev = json.loads((Path(ck) / "eval.json").read_text())
        row = {"label": label, "action_error": ev.get("action_error"), "mean_action_error": ev.get("mean_action_error"),
               "blind_twin_error": ev.get("blind_twin", {}).get("action_error"), "learned": ev.get("learned")}
        half = Path(ck) / "half.json"  # stored in float16 after training (`lapa-bench checkpoint half`)
        if half.is_file():
            row["half"] = json.loads(half.read_text())["training_layouts"]["success_once"]
        if train_layouts > 0:
            path = folder / f"{slug(label)}.json"
            old = json.loads(path.read_text()) if path.is_file() else {}
            if path.is_file() and old.get("checkpoint_fingerprint") != files_fingerprint(ck):
                print(f"[pipeline] {path} checked other weights than {ck} now holds (e.g. converted to half "
                      "precision since): checking again")
                path.unlink()
            elif path.is_file() and (old.get("policy_config") or {}) != t.policy_config:
                print(f"[pipeline] {path} checked the policy with other rollout settings "
                      f"({old.get('policy_config') or {}}, now {t.policy_config}): checking again")
                path.unlink()
            if not path.is_file():
                st.run(f"train-layout check ({label})", lambda path=path, policy=policy, ck=ck, demos=t.demos, pc=t.policy_config: replay_check(
                    demos, max_episodes=train_layouts, out=path, workers=workers, policy=policy, checkpoint=str(ck),
                    progress=False, policy_config=pc))
            res = json.loads(path.read_text())
            eps = res["episodes"]
            row["train_layout_success_once"] = f"{sum(e['success_once'] for e in eps)}/{len(eps)}"
        rows.append(row)
    if not rows:
        return rows
    folder.mkdir(parents=True, exist_ok=True)
    # the file keeps every cell checked in this folder (`--cells` runs check a few at a time): rows of the cells
    # checked now replace their earlier rows, the others stay
    path = folder / "learning_check.json"
    now = {r["label"] for r in rows}
    kept = [r for r in (json.loads(path.read_text()) if path.is_file() else []) if r.get("label") not in now]
    write_json_atomic(path, kept + rows)
    print("[pipeline] learning check (held-out action error in std units; lower is better):")
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
        why = check_failures(r)
        print(f"  {r['label']:<24} model {fmt(r['action_error'])}  mean action {fmt(r['mean_action_error'])}  "
              f"blind twin {fmt(r['blind_twin_error'])}"
              + (f"  training layouts {r['train_layout_success_once']}" if "train_layout_success_once" in r else "")
              + (f"   <-- fails: {'; '.join(why)}" if why else ""))
    return rows


def _collect(spec: CorpusSpec, folder: Path, seed: int, source: str, workers: int) -> None:
    if source == "panda":
        from lapa_bench.app.panda_videos import PandaConfig, collect_panda

        collect_panda(PandaConfig(tasks=spec.tasks, episodes=spec.episodes, out=str(folder),
                                  image_size=tuple(spec.image_size), seed=seed), workers=workers)
    else:
        from lapa_bench.app.collect import collect

        collect(CollectConfig(tasks=spec.tasks, episodes=spec.episodes, out=str(folder),
                              image_size=tuple(spec.image_size), seed=seed, dart=spec.dart,
                              yaw_jitter=spec.yaw_jitter,
                              embodiment="floating_gripper" if source == "gripper" else "widowx"), workers=workers)


def _stop(st: "Stages", out: Path, until: str) -> Path:
    print(st.summary())
    print(f"[pipeline] stopped after the '{until}' stages (--until {until}); rerun without --until to go on")
    return out


def _init_worker(threads: int, plugins: list) -> None:
    """Eval worker initializer: share the cores (torch threads) and register the config's plugins."""
    from lapa_bench.provenance import set_torch_threads
    from lapa_bench.plugins import load_plugin

    set_torch_threads(threads)
    for p in plugins:
        load_plugin(p)


def _evaluate_all(todo, workers: int, plugins=()) -> None:
    """Evaluate every policy, ``workers`` policies at a time in separate processes (each resumes)."""
    from lapa_bench.app.evaluate import evaluate

    if workers <= 1 or len(todo) == 1:
        for _, ec in todo:
            evaluate(ec)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from lapa_bench.provenance import worker_threads

    threads = worker_threads(workers)  # no oversubscription of the cores
    # every policy's episodes are split into `workers` shards (own record files), so that no core idles
    # while the last policy finishes; a rerun resumes each shard
    shards = [(label, dataclasses.replace(ec, progress=False, shard=(i, workers)))
              for label, ec in todo for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                             initargs=(threads, list(plugins))) as ex:
        futs = {ex.submit(evaluate, ec): (label, ec.shard) for label, ec in shards}
        for f in futs:
            f.result()
            label, (i, n) = futs[f]
            print(f"[pipeline] eval {label} (shard {i + 1}/{n}): done", flush=True)

