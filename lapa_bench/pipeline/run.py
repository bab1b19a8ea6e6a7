"""The pipeline's run: data, training, checks, evaluation, report, in order, each stage cached and resumable."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from lapa_bench import config as C
from lapa_bench.errors import UserError
from lapa_bench.pipeline.cells import (Trained, cell_id, cell_names, cells, check_cell, headline_size,
                                       labelled_demos, select_cells, shared_folder, slug)
from lapa_bench.pipeline.config import VIDEO_CORPORA, PipelineConfig, validate
from lapa_bench.pipeline.corpora import collect_corpora
from lapa_bench.pipeline.stages import GROUPS, Stages, stop
from lapa_bench.pipeline.tables import cell_compute, check_failures, check_table, compute_table, laq_table


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
    where = collect_corpora(cfg, chosen, selected, out, st)
    if until == "data":
        _write_config(cfg, out)
        return stop(st, out, until)
    ckpts = _train_cells(cfg, chosen, where, out, st)
    _write_config(cfg, out)  # every cached stage passed its fingerprint check: this config describes OUT
    if until == "train":
        return stop(st, out, until)
    learning_check(ckpts, out / "checks", cfg.eval.train_layouts, cfg.workers, st)
    probe_laqs(cfg, chosen, where, out, st)
    _evaluate_cells(cfg, ckpts, selected is None or "bounds" in selected, out, st)
    if until == "eval":
        return stop(st, out, until)
    report_cells(cfg, ckpts, selected, out, st)
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
        names = cell_names(cfg, r, n, seed)
        if any((out / "eval" / slug(names.key)).glob("records*.jsonl")):
            check_cell(cfg, r, n, seed, out / slug(r.label) / names.sub, out / "data")
    st = Stages(out, device=cfg.device)
    report_cells(cfg, {}, set(), out, st)
    print(f"[pipeline] table and plot (from the files in {out}): {out / 'report'}")
    return out


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
            demos = labelled_demos(cfg, where, n, out)
            inputs = Inputs(data=[str(demos)], videos=[str(videos)] if videos and "videos" in m.needs else [],
                            shared=shared_folder(cfg, out / slug(r.label), seed))
            key, row, sub, tags = cell_names(cfg, r, n, seed)
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
            if tags and tags.get("demos_per_task") != headline_size(cfg):
                continue
            todo.append((f"{key} on held-out layouts", EvalConfig(
                policy=name, checkpoint=ck, out=str(out / "eval_heldout" / slug(key)), tasks=ev.tasks,
                episodes=ev.heldout_episodes, seeds=seeds, label=row, tags=tags, device=cfg.device,
                backend=ev.backend, num_envs=ev.num_envs, layouts=ev.heldout_seed, policy_config=pc)))
    st.run("eval (" + ", ".join(t[0] for t in todo) + ")",
           lambda: (assets.check_assets(), _evaluate_all(todo, cfg.workers, cfg.plugins)), accumulate=True)


def report_cells(cfg: PipelineConfig, ckpts: dict, selected, out: Path, st: "Stages") -> None:
    """The report of exactly the episodes the config asks for: the cells run now or, with ``--cells``, every cell
    evaluated in ``OUT`` so far (the others named as not yet run)."""
    from lapa_bench.app.evaluate import plan as eval_plan

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
        runs, missing = evaluated_cells(cfg, out / "eval", want)
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

    st.run("report", lambda: write_report(runs, out / "report", metrics, report_references(cfg), missing, planned,
                                     tables()))
    if ev.heldout_episodes:
        report_heldout(cfg, out, metrics, st)
    if cfg.note:
        (out / "report" / "NOTE.md").write_text(f"**{cfg.name}**: {cfg.note}\n")


def evaluated_cells(cfg: PipelineConfig, root: Path, want: set, size: int | None = None) -> tuple[list, list]:
    """The cells (of labelled-set ``size`` only, when given) whose evaluation folder under ``root`` holds every
    episode of ``want``: (their folders, the others as report lines; one being evaluated says how far it is)."""
    from lapa_bench.records import done_keys

    runs, missing = [], []
    for cell, (r, n, seed) in cells(cfg).items():
        if size is not None and n != size:
            continue
        d = root / slug(cell_names(cfg, r, n, seed).key)
        have = len(want & done_keys(d)) if any(d.glob("records*.jsonl")) else 0
        if have == len(want):
            runs.append(d)
        else:  # e.g. evaluated right now by another process: not a row until complete
            missing.append(f"`{cell}`" + (f" (evaluation in progress: {have} of {len(want)} episodes)" if have else ""))
    return runs, missing


def report_heldout(cfg: PipelineConfig, out: Path, metrics, st: "Stages") -> None:
    """``report/heldout``: the main size's cells (and the bounds) on the held-out layouts, every folder whose
    planned episodes are all done, with the paired differences against the same references."""
    from lapa_bench.app.evaluate import plan as eval_plan
    from lapa_bench.records import done_keys

    ev = cfg.eval
    root = out / "eval_heldout"

    def keys(seeds):
        return {(t.env_id, int(e), int(sd)) for t, e, sd in eval_plan(ev.tasks, ev.heldout_episodes, seeds,
                                                                      ev.heldout_seed)}

    want = keys(ev.seeds)
    runs, missing = evaluated_cells(cfg, root, want, headline_size(cfg) if cfg.is_sweep else None)
    planned = {str(d): want for d in runs}
    for b in ev.bounds:
        d, bound = root / slug(b), keys(ev.bound_seeds or ev.seeds)
        if any(d.glob("records*.jsonl")) and bound <= done_keys(d):
            runs.append(d)
            planned[str(d)] = bound
    if not runs:
        return
    note = (f"\nEvery cell on {ev.heldout_episodes} new random layouts per task (seed {ev.heldout_seed}, disjoint from "
            "SIMPLER's evaluation layouts, drawn apart from the training collections'): the same policies on layouts "
            "no one tuned on.\n")
    st.run("report (held-out layouts)", lambda: write_report(runs, out / "report" / "heldout", metrics,
                                                        report_references(cfg), missing, planned, note))


def _write_config(cfg: PipelineConfig, out: Path) -> None:
    from lapa_bench.io import write_json_atomic

    write_json_atomic(out / "config.json", C.to_dict(cfg))


def probe_laqs(cfg: PipelineConfig, chosen: dict, where: dict, out: Path, st: "Stages") -> None:
    """Each chosen LAPA cell's LAQ (one per seed: shared stages) probed against the labelled demonstrations of the
    main size: do its codes carry the true actions (held-out R^2 of a linear probe, :func:`lapa_bench.policies.laq.codes.probe`)?
    ``laq/probe.json`` keeps the LAQ's and the data's fingerprints; a probe of another LAQ or other data is redone."""
    from lapa_bench.data.lerobot import dataset_settings
    from lapa_bench.fingerprint import canonical, files_fingerprint
    from lapa_bench.io import write_json_atomic

    n = cfg.main_size or max(cfg.demos_per_task or [cfg.demos.episodes])
    for r, _, seed in chosen.values():
        shared = shared_folder(cfg, out / slug(r.label), seed)
        laq = Path(shared) / "laq" if shared else None
        if laq is None or not (laq / "eval.json").is_file():
            continue
        demos = labelled_demos(cfg, where, n, out)
        made_from = {"laq": files_fingerprint(laq), "data": canonical(dataset_settings(demos)), "demos_per_task": n}
        path = laq / "probe.json"
        if path.is_file() and json.loads(path.read_text()).get("made_from") == made_from:
            continue

        def probe_one(laq=laq, demos=demos, path=path, made_from=made_from):
            from lapa_bench.policies.laq.codes import probe

            write_json_atomic(path, {**probe(laq, [str(demos)], device=cfg.device), "made_from": made_from})

        st.run(f"LAQ probe ({r.label} seed {seed}, {n}/task)", probe_one)


def write_report(runs, folder: Path, metrics, compare_to: list[str], missing, planned, tables: str = "") -> None:
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


def report_references(cfg: PipelineConfig) -> list[str]:
    """``compare_to`` as the records name it: each reference's run label (a method name means its first run). In a
    sweep over sizes that label is the records' ``method`` tag, so each size is compared with the same size of it."""
    out = []
    for ref in cfg.references:
        run = next((r for r in cfg.runs if ref in (r.label, r.method)), None)
        out.append(run.label if run is not None else ref)
    return out


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

