"""The data stages: the labelled demonstrations and the action-free video corpora, collected once, checked, recorded."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from lapa_bench import config as C
from lapa_bench.app.collect import EMBODIMENT_OF_SOURCE, CollectConfig
from lapa_bench.pipeline.cells import cell_names, shared_folder, slug
from lapa_bench.pipeline.config import VIDEO_CORPORA, CorpusSpec, PipelineConfig
from lapa_bench.pipeline.stages import Stages


def collect_corpora(cfg: PipelineConfig, chosen: dict, selected, out: Path, st: "Stages") -> dict:
    """The data stages: the labelled demonstrations (the first N per task the chosen cells need) and the video
    corpora their methods read (skipped when no chosen cell still reads one); returns corpus name -> folder."""
    from lapa_bench.data.lerobot import write_settings_sidecar
    from lapa_bench.training.registry import get_method

    data = out / "data"
    runs_now = [r for r, _, _ in chosen.values()]
    uses_videos = any("videos" in get_method(r.method).needs for r in runs_now)
    demos_spec = cfg.demos
    if selected is not None and chosen and cfg.demos_per_task and not cfg.demos.path:
        # the first N per task of the one collection (attempts are a function of their number: a later, larger
        # collection extends this one, and its first N are these)
        demos_spec = dataclasses.replace(cfg.demos, episodes=max(n for _, n, _ in chosen.values()))
    corpora = {"demos": (demos_spec, data / "demos", cfg.seed, "bridge")}
    for v, c in VIDEO_CORPORA.items():
        if uses_videos and any(r.videos == v for r in runs_now):
            # the seeds keep the collections' layouts apart (and every Bridge one disjoint from evaluation)
            corpora[c.name] = (getattr(cfg, c.key), data / c.key, cfg.seed + c.seed_offset, c.source)
    where = {}
    for name, (spec, folder, seed, source) in corpora.items():
        if spec.path:
            where[name] = Path(spec.path)
            continue
        where[name] = folder
        recipe = {**C.to_dict(spec), "seed": seed, "source": source}
        if name != "demos" and not _corpus_needed(cfg, chosen, name, out) and _sidecar_matches(folder, recipe):
            print(f"[pipeline] collect {name}: not needed (every stage that reads it is done; the settings it was "
                  f"made with: {folder.name}.settings.json)")
            continue
        label = f"collect {name}" + (f" ({spec.episodes}/task)" if spec is not getattr(cfg, name.split()[0], spec) else "")
        st.run(label, lambda spec=spec, folder=folder, seed=seed, source=source:
               _collect(spec, folder, seed, source, cfg.workers), done=_collected(folder, spec, source))
        write_settings_sidecar(folder, recipe)
        _check_corpus(folder)
    return where


def _collected(folder: Path, spec: CorpusSpec, source: str) -> bool:
    """The collection in ``folder`` holds ``spec.episodes`` per task already (else collect runs, and resumes)."""
    from lapa_bench.app.panda_videos import PANDA_TASKS, dataset_name
    from lapa_bench.data.lerobot import DatasetFormatError, open_datasets
    from lapa_bench.tasks import resolve_tasks

    try:
        sets = open_datasets(folder)
    except DatasetFormatError:
        return False
    names = [dataset_name(t) for t in (PANDA_TASKS if spec.tasks in (["all"], []) else spec.tasks)] \
        if source == "panda" else [t.name for t in resolve_tasks(spec.tasks)]
    have = {ds.root.name: len(ds) for ds in sets}
    return all(have.get(n, 0) >= spec.episodes for n in names)


def _check_corpus(folder: Path) -> None:
    """A collection looked at by eye and by numbers, beside it (committed, as its settings sidecar is):
    ``NAME.contact_sheet.png`` (first / middle / last frame of sample episodes) and ``NAME.check.json`` (episodes per
    task, the oracle's successes per attempt, disjointness from the evaluation layouts), made once per contents."""
    from lapa_bench.data.inspect import dataset_info
    from lapa_bench.data.lerobot import dataset_settings
    from lapa_bench.fingerprint import canonical
    from lapa_bench.io import write_json_atomic

    path = folder.parent / f"{folder.name}.check.json"
    made_from = canonical(dataset_settings(folder))
    if path.is_file() and json.loads(path.read_text()).get("made_from") == made_from:
        return
    sheet = folder.parent / f"{folder.name}.contact_sheet.png"
    info = {k: v for k, v in dataset_info(folder, sheet=sheet).items() if k not in ("root", "contact_sheet")}
    write_json_atomic(path, {"made_from": made_from, "contact_sheet": sheet.name, **info}, sort_keys=True)
    rates = info.get("oracle_success", {})
    print(f"[pipeline] {folder.name}: {info['episodes']} episodes; oracle success "
          + ", ".join(f"{k} {100 * v['rate']:.0f}%" for k, v in rates.items()) + f" ({path.name}, {sheet.name})")


def _sidecar_matches(folder: Path, recipe: dict) -> bool:
    from lapa_bench.data.lerobot import settings_sidecar

    side = settings_sidecar(folder)
    return side.is_file() and json.loads(side.read_text()).get("spec") == json.loads(json.dumps(recipe))


def _corpus_needed(cfg: PipelineConfig, chosen: dict, corpus: str, out: Path) -> bool:
    """Whether a chosen cell still has a stage that reads the video corpus ``corpus``: a run not finished whose
    method does not share its video stages, or whose shared video stages are not all finished."""
    from lapa_bench.training import checkpoint
    from lapa_bench.training.registry import get_method

    for r, n, seed in chosen.values():
        m = get_method(r.method)
        if "videos" not in m.needs or corpus != VIDEO_CORPORA[r.videos].name:
            continue
        run_out = out / slug(r.label) / cell_names(cfg, r, n, seed).sub
        if checkpoint.is_done(run_out):
            continue
        shared = shared_folder(cfg, out / slug(r.label), seed)
        if not m.shares or shared is None:
            return True
        if not all(checkpoint.is_done(Path(shared) / path.split(".")[0]) for path in m.shares):
            return True
    return False


def _collect(spec: CorpusSpec, folder: Path, seed: int, source: str, workers: int) -> None:
    if source == "panda":
        from lapa_bench.app.panda_videos import PandaConfig, collect_panda

        collect_panda(PandaConfig(tasks=spec.tasks, episodes=spec.episodes, out=str(folder),
                                  image_size=tuple(spec.image_size), seed=seed), workers=workers)
    else:
        from lapa_bench.app.collect import collect

        collect(CollectConfig(tasks=spec.tasks, episodes=spec.episodes, out=str(folder),
                              image_size=tuple(spec.image_size), seed=seed, dart=spec.dart,
                              yaw_jitter=spec.yaw_jitter,
                              embodiment=EMBODIMENT_OF_SOURCE[source]), workers=workers)

