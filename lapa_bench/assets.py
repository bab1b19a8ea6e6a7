"""Where ManiSkill's SIMPLER assets live, whether they are complete, and where they came from.

ManiSkill reads ``$MS_ASSET_DIR/data`` (default ``~/.maniskill/data``) when ``mani_skill`` is
first imported, and asks an interactive y/n question when an asset is missing. lapa-bench
checks the files itself *before* importing ``mani_skill`` and raises :class:`AssetsMissingError`
instead, so no run ever blocks on that prompt.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from lapa_bench.errors import MissingFile

# Every file the four Bridge tasks load (relative to the data dir), generated from a complete asset folder.
MANIFEST = Path(__file__).with_name("assets_manifest.json")
DOWNLOAD_IDS = ("bridge_v2_real2sim", "widowx250s")
FIX_HINT = (
    "Fix: run `lapa-bench assets download` (fetches the official assets into $MS_ASSET_DIR, "
    "default ~/.maniskill), or point MS_ASSET_DIR at an existing asset folder "
    "(export MS_ASSET_DIR=/path/to/simpler-assets; ManiSkill reads $MS_ASSET_DIR/data)."
)


class AssetsMissingError(MissingFile):
    """SIMPLER assets are not where ManiSkill will look."""


def asset_root() -> Path:
    """The folder ManiSkill uses: ``$MS_ASSET_DIR`` or ``~/.maniskill``."""
    return Path(os.environ.get("MS_ASSET_DIR") or Path.home() / ".maniskill").expanduser()


def data_dir() -> Path:
    return asset_root() / "data"


def missing_files(root: Path | None = None) -> list[str]:
    """Files of the manifest that are absent or empty under ``root/data`` (an ``any_of`` group counts as
    one, named ``a | b``)."""
    import json

    d = (Path(root) if root else asset_root()) / "data"
    m = json.loads(MANIFEST.read_text())
    ok = lambda f: (d / f).is_file() and (d / f).stat().st_size > 0  # noqa: E731
    missing = [f for f in m["files"] if not ok(f)]
    missing += [" | ".join(group) for group in m["any_of"] if not any(ok(f) for f in group)]
    return missing


def check_assets(root: Path | None = None) -> Path:
    """Return the data dir, or raise :class:`AssetsMissingError` naming the fix."""
    root = Path(root) if root else asset_root()
    missing = missing_files(root)
    if missing:
        env = os.environ.get("MS_ASSET_DIR")
        where = f"MS_ASSET_DIR={env}" if env else "MS_ASSET_DIR is not set, so ~/.maniskill"
        raise AssetsMissingError(
            f"SIMPLER assets incomplete under {root / 'data'} ({where}): {len(missing)} file(s) missing or "
            f"empty: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}.\n{FIX_HINT}"
        )
    _check_mani_skill_dir(root)
    return root / "data"


def _check_mani_skill_dir(root: Path) -> None:
    """mani_skill fixes its asset dir at import; a later change of MS_ASSET_DIR has no effect."""
    ms = sys.modules.get("mani_skill")
    if ms is None:
        return
    imported = Path(ms.ASSET_DIR).resolve()
    if imported != (root / "data").resolve():
        raise AssetsMissingError(
            f"mani_skill was imported with its asset dir at {imported}, but the assets are "
            f"under {root / 'data'}. Set MS_ASSET_DIR before importing mani_skill "
            "(or before starting Python)."
        )


def asset_fingerprint(root: Path | None = None) -> str:
    """A short hash of the asset pack's files (their paths under ``data/`` and sizes): which assets ran, wherever
    the pack lies on a machine."""
    import hashlib

    root = Path(root) if root else asset_root()
    h = hashlib.sha1()
    for f in sorted((root / "data").rglob("*")):
        if f.is_file():
            h.update(f"{f.relative_to(root).as_posix()}:{f.stat().st_size}\n".encode())
    return h.hexdigest()[:12]


def asset_source(root: Path | None = None) -> dict:
    """Describe which assets ran: the official download or a substituted pack, and the pack's fingerprint (not its
    path on this machine)."""
    root = Path(root) if root else asset_root()
    readme = root / "README.md"
    text = readme.read_text(errors="replace") if readme.is_file() else ""
    substituted = "Substitutions" in text or "substitut" in text.lower()
    return {
        "fingerprint": asset_fingerprint(root),
        "kind": "substituted pack" if substituted else "official download",
        "note": (
            "shared SIMPLER asset pack with substitutions (box table stage; eggplant visual "
            "mesh); results are close to, but not identical with, the official assets"
            if substituted
            else "assets from ManiSkill's official download (bridge_v2_real2sim, widowx250s)"
        ),
    }


def download(root: Path | None = None) -> Path:
    """Non-interactive wrapper of ManiSkill's downloader for the Bridge task assets."""
    root = Path(root) if root else asset_root()
    os.environ["MS_ASSET_DIR"] = str(root)
    os.environ["MS_SKIP_ASSET_DOWNLOAD_PROMPT"] = "1"
    _check_mani_skill_dir(root)
    from mani_skill.utils import assets, download_asset

    for asset_id in DOWNLOAD_IDS:
        if assets.is_data_source_downloaded(asset_id):
            print(f"[assets] {asset_id}: already present")
            continue
        print(f"[assets] downloading {asset_id} into {root / 'data'} ...")
        download_asset.download(assets.DATA_SOURCES[asset_id], non_interactive=True)
    missing = missing_files(root)
    if missing:
        raise AssetsMissingError(f"download finished but files are still missing: {missing}")
    return root / "data"
