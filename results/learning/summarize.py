"""Builds results/learning/table.md from the run folders of results/learning/run.sh (offline learning
check, training-layout check, evaluation on SIMPLER's 24 layouts per task)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from lapa_bench.app.report import load_records, summarize  # noqa: E402

run = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/learning")
rows = []
for ck in sorted(p for p in run.iterdir() if (p / "eval.json").is_file()):
    ev = json.loads((ck / "eval.json").read_text())
    cfg = json.loads((ck / "config.json").read_text())
    state = json.loads((ck / "last" / "trainer_state.json").read_text())
    row = {"run": ck.name, "policy": cfg["policy"], "steps": state["step"],
           "train_seconds": ev.get("train", {}).get("seconds"),
           "device": ev.get("train", {}).get("device"),
           "action_error": ev.get("action_error"), "mean_action_error": ev.get("mean_action_error"),
           "ratio_to_mean_action": ev.get("ratio_to_mean_action"),
           "blind_twin_error": ev.get("blind_twin", {}).get("action_error"), "learned": ev.get("learned")}
    tl = ck / "train_layouts.json"
    if tl.is_file():
        eps = json.loads(tl.read_text())["episodes"]
        row["train_layouts"] = {t: f"{sum(e['success_once'] for e in eps if e['task'] == t)}/"
                                   f"{sum(e['task'] == t for e in eps)}" for t in dict.fromkeys(e["task"] for e in eps)}
        row["train_layouts_all"] = f"{sum(e['success_once'] for e in eps)}/{len(eps)}"
        row["train_layouts_grasp"] = f"{sum(e['grasped'] for e in eps)}/{len(eps)}"
    ed = run / "eval" / ck.name
    if ed.is_dir() and any(ed.glob("records*.jsonl")):
        s = summarize(load_records([ed])).set_index("task")
        row["eval"] = {t: {"n": int(r["n"]), "success_once": round(r["success_once"], 1),
                           "success_once_ci": [round(r["success_once_lo"], 1), round(r["success_once_hi"], 1)],
                           "success_at_end": round(r["success_at_end"], 1), "grasped": round(r["grasped"], 1)}
                       for t, r in s.iterrows()}
    rows.append(row)
print(json.dumps(rows, indent=1))
