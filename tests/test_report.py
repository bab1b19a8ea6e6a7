import json

import numpy as np
import pandas as pd
import pytest

from lapa_bench.app.report import build_report, load_records, summarize, wilson_interval


Z = 1.959963984540054


@pytest.mark.parametrize("k, n, lo, hi", [  # closed forms: k = 0 -> [0, z2/(n+z2)], k = n -> [n/(n+z2), 1]
    (0, 10, 0.0, Z**2 / (10 + Z**2)),
    (24, 24, 24 / (24 + Z**2), 1.0),
    (12, 24, 0.314274, 0.685726),  # the symmetric case, to 6 decimals
])
def test_wilson_known_values(k, n, lo, hi):
    a, b = wilson_interval(k, n)
    assert a == pytest.approx(lo, abs=1e-6) and b == pytest.approx(hi, abs=1e-6)


@pytest.mark.parametrize("k, n", [(5, 10), (81, 263), (1, 96), (95, 96)])
def test_wilson_is_the_score_equations_roots(k, n):
    """Independently: the bounds are the roots of (k/n - p)^2 = z^2 p (1 - p) / n in p."""
    ph, z2 = k / n, Z**2
    roots = sorted(np.roots([1 + z2 / n, -(2 * ph + z2 / n), ph**2]).real)
    assert wilson_interval(k, n) == pytest.approx(tuple(roots), abs=1e-9)


def test_wilson_empty_is_nan():
    assert all(np.isnan(wilson_interval(0, 0)))


def _write_run(d, label, success):
    d.mkdir()
    with open(d / "records.jsonl", "w") as f:
        for i, (task, s) in enumerate(success):
            f.write(json.dumps({"policy": label, "label": label, "checkpoint": None, "task": task,
                                "episode_id": i, "seed": 0, "success_at_end": s, "success_once": s,
                                "grasped": True, "consecutive_grasp": s, "steps": 60,
                                "wall_seconds": 1.0, "error": None if s or i % 2 else "x"}) + "\n")


def test_report_table_and_files(tmp_path):
    a = [("PutCarrotOnPlateInScene-v1", i < 3) for i in range(4)] + \
        [("PutSpoonOnTableClothInScene-v1", i < 1) for i in range(4)]
    _write_run(tmp_path / "a", "pol_a", a)
    _write_run(tmp_path / "b", "pol_b", [(t, False) for t, _ in a])
    _write_run(tmp_path / "c", "pol_c", [(t, True) for t, _ in a])  # 100%: interval touches the bound
    res = build_report([tmp_path / "a", tmp_path / "b", tmp_path / "c"], tmp_path / "out", quiet=True)
    s = res["summary"].set_index(["policy", "task"])
    assert s.loc[("pol_a", "carrot"), "success_at_end"] == 75.0
    assert s.loc[("pol_a", "spoon"), "success_at_end"] == 25.0
    assert s.loc[("pol_a", "Average"), "success_at_end"] == 50.0
    assert s.loc[("pol_a", "Average"), "n"] == 8
    assert s.loc[("pol_b", "Average"), "success_at_end"] == 0.0
    assert s.loc[("pol_a", "carrot"), "grasped"] == 100.0
    lo, hi = wilson_interval(4, 8)
    assert s.loc[("pol_a", "Average"), "success_at_end_lo"] == pytest.approx(100 * lo)
    for name in ("table.md", "table.csv", "plot.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    md = (tmp_path / "out" / "table.md").read_text()
    assert "| pol_a |" in md and "75.0 [" in md
    assert md.index("| spoon | carrot |") > 0  # the suite's order, not the order the records were written in
    csv = pd.read_csv(tmp_path / "out" / "table.csv")
    assert set(csv["policy"]) == {"pol_a", "pol_b", "pol_c"}


def test_report_on_missing_or_empty_dir(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_report([tmp_path / "nope"], quiet=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no episode records"):
        build_report([tmp_path / "empty"], quiet=True)


def test_report_warns_about_skipped_lines(tmp_path, capsys):
    _write_run(tmp_path / "a", "pol_a", [("PutCarrotOnPlateInScene-v1", True), ("PutCarrotOnPlateInScene-v1", False)])
    with open(tmp_path / "a" / "records.jsonl", "a") as f:
        f.write("garbage that is not json\n")
        f.write('{"policy": "x"}\n')
        f.write('{"task": "PutCarrotOnPlateInScene-v1", "episode_id": 7, "se')  # torn by a kill
    res = build_report([tmp_path / "a"], quiet=True)
    err = capsys.readouterr().err
    assert "3 line(s)" in err and "not JSON" in err and "not an episode record" in err and "torn" in err
    assert res["summary"].set_index(["policy", "task"]).loc[("pol_a", "Average"), "n"] == 2


def _df(rows):
    return pd.DataFrame([{"label": l, "task": "T", "episode_id": e, "seed": 0, "success_once": bool(v),
                          "train_seed": s} for l, e, v, s in rows])


def test_paired_difference_pairs_layouts_and_resamples_trained_seeds(tmp_path):
    from lapa_bench.app.report import paired_difference

    rng = np.random.default_rng(0)
    outcome = rng.random(40) < 0.4
    # the same outcomes on the same layouts: exactly 0 with a zero-width interval (pairing removes the
    # layout-to-layout variance an unpaired comparison would keep)
    d = paired_difference(_df([("a", e, v, 0) for e, v in enumerate(outcome)] +
                              [("b", e, v, 0) for e, v in enumerate(outcome)]), "a", "b")
    assert d["diff"] == 0 and d["lo"] == 0 and d["hi"] == 0 and d["layouts"] == 40
    d = paired_difference(_df([("a", e, 1, 0) for e in range(40)] + [("b", e, 0, 0) for e in range(40)]), "a", "b")
    assert d["diff"] == 100 and d["lo"] == 100 and d["hi"] == 100
    # two trained seeds of `a` that disagree completely: the interval spans what resampling seeds can give
    d = paired_difference(_df([("a", e, 1, 0) for e in range(40)] + [("a", e, 0, 1) for e in range(40)] +
                              [("b", e, 0, 0) for e in range(40)]), "a", "b")
    assert d["diff"] == 50 and d["lo"] == 0 and d["hi"] == 100 and d["train_seeds"] == (2, 1)
    with pytest.raises(ValueError, match="share no evaluated layouts"):
        paired_difference(_df([("a", 0, 1, 0), ("b", 1, 0, 0)]), "a", "b")
    # the trained seeds that would bring an interval to +-12 points: width ~ 1 / sqrt(seeds)
    from lapa_bench.app.report import seeds_for

    assert seeds_for({"lo": -30.0, "hi": 18.0, "train_seeds": (3, 3)}, 12) == 12  # +-24 at 3 seeds: 4x the seeds
    assert seeds_for({"lo": -10.0, "hi": 10.0, "train_seeds": (3, 2)}, 12) == 2  # already within: as many as now
    assert seeds_for({"lo": 0.0, "hi": 30.0, "train_seeds": (2, 2)}, 12) == 4  # +-15: 2 x (15 / 12)^2 = 3.1 -> 4
    assert seeds_for({"lo": 0.0, "hi": 10.0, "train_seeds": (1, 2)}, 12) is None  # one seed: its variance unknown
    # in the report: `--compare-to`
    a = [("PutCarrotOnPlateInScene-v1", i < 3) for i in range(4)]
    _write_run(tmp_path / "a", "pol_a", a)
    _write_run(tmp_path / "b", "pol_b", [(t, False) for t, _ in a])
    md = build_report([tmp_path / "a", tmp_path / "b"], quiet=True, metric="success_once", compare_to="pol_b")["markdown"]
    assert "difference to pol_b" in md and "| pol_a | +75.0 [" in md
    with pytest.raises(ValueError, match="no such policy"):
        build_report([tmp_path / "a"], quiet=True, compare_to="nope")
    # several references: one table each, a pair already shown not repeated reversed, one plot each
    _write_run(tmp_path / "c", "pol c", [(t, i < 2) for i, (t, _) in enumerate(a)])
    res = build_report([tmp_path / "a", tmp_path / "b", tmp_path / "c"], tmp_path / "out", quiet=True,
                       metric="success_once", compare_to=["pol_b", "pol_a"])
    md = res["markdown"]
    first, second = md.split("difference to pol_b")[1].split("difference to pol_a")
    assert "| pol_a | +75.0 [" in first and "| pol c | +50.0 [" in first
    assert "| pol c | -25.0 [" in second and "| pol_b |" not in second  # pol_b - pol_a is the first table's pair
    assert res["paths"]["differences_plot"].name == "differences.png"
    assert res["paths"]["differences_plot_pol_a"].name == "differences_pol_a.png"
    assert res["paths"]["differences_plot_pol_a"].stat().st_size > 0


def test_data_efficiency_table_and_plot_from_sweep_records(tmp_path):
    from lapa_bench.app.report import efficiency, load_records

    for method, rates in (("lapa", {10: 2, 25: 3}), ("scratch", {10: 0, 25: 1})):
        for n, k in rates.items():
            for seed in (0, 1):
                d = tmp_path / f"{method}_{n}_{seed}"
                d.mkdir()
                with open(d / "records.jsonl", "w") as f:
                    for i in range(4):
                        f.write(json.dumps({"policy": method, "label": f"{method} ({n}/task)", "checkpoint": None,
                                            "task": "PutCarrotOnPlateInScene-v1", "episode_id": i, "seed": 0,
                                            "success_once": i < k, "success_at_end": False, "grasped": False,
                                            "consecutive_grasp": False, "steps": 60, "wall_seconds": 1.0,
                                            "error": None, "extra": {"method": method, "demos_per_task": n,
                                                                     "train_seed": seed}}) + "\n")
    runs = sorted(tmp_path.iterdir())
    res = build_report(runs, tmp_path / "out", metric="success_once", quiet=True, compare_to="scratch (25/task)")
    s = res["summary"].set_index(["policy", "task"])
    assert s.loc[("lapa (25/task)", "Average"), "n"] == 8  # two trained seeds pooled, not collapsed
    eff = efficiency(load_records(runs), "success_once").set_index(["method", "demos_per_task"])
    assert eff.loc[("lapa", 25), "success_once"] == 75.0 and eff.loc[("scratch", 10), "success_once"] == 0.0
    assert eff.loc[("lapa", 10), "train_seeds"] == 2
    assert (tmp_path / "out" / "efficiency.png").stat().st_size > 0
    # the plot's lines: methods trained at several sizes; one evaluated at a single size stays in the csv only
    from lapa_bench.app.report import efficiency_lines

    one = pd.DataFrame([{"method": "vpt", "demos_per_task": 25, "success_once": 40.0, "lo": 30.0, "hi": 50.0,
                         "train_seeds": 1}])
    both = pd.concat([efficiency(load_records(runs), "success_once"), one])
    assert set(efficiency_lines(both)["method"]) == {"lapa", "scratch"}
    assert list(efficiency_lines(one)["method"]) == ["vpt"]  # no sweep: nothing to leave out
    assert "| lapa (25/task) | +50.0 [" in res["markdown"]  # paired with scratch (25/task) on the same layouts
    assert res["paths"]["differences_plot"] == tmp_path / "out" / "differences.png"  # and drawn
    assert (tmp_path / "out" / "differences.png").stat().st_size > 0
    # the method name: every size against the reference method's same size
    md = build_report(runs, None, metric="success_once", quiet=True, compare_to="scratch")["markdown"]
    rows = [r for r in md.splitlines() if "| 2 vs 2 |" in r]
    assert len(rows) == 2 and rows[0].startswith("| lapa (10/task) | +50.0 [") and "| scratch (10/task) | 4 |" in rows[0]
    assert rows[1].startswith("| lapa (25/task) | +50.0 [") and "| scratch (25/task) | 4 |" in rows[1]


def test_report_counts_outcomes_per_policy(tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    outcomes = ["success", "not_lifted", "not_lifted", "never_grasped", None]  # None: a record from before outcomes
    with open(d / "records.jsonl", "w") as f:
        for i, o in enumerate(outcomes):
            row = {"policy": "p", "label": "p", "checkpoint": None, "task": "PutCarrotOnPlateInScene-v1",
                   "episode_id": i, "seed": 0, "success_at_end": o == "success", "success_once": o == "success",
                   "grasped": o in ("success", "not_lifted"), "consecutive_grasp": False, "steps": 60,
                   "wall_seconds": 1.0, "error": None}
            if o is not None:
                row["outcome"] = o
            f.write(json.dumps(row) + "\n")
    md = build_report([d], tmp_path / "out", quiet=True)["markdown"]
    assert "### Outcomes" in md
    assert "| policy | success | never_grasped | not_lifted | unrecorded |" in md and "| p | 1 | 1 | 2 | 1 |" in md


def _write_seeds(d, label, outcomes, seeds, run_id="r1", train_seed=None):
    """``outcomes[seed][i]``: success of layout i (carrot episode i) at evaluation seed ``seed``."""
    d.mkdir(parents=True)
    with open(d / "records.jsonl", "w") as f:
        for s in seeds:
            for i, ok in enumerate(outcomes[s]):
                f.write(json.dumps({"policy": label, "label": label, "checkpoint": None, "run_id": run_id,
                                    "task": "PutCarrotOnPlateInScene-v1", "episode_id": i, "seed": s,
                                    "success_at_end": bool(ok), "success_once": bool(ok), "grasped": bool(ok),
                                    "consecutive_grasp": bool(ok),
                                    "steps": 60, "wall_seconds": 1.0, "error": None,
                                    "extra": {} if train_seed is None else {"train_seed": train_seed}}) + "\n")


def test_replicate_evaluation_seeds_are_one_unit(tmp_path):
    """Three evaluation seeds that replicate each other give the interval of the distinct layouts (n = 24, not
    72), the table says so, and the paired bootstrap is the one of a single seed: it resamples units."""
    from lapa_bench.app.report import paired_difference

    rng = np.random.default_rng(0)
    a = list(rng.random(24) < 0.5)
    b = list(rng.random(24) < 0.3)
    _write_seeds(tmp_path / "a3", "a", {s: a for s in (0, 1, 2)}, (0, 1, 2))
    _write_seeds(tmp_path / "b3", "b", {s: b for s in (0, 1, 2)}, (0, 1, 2))
    _write_seeds(tmp_path / "a1", "a", {0: a}, (0,))
    _write_seeds(tmp_path / "b1", "b", {0: b}, (0,))
    three = build_report([tmp_path / "a3", tmp_path / "b3"], quiet=True)
    one = build_report([tmp_path / "a1", tmp_path / "b1"], quiet=True)
    s3, s1 = (r["summary"].set_index(["policy", "task"]).loc[("a", "Average")] for r in (three, one))
    lo, hi = wilson_interval(sum(a), 24)
    assert s3["n"] == 24 and s3["episodes"] == 72
    assert (s3["success_once_lo"], s3["success_once_hi"]) == pytest.approx((100 * lo, 100 * hi))
    assert (s3["success_once_lo"], s3["success_once_hi"]) == (s1["success_once_lo"], s1["success_once_hi"])
    assert "24 layouts x 3 seeds" in three["markdown"]
    assert "evaluation seeds agree on 24 of 24 layouts: they add no information" in three["markdown"]
    df3 = load_records([tmp_path / "a3", tmp_path / "b3"])
    df1 = load_records([tmp_path / "a1", tmp_path / "b1"])
    d3, d1 = paired_difference(df3, "a", "b"), paired_difference(df1, "a", "b")
    assert d3 == d1 and d3["layouts"] == 24
    # seeds that disagree on a layout: that unit counts half
    c = list(a)
    c[0] = not a[0]
    _write_seeds(tmp_path / "mixed", "m", {0: a, 1: c}, (0, 1))
    sm = build_report([tmp_path / "mixed"], quiet=True)["summary"].set_index(["policy", "task"]).loc[("m", "Average")]
    assert sm["success_once"] == pytest.approx(100 * (sum(a) + (0.5 - a[0])) / 24)


def test_each_row_has_its_own_n_whatever_the_order_of_the_policies(tmp_path):
    """Rows keep the records' order (not alphabetical) and each carries its own n: a policy with two trained
    seeds listed before bounds with one."""
    outcome = [True, False, True]
    for seed in (0, 1):
        _write_seeds(tmp_path / f"z{seed}", "zeta", {0: outcome}, (0,), run_id=f"z{seed}", train_seed=seed)
    _write_seeds(tmp_path / "s", "scripted", {0: [True] * 3}, (0,), run_id="s")
    _write_seeds(tmp_path / "a", "alpha", {0: [False] * 3}, (0,), run_id="a")
    md = build_report([tmp_path / "z0", tmp_path / "z1", tmp_path / "s", tmp_path / "a"], quiet=True,
                      metric="success_once")["markdown"]
    rows = [r for r in md.split("###")[1].splitlines() if r.startswith("| ") and not r.startswith("| policy")]
    assert [r.split(" | ")[0] for r in rows] == ["| zeta", "| scripted", "| alpha"]
    assert rows[0].endswith("| 6 (2 trained seeds x 3 layouts) |")
    assert rows[1].endswith("| 3 layouts |") and rows[2].endswith("| 3 layouts |")


def test_one_label_two_checkpoints_is_refused(tmp_path):
    """Two folders of the same label from different runs (checkpoints) are not merged into one row."""
    _write_seeds(tmp_path / "x", "scratch", {0: [True, False]}, (0,), run_id="aaa")
    _write_seeds(tmp_path / "y", "scratch", {0: [False, False]}, (0,), run_id="bbb")
    with pytest.raises(ValueError, match=r"label 'scratch' \(trained seed 0\) names 2 different runs"):
        build_report([tmp_path / "x", tmp_path / "y"], quiet=True)
    # independently trained seeds of one row are distinct runs by design
    _write_seeds(tmp_path / "s1", "scratch", {0: [True, True]}, (0,), run_id="ccc", train_seed=1)
    _write_seeds(tmp_path / "s0", "scratch", {0: [True, False]}, (0,), run_id="aaa", train_seed=0)
    s = build_report([tmp_path / "s0", tmp_path / "s1"], quiet=True)["summary"]
    assert s.set_index(["policy", "task"]).loc[("scratch", "Average"), "n"] == 4


def test_report_counts_only_the_planned_episodes(tmp_path):
    """A folder evaluated earlier with more seeds keeps those records; a report of the current settings
    (the pipeline's ``planned`` keys) counts only what they ask for."""
    _write_seeds(tmp_path / "r", "p", {0: [True, False], 1: [True, True]}, (0, 1))
    task = "PutCarrotOnPlateInScene-v1"
    s = build_report([tmp_path / "r"], quiet=True, planned={str(tmp_path / "r"): {(task, 0, 0), (task, 1, 0)}})
    avg = s["summary"].set_index(["policy", "task"]).loc[("p", "Average")]
    assert avg["episodes"] == 2 and avg["success_once"] == 50.0


def test_paired_bootstrap_against_an_independent_computation():
    """A mixed case (one trained seed each): the paired bootstrap's interval equals a direct resampling of the
    per-layout differences with the same generator, and is much narrower than an unpaired one when the two
    policies' outcomes correlate (they fail on the same hard layouts)."""
    from lapa_bench.app.report import paired_difference

    rng = np.random.default_rng(7)
    hard = rng.random(96) < 0.5
    a = ~hard | (rng.random(96) < 0.2)  # a solves the easy layouts and a few hard ones
    b = ~hard & (rng.random(96) < 0.8)  # b loses some easy ones
    d = paired_difference(_df([("a", e, v, 0) for e, v in enumerate(a)] + [("b", e, v, 0) for e, v in enumerate(b)]),
                          "a", "b", n_boot=2000, seed=3)
    diff = a.astype(float) - b.astype(float)
    g = np.random.default_rng(3)
    boots = []
    for _ in range(2000):  # the same draws the report makes: layouts, then each policy's (single) trained seed
        rows = g.integers(96, size=96)
        g.integers(1, size=1), g.integers(1, size=1)
        boots.append(diff[rows].mean())
    lo, hi = np.percentile(boots, [2.5, 97.5])
    assert d["diff"] == pytest.approx(100 * diff.mean())
    assert (d["lo"], d["hi"]) == pytest.approx((100 * lo, 100 * hi))
    # unpaired: a and b resampled independently
    un = [a[g.integers(96, size=96)].mean() - b[g.integers(96, size=96)].mean() for _ in range(2000)]
    ulo, uhi = np.percentile(un, [2.5, 97.5])
    assert (d["hi"] - d["lo"]) < 0.75 * 100 * (uhi - ulo)


def test_a_pipeline_whose_every_episode_errored_fails(tmp_path):
    from lapa_bench.pipeline.run import write_report

    d = tmp_path / "e"
    d.mkdir()
    with open(d / "records.jsonl", "w") as f:
        for i in range(3):
            f.write(json.dumps({"policy": "p", "label": "p", "checkpoint": None, "task": "PutCarrotOnPlateInScene-v1",
                                "episode_id": i, "seed": 0, "success_at_end": False, "success_once": False,
                                "grasped": False, "consecutive_grasp": False, "steps": 0, "error": "boom"}) + "\n")
    with pytest.raises(ValueError, match="every evaluated episode ended with an error"):
        write_report([d], tmp_path / "r", ["success_once"], None, [], None)
    _write_run(tmp_path / "ok", "q", [("PutCarrotOnPlateInScene-v1", True)])
    write_report([d, tmp_path / "ok"], tmp_path / "r2", ["success_once"], None, ["x/n1/s0"], None)  # one good: no error
    assert "Cells not yet run" in (tmp_path / "r2" / "table.md").read_text()


def test_a_cell_still_being_evaluated_is_not_a_row(tmp_path):
    """The pipeline's report of a folder where another process is evaluating a cell: the finished cell is a row,
    the partial one is listed with its progress, not reported from a few layouts."""
    from lapa_bench.pipeline.config import PipelineConfig
    from lapa_bench.pipeline.stages import Stages
    from lapa_bench.pipeline.run import report_cells
    from lapa_bench.pipeline.cells import slug

    cfg = PipelineConfig.from_dict({
        "name": "t", "out": str(tmp_path), "demos": {"tasks": ["carrot"], "episodes": 2},
        "demos_per_task": [2], "train_seeds": [0, 1], "methods": {"scratch": {}}, "runs": [{"method": "scratch"}],
        "eval": {"tasks": ["carrot"], "episodes": 4, "seeds": [0], "bounds": [], "train_layouts": 0}})
    _write_seeds(tmp_path / "eval" / slug("scratch seed 0"), "scratch", {0: [True, False, True, True]}, (0,), run_id="a",
                 train_seed=0)
    _write_seeds(tmp_path / "eval" / slug("scratch seed 1"), "scratch", {0: [True]}, (0,), run_id="b", train_seed=1)
    report_cells(cfg, {}, set(), tmp_path, Stages(tmp_path))
    md = (tmp_path / "report" / "table.md").read_text()
    assert "| scratch | 75.0 [" in md and "| 4 layouts |" in md
    assert "- `scratch/n2/s1` (evaluation in progress: 1 of 4 episodes)" in md


def test_a_reduced_resolution_evaluation_says_so_in_every_table(tmp_path):
    """An evaluation rendered at --render-scale 0.5 (its manifest says) is labelled a development check in the
    tables and the csv, not shown as a SIMPLER result; full resolution keeps its label."""
    a = [("PutCarrotOnPlateInScene-v1", i < 2) for i in range(4)]
    _write_run(tmp_path / "half", "pol", a)
    (tmp_path / "half" / "manifest.json").write_text(json.dumps({"render": {"scale": 0.5}}))
    _write_run(tmp_path / "full", "ref", a)
    (tmp_path / "full" / "manifest.json").write_text(json.dumps({"render": {"scale": 1.0}}))
    build_report([tmp_path / "half", tmp_path / "full"], tmp_path / "out", quiet=True)
    md = (tmp_path / "out" / "table.md").read_text()
    assert "| pol [rendered at 0.5x: development check] |" in md and "| ref |" in md
    assert "pol [rendered at 0.5x: development check]" in set(pd.read_csv(tmp_path / "out" / "table.csv")["policy"])
