"""The report's own tables beside the success tables: the learning check, each LAQ, the compute per cell."""
from __future__ import annotations

import json
from pathlib import Path

from lapa_bench.pipeline.cells import cell_names, cells, shared_folder, slug
from lapa_bench.pipeline.config import PipelineConfig


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
        names = cell_names(cfg, r, n, seed)
        run_out = out / slug(r.label) / names.sub
        if not (run_out / "eval.json").is_file():
            continue
        parts = []
        shared = shared_folder(cfg, out / slug(r.label), seed)
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

