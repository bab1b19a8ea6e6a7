"""Write and read datasets in the LeRobot v2.1 layout.

    meta/info.json            codebase_version, fps, features, path templates, totals
    meta/episodes.jsonl       one line per episode: episode_index, tasks, length (+ our extras)
    meta/tasks.jsonl          task_index, task (the language instruction)
    meta/episodes_stats.jsonl per-episode feature statistics (v2.1)
    meta/stats.json           dataset-wide feature statistics
    data/chunk-000/episode_000000.parquet      one row per frame
    videos/chunk-000/<camera>/episode_000000.mp4

Frame columns: ``observation.state``, ``action`` (omitted in action-free datasets), ``timestamp``,
``frame_index``, ``episode_index``, ``index``, ``task_index``. Videos are H.264 mp4 written
through imageio-ffmpeg (which ships its own ffmpeg).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from lapa_bench.errors import UserError

CODEBASE_VERSION = "v2.1"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
IMAGE_KEY = "observation.images.image"
REQUIRED_META = ("meta/info.json", "meta/episodes.jsonl", "meta/tasks.jsonl")
INDEX_FEATURES = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}


class DatasetFormatError(UserError):
    """A dataset folder does not follow the LeRobot v2.1 layout."""


from lapa_bench.io import atomic_path, write_bytes_atomic as _write_atomic  # noqa: E402


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DatasetFormatError(f"{path}: line {i + 1} is not JSON ({e})") from None
    return rows


def _stats(x: np.ndarray) -> dict:
    """LeRobot v2.1's per-feature stats. Images (T, H, W, C) get per-channel values in [0, 1] shaped
    (C, 1, 1), as LeRobot's own ``compute_stats`` writes them (its loader checks that shape)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    image = x.ndim == 4
    if image:
        x = x.reshape(-1, x.shape[-1]) / 255.0
    out = {"min": x.min(0), "max": x.max(0), "mean": x.mean(0), "std": x.std(0)}
    out = {k: (v[:, None, None] if image else v).tolist() for k, v in out.items()}
    return {**out, "count": [int(len(x))]}


def _stats_json(episode_stats: list[dict]) -> bytes:
    """``meta/stats.json``: every feature's per-episode stats merged (count-weighted)."""
    from lapa_bench.data.normalize import aggregate_stats

    return json.dumps(aggregate_stats([s["stats"] for s in episode_stats]), indent=2).encode()


def write_video(path: Path, frames, fps: int) -> None:
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    with imageio.get_writer(tmp, fps=fps, codec="libx264", quality=9, macro_block_size=1,
                            pixelformat="yuv444p") as w:
        for f in frames:
            w.append_data(np.asarray(f, dtype=np.uint8))
    os.replace(tmp, path)


def read_video(path: Path) -> np.ndarray:
    """Decode every frame (T, H, W, 3) uint8: PyAV when installed, else OpenCV's FFmpeg, else imageio-ffmpeg.

    PyAV and OpenCV give the same pixels (both FFmpeg); OpenCV lets a machine without PyAV (e.g. a
    GPU training box) read the datasets."""
    if not Path(path).is_file():
        raise DatasetFormatError(f"video {path} is missing")
    try:
        import av
    except ImportError:
        av = None
    if av is not None:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is not None:
        cap, frames = cv2.VideoCapture(str(path)), []
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(bgr[..., ::-1])
        cap.release()
        if frames:
            return np.ascontiguousarray(np.stack(frames))
    import imageio.v2 as imageio

    with imageio.get_reader(path) as r:
        return np.stack([np.asarray(f)[..., :3] for f in r])


class LeRobotWriter:
    """Append episodes to a LeRobot v2.1 dataset folder (creating it, or resuming it).

    An episode becomes visible (``meta/episodes.jsonl``) only after its parquet and video files
    are complete, so an interrupted writer leaves whole episodes only.
    """

    def __init__(self, root, fps: int, image_shape, state_names=None, action_names=None,
                 robot_type: str = "widowx", with_actions: bool = True, extra_info: dict | None = None):
        self.root = Path(root)
        self.fps, self.robot_type, self.with_actions = int(fps), robot_type, with_actions
        h, w, c = image_shape
        self.features = {
            IMAGE_KEY: {"dtype": "video", "shape": [h, w, c], "names": ["height", "width", "channels"],
                        "info": {"video.fps": float(fps), "video.codec": "h264", "video.pix_fmt": "yuv444p",
                                 "video.height": h, "video.width": w, "video.channels": c,
                                 "has_audio": False, "video.is_depth_map": False}},
        }
        if state_names:
            self.features["observation.state"] = {"dtype": "float32", "shape": [len(state_names)], "names": list(state_names)}
        if with_actions and action_names:
            self.features["action"] = {"dtype": "float32", "shape": [len(action_names)], "names": list(action_names)}
        self.features.update(INDEX_FEATURES)
        self.extra_info = dict(extra_info or {})
        self.episodes: list[dict] = []
        self.tasks: dict[str, int] = {}
        self.episode_stats: list[dict] = []
        if (self.root / "meta" / "episodes.jsonl").exists():
            self._resume()

    def _resume(self):
        self.episodes = _read_jsonl(self.root / "meta" / "episodes.jsonl")
        self.tasks = {r["task"]: r["task_index"] for r in _read_jsonl(self.root / "meta" / "tasks.jsonl")}
        p = self.root / "meta" / "episodes_stats.jsonl"
        self.episode_stats = _read_jsonl(p) if p.exists() else []
        info = json.loads((self.root / "meta" / "info.json").read_text())
        self.extra_info = {**info.get("lapa_bench", {}), **self.extra_info}

    @property
    def total_frames(self) -> int:
        return sum(e["length"] for e in self.episodes)

    def add_episode(self, frames, task: str, states=None, actions=None, meta: dict | None = None) -> int:
        frames = np.asarray(frames, dtype=np.uint8)
        T = len(frames)
        if T < 2:
            raise UserError("an episode needs at least 2 frames")
        idx = len(self.episodes)
        chunk = idx // CHUNKS_SIZE
        if task not in self.tasks:
            self.tasks[task] = len(self.tasks)
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = {
            "timestamp": (np.arange(T) / self.fps).astype(np.float32),
            "frame_index": np.arange(T, dtype=np.int64),
            "episode_index": np.full(T, idx, dtype=np.int64),
            "index": np.arange(self.total_frames, self.total_frames + T, dtype=np.int64),
            "task_index": np.full(T, self.tasks[task], dtype=np.int64),
        }
        stats = {IMAGE_KEY: _stats(frames[:: max(1, T // 10)])}
        for key, arr in (("observation.state", states), ("action", actions)):
            if key in self.features:
                if arr is None:
                    raise UserError(f"dataset has feature {key!r}; pass it for every episode")
                a = np.asarray(arr, dtype=np.float32)
                if a.shape != (T, self.features[key]["shape"][0]):
                    raise UserError(f"{key} has shape {a.shape}, expected ({T}, {self.features[key]['shape'][0]})")
                cols[key] = a
                stats[key] = _stats(a)
        for k in INDEX_FEATURES:
            stats[k] = _stats(cols[k])
        # vectors as fixed-size lists, the arrow type LeRobot's writer gives a feature of shape (D,)
        table = pa.table({k: pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1]) if v.ndim == 2
                          else pa.array(v) for k, v in cols.items()})
        data_path = self.root / DATA_PATH.format(episode_chunk=chunk, episode_index=idx)
        data_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = atomic_path(data_path)
        pq.write_table(table, tmp)
        os.replace(tmp, data_path)
        write_video(self.root / VIDEO_PATH.format(episode_chunk=chunk, video_key=IMAGE_KEY, episode_index=idx),
                    frames, self.fps)
        ep = {"episode_index": idx, "tasks": [task], "length": T, **(meta or {})}
        self.episodes.append(ep)
        self.episode_stats.append({"episode_index": idx, "stats": stats})
        self._write_meta()
        return idx

    def _write_meta(self):
        meta = self.root / "meta"
        n = len(self.episodes)
        info = {
            "codebase_version": CODEBASE_VERSION, "robot_type": self.robot_type,
            "total_episodes": n, "total_frames": self.total_frames, "total_tasks": len(self.tasks),
            "total_videos": n, "total_chunks": (n - 1) // CHUNKS_SIZE + 1 if n else 0,
            "chunks_size": CHUNKS_SIZE, "fps": self.fps, "splits": {"train": f"0:{n}"},
            "data_path": DATA_PATH, "video_path": VIDEO_PATH, "features": self.features,
            "lapa_bench": self.extra_info,
        }
        # order matters for crash safety: data files exist before the episode is listed
        _write_atomic(meta / "tasks.jsonl", "".join(json.dumps({"task_index": i, "task": t}) + "\n"
                                                    for t, i in sorted(self.tasks.items(), key=lambda x: x[1])).encode())
        _write_atomic(meta / "episodes_stats.jsonl", "".join(json.dumps(s) + "\n" for s in self.episode_stats).encode())
        _write_atomic(meta / "stats.json", _stats_json(self.episode_stats))
        _write_atomic(meta / "info.json", json.dumps(info, indent=2).encode())
        _write_atomic(meta / "episodes.jsonl", "".join(json.dumps(e) + "\n" for e in self.episodes).encode())


def validate(root) -> dict:
    """Check a folder against the LeRobot v2.1 layout; returns info.json or raises with the problem."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetFormatError(f"dataset folder {root} does not exist")
    for f in REQUIRED_META:
        if not (root / f).is_file():
            raise DatasetFormatError(f"{root} is not a LeRobot v2.1 dataset: {f} is missing")
    try:
        info = json.loads((root / "meta/info.json").read_text())
    except json.JSONDecodeError as e:
        raise DatasetFormatError(f"{root}/meta/info.json is not JSON: {e}") from None
    for key in ("codebase_version", "fps", "features", "data_path", "total_episodes"):
        if key not in info:
            raise DatasetFormatError(f"{root}/meta/info.json lacks {key!r}")
    if not str(info["codebase_version"]).startswith("v2"):
        raise DatasetFormatError(f"{root}: codebase_version {info['codebase_version']!r}; this reader supports v2.x")
    feats = info["features"]
    for k in ("frame_index", "episode_index", "index", "task_index", "timestamp"):
        if k not in feats:
            raise DatasetFormatError(f"{root}: feature {k!r} missing from meta/info.json")
    for k, f in feats.items():
        if not isinstance(f, dict) or "dtype" not in f or "shape" not in f:
            raise DatasetFormatError(f"{root}: feature {k!r} needs 'dtype' and 'shape'")
    eps = _read_jsonl(root / "meta/episodes.jsonl")
    if len(eps) != info["total_episodes"]:
        raise DatasetFormatError(f"{root}: info.json says {info['total_episodes']} episodes, episodes.jsonl has {len(eps)}")
    for e in eps:
        for k in ("episode_index", "tasks", "length"):
            if k not in e:
                raise DatasetFormatError(f"{root}: episode line {e} lacks {k!r}")
    return info


class LeRobotDataset:
    """Read a LeRobot v2.x dataset folder (ours, or e.g. a converted Bridge V2)."""

    def __init__(self, root, image_key: str | None = None):
        self.root = Path(root)
        self.info = validate(self.root)
        self.episodes = _read_jsonl(self.root / "meta/episodes.jsonl")
        self.tasks = {r["task_index"]: r["task"] for r in _read_jsonl(self.root / "meta/tasks.jsonl")}
        feats = self.info["features"]
        videos = [k for k, f in feats.items() if f["dtype"] == "video"]
        self.image_key = image_key or (videos[0] if videos else None)
        if self.image_key is not None and self.image_key not in feats:
            raise DatasetFormatError(f"{root}: no feature {self.image_key!r}; cameras: {videos}")
        self.has_actions = "action" in feats
        self.fps = self.info["fps"]

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def dataset_id(self) -> str:
        """Identifies this dataset across corpora: folder name + a hash of its metadata (not of its path,
        so a copied run folder keeps its ids; two collections of the same task differ in their episodes)."""
        if not hasattr(self, "_dataset_id"):
            import hashlib

            h = hashlib.sha1()
            for name in ("meta/info.json", "meta/episodes.jsonl"):
                h.update((self.root / name).read_bytes())
            self._dataset_id = f"{self.root.name}-{h.hexdigest()[:10]}"
        return self._dataset_id

    def image_size(self) -> tuple[int, int]:
        """(H, W) at which the frames are stored."""
        return tuple(self.info["features"][self.image_key]["shape"][:2])

    @property
    def num_frames(self) -> int:
        return sum(e["length"] for e in self.episodes)

    def _path(self, template_key: str, idx: int, **kw) -> Path:
        chunk = idx // self.info.get("chunks_size", CHUNKS_SIZE)
        return self.root / self.info[template_key].format(episode_chunk=chunk, episode_index=idx, **kw)

    def table(self, i: int):
        import pandas as pd

        idx = self.episodes[i]["episode_index"]
        p = self._path("data_path", idx)
        if not p.is_file():
            raise DatasetFormatError(f"{self.root}: episode {idx} data file {p.relative_to(self.root)} is missing")
        df = pd.read_parquet(p)
        missing = [k for k in ("frame_index", "episode_index") if k not in df.columns]
        if missing:
            raise DatasetFormatError(f"{p}: columns {missing} missing (has {list(df.columns)})")
        return df

    def frames(self, i: int) -> np.ndarray:
        idx = self.episodes[i]["episode_index"]
        return read_video(self._path("video_path", idx, video_key=self.image_key))

    def episode(self, i: int, with_frames: bool = True) -> dict:
        df = self.table(i)
        ep = dict(self.episodes[i])
        out = {"meta": ep, "task": ep["tasks"][0] if ep.get("tasks") else self.tasks.get(int(df["task_index"].iloc[0]))}
        for key in ("observation.state", "action"):
            if key in df.columns:
                out[key] = np.stack(df[key].to_numpy()).astype(np.float32)
        if with_frames:
            out["frames"] = self.frames(i)
        return out

    def select(self, indices) -> "LeRobotDataset":
        """A view with only the listed episodes (positions in ``self.episodes``)."""
        import copy

        view = copy.copy(self)
        view.episodes = [self.episodes[i] for i in indices]
        return view

    def head(self, n: int) -> "LeRobotDataset":
        """A view with the first ``n`` episodes."""
        return self.select(range(min(n, len(self))))

    def without_actions(self) -> "LeRobotDataset":
        """The same episodes, with actions hidden (an action-free view for latent-action learning)."""
        view = LeRobotDataset.__new__(LeRobotDataset)
        view.__dict__.update(self.__dict__)
        view.has_actions = False
        orig = self.episode

        def episode(i, with_frames=True):
            e = orig(i, with_frames)
            e.pop("action", None)
            return e

        view.episode = episode
        return view


def episode_key(source, i: int) -> str:
    """The one key of episode ``i`` of a source in label files (latent codes, pseudo-actions):
    ``"{dataset_id}/{episode_index}"``. It cannot collide across corpora whose task folders share names."""
    ep = source.episodes[i]["episode_index"] if hasattr(source, "episodes") else source.ids[i]
    return f"{source.dataset_id}/{ep}"


def open_datasets(path) -> list[LeRobotDataset]:
    """A dataset folder, or a folder of dataset folders (as `lapa-bench collect` writes)."""
    path = Path(path)
    if (path / "meta" / "info.json").is_file():
        return [LeRobotDataset(path)]
    if not path.is_dir():
        raise DatasetFormatError(f"dataset folder {path} does not exist")
    parts = sorted(p.parent.parent for p in path.glob("*/meta/info.json"))
    if not parts:
        raise DatasetFormatError(f"{path} holds no LeRobot dataset (no meta/info.json in it or its sub-folders)")
    return [LeRobotDataset(p) for p in parts]


def open_sources(dirs, max_episodes=None, actions: bool | None = None):
    """Every dataset under ``dirs`` (first ``max_episodes`` of each); ``actions=True`` requires labels,
    ``False`` hides them (an action-free view)."""
    out = []
    for d in dirs:
        for ds in open_datasets(d):
            if actions and not ds.has_actions:
                raise UserError(f"{ds.root} has no actions; this step needs action-labelled trajectories")
            ds = ds.head(max_episodes) if max_episodes is not None else ds
            out.append(ds.without_actions() if actions is False else ds)
    return out


# keys of a dataset's ``lapa_bench`` info that say where it came from, not what it holds (paths, a subset's size:
# the first N episodes of a collection are the same data whether collected as N or cut from more)
_WHERE_FROM = ("subset_of", "subset_episodes", "resized_from")


def dataset_settings(path) -> list[dict]:
    """What determines the data under ``path`` (one entry per dataset): its folder name, episodes, frames'
    feature shapes, fps and the settings its collector recorded (oracle, noise, seed, assets' kind); not
    its location, so a dataset regenerated with the same settings in a fresh clone has the same settings.
    The fingerprint of a training run's inputs (:mod:`lapa_bench.fingerprint`)."""
    side = settings_sidecar(path)
    if not Path(path).exists() and side.is_file():  # regenerable data not present here: what it was made with
        return json.loads(side.read_text())["settings"]
    out = []
    for ds in open_datasets(path):
        extra = {k: v for k, v in ds.info.get("lapa_bench", {}).items() if k not in _WHERE_FROM}
        if isinstance(extra.get("assets"), dict):  # which pack, not where it lay: the data's kind only
            extra["assets"] = {k: v for k, v in extra["assets"].items() if k not in ("dir", "fingerprint")}
        out.append({"name": ds.root.name, "episodes": len(ds), "fps": ds.fps,
                    "shapes": {k: f.get("shape") for k, f in sorted(ds.info["features"].items())},
                    "collected": extra})
    return out


def settings_sidecar(path) -> Path:
    """``DIR.settings.json`` beside a dataset folder: its :func:`dataset_settings`, kept where the data itself
    is not (a committed results folder whose datasets are regenerable), so that the settings of an artifact's
    inputs can be compared without the data."""
    p = Path(path)
    return p.parent / f"{p.name}.settings.json"


def write_settings_sidecar(path, spec: dict) -> Path:
    """Record :func:`dataset_settings` of ``path`` and the ``spec`` that collected it beside the folder. A sidecar
    that already describes these data or more of them (the same collection, at least as many episodes per dataset:
    the data here are its first N, as on a machine that collected only what its cells read), from a request for at
    least as many episodes, is kept: a run that holds or reads only the first N per task must not rewrite the
    record of what collected more."""
    from lapa_bench.io import write_json_atomic

    side, settings = settings_sidecar(path), json.loads(json.dumps(dataset_settings(path), sort_keys=True))
    if side.is_file():
        old = json.loads(side.read_text())
        recorded = old.get("settings") or []
        prefix = len(recorded) == len(settings) and all(
            d["episodes"] <= o.get("episodes", -1) and d == {**o, "episodes": d["episodes"]}
            for d, o in zip(settings, recorded))
        theirs, mine = dict(old.get("spec") or {}), json.loads(json.dumps(spec))
        if prefix and theirs.pop("episodes", 0) >= mine.pop("episodes", 0) and theirs == mine:
            return side
    write_json_atomic(side, {"spec": spec, "settings": settings}, sort_keys=True)
    return side


def stored_image_size(sources) -> tuple | None:
    """The (H, W) at which the sources store their frames (recorded in checkpoints as ``source_size``, so a
    rollout frame goes through it: lapa_bench.data.preprocess); None when no source says; an error when
    they differ."""
    sizes = {tuple(s.image_size()) for s in sources if hasattr(s, "image_size")}
    if len(sizes) > 1:
        raise UserError(f"the datasets store frames at different sizes {sorted(sizes)}; "
                         "resize them to one (`lapa-bench data resize`)")
    return sizes.pop() if sizes else None


def resize_datasets(src, dst, size: int) -> list[Path]:
    """Re-encode every dataset under ``src`` at ``size`` x ``size`` into ``dst`` (same layout),
    e.g. to ship a small copy of a corpus to a training machine. Actions, states, tasks and
    per-episode metadata are kept."""
    from lapa_bench.data.preprocess import resize_frames

    out = []
    srcs = open_datasets(src)
    single = (Path(src) / "meta" / "info.json").is_file()
    for ds in srcs:
        target = Path(dst) if single else Path(dst) / ds.root.name
        feats = ds.info["features"]
        names = lambda k: (feats.get(k, {}).get("names") or None)  # noqa: E731
        w = LeRobotWriter(target, fps=ds.fps, image_shape=(size, size, 3), state_names=names("observation.state"),
                          action_names=names("action"), with_actions=ds.has_actions,
                          robot_type=ds.info.get("robot_type", "widowx"),
                          extra_info={**ds.info.get("lapa_bench", {}), "resized_from": str(ds.root)})
        for i in range(len(w.episodes), len(ds)):  # resumes
            ep = ds.episode(i)
            frames = resize_frames(ep["frames"], (size, size))
            meta = {k: v for k, v in ep["meta"].items() if k not in ("episode_index", "tasks", "length")}
            w.add_episode(frames, ep["task"], states=ep.get("observation.state"), actions=ep.get("action"), meta=meta)
        out.append(target)
    return out


def subset_datasets(src, dst, episodes: int, exact: bool = False) -> list[Path]:
    """The first ``episodes`` episodes of every dataset under ``src``, as complete datasets in ``dst``
    (files hard-linked, or copied across file systems; metadata, totals and ``meta/stats.json``
    recomputed for the subset, so a method normalizes with the statistics of the data it trains on).
    Nested by construction: the subset of 10 is a prefix of the subset of 25. Cached: an existing,
    complete subset is kept."""
    import shutil

    out = []
    single = (Path(src) / "meta" / "info.json").is_file()
    s_abs, d_abs = Path(src).resolve(), Path(dst).resolve()
    if s_abs == d_abs or s_abs in d_abs.parents or d_abs in s_abs.parents:
        raise UserError(f"data subset: the output {dst} would overlap its source {src}; give another folder")
    sets = open_datasets(src)
    short = [f"{ds.root.name} ({len(ds)})" for ds in sets if len(ds) < int(episodes)]
    if exact and short:
        raise UserError(f"data subset: --episodes {episodes} but {', '.join(short)} hold(s) fewer episodes; give "
                         f"--episodes {min(len(ds) for ds in sets)} or less, or collect more")
    for ds in sets:
        n = min(int(episodes), len(ds))
        if n < 1:
            raise UserError(f"a subset needs at least 1 episode, got {episodes}")
        target = Path(dst) if single else Path(dst) / ds.root.name
        info_path = target / "meta" / "info.json"
        if info_path.is_file() and json.loads(info_path.read_text()).get("total_episodes") == n:
            out.append(target)
            continue
        info = dict(ds.info)
        videos = [k for k, f in info["features"].items() if f["dtype"] == "video"]
        for i in range(n):
            for r in (info.get("data_path", DATA_PATH).format(episode_chunk=i // CHUNKS_SIZE, episode_index=i),
                      *[info.get("video_path", VIDEO_PATH).format(episode_chunk=i // CHUNKS_SIZE, video_key=k,
                                                                  episode_index=i) for k in videos]):
                s, d = ds.root / r, target / r
                d.parent.mkdir(parents=True, exist_ok=True)
                if not d.exists():
                    try:
                        os.link(s, d)
                    except OSError:
                        shutil.copy2(s, d)
        eps = ds.episodes[:n]
        ep_stats = _read_jsonl(ds.root / "meta" / "episodes_stats.jsonl")[:n]
        info.update(total_episodes=n, total_frames=sum(e["length"] for e in eps), total_videos=n * len(videos),
                    total_chunks=(n - 1) // CHUNKS_SIZE + 1, splits={"train": f"0:{n}"},
                    lapa_bench={**info.get("lapa_bench", {}), "subset_of": str(ds.root), "subset_episodes": n})
        meta = target / "meta"
        meta.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ds.root / "meta" / "tasks.jsonl", meta / "tasks.jsonl")
        _write_atomic(meta / "episodes_stats.jsonl", "".join(json.dumps(s) + "\n" for s in ep_stats).encode())
        if ep_stats:
            _write_atomic(meta / "stats.json", _stats_json(ep_stats))
        _write_atomic(meta / "info.json", json.dumps(info, indent=2).encode())
        _write_atomic(meta / "episodes.jsonl", "".join(json.dumps(e) + "\n" for e in eps).encode())  # last: complete
        out.append(target)
    return out
