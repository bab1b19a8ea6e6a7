"""The wire protocol of ``lapa-bench serve``: WebSocket frames of msgpack, NumPy arrays as openpi encodes them.

This module needs only ``numpy`` and ``msgpack`` (no torch, nothing else of lapa-bench), so that a policy from
another environment (LeRobot's, JAX's) can be served with it: copy this file, or ``pip install`` the project
without its extras and import it.

Messages (every frame one msgpack map; no pickle anywhere):

* server -> client, first: the **metadata** ``{"protocol": "lapa-bench-policy", "version": 1, "policy": NAME,
  "config": {...}, "checkpoint": FINGERPRINT | None, "versions": {...}, "action_dim": 7, "image_size": [H, W] |
  None}``;
* an **observation** ``{"image": uint8 (H, W, 3), "instruction": str, "state": float32 (7,)}`` is answered as
  openpi's ``infer`` is: ``{"actions": float32 (k, 7)}`` (one action is a chunk of 1), so an openpi-style client
  can query a lapa-bench server;
* **control** messages carry ``"control"``: ``{"control": "reset", "instruction", "seed", "context"}``,
  ``{"control": "reset_batch", "instructions", "seeds", "contexts"}`` -> ``{"errors": [None | str]}``,
  ``{"control": "act_batch", "observations": [...], "slots": [...]}`` -> ``{"actions": [array | {"error": str}]}``;
* a request the policy failed on is answered ``{"error": "Type: message"}`` (the episode fails with that reason;
  the connection stays open).
"""
from __future__ import annotations

import functools

import msgpack
import numpy as np

from lapa_bench.errors import UserError

PROTOCOL = "lapa-bench-policy"
VERSION = 1


def _pack_array(obj):
    if isinstance(obj, (np.ndarray, np.generic)) and obj.dtype.kind in ("V", "O", "c"):
        raise UserError(f"cannot send arrays of dtype {obj.dtype}")
    if isinstance(obj, np.ndarray):
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    if isinstance(obj, tuple):
        return list(obj)
    return obj


def _unpack_array(obj):
    if b"__ndarray__" in obj:
        return np.ndarray(buffer=obj[b"data"], dtype=np.dtype(obj[b"dtype"]), shape=obj[b"shape"]).copy()
    if b"__npgeneric__" in obj:
        return np.dtype(obj[b"dtype"]).type(obj[b"data"])
    return obj


packb = functools.partial(msgpack.packb, default=_pack_array, use_bin_type=True)
unpackb = functools.partial(msgpack.unpackb, object_hook=_unpack_array, raw=False, strict_map_key=False)


def metadata(policy: str, config: dict, checkpoint: str | None, versions: dict, image_size=None,
             action_dim: int = 7) -> dict:
    return {"protocol": PROTOCOL, "version": VERSION, "policy": policy, "config": config, "checkpoint": checkpoint,
            "versions": versions, "action_dim": action_dim, "image_size": list(image_size) if image_size else None}


def check_metadata(meta, url: str, action_dim: int = 7) -> dict:
    """The server's first frame, checked: protocol, version and action dimension. Raises ValueError with the fix."""
    if not isinstance(meta, dict) or meta.get("protocol") != PROTOCOL:
        raise UserError(f"{url} does not speak {PROTOCOL} (its first message: {str(meta)[:120]}); start the "
                         "server with `lapa-bench serve`")
    if meta.get("version") != VERSION:
        raise UserError(f"{url} speaks {PROTOCOL} version {meta.get('version')}, this client version {VERSION}: "
                         "use the same lapa-bench revision on both sides")
    if meta.get("action_dim") != action_dim:
        raise UserError(f"{url} serves {meta.get('action_dim')}-D actions; SIMPLER's WidowX takes {action_dim}")
    return meta
