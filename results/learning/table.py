"""The table of every run in results/learning, built from what each run folder recorded (no weights needed, no
list of rows kept by hand): one row per (run, rollout setting) that was checked on the training layouts or
evaluated on SIMPLER's layouts.

    .venv/bin/python results/learning/table.py > results/learning/table.md

A run folder holds ``config.json`` (policy and model config), ``trainer_state.json`` (steps, data),
``eval.json`` (the offline learning check) and ``run.json`` (labelled demonstrations per task, which the
trainer did not record, and the name the folder had when its scripts in log/ ran). A rollout setting is
what a check or an evaluation recorded: the checkpoint (best / last weights) and the policy config it was
given; training-layout checks are ``train_layouts*.json``, SIMPLER evaluations are record folders (``eval*/``)
anywhere under the run folder, matched through their ``manifest.json``.
"""
import json
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from lapa_bench.app.report import load_records, n_text, summarize  # noqa: E402

SHORT = {"PutSpoonOnTableClothInScene-v1": "spoon", "PutCarrotOnPlateInScene-v1": "carrot",
         "StackGreenCubeOnYellowCubeBakedTexInScene-v1": "stack", "PutEggplantInBasketScene-v1": "eggplant"}
TASKS = list(SHORT.values())
# the model settings a row names when they differ from its method's recipe (configs/learning.yaml's headline run)
RECIPES = {"bc": "bc_100demos", "scratch": "scratch_25demos_commanded_state"}
SHOWN = ("image_size", "width", "chunk", "proprio", "random_shift", "command_state", "target_offset", "pool_prompt",
         "query_tokens", "query_readout", "vision.model_type", "vision.depth", "vision.readout",
         "text.initializer_range", "text.num_hidden_layers")


def read(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def flat(cfg: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in cfg.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def setting(run: Path, cfg: dict, state: dict) -> str:
    """What sets this run apart from its method's recipe: model settings, and data other than the oracle's."""
    import dataclasses

    from lapa_bench.policy import get_policy_class

    # a setting added after a run was made counts as its default (off), as in lapa_bench.fingerprint
    fields = dataclasses.fields(get_policy_class(cfg["policy"]).config_class)
    later = {f.name: f.default for f in fields if f.default is not dataclasses.MISSING}
    ref = read(HERE / RECIPES.get(cfg["policy"], "") / "config.json")
    mine = {**later, **flat(cfg["config"])}
    base = {**later, **flat(ref["config"])} if ref and run.name != RECIPES.get(cfg["policy"]) else {}
    parts = [f"{k.split('.')[-1]} {mine[k]}" for k in SHOWN if base and k in mine and mine[k] != base.get(k)]
    data = [Path(d).name for d in state.get("data", [])]
    parts += [f"data {d}" for d in data if not d.startswith("demos") or "_" in d]
    return ", ".join(parts) or "the recipe"


def rollout_key(checkpoint: str, policy_config: dict) -> tuple:
    """(best or last weights, the rollout settings) of a check's or an evaluation's recorded config."""
    last = str(checkpoint).rstrip("/").endswith("/last")
    return last, tuple(sorted((k, v) for k, v in (policy_config or {}).items()))


def rollout_text(key: tuple, steps) -> str:
    last, cfg = key
    conf = dict(cfg)
    parts = [f"execute {conf.pop('execute', 1)}"] + [f"{k} {v}" for k, v in conf.items()]
    return ", ".join(parts) + (f", last weights (step {steps})" if last else "")


def offline(ev, state) -> list:
    if ev is None:
        return ["not run"] * 3
    twin = ev.get("blind_twin", {}).get("action_error")
    steps = (state or {}).get("step") or ev.get("train", {}).get("steps")
    secs = ev.get("train", {}).get("seconds")
    train = f"{steps} ({secs / 60:.0f} min, {ev.get('train', {}).get('device', '?')})" if secs else f"{steps}"
    err = f"{ev['action_error']:.3f}" + (f" / {ev['mean_action_error']:.3f} / {twin:.3f}" if twin else "")
    return [train, err, f"{ev['ratio_to_mean_action']:.2f}{'' if ev.get('learned') else ' (not learned)'}"]


def layouts(d) -> list:
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


def simpler(dirs) -> list:
    """SIMPLER's success over units (layouts; a checkpoint's evaluation seeds pooled: lapa_bench.app.report)."""
    if not dirs:
        return ["not run", "", "", ""]
    s = summarize(load_records(dirs))
    avg = s[s["task"] == "Average"].iloc[0]
    per = " ".join(f"{s[s['task'] == t]['success_once'].iloc[0]:.0f}" for t in TASKS if (s["task"] == t).any())

    def rate(col):
        return f"{avg[col]:.1f} [{avg[col + '_lo']:.0f}, {avg[col + '_hi']:.0f}]"

    return [f"**{rate('success_once')}** ({per})", rate("success_at_end"), rate("grasped"),
            n_text(int(avg["n"]), int(avg["episodes"]), int(avg["trained_seeds"]))]


def rows_of(run: Path):
    """(rollout key, training-layout result, SIMPLER record folders) for every setting recorded in ``run``."""
    named = (read(run / "run.json") or {}).get("named", run.name)

    def mine(checkpoint: str) -> bool:  # the checkpoint path as recorded when the run had its old name
        parts = str(checkpoint).rstrip("/").split("/")
        return named in parts[-2:] or run.name in parts[-2:]

    found = {}
    for f in sorted(run.glob("train_layouts*.json")):
        d = read(f)
        if mine(d.get("checkpoint", "")):
            found.setdefault(rollout_key(d["checkpoint"], d.get("policy_config")), [None, []])[0] = d
    for m in sorted(run.rglob("manifest*.json")):
        c = read(m)["config"]
        if mine(c.get("checkpoint") or "") and any(m.parent.glob("records*.jsonl")):
            found.setdefault(rollout_key(c["checkpoint"], c.get("policy_config")), [None, []])[1].append(m.parent)
    return sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1]))


def main():
    head = ["run", "method: setting", "demos/task", "steps (train time, device)",
            "held-out error: model / mean action / blind twin", "ratio to mean", "rollout",
            "training layouts: success (spoon carrot stack eggplant)", "grasp", "why the failed ones failed (outcome)",
            "SIMPLER success any step [95 % CI] (spoon carrot stack eggplant, %)", "at end", "grasp (ever)",
            "n (units: layouts; x evaluation seeds pooled into each)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    runs = sorted((p for p in HERE.iterdir() if (p / "trainer_state.json").is_file()),
                  key=lambda p: (read(p / "config.json")["policy"], read(p / "run.json")["demos_per_task"], p.name))
    for run in runs:
        cfg, state, ev = read(run / "config.json"), read(run / "trainer_state.json"), read(run / "eval.json")
        head_cells = [f"[{run.name}]({run.name})", f"{cfg['policy']}: {setting(run, cfg, state)}",
                      str(read(run / "run.json")["demos_per_task"]), *offline(ev, state)]
        for key, (tl, evals) in rows_of(run) or [((False, ()), (None, []))]:
            print("| " + " | ".join([*head_cells, rollout_text(key, state.get("step")), *layouts(tl),
                                     *simpler(evals)]) + " |")
    print("\n`*`: the run predates the record of held-out episodes: all 40 layouts counted, a few of them held out "
          "(results/learning/trained_layouts.py counts the trained ones). Setting: the model settings that differ "
          "from the method's recipe (`bc_100demos`, `scratch_25demos_commanded_state`: configs/learning.yaml) and "
          "data other than the oracle's. Training layouts: the first 10 demonstrations per task, closed loop "
          "(`data replay-check --policy`), held-out ones excluded. Outcomes (`lapa_bench.rollout.OUTCOMES`; `-` where "
          "not recorded): never_grasped, not_lifted (grasped, never 2 cm above its start), held_off_target, "
          "released_off_target. SIMPLER intervals: Wilson over the independent units (one trained seed x the "
          "layouts); a checkpoint's evaluation seeds replicate each other (greedy policy, layout fixed by the "
          "episode id), so they are pooled into one outcome per layout.")


if __name__ == "__main__":
    main()
