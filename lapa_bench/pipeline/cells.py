"""Cells: one (run, labelled demonstrations per task, trained seed) each, and how each is named and where it lives."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from lapa_bench.errors import MissingFile, UserError
from lapa_bench.pipeline.config import VIDEO_CORPORA, PipelineConfig, RunSpec


def slug(label: str) -> str:
    return label.replace(" ", "_").replace("(", "").replace(")", "")


def cell_id(r: RunSpec, n: int, seed: int) -> str:
    """``"LABEL/nN/sS"``: the run's label as a folder name, labelled demonstrations per task, training seed."""
    return f"{slug(r.label)}/n{n}/s{seed}"


def cells(cfg: PipelineConfig) -> dict[str, tuple]:
    """Every cell of ``cfg``: :func:`cell_id` -> (run, N, S). A cell is one trained policy with its checks and
    evaluation."""
    return {cell_id(r, n, s): (r, n, s) for r in cfg.runs for n, s in cfg.sweep(r)}


def select_cells(cfg: PipelineConfig, wanted: list[str] | None) -> set[str] | None:
    if wanted is None:
        return None
    known = cells(cfg)
    bad = [c for c in wanted if c not in known and c != "bounds"]
    if bad:
        raise UserError(f"unknown cell(s) {bad}; this config's cells are {', '.join(known)} (and 'bounds': the "
                         "scripted/random bounds' evaluation)")
    return set(wanted)


def headline_size(cfg: PipelineConfig) -> int | None:
    """The labelled-set size of the headline comparison (every trained seed runs it)."""
    return cfg.main_size or (max(cfg.demos_per_task) if cfg.demos_per_task else None)


class CellNames(NamedTuple):
    """How a cell is named where it appears."""
    key: str  # its stages' key in pipeline.json (its evaluation folder: slug(key))
    row: str  # its table row (the seeds of one size pooled)
    sub: str  # its run's sub-folder (OUT/LABEL/SUB)
    tags: dict  # what its records carry (method, demos per task, trained seed)


def cell_names(cfg: PipelineConfig, r: RunSpec, n: int, seed: int) -> CellNames:
    """A cell's names (:class:`CellNames`)."""
    if not cfg.is_sweep:
        return CellNames(r.label, r.label, "", {})
    # a run folder per (size, seed); one table row per size, its seeds pooled
    row = f"{r.label} ({n}/task)" if len(cfg.demos_per_task) > 1 else r.label
    return CellNames(f"{row} seed {seed}", row, f"n{n}_s{seed}",
                     {"method": r.label, "demos_per_task": n, "train_seed": seed})


class Trained(NamedTuple):
    """A trained run of the pipeline: its policy name, checkpoint, table row, record tags, labelled data, and the
    rollout settings it is checked and evaluated with."""
    policy: str
    checkpoint: Path
    row: str
    tags: dict
    demos: Path
    policy_config: dict = {}


def shared_folder(cfg: PipelineConfig, run_root: Path, seed: int) -> str | None:
    """Where a run's stages that do not use the labelled data go in a sweep (``shared_stages``), else None."""
    if not cfg.is_sweep or cfg.shared_stages == "none":
        return None
    return str(run_root / "shared" / (f"s{seed}" if cfg.shared_stages == "per_seed" else "all_seeds"))


def labelled_demos(cfg: PipelineConfig, where: dict, n: int, out: Path) -> Path:
    """The labelled demonstrations a cell of size ``n`` trains on: the first ``n`` per task in a sweep over sizes,
    else the whole collection."""
    if not cfg.demos_per_task:
        return where["demos"]
    return _labelled_subset(where["demos"], n, out / "data" / f"demos_n{n}")


def _labelled_subset(demos: Path, n: int, folder: Path) -> Path:
    """The first ``n`` demonstrations per task (cached; the whole collection when it holds exactly that many); a
    collection with fewer is refused (the cell would be named by ``n`` and train on less)."""
    from lapa_bench.data.lerobot import open_datasets, subset_datasets

    sets = open_datasets(demos)
    short = {ds.root.name: len(ds) for ds in sets if len(ds) < n}
    if short:
        raise UserError(f"{demos} holds {short} demonstrations, fewer than the {n} per task a cell asks for: collect "
                        "more, or drop that size from demos_per_task")
    if all(len(ds) == n for ds in sets):
        return demos
    subset_datasets(demos, folder, n)
    return folder


def check_cell(cfg: PipelineConfig, r: RunSpec, n: int, seed: int, run_out: Path, data: Path) -> None:
    """Refuse (FingerprintMismatch) an evaluated cell whose training settings differ from what ``cfg`` asks for,
    its inputs' settings taken from the data folders' sidecars (``data/*.settings.json``: the data need not be
    here). The first ``n`` episodes per task of a collection have its settings with ``n`` episodes."""
    from lapa_bench.data.lerobot import settings_sidecar
    from lapa_bench.training.registry import claim_settings, get_method, training_settings

    def recorded(spec, folder: Path, first: int | None = None) -> list[dict]:
        from lapa_bench.data.lerobot import dataset_settings

        side = settings_sidecar(folder)
        if spec.path and Path(spec.path).is_dir():  # a dataset the config points at: its own settings
            sets = json.loads(json.dumps(dataset_settings(spec.path)))
        elif side.is_file():
            sets = json.loads(side.read_text())["settings"]
        else:
            raise MissingFile(f"{side} is missing: the settings of the data cell {cell_id(r, n, seed)} "
                              "trained on are unknown; run the cell's command instead")
        return [{**d, "episodes": min(first, d["episodes"])} for d in sets] if first else sets

    m = get_method(r.method)
    corpora = {"data": [recorded(cfg.demos, data / "demos", n if cfg.demos_per_task else None)]}
    if "videos" in m.needs:
        c = VIDEO_CORPORA[r.videos]
        corpora["videos"] = [recorded(getattr(cfg, c.key), data / c.key)]
    claim_settings(m, training_settings(m, cfg.run_config(r, seed), corpora=corpora), run_out, exists=True,
                   fix=f"rerun the cell ({cell_id(r, n, seed)}) with the settings that made it, or delete {run_out} "
                       "and its evaluation to make it again")
