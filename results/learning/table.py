"""The 10 / 25 / 100 table of results/learning, built from the committed
run folders beside this file (no weights needed): the offline learning check, the training-layout check
and SIMPLER's evaluation layouts, one row per (policy, demonstrations per task, rollout setting).

    .venv/bin/python results/learning/table.py > results/learning/table.md

A row whose files are not there says "not run". Every number comes from the files named in ROWS.
"""
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from lapa_bench.app.report import load_records, n_text, summarize  # noqa: E402

# (method, demos/task, run folder, rollout, training-layout file, evaluation record folders)
ROWS = [
    ("bc", 10, "bc_10w16", "execute 1", "bc_10w16/train_layouts.json", ["bc_10w16/eval"]),
    ("bc", 10, "bc_10w16", "execute 1, last (step 12000)", "bc_10w16/train_layouts_last.json", ["bc_10w16_last/eval"]),
    ("bc, no random shift", 10, "bc_10w16ns", "execute 1", "bc_10w16ns/train_layouts.json", ["bc_10w16ns/eval"]),
    ("bc, no proprio", 10, "bc_10w16np", "execute 1, best (step 2000)", "bc_10w16np/train_layouts.json", []),
    ("bc, no proprio", 10, "bc_10w16np", "execute 1, last (step 12000)", "bc_10w16np/train_layouts_last.json", []),
    ("bc, chunk 1", 10, "bc_10w16c1", "execute 1, best (step 6000)", "bc_10w16c1/train_layouts.json", []),
    ("bc, chunk 1", 10, "bc_10w16c1", "execute 1, last (step 12000)", "bc_10w16c1/train_layouts_last.json", []),
    ("bc, demos yaw +-15 deg", 10, "bc_y15_10", "execute 1, best (step 2000)", "bc_y15_10/train_layouts.json", []),
    ("bc, demos yaw +-15 deg", 10, "bc_y15_10", "execute 1, last (step 12000)", "bc_y15_10/train_layouts_last.json",
     ["bc_y15_10_last/eval"]),
    ("bc, commanded target", 10, "bc_10tgt", "execute 1, best (step 8000)", "bc_10tgt/train_layouts.json", []),
    ("bc, commanded target", 10, "bc_10tgt", "execute 1, last (step 12000)", "bc_10tgt/train_layouts_last.json", []),
    ("bc, commanded state", 10, "bc_10cmd", "execute 1, best (step 4000)", "bc_10cmd/train_layouts.json", []),
    ("bc, commanded state", 10, "bc_10cmd", "execute 1, last (step 12000)", "bc_10cmd/train_layouts_last.json",
     ["bc_10cmd_last/eval"]),
    ("bc, commanded state, 64 px", 10, "bc_10cmd64", "execute 1, last (step 12000)", "bc_10cmd64/train_layouts_last.json",
     ["bc_10cmd64_last/eval"]),
    ("bc", 25, "bc_25w16", "execute 1", "bc_25w16/train_layouts.json", ["bc_25w16/eval"]),
    ("bc, 5000 steps", 25, "bc_25w16s5k", "execute 1", "bc_25w16s5k/train_layouts.json", ["bc_25w16s5k/eval"]),
    ("bc", 100, "bc_100w16", "execute 1", "bc_100w16/train_layouts.json", ["bc_100w16/eval", "bc_100w16/eval_s12"]),
    ("scratch, commanded state", 10, "scratchcmd_10", "execute 1, best (step 3000)", "scratchcmd_10/train_layouts.json", []),
    ("scratch, commanded state", 10, "scratchcmd_10", "execute 2, best (step 3000)",
     "scratchcmd_10/train_layouts_execute2.json", []),
    ("scratch, commanded state", 10, "scratchcmd_10", "execute 4, best (step 3000)",
     "scratchcmd_10/train_layouts_execute4.json", []),
    ("scratch, commanded state", 10, "scratchcmd_10", "execute 1, last (step 15000)",
     "scratchcmd_10/train_layouts_last_execute1.json", []),
    ("scratch, commanded state", 10, "scratchcmd_10", "execute 2, last (step 15000)",
     "scratchcmd_10/train_layouts_last_execute2.json", ["scratchcmd_10_last_x2/eval", "scratchcmd_10_last_x2/eval_s12"]),
    ("scratch, commanded state", 10, "scratchcmd_10", "execute 4, last (step 15000)",
     "scratchcmd_10/train_layouts_last_execute4.json", ["scratchcmd_10_last_x4/eval"]),
    ("scratch, 5000 steps", 25, "scratchqr_25", "execute 1", "scratchqr_25/train_layouts.json", ["scratchqr_25/eval"]),
    ("scratch, 5000 steps", 25, "scratchqr_25", "execute 4", "scratchqr_25/train_layouts_execute4.json",
     ["scratchqr_25_x4/eval"]),
    ("scratch", 25, "scratch_25s15k", "execute 1", "scratch_25s15k/train_layouts.json", []),
    ("scratch", 25, "scratch_25s15k", "execute 2", "scratch_25s15k/train_layouts_execute2.json", []),
    ("scratch", 25, "scratch_25s15k", "execute 4", "scratch_25s15k/train_layouts_execute4.json",
     ["scratch_25s15k_x4/eval"]),
    ("scratch, short sequence", 25, "scratchshort_25", "execute 1", "scratchshort_25/train_layouts.json", []),
    ("scratch, short sequence", 25, "scratchshort_25", "execute 4", "scratchshort_25/train_layouts_execute4.json",
     ["scratchshort_25_x4/eval"]),
    ("scratch, commanded state", 25, "scratchcmd_25", "execute 1", "scratchcmd_25/train_layouts.json",
     ["scratchcmd_25_x1/eval"]),
    ("scratch, commanded state", 25, "scratchcmd_25", "execute 2", "scratchcmd_25/train_layouts_execute2.json",
     ["scratchcmd_25_x2/eval"]),
    ("scratch, commanded state", 25, "scratchcmd_25", "execute 4", "scratchcmd_25/train_layouts_execute4.json",
     ["scratchcmd_25_x4/eval"]),
    ("scratch, commanded state, 25000 steps", 25, "scratchcmd_25s25k", "execute 2, last (step 25000)",
     "scratchcmd_25s25k/train_layouts_execute2.json", []),
    ("scratch, commanded state, 25000 steps", 25, "scratchcmd_25s25k", "execute 4, last (step 25000)",
     "scratchcmd_25s25k/train_layouts_execute4.json", ["scratchcmd_25s25k_x4/eval"]),
    ("scratch, commanded state, 25000 steps, 64 px", 25, "scratch64_25s25k", "execute 4, last (step 25000)",
     "scratch64_25s25k/train_layouts_execute4.json", ["scratch64_25s25k_x4/eval"]),
    ("scratch, DART 0.005 demos", 25, "scratch_dart25", "execute 1", "scratch_dart25/train_layouts.json", []),
    ("scratch, DART 0.005 demos", 25, "scratch_dart25", "execute 2", "scratch_dart25/train_layouts_execute2.json", []),
    ("scratch, DART 0.005 demos", 25, "scratch_dart25", "execute 4", "scratch_dart25/train_layouts_execute4.json",
     ["scratch_dart25_x4/eval"]),
    ("scratch", 100, "scratch_100", "execute 1", "scratch_100/train_layouts.json", []),
    ("scratch", 100, "scratch_100", "execute 2", "scratch_100/train_layouts_execute2.json", ["scratch_100_x2/eval"]),
    ("scratch", 100, "scratch_100", "execute 4", "scratch_100/train_layouts_execute4.json",
     ["scratch_100_x4/eval", "scratch_100_x4/eval_s12"]),
    ("scratch", 100, "scratch_100", "ensemble 0.01", "scratch_100/train_layouts_ens.json", []),
    ("scratch, commanded state", 100, "scratchcmd_100", "execute 2, last (step 15000)",
     "scratchcmd_100/train_layouts_execute2.json", ["scratchcmd_100_x2/eval"]),
    ("scratch, commanded state", 100, "scratchcmd_100", "execute 4, last (step 15000)",
     "scratchcmd_100/train_layouts_execute4.json", ["scratchcmd_100_x4/eval"]),
]
SHORT = {"PutSpoonOnTableClothInScene-v1": "spoon", "PutCarrotOnPlateInScene-v1": "carrot",
         "StackGreenCubeOnYellowCubeBakedTexInScene-v1": "stack", "PutEggplantInBasketScene-v1": "eggplant"}
TASKS = list(SHORT.values())


def read(rel):
    p = HERE / rel
    return json.loads(p.read_text()) if p.is_file() else None


def offline(run):
    ev, state = read(f"{run}/eval.json"), read(f"{run}/trainer_state.json")
    if ev is None:
        return ["not run"] * 3
    twin = ev.get("blind_twin", {}).get("action_error")
    steps = (state or {}).get("step") or ev.get("train", {}).get("steps")
    secs = ev.get("train", {}).get("seconds_this_session")
    train = f"{steps} ({secs / 60:.0f} min, {ev.get('train', {}).get('device', '?')})" if secs else f"{steps}"
    err = f"{ev['action_error']:.3f} / {ev['mean_action_error']:.3f} / {twin:.3f}" if twin else f"{ev['action_error']:.3f}"
    return [train, err, f"{ev['ratio_to_mean_action']:.2f}{'' if ev.get('learned') else ' (not learned)'}"]


def layouts(rel):
    d = read(rel)
    if d is None:
        return ["not run", "", ""]
    eps = d["episodes"]
    known = all("held_out" in e for e in eps)
    eps = [e for e in eps if not e.get("held_out")]
    mark = "" if known else " *"
    per = " ".join(f"{sum(e['success_once'] for e in eps if SHORT[e['task']] == t)}/"
                   f"{sum(SHORT[e['task']] == t for e in eps)}" for t in TASKS)
    ok = sum(bool(e["success_once"]) for e in eps)
    failed = Counter(e["outcome"] for e in eps if e.get("outcome") and not e["success_once"])
    why = ", ".join(f"{k} {v}" for k, v in failed.most_common()) if any("outcome" in e for e in eps) else "-"
    return [f"**{ok}/{len(eps)}**{mark} ({per})", f"{sum(bool(e['grasped']) for e in eps)}/{len(eps)}", why or "none"]


def simpler(folders):
    """SIMPLER's success over units (layouts; a checkpoint's evaluation seeds pooled: lapa_bench.app.report)."""
    dirs = [HERE / f for f in folders if any((HERE / f).glob("records*.jsonl"))]
    if not dirs:
        return ["not run", "", "", ""]
    df = load_records(dirs)
    s = summarize(df)
    avg = s[s["task"] == "Average"].iloc[0]
    per = " ".join(f"{s[s['task'] == t]['success_once'].iloc[0]:.0f}" for t in TASKS if (s["task"] == t).any())

    def rate(col):
        return f"{avg[col]:.1f} [{avg[col + '_lo']:.0f}, {avg[col + '_hi']:.0f}]"

    return [f"**{rate('success_once')}** ({per})", rate("success_at_end"), rate("grasped"),
            n_text(int(avg["n"]), int(avg["episodes"]), int(avg["trained_seeds"]))]


def main():
    head = ["method", "demos/task", "steps (train time, device)", "held-out error: model / mean action / blind twin",
            "ratio to mean", "rollout", "training layouts: success (spoon carrot stack eggplant)", "grasp",
            "why the failed ones failed (outcome)",
            "SIMPLER success any step [95 % CI] (spoon carrot stack eggplant, %)", "at end", "grasp (ever)",
            "n (units: layouts; x evaluation seeds pooled into each)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for method, n, run, rollout, tl, evals in ROWS:
        print("| " + " | ".join([method, str(n), *offline(run), rollout, *layouts(tl), *simpler(evals)]) + " |")
    print("\n`*`: the run predates the record of held-out episodes: all 40 layouts counted, a few of them held out "
          "(results/learning/trained_layouts.py counts the trained ones). Training layouts: the first 10 "
          "demonstrations per task, closed loop (`data replay-check --policy`), held-out ones excluded. Outcomes "
          "(`lapa_bench.rollout.OUTCOMES`, recorded from the tenth round on; `-` before): never_grasped, not_lifted "
          "(grasped, never 2 cm above its start), held_off_target, released_off_target. SIMPLER intervals: Wilson over "
          "the independent units (one trained seed x the layouts); a checkpoint's evaluation seeds replicate each "
          "other (greedy policy, layout fixed by the episode id), so they are pooled into one outcome per layout.")


if __name__ == "__main__":
    main()
