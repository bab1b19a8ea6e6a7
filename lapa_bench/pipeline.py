"""One command from data to the comparison table: ``lapa-bench pipeline configs/NAME.yaml``.

Stages (each cached in ``OUT``; a rerun skips what is done and resumes what was interrupted):

1. ``demos``   labelled trajectories: the scripted oracle on the 4 Bridge tasks (disjoint from eval)
2. ``videos``  the action-free Bridge video corpus (more oracle episodes, actions dropped)
3. ``panda``   cross-embodiment videos (Panda tabletop tasks), when a variant uses them
4. ``laq``     LAQ per video corpus (stage 1)
5. ``lapa``    per variant: latent pretraining (stage 2) -> action finetuning (stage 3)
6. ``scratch``, ``vpt``, ``unipi``: the baselines on the same labelled data, same finetuning budget
7. ``eval``    every policy (and the ``scripted``/``random`` bounds) on the SIMPLER tasks
8. ``report``  table (both success definitions) + plot in ``OUT/report``

Stage wall times go to ``OUT/pipeline.json`` and a summary is printed at the end.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PipelineConfig:
    name: str
    out: str
    note: str = ""  # printed and written with the report (e.g. "smoke run, not a result")
    seed: int = 0
    device: str = "auto"
    workers: int = 2  # parallel processes for collection
    demos: dict = field(default_factory=lambda: {"tasks": ["all"], "episodes": 10, "image_size": [128, 128]})
    videos: dict = field(default_factory=lambda: {"tasks": ["all"], "episodes": 100, "image_size": [128, 128]})
    panda: dict = field(default_factory=lambda: {"tasks": ["all"],
                                                 "episodes": 100, "image_size": [128, 128]})
    laq: dict = field(default_factory=lambda: {"preset": "tiny", "steps": 2000, "batch_size": 32})
    lapa: dict = field(default_factory=lambda: {"preset": "tiny", "pretrain_steps": 1000, "finetune_steps": 1000,
                                                "batch_size": 32, "lr": 3e-4, "overrides": {}})
    variants: list = field(default_factory=lambda: ["bridge", "panda"])  # LAPA pretrained on these videos
    baselines: list = field(default_factory=lambda: ["scratch", "vpt", "unipi"])
    vpt: dict = field(default_factory=lambda: {"idm_steps": 1500})
    unipi: dict = field(default_factory=lambda: {"steps": 2000, "idm_steps": 1500, "overrides": {}})
    eval: dict = field(default_factory=lambda: {"tasks": ["all"], "episodes": 24, "seeds": [0, 1, 2],
                                                "bounds": ["scripted", "random"], "bound_episodes": None,
                                                "bound_seeds": None})

    @classmethod
    def from_yaml(cls, path) -> "PipelineConfig":
        import yaml

        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"pipeline config {p} does not exist (see configs/ for the presets)")
        raw = yaml.safe_load(p.read_text()) or {}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise ValueError(f"{p}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
        defaults = cls(name=raw.get("name", p.stem), out=raw.get("out", f"runs/{p.stem}"))
        for k, v in raw.items():  # sections merge into their defaults
            cur = getattr(defaults, k)
            setattr(defaults, k, {**cur, **v} if isinstance(cur, dict) and isinstance(v, dict) else v)
        bad = sorted(set(defaults.variants) - {"bridge", "panda"})
        if bad:
            raise ValueError(f"{p}: unknown LAPA variant(s) {bad}; choose from ['bridge', 'panda']")
        bad = sorted(set(defaults.baselines) - {"scratch", "vpt", "unipi"})
        if bad:
            raise ValueError(f"{p}: unknown baseline(s) {bad}; choose from ['scratch', 'unipi', 'vpt']")
        return defaults


class Stages:
    """Runs named stages once, records their wall time, and prints what it does."""

    def __init__(self, out: Path, needs_sim=(), check_sim=None):
        self.needs_sim, self.check_sim = set(needs_sim), check_sim  # assets are checked only when needed
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
        self.state["stages"][name] = {"status": "done", "seconds": round(dt, 1)}
        self._save()
        print(f"[pipeline] {name}: done in {dt:.0f} s")

    def _save(self):
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self.path)

    def summary(self) -> str:
        w = max([len(k) for k in self.state["stages"]] + [28])
        rows = [f"  {k:<{w}} {v['seconds']:>8.0f} s" for k, v in self.state["stages"].items()]
        total = sum(v["seconds"] for v in self.state["stages"].values())
        return "\n".join(["[pipeline] stage wall times:", *rows, f"  {'total':<{w}} {total:>8.0f} s"])


def validate(cfg: PipelineConfig) -> None:
    """Fail before any work on names that would only break a later stage."""
    from lapa_bench.panda_videos import PANDA_TASKS
    from tasks import resolve_tasks

    resolve_tasks(cfg.demos["tasks"]), resolve_tasks(cfg.videos["tasks"]), resolve_tasks(cfg.eval["tasks"])
    if "panda" in cfg.variants and cfg.panda["tasks"] not in (["all"], []):
        bad = [t for t in cfg.panda["tasks"] if t not in PANDA_TASKS]
        if bad:
            raise ValueError(f"unknown Panda task(s) {bad}; known: {', '.join(PANDA_TASKS)} or 'all'")
    from lapa_bench.policy import available_policies

    bad = [b for b in cfg.eval.get("bounds", []) if b not in available_policies()]
    if bad:
        raise ValueError(f"unknown bound policy {bad}; known: {', '.join(available_policies())}")


def _done(ckpt: Path) -> bool:
    return (ckpt / "config.json").is_file() and (ckpt / "eval.json").is_file()


GROUPS = ("data", "train", "eval", "report")


def run(cfg: PipelineConfig, until: str = "report") -> Path:
    """Run the stages of ``cfg`` in order, up to and including the group ``until``."""
    from lapa_bench import assets
    from lapa_bench.collect import CollectConfig, collect
    from lapa_bench.evaluate import EvalConfig, evaluate
    from lapa_bench.report import build_report
    from policies.lapa import train_laq, train_lapa

    if until not in GROUPS:
        raise ValueError(f"until={until!r}; choose from {list(GROUPS)}")
    validate(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
    if cfg.note:
        print(f"[pipeline] {cfg.name}: {cfg.note}")
    st = Stages(out, needs_sim={"collect demos", "collect videos", "collect panda videos"},
                check_sim=assets.check_assets)
    data = out / "data"
    demos, videos, panda = data / "demos", data / "videos", data / "panda"
    progress = True

    def _collect(section, where, seed):
        c = dict(section)
        collect(CollectConfig(tasks=c["tasks"], episodes=c["episodes"], out=str(where),
                              image_size=tuple(c.get("image_size", (128, 128))), seed=seed), workers=cfg.workers)

    # the seeds keep the two collections' layouts apart (and both disjoint from evaluation)
    st.run("collect demos", lambda: _collect(cfg.demos, demos, cfg.seed), done=True)
    st.run("collect videos", lambda: _collect(cfg.videos, videos, cfg.seed + 1000), done=True)
    if "panda" in cfg.variants:
        from lapa_bench.panda_videos import PandaConfig, collect_panda

        p = cfg.panda
        st.run("collect panda videos", lambda: collect_panda(PandaConfig(
            tasks=p["tasks"], episodes=p["episodes"], out=str(panda), image_size=tuple(p.get("image_size", (128, 128))),
            seed=cfg.seed, progress=progress), workers=cfg.workers), done=True)
    if until == "data":
        return _stop(st, out, until)

    corpora = {"bridge": videos, "panda": panda}
    lp = cfg.lapa
    stage = dict(preset=lp.get("preset", "tiny"), overrides=lp.get("overrides", {}), batch_size=lp.get("batch_size", 32),
                 lr=lp.get("lr", 3e-4), device=cfg.device, seed=cfg.seed, progress=progress)
    ft_steps = lp.get("finetune_steps", 1000)
    ckpts = {}
    for v in cfg.variants:
        laq_dir = out / f"laq_{v}"
        lq = cfg.laq
        st.run(f"laq ({v} videos)", lambda: train_laq.train(train_laq.LAQTrainConfig(
            data=[str(corpora[v])], out=str(laq_dir), preset=lq.get("preset", "tiny"), overrides=lq.get("overrides", {}),
            steps=lq.get("steps", 2000), batch_size=lq.get("batch_size", 32), seed=cfg.seed, device=cfg.device,
            progress=progress)), done=_done(laq_dir))
        pre = out / f"lapa_{v}_pretrain"
        st.run(f"lapa pretrain ({v})", lambda: train_lapa.pretrain(train_lapa.StageConfig(
            out=str(pre), steps=lp.get("pretrain_steps", 1000), **stage), [str(corpora[v])], str(laq_dir)),
            done=_done(pre))
        ft = out / f"lapa_{v}"
        st.run(f"lapa finetune ({v})", lambda: train_lapa.finetune(train_lapa.StageConfig(
            out=str(ft), steps=ft_steps, **stage), [str(demos)], init=str(pre), policy_name="lapa"), done=_done(ft))
        ckpts[f"lapa ({v} videos)" if len(cfg.variants) > 1 else "lapa"] = ("lapa", ft)
    if "scratch" in cfg.baselines:
        sc = out / "scratch"
        st.run("scratch", lambda: train_lapa.finetune(train_lapa.StageConfig(out=str(sc), steps=ft_steps, **stage),
                                                       [str(demos)], policy_name="scratch"), done=_done(sc))
        ckpts["scratch"] = ("scratch", sc)
    if "vpt" in cfg.baselines:
        from policies.vpt import train_vpt

        vp = out / "vpt"
        st.run("vpt", lambda: train_vpt.train(
            train_lapa.StageConfig(out=str(vp), steps=ft_steps, **stage), [str(demos)], [str(videos)],
            idm_steps=cfg.vpt.get("idm_steps", 1500), pretrain_steps=lp.get("pretrain_steps", 1000)), done=_done(vp))
        ckpts["vpt"] = ("vpt", vp)
    if "unipi" in cfg.baselines:
        from policies.unipi import train_unipi

        up = out / "unipi"
        u = cfg.unipi
        st.run("unipi", lambda: train_unipi.train(train_unipi.UniPiTrainConfig(
            videos=[str(videos)], data=[str(demos)], out=str(up), overrides=u.get("overrides", {}),
            steps=u.get("steps", 2000), idm_steps=u.get("idm_steps", 1500), seed=cfg.seed, device=cfg.device,
            progress=progress)), done=_done(up))
        ckpts["unipi"] = ("unipi", up)
    if until == "train":
        return _stop(st, out, until)

    ev = cfg.eval
    runs = []
    jobs = [(label, name, str(ck), ev["episodes"]) for label, (name, ck) in ckpts.items()]
    jobs = [(*j, ev["seeds"]) for j in jobs]
    jobs += [(b, b, None, ev.get("bound_episodes") or ev["episodes"], ev.get("bound_seeds") or ev["seeds"])
             for b in ev.get("bounds", [])]
    todo = []
    for label, name, ck, n, seeds in jobs:
        run_dir = out / "eval" / label.replace(" ", "_").replace("(", "").replace(")", "")
        runs.append(run_dir)
        todo.append((label, EvalConfig(policy=name, checkpoint=ck, out=str(run_dir), tasks=ev["tasks"], episodes=n,
                                       seeds=seeds, label=label, progress=progress)))
    st.run("eval (" + ", ".join(t[0] for t in todo) + ")", lambda: (assets.check_assets(), _evaluate_all(todo, cfg.workers)),
           accumulate=True)
    if until == "eval":
        return _stop(st, out, until)
    # success at any step first (the LAPA paper's definition), then at the end (SimplerEnv's), then grasping
    metrics = ["success_once", "success_at_end", "grasped", "consecutive_grasp"]
    st.run("report", lambda: build_report(runs, out / "report", metrics=metrics))
    if cfg.note:
        (out / "report" / "NOTE.md").write_text(f"**{cfg.name}**: {cfg.note}\n")
    print(st.summary())
    print(f"[pipeline] table and plot: {out / 'report'}")
    return out


def _stop(st: "Stages", out: Path, until: str) -> Path:
    print(st.summary())
    print(f"[pipeline] stopped after the '{until}' stages (--until {until}); rerun without --until to go on")
    return out


def _evaluate_all(todo, workers: int) -> None:
    """Evaluate every policy, ``workers`` policies at a time in separate processes (each resumes)."""
    from lapa_bench.evaluate import evaluate
    from lapa_bench.provenance import set_torch_threads

    if workers <= 1 or len(todo) == 1:
        for _, ec in todo:
            evaluate(ec)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    import os

    threads = max(1, (os.cpu_count() or 1) // workers)  # no oversubscription of the cores
    # every policy's episodes are split into `workers` shards (own record files), so that no core idles
    # while the last policy finishes; a rerun resumes each shard
    shards = [(label, dataclasses.replace(ec, progress=False, shard=(i, workers)))
              for label, ec in todo for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=set_torch_threads,
                             initargs=(threads,)) as ex:
        futs = {ex.submit(evaluate, ec): (label, ec.shard) for label, ec in shards}
        for f in futs:
            f.result()
            label, (i, n) = futs[f]
            print(f"[pipeline] eval {label} (shard {i + 1}/{n}): done", flush=True)

