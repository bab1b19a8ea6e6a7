"""Choose the LAQ's settings by measurement: train one LAQ per combination of a grid, then ask each whether its
codes are latent actions worth pretraining on.

    lapa-bench laq sweep --videos data/bridge_videos --data data/bridge_demos --out runs/laq_sweep \
        --grid '{"frame_gap": [1, 2, 4], "codebook_size": [8, 16]}' --train.steps 1500

Per combination (``OUT/<name>/``: the LAQ, its ``eval.json``, ``codes.npz``, ``probe.json``; each step is cached,
so a rerun resumes where it stopped, and a rerun with more ``--train.steps`` trains the same LAQs on):

* reconstruction of x_{t+H} against copying x_t (held-out video pairs, the LAQ's ``eval.json``);
* codebook usage: perplexity, codes used, and the **largest code's share of tokens**, on the held-out video
  pairs and on the labelled data (a "hold" code on most tokens leaves latent pretraining little to learn);
* the linear probe (one-hot codes -> the true action summed over the H steps they span, held-out R^2,
  :func:`lapa_bench.policies.laq.codes.probe`), per dimension and averaged over the translations.

A combination *passes* when its translation R^2 reaches ``min_r2_translation`` and no code exceeds
``max_code_share`` of the tokens on either set. ``OUT/sweep.json``, ``sweep.md`` (the table) and ``sweep.png``
(R^2 against the largest code's share) hold the result; the passing combination with the highest R^2 is named.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np

from lapa_bench.config import ConfigError
from lapa_bench.io import write_json_atomic


def grid_keys(grid) -> list[str]:
    """The LAQ settings a grid names, in order (a list of combinations: every key any of them names)."""
    if isinstance(grid, dict):
        return list(grid)
    return list(dict.fromkeys(k for combo in grid for k in combo))


def combinations(grid, base) -> list[tuple[str, dict]]:
    """``(name, overrides)`` for every combination of the grid's values; names like ``frame_gap2-codebook_size16``.

    ``grid`` is a dict of lists (every combination of their values) or a list of dicts (exactly these
    combinations, for settings that must change together, e.g. ``image_size`` with ``patch_size``)."""
    fields = {f.name for f in dataclasses.fields(base)}
    if not grid:
        raise ConfigError("laq sweep: --grid is empty; give LAQ settings to try, e.g. "
                          "'{\"frame_gap\": [1, 2, 4], \"codebook_size\": [8, 16]}' or a list of combinations "
                          "'[{\"image_size\": 64, \"patch_size\": 8}, {\"image_size\": 128, \"patch_size\": 16}]'")
    if isinstance(grid, list) and not all(isinstance(c, dict) and c for c in grid):
        raise ConfigError(f"laq sweep: a --grid list must hold combinations (non-empty dicts of settings), got {grid!r}")
    bad = sorted(set(grid_keys(grid)) - fields)
    if bad:
        raise ConfigError(f"laq sweep: --grid keys {bad} are not LAQ settings; choose from {sorted(fields)}")
    if isinstance(grid, dict):
        for k, v in grid.items():
            if not isinstance(v, list) or not v:
                raise ConfigError(f"laq sweep: --grid {k!r} must be a non-empty list of values, got {v!r}")
        keys = list(grid)
        listed = [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    else:
        listed = [dict(c) for c in grid]
    out = []
    from lapa_bench.config import from_dict

    for combo in listed:
        for k, v in combo.items():
            default = getattr(base, k)
            numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
            if numeric and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ConfigError(f"laq sweep: --grid {k} {v!r} is not a number (the setting is {type(default).__name__})")
            if numeric and (v < 0 or (v == 0 and default != 0)):
                raise ConfigError(f"laq sweep: --grid {k} {v!r}: LAQ sizes and counts must be > 0")
        try:
            from_dict(type(base), {**dataclasses.asdict(base), **combo}, where="laq sweep: --grid")
            dataclasses.replace(base, **combo)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"laq sweep: the combination {combo} is not a valid LAQ config: {e}") from None
        out.append(("-".join(f"{k}{v}" for k, v in combo.items()), combo))
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"laq sweep: --grid repeats a combination ({names}); list each once")
    return out


def max_share(counts) -> float:
    """The largest code's share of tokens, from per-code counts."""
    counts = np.asarray(counts, dtype=float)
    return float(counts.max() / max(counts.sum(), 1))


def usage(indices, k: int) -> dict:
    """Largest code's share of tokens, perplexity (:meth:`NSVQ.perplexity`, as the LAQ's log) and codes used, from
    code indices (any shape)."""
    import torch

    from lapa_bench.policies.laq.nsvq import NSVQ

    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    counts = np.bincount(idx, minlength=k)
    return {"max_share": max_share(counts), "perplexity": NSVQ.perplexity(torch.from_numpy(idx), k),
            "codes_used": int((counts > 0).sum())}


def measure(name: str, combo: dict, cfg, folder: Path, train_one, device: str) -> dict:
    """Train (or reuse) one combination's LAQ, label the labelled data, probe: its row of the sweep."""
    from lapa_bench.training import checkpoint
    from lapa_bench.policies.laq.codes import label, probe

    from lapa_bench import fingerprint
    from lapa_bench.data.lerobot import dataset_settings

    model = dataclasses.replace(cfg.model, **combo)
    done = checkpoint.resume_step(folder) if checkpoint.is_done(folder) else 0
    # what this entry's LAQ, codes and probe depend on; the steps may grow (training goes on from last/)
    settings = {"model": dataclasses.asdict(model),
                "train": {k: v for k, v in dataclasses.asdict(cfg.train).items() if k != "steps"},
                "max_episodes": cfg.max_episodes, "videos": [dataset_settings(v) for v in cfg.videos],
                "data": [dataset_settings(d) for d in cfg.data]}
    fingerprint.claim(folder, settings, f"the LAQ sweep's entry {name!r}",
                      exists=checkpoint.is_done(folder) or checkpoint.resume_step(folder) > 0,
                      fix=f"delete {folder} to train it again, or give the sweep another --out")
    if done > cfg.train.steps:
        raise ConfigError(f"laq sweep: {folder} was trained for {done} steps, more than --train.steps "
                          f"{cfg.train.steps}; give the same or more steps, or another --out")
    if done < cfg.train.steps:  # new, or more steps than before: train (resumes from last/), measure again
        print(f"[laq sweep] {name}: training" + (f" on from step {done}" if done else ""))
        for stale in ("codes.npz", "probe.json"):
            (folder / stale).unlink(missing_ok=True)
        train_one(model, folder)
    ev = json.loads((folder / checkpoint.EVAL_FILE).read_text())
    codes_file = folder / "codes.npz"
    if not codes_file.is_file():
        label(folder, cfg.data, codes_file, device=device, max_episodes=cfg.max_episodes)
    codes = dict(np.load(codes_file))
    probe_file = folder / "probe.json"
    if probe_file.is_file():
        pr = json.loads(probe_file.read_text())
    else:
        pr = probe(folder, cfg.data, device=device, max_episodes=cfg.max_episodes, codes=codes)
        write_json_atomic(probe_file, pr)
    k = model.codebook_size
    share_videos = max_share(ev["usage"])  # the held-out video pairs' per-code counts (eval.json)
    dat = usage(np.concatenate([c.reshape(-1) for c in codes.values()]), k)
    r2t = pr["r2_translation"]
    row = {"name": name, **combo, "improvement_vs_copy": ev["improvement_vs_copy"],
           "perplexity": dat["perplexity"], "codes_used": dat["codes_used"], "codebook_size": k,
           "max_share_videos": share_videos, "max_share_data": dat["max_share"],
           **{f"r2_{d}": pr["r2"].get(d) for d in ("dx", "dy", "dz")}, "r2_translation": r2t,
           "train_steps": cfg.train.steps, "train_seconds": ev.get("train", {}).get("seconds")}
    row["passes"] = bool(np.isfinite(r2t) and r2t >= cfg.min_r2_translation
                         and max(share_videos, dat["max_share"]) <= cfg.max_code_share)
    return row


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "**yes**" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    return "n/a" if v is None else str(v)


def to_markdown(rows: list[dict], cfg) -> str:
    cols = ["name", *grid_keys(cfg.grid), "improvement_vs_copy", "perplexity", "codes_used", "max_share_videos",
            "max_share_data", "r2_dx", "r2_dy", "r2_dz", "r2_translation", "train_seconds", "passes"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    base = dataclasses.asdict(cfg.model)  # a listed combination that does not name a setting runs with the base's
    lines += ["| " + " | ".join(_fmt(r.get(c, base.get(c))) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], cfg, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.axvspan(0, cfg.max_code_share, ymin=0, ymax=1, color="0.93")
    ax.axhline(cfg.min_r2_translation, color="0.5", ls="--", lw=1)
    ax.axvline(cfg.max_code_share, color="0.5", ls="--", lw=1)
    for r in rows:
        x, y = max(r["max_share_videos"], r["max_share_data"]), r["r2_translation"]
        ax.scatter([x], [y], color="tab:green" if r["passes"] else "tab:red")
        ax.annotate(r["name"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set(xlabel="largest code's share of tokens", ylabel="probe R^2, translations (held out)", xlim=(0, 1.02),
           title=f"LAQ sweep ({cfg.train.steps} steps each); pass: R^2 >= {cfg.min_r2_translation}, "
                 f"share <= {cfg.max_code_share}")
    ax.title.set_fontsize(8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sweep(cfg, train_one, device: str = "auto") -> dict:
    """Run the sweep of ``cfg`` (a :class:`lapa_bench.policies.laq.train.SweepConfig`); ``train_one(model_config, folder)``
    trains (or resumes) one LAQ into ``folder``. Returns ``sweep.json``'s content."""
    from lapa_bench.config import to_dict

    out = Path(cfg.out)
    if not cfg.videos or not cfg.data:
        raise ConfigError("laq sweep: give --videos (what the LAQs train on) and --data (labelled datasets the "
                          "probe scores the codes against)")
    combos = combinations(cfg.grid, cfg.model)
    print(f"[laq sweep] {len(combos)} combinations x {cfg.train.steps} steps -> {out}")
    rows = [measure(name, combo, cfg, out / name, train_one, device) for name, combo in combos]
    passing = [r for r in rows if r["passes"]]
    best = max(passing, key=lambda r: r["r2_translation"])["name"] if passing else None
    result = {"config": to_dict(cfg), "rows": rows, "best": best}
    write_json_atomic(out / "sweep.json", result)
    table = to_markdown(rows, cfg)
    (out / "sweep.md").write_text(table)
    plot(rows, cfg, out / "sweep.png")
    print(table)
    print(f"[laq sweep] best passing combination: {best}" if best else
          f"[laq sweep] no combination passes (R^2 translation >= {cfg.min_r2_translation}, no code above "
          f"{cfg.max_code_share} of tokens)")
    return result
