"""Success-rate tables (pandas) and plots (matplotlib) from one or more run dirs.

What is counted is what is independent. SIMPLER's layout is fixed by the episode id and a trained policy acts
greedily, so evaluation seeds of one checkpoint on one layout are near-copies, not new samples. A *unit* is
(policy, trained seed, task, episode id): its evaluation seeds are pooled into one outcome (the mean of their
successes), and every rate, Wilson 95 % score interval and paired bootstrap rests on units (trained seeds x
layouts), never on replicate seeds. Tables give n as units and the episodes behind them ("96 layouts x 3
seeds"); when the seeds of a policy agree on nearly every layout the report says so. The ``Average`` column
pools every unit of the row.
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lapa_bench.errors import MissingFile, UserError
from lapa_bench.records import read_records

METRICS = {
    "success_at_end": "success at end",
    "success_once": "success at any step",
    "grasped": "grasp (ever)",
    "consecutive_grasp": "grasp (>=5 steps)",
}
Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (returns fractions)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _reduced_render(run_dir: Path) -> str:
    """What a row's label says of an evaluation rendered below SIMPLER's resolution (``eval --render-scale``): a
    development check is never shown as a SIMPLER result, in any table or plot ("" at full resolution)."""
    manifest = run_dir / "manifest.json"
    scale = json.loads(manifest.read_text()).get("render", {}).get("scale", 1.0) if manifest.is_file() else 1.0
    return "" if scale == 1.0 else f" [rendered at {scale:g}x: development check]"


def load_records(run_dirs, planned: dict | None = None) -> pd.DataFrame:
    """The records of ``run_dirs``; ``planned`` ({run dir: set of (task, episode id, seed)}): only those
    episodes of a dir (a folder evaluated earlier with more episodes or seeds keeps its records; a report of the
    current settings must not count them)."""
    rows = []
    for d in run_dirs:
        d = Path(d)
        if not d.is_dir():
            raise MissingFile(f"run dir {d} does not exist")
        skipped: list = []
        recs = read_records(d, skipped)
        if planned is not None and str(d) in planned:
            keep = planned[str(d)]
            recs = [r for r in recs if (r["task"], int(r["episode_id"]), int(r["seed"])) in keep]
        ids = sorted({r["run_id"] for r in recs if r.get("run_id")})
        if len(ids) > 1:
            raise UserError(f"run dir {d} mixes the records of {len(ids)} runs (run ids {ids}); "
                             "report each run from its own folder")
        if skipped:
            print(f"[report] warning: {len(skipped)} line(s) of {d} skipped: " + "; ".join(skipped[:3])
                  + (" ..." if len(skipped) > 3 else ""), file=sys.stderr)
        if not recs:
            raise UserError(f"run dir {d} has no episode records (records*.jsonl); did the eval run?")
        mark = _reduced_render(d)
        for r in recs:
            r = dict(r)
            r["label"] = (r.get("label") or r["policy"]) + mark
            r["run_dir"] = str(d)
            rows.append(r)
    df = pd.DataFrame(rows)
    extra = df["extra"] if "extra" in df else pd.Series([{}] * len(df), index=df.index)
    extra = extra.map(lambda e: e if isinstance(e, dict) else {})
    # a sweep's tags (EvalConfig.tags): independently trained seeds of one policy, its method and labelled-set size
    df["train_seed"] = extra.map(lambda e: e.get("train_seed", 0))
    df["method"] = extra.map(lambda e: e.get("method"))
    df["demos_per_task"] = extra.map(lambda e: e.get("demos_per_task"))
    # one policy identity per row and trained seed: two checkpoints (run ids) under one label would be pooled
    if "run_id" in df:
        ids = df[df["run_id"].notna()].groupby(["label", "train_seed"])["run_id"].unique()
        mixed = {k: v for k, v in ids.items() if len(v) > 1}
        if mixed:
            (label, ts), runs = next(iter(mixed.items()))
            dirs = sorted(set(df[(df["label"] == label) & df["run_id"].isin(runs)]["run_dir"]))
            raise UserError(f"label {label!r} (trained seed {ts}) names {len(runs)} different runs (run ids "
                             f"{sorted(runs)}, in {dirs}): different checkpoints or settings would be pooled in "
                             "one row; give them distinct labels (eval --label) or report them separately")
    # one row per (label, task, episode, seed, trained seed): the last record wins if a run was merged twice
    df = df.drop_duplicates(subset=["label", "task", "episode_id", "seed", "train_seed"], keep="last")
    df["errored"] = df["error"].notna()
    return df


UNIT = ["label", "train_seed", "task", "episode_id"]  # what can differ for a reason: policy, trained seed, layout


def units(df: pd.DataFrame) -> pd.DataFrame:
    """One row per unit (:data:`UNIT`): each metric the mean over the unit's evaluation seeds (a fraction),
    ``eval_seeds`` how many there were, ``errored`` whether any of them errored."""
    d = df.assign(**{m: df[m].astype(float) for m in METRICS}, errored=df["errored"].astype(float))
    g = d.groupby(UNIT, sort=False)
    out = g[[*METRICS, "errored"]].mean()
    out["eval_seeds"] = g.size()
    for col in ("method", "demos_per_task"):
        out[col] = g[col].first()
    return out.reset_index()


def seed_agreement(df: pd.DataFrame) -> pd.DataFrame:
    """Per policy (label) with several evaluation seeds: on how many units all seeds agree on ``success_once``."""
    rows = []
    for label, g in df.groupby("label", sort=False):
        per = g.groupby(UNIT[1:])["success_once"].agg(["nunique", "size"])
        per = per[per["size"] > 1]
        if len(per):
            rows.append({"policy": label, "agree": int((per["nunique"] == 1).sum()), "units": len(per)})
    return pd.DataFrame(rows)


def n_text(n_units: int, n_episodes: int, trained_seeds: int) -> str:
    """``96 layouts x 3 seeds`` (evaluation seeds), ``288 (3 trained seeds x 96 layouts)``, or ``96``."""
    unit = f"{n_units}"
    if trained_seeds > 1:
        unit += f" ({trained_seeds} trained seeds x {n_units // trained_seeds} layouts)"
    else:
        unit += " layouts"
    if n_episodes != n_units:
        per = n_episodes / n_units
        unit += f" x {per:.0f} seeds" if per == int(per) else f", {n_episodes} episodes"
    return unit


def _task_short(env_id: str) -> str:
    from lapa_bench.tasks import TASKS

    for t in TASKS.values():
        if t.env_id == env_id:
            return t.name
    return env_id


def _task_order(env_ids) -> list[str]:
    """The suite's task order (spoon, carrot, stack, eggplant, as in the paper's table), whatever
    order the records were written in; tasks outside the suite follow in order of appearance."""
    from lapa_bench.tasks import TASKS

    seen = list(dict.fromkeys(env_ids))
    suite = [t.env_id for t in TASKS.values() if t.env_id in seen]
    return suite + [t for t in seen if t not in suite]


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per (label, task) plus (label, 'Average'), every metric with its Wilson interval over
    units (:func:`units`: evaluation seeds pooled); ``n`` units, ``episodes`` the records behind them."""
    out = []
    order = _task_order(df["task"])
    u = units(df)
    for label, g in u.groupby("label", sort=False):
        parts = [(t, g[g["task"] == t]) for t in order if (g["task"] == t).any()] + [("Average", g)]
        for task, s in parts:
            episodes = int(s["eval_seeds"].sum())
            row = {"policy": label, "task": _task_short(task) if task != "Average" else task,
                   "n": len(s), "episodes": episodes, "trained_seeds": int(s["train_seed"].nunique()),
                   "errors": int(round((s["errored"] * s["eval_seeds"]).sum()))}
            for m in METRICS:
                k = float(s[m].sum())  # units' outcomes (fractions when their evaluation seeds disagree)
                lo, hi = wilson_interval(k, len(s))
                row[m] = 100 * k / len(s)
                row[f"{m}_lo"], row[f"{m}_hi"] = 100 * lo, 100 * hi
            out.append(row)
    return pd.DataFrame(out)


def paired_difference(df: pd.DataFrame, a: str, b: str, metric: str = "success_once", n_boot: int = 4000,
                      seed: int = 0) -> dict:
    """Rate of ``a`` minus rate of ``b`` (percentage points) with a 95 % paired-bootstrap interval.

    The two policies are paired on the layouts they share (task, episode id: the layout is fixed by the
    episode id, so the same layout is the natural pair; a policy's evaluation seeds on a layout are pooled into
    one outcome, never resampled as if independent). Each bootstrap draw
    resamples the shared layouts with replacement and, when ``df`` has several ``train_seed`` values per
    policy (records' ``extra.train_seed``: independently *trained* seeds), each policy's trained seeds
    with replacement, so the interval covers both sources of variance. Returns ``{"diff", "lo", "hi", "layouts", "train_seeds"}``.
    """
    def table(label):  # (layouts, trained seeds), each cell a unit: its evaluation seeds pooled
        g = df[df["label"] == label]
        return (g.assign(v=g[metric].astype(float))
                .pivot_table(index=["task", "episode_id"], columns="train_seed", values="v", aggfunc="mean"))

    ta, tb = table(a), table(b)
    shared = ta.index.intersection(tb.index)
    if not len(shared):
        raise UserError(f"{a!r} and {b!r} share no evaluated layouts (task, episode): nothing to pair")
    A, B = ta.loc[shared].to_numpy(), tb.loc[shared].to_numpy()  # (layouts, trained seeds), NaN if missing
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        rows = rng.integers(len(shared), size=len(shared))
        ca = rng.integers(A.shape[1], size=A.shape[1])
        cb = rng.integers(B.shape[1], size=B.shape[1])
        diffs[i] = np.nanmean(A[rows][:, ca]) - np.nanmean(B[rows][:, cb])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"diff": 100 * (np.nanmean(A) - np.nanmean(B)), "lo": 100 * lo, "hi": 100 * hi,
            "layouts": int(len(shared)), "train_seeds": (int(A.shape[1]), int(B.shape[1]))}


TARGET_HALF_WIDTH = 12.0  # points: the precision a paired difference should reach (configs/mini.yaml's design)


def seeds_for(d: dict, half_width: float) -> int | None:
    """Trained seeds per policy that would bring the paired interval ``d`` to +-``half_width`` points, projected
    from its measured width: over the same layouts, each trained seed adds one independent unit per layout, so
    the width shrinks as 1 / sqrt(seeds) (an estimate: it takes this run's variance as the variance to expect).
    None with a single trained seed on either side (nothing to project from)."""
    import math

    k = min(d["train_seeds"])
    if k < 2:  # one trained seed: the interval is over layouts only, the seeds' variance is not measured yet
        return None
    now = (d["hi"] - d["lo"]) / 2
    return k if now <= half_width else math.ceil(k * (now / half_width) ** 2)


def differences(df: pd.DataFrame, reference: str, metric: str = "success_once") -> list[dict]:
    """Every other policy minus ``reference`` (paired bootstrap, :func:`paired_difference`): one dict per policy,
    ``policy`` and ``against`` (the reference row it is paired with) added.

    ``reference`` is a policy label, or the method of a pipeline sweep (records' ``extra.method``, e.g.
    ``scratch``): then each row is compared with that method's row of the *same* labelled-set size (LAPA at
    10/task minus Scratch at 10/task, ...)."""
    labels = list(dict.fromkeys(df["label"]))
    if reference in labels:
        pairs = [(label, reference) for label in labels if label != reference]
    elif reference in set(df["method"].dropna()):
        ref = df[df["method"] == reference].groupby("demos_per_task")["label"].first()
        rows = df[df["demos_per_task"].notna()].drop_duplicates("label")
        pairs = [(r.label, ref[r.demos_per_task]) for r in rows.itertuples()
                 if r.demos_per_task in ref.index and r.label != ref[r.demos_per_task]]
    else:
        raise UserError(f"compare to {reference!r}: no such policy or method in the runs; have policies "
                         f"{labels} and methods {sorted(set(df['method'].dropna()))}")
    out = []
    for label, against in pairs:
        try:
            out.append({"policy": label, "against": against, **paired_difference(df, label, against, metric)})
        except ValueError:
            continue  # no shared layouts (e.g. a bound evaluated on other episodes)
    return out


def comparison_table(diffs: list[dict], reference: str) -> pd.DataFrame:
    """:func:`differences` as a table, with the trained seeds each side would need for +-12 points."""
    rows = [{"policy": d["policy"],
             f"minus {reference} (points)": f"{d['diff']:+.1f} [{d['lo']:+.1f}, {d['hi']:+.1f}]",
             "interval width": round(d["hi"] - d["lo"], 1), "reference": d["against"], "paired layouts": d["layouts"],
             "trained seeds": "%d vs %d" % d["train_seeds"],
             f"trained seeds for +-{TARGET_HALF_WIDTH:g} (projected)":
                 seeds_for(d, TARGET_HALF_WIDTH) or "- (needs 2 trained seeds each)"}
            for d in diffs]
    return pd.DataFrame(rows).set_index("policy") if rows else pd.DataFrame()


def _file_slug(label: str) -> str:
    """``label`` as one file name: runs of characters other than letters, digits, ``-`` and ``.`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", label).strip("_")


def plot_differences(diffs: list[dict], path: Path, reference: str, metric: str = "success_once") -> Path:
    """Each policy minus ``reference`` with its paired 95 % interval, one row per policy (zero marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 1.5 + 0.45 * len(diffs)))
    y = np.arange(len(diffs))[::-1]
    for yi, d in zip(y, diffs):
        ax.errorbar(d["diff"], yi, xerr=[[d["diff"] - d["lo"]], [d["hi"] - d["diff"]]], fmt="o", capsize=4,
                    color="tab:blue" if d["lo"] > 0 else "tab:red" if d["hi"] < 0 else "tab:gray")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_ylim(-0.6, len(diffs) - 0.4)
    ax.set_yticks(y, [f"{d['policy']}\n{d['train_seeds'][0]} vs {d['train_seeds'][1]} trained seeds" for d in diffs])
    ax.set_xlabel(f"{METRICS[metric]}: minus {reference} (percentage points)")
    ax.set_title("Paired 95 % bootstrap intervals (layouts x trained seeds)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _save_figure(fig, path)


def outcome_table(df: pd.DataFrame) -> pd.DataFrame:
    """Why the episodes ended as they did (the records' ``outcome``): per policy, the count of each outcome
    (columns in :data:`lapa_bench.rollout.OUTCOMES`' order, those seen only); records made before outcomes
    were recorded count as ``unrecorded``. Empty when no record has one."""
    from lapa_bench.rollout import OUTCOMES

    if "outcome" not in df or not df["outcome"].notna().any():
        return pd.DataFrame()
    out = df["outcome"].fillna("unrecorded")
    table = pd.crosstab(df["label"], out).reindex(index=list(dict.fromkeys(df["label"])))
    cols = [c for c in [*OUTCOMES, "unrecorded"] if c in table.columns]
    table = table[cols]
    table.index.name = "policy"
    table.columns.name = None
    return table


def wide_table(summary: pd.DataFrame, metric: str = "success_at_end", with_ci: bool = True) -> pd.DataFrame:
    def cell(r):
        v = f"{r[metric]:.1f}"
        return f"{v} [{r[metric + '_lo']:.0f}, {r[metric + '_hi']:.0f}]" if with_ci else v

    s = summary.assign(cell=summary.apply(cell, axis=1))
    tasks = list(dict.fromkeys(summary["task"]))
    t = s.pivot(index="policy", columns="task", values="cell")
    t = t[[c for c in tasks if c in t.columns]]
    avg = summary[summary["task"] == "Average"].set_index("policy")
    # by policy name (the pivot sorts its rows; avg keeps the records' order)
    t["n"] = pd.Series([n_text(r.n, r.episodes, r.trained_seeds) for r in avg.itertuples()], index=avg.index) \
        if "episodes" in avg else avg["n"]
    if avg["errors"].any():  # episodes that ended with an error (failures, counted in n), shown when any
        t["errored"] = avg["errors"]
    return t.loc[list(dict.fromkeys(summary["policy"]))]


def plot(summary: pd.DataFrame, path: Path, metric: str = "success_at_end") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(summary["task"]))
    policies = list(dict.fromkeys(summary["policy"]))
    x = np.arange(len(tasks))
    width = 0.8 / max(1, len(policies))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(tasks) + 0.5 * len(policies)), 4))
    for i, p in enumerate(policies):
        s = summary[summary["policy"] == p].set_index("task").reindex(tasks)
        v = s[metric].to_numpy()
        err = np.clip(np.vstack([v - s[f"{metric}_lo"].to_numpy(), s[f"{metric}_hi"].to_numpy() - v]), 0, None)
        ax.bar(x + (i - (len(policies) - 1) / 2) * width, v, width, yerr=err, capsize=3, label=p)
    ax.set_xticks(x, tasks)
    ax.set_ylim(0, 105)
    ax.set_ylabel(f"{METRICS[metric]} (%)")
    ax.set_title(f"SIMPLER WidowX: {METRICS[metric]}, Wilson 95% intervals")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save_figure(fig, path)


def efficiency(df: pd.DataFrame, metric: str = "success_once") -> pd.DataFrame:
    """Rate vs labelled demonstrations per task, per method (the ``method`` and ``demos_per_task`` columns of
    :func:`load_records`, from a pipeline sweep's tags; trained seeds pooled), with Wilson intervals.
    Empty when the records come from no sweep over sizes."""
    u = units(df)
    d = u[u["demos_per_task"].notna()].rename(columns={"demos_per_task": "n"})
    rows = []
    for (method, n), g in d.groupby(["method", "n"], sort=True):
        k = float(g[metric].sum())
        lo, hi = wilson_interval(k, len(g))
        rows.append({"method": method, "demos_per_task": int(n), metric: 100 * k / len(g), "lo": 100 * lo,
                     "hi": 100 * hi, "units": len(g), "episodes": int(g["eval_seeds"].sum()),
                     "train_seeds": int(g["train_seed"].nunique())})
    return pd.DataFrame(rows)


def efficiency_lines(eff: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`efficiency` the plot draws: the methods trained at more than one size (when any is)."""
    sizes_of = eff.groupby("method")["demos_per_task"].nunique()
    return eff[eff["method"].isin(sizes_of[sizes_of > 1].index)] if (sizes_of > 1).any() else eff


def plot_efficiency(eff: pd.DataFrame, path: Path, metric: str = "success_once") -> Path:
    """Success vs labelled demonstrations per task: one line per method trained at several sizes (the others
    are in ``efficiency.csv``), its Wilson band; each point names its
    trained seeds when the sizes have different numbers of them (e.g. three at the main size, one elsewhere)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    eff = efficiency_lines(eff)
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, g in eff.groupby("method", sort=False):
        g = g.sort_values("demos_per_task")
        ax.plot(g["demos_per_task"], g[metric], marker="o", label=method)
        ax.fill_between(g["demos_per_task"], g["lo"], g["hi"], alpha=0.15)
    if eff["train_seeds"].nunique() > 1:
        side = {m: (-12 if i % 2 else 6) for i, m in enumerate(dict.fromkeys(eff["method"]))}  # apart where lines meet
        for r in eff.itertuples():
            ax.annotate(f"{r.train_seeds} seed{'s' if r.train_seeds > 1 else ''}", (r.demos_per_task, getattr(r, metric)),
                        textcoords="offset points", xytext=(4, side[r.method]), fontsize=7, color="dimgray")
    ax.set_xscale("log")
    ax.minorticks_off()
    sizes = sorted(eff["demos_per_task"].unique())
    ax.set_xticks(sizes, [str(x) for x in sizes])
    ax.set_xlabel("labelled demonstrations per task")
    ax.set_ylabel(f"{METRICS[metric]} (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Data efficiency (Wilson 95% bands, trained seeds pooled)")
    ax.legend(frameon=False)
    ax.grid(alpha=0.3)
    return _save_figure(fig, path)


def _save_figure(fig, path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def to_markdown(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join([df.index.name or "policy"] + cols) + " |",
             "|" + "---|" * (len(cols) + 1)]
    for idx, row in df.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row.to_list()]) + " |")
    return "\n".join(lines)


def build_report(run_dirs, out_dir=None, metric: str = "success_at_end", quiet: bool = False,
                 metrics: list[str] | None = None, compare_to: str | list[str] | None = None,
                 planned: dict | None = None) -> dict:
    """Print the tables; write ``table.md``, ``table.csv`` (long, every metric) and ``plot.png``.

    ``metrics``: which tables to show (default: the headline ``metric`` first, then all others).
    ``compare_to``: a policy label, or a sweep's method (each size against its own); adds each other policy's
    difference to it with a paired-bootstrap 95 % interval (:func:`differences`) on the headline metric, as a table
    and as ``differences.png``. A list of references gives one table each (the first draws ``differences.png``, the
    others ``differences_<reference>.png``); a pair already shown against an earlier reference is not repeated
    reversed.
    """
    if metric not in METRICS:
        raise UserError(f"unknown metric {metric!r}; choose from {list(METRICS)}")
    df = load_records(run_dirs, planned)
    summary = summarize(df)
    sections = []
    for m in metrics or (metric, *[k for k in METRICS if k != metric]):
        sections.append((m, wide_table(summary, m)))
    text = []
    for m, t in sections:
        text.append(f"### {METRICS[m]} (%), Wilson 95% interval over units (trained seeds x layouts; "
                    f"evaluation seeds pooled)\n\n{to_markdown(t)}\n")
    agree = seed_agreement(df)
    for r in agree.itertuples():
        if r.agree >= 0.9 * r.units:
            text.append(f"{r.policy}: evaluation seeds agree on {r.agree} of {r.units} layouts: they add no "
                        "information (n counts layouts, not seeds)\n")
    outcomes = outcome_table(df)
    if len(outcomes):
        text.append(f"### Outcomes (episodes; why each ended as it did: `lapa_bench.rollout.OUTCOMES`)\n\n"
                    f"{to_markdown(outcomes)}\n")
    references = [compare_to] if isinstance(compare_to, str) else list(compare_to or [])
    compared, shown = [], set()
    for ref in references:
        diffs = [d for d in differences(df, ref, metric) if (d["against"], d["policy"]) not in shown]
        shown |= {(d["policy"], d["against"]) for d in diffs}
        if diffs:
            compared.append((ref, diffs))
            text.append(f"### {METRICS[metric]}: difference to {ref}, percentage points, 95 % paired bootstrap "
                        f"interval (over shared layouts and trained seeds)\n\n{to_markdown(comparison_table(diffs, ref))}\n")
    errors = df[df["errored"]]
    if len(errors):
        text.append(f"{len(errors)} episode(s) failed with an error (counted as failures), e.g.: "
                    f"`{errors.iloc[0]['error']}`\n")
    md = "\n".join(text)
    if not quiet:
        print(md)
    paths = {}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "table.md").write_text(md)
        summary.round(2).to_csv(out / "table.csv", index=False)
        paths = {"markdown": out / "table.md", "csv": out / "table.csv",
                 "plot": plot(summary, out / "plot.png", metric)}
        for i, (ref, diffs) in enumerate(compared):
            key, name = ("differences_plot", "differences.png") if i == 0 else \
                (f"differences_plot_{ref}", f"differences_{_file_slug(ref)}.png")
            paths[key] = plot_differences(diffs, out / name, ref, metric)
        eff = efficiency(df, metric)
        if len(eff) and eff.groupby("method")["demos_per_task"].nunique().max() > 1:
            eff.round(2).to_csv(out / "efficiency.csv", index=False)
            paths["efficiency_plot"] = plot_efficiency(eff, out / "efficiency.png", metric)
        (out / "sources.json").write_text(json.dumps([str(d) for d in run_dirs], indent=2))
    return {"summary": summary, "markdown": md, "paths": paths}
