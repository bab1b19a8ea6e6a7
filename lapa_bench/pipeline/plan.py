"""What a run would do, before it does any of it (``lapa-bench pipeline CONFIG --plan``)."""
from __future__ import annotations

from pathlib import Path

from lapa_bench.pipeline.cells import cell_id, check_cell, headline_size, shared_folder, slug
from lapa_bench.pipeline.config import VIDEO_CORPORA, PipelineConfig


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
            shared = shared_folder(cfg, out / slug(r.label), seed)
            refused = _refused(cfg, r, n, seed, run_out, out / "data")
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
                                  "done": checkpoint.is_done(stage_dir) and not refused,
                                  **({"refused": refused} if refused else {})})
    ev, tasks = cfg.eval, n_tasks(cfg.eval.tasks)
    checkpoints = sum(len(cfg.sweep(r)) for r in cfg.runs)
    simulate = {"train-layout checks": checkpoints * ev.train_layouts * n_tasks(cfg.demos.tasks),
                "evaluation": checkpoints * tasks * ev.episodes * len(ev.seeds),
                "bounds": len(ev.bounds) * tasks * (ev.bound_episodes or ev.episodes) * len(ev.bound_seeds or ev.seeds),
                "held-out layouts": (sum(n == headline_size(cfg) or not cfg.is_sweep for r in cfg.runs for n, _ in cfg.sweep(r))
                                     + len(ev.bounds)) * tasks * ev.heldout_episodes * len(ev.seeds)}
    kinds: dict = {}
    for t in trainings:
        k = kinds.setdefault(t["stage"], {"trainings": 0, "steps": 0, "samples": 0})
        k["trainings"] += 1
        k["steps"] += t["steps"]
        k["samples"] += t["steps"] * t["batch_size"]
    return {"collect": collect, "trainings": trainings, "per_stage": kinds, "checkpoints": checkpoints,
            "simulate": simulate}


def _refused(cfg: PipelineConfig, r, n: int, seed: int, run_out: Path, data: Path) -> str | None:
    """Why the run would refuse this finished cell (its recorded settings differ from the config's: the run's own
    check, :func:`check_cell`), or None (not finished, or its settings match)."""
    from lapa_bench.errors import MissingFile
    from lapa_bench.fingerprint import FingerprintMismatch
    from lapa_bench.training import checkpoint

    if not checkpoint.is_done(run_out):
        return None
    try:
        check_cell(cfg, r, n, seed, run_out, data)
    except FingerprintMismatch as e:
        return str(e)
    except MissingFile:  # no record of its data's settings here: the run's own check decides
        return None
    return None


def format_plan(p: dict) -> str:
    lines = ["[pipeline] plan: collections (episodes simulated)"]
    lines += [f"  {c['corpus']:<14} {c['episodes']:>7}" + (f"  (uses {c['path']})" if c["path"] else "")
              for c in p["collect"]]
    lines.append(f"[pipeline] plan: {len(p['trainings'])} training stages for {p['checkpoints']} policies "
                 "(steps x batch; shared: trained once for the runs that share it; done: cached)")
    for t in p["trainings"]:
        lines.append(f"  {t['cell']:<22} {t['stage']:<22} "
                     f"{t['steps']:>6} x {t['batch_size']:<4}" + ("  shared" if t["shared"] else "")
                     + ("  done" if t["done"] else "") + ("  REFUSED: settings differ (the run says how)"
                                                          if t.get("refused") else ""))
    lines.append("[pipeline] plan: per stage kind (blind twins add their fraction of a finetuning stage)")
    lines += [f"  {k:<22} {v['trainings']:>3} x  {v['steps']:>8} steps  {v['samples']:>10} samples"
              for k, v in p["per_stage"].items()]
    lines.append("[pipeline] plan: episodes simulated after training")
    lines += [f"  {k:<22} {v:>7}" for k, v in p["simulate"].items()]
    return "\n".join(lines)

