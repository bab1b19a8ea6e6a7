"""The one checkpoint layout of the single-module models (LAQ, IDM, UniPi's video model):
``config.json`` (a header such as ``{"model": "laq"}`` plus ``"config"``) and ``model.safetensors``."""
from __future__ import annotations

import json
from pathlib import Path

MODEL_FILE = "model.safetensors"


def save(module, directory, header: dict) -> Path:
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, d / MODEL_FILE)
    (d / "config.json").write_text(json.dumps({**header, "config": module.config.to_dict()}, indent=2))
    return d


def load(cls, config_cls, directory, missing: str, map_location: str = "cpu", defaults: dict | None = None):
    """Rebuild ``cls(config_cls(**config))`` and load its weights; ``missing`` explains a bad folder.
    ``defaults`` fills config keys that older checkpoints lack."""
    from safetensors.torch import load_file

    d = Path(directory)
    if not (d / "config.json").is_file() or not (d / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{d} is not {missing}")
    cfg = {**(defaults or {}), **json.loads((d / "config.json").read_text())["config"]}
    model = cls(config_cls(**cfg))
    model.load_state_dict(load_file(d / MODEL_FILE, device=map_location))
    return model
