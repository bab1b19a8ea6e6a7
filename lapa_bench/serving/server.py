"""``lapa-bench serve``: one policy behind a WebSocket (:mod:`lapa_bench.serving.protocol`).

Each connection gets its own policy state (a copy of the policy whose models are shared), so several clients can
evaluate at once. Inference runs in a worker thread, off the event loop: pings and new connections are answered
while a forward pass runs. Frames are not compressed and not capped in size (a 640 x 480 frame is 0.9 MB).
"""
from __future__ import annotations

import asyncio
import copy
import threading

import numpy as np

from lapa_bench.errors import UserError
from lapa_bench.serving import protocol


def _connection_copy(policy):
    """A copy of ``policy`` for one connection: its own per-episode state, the same weights. Plain attributes
    are deep-copied; torch modules and other ``state_dict`` holders are shared, except what a
    :class:`lapa_bench.policy.Policy` copies in :meth:`~lapa_bench.policy.Policy.spawn` (the batched path's
    per-episode copy, which a policy keeping episode state inside its module overrides, as LeRobot's does)."""
    from lapa_bench.policy import Policy

    if isinstance(policy, Policy):
        policy = policy.spawn()
    memo = {}
    for v in vars(policy).values():
        if type(v).__module__.startswith("torch") or hasattr(v, "state_dict"):
            memo[id(v)] = v
    return copy.deepcopy(policy, memo)


def _error(e: BaseException) -> dict:
    from lapa_bench.policy import format_exception

    return {"error": format_exception(e)}


def handle(policy, msg, started: dict) -> dict:
    """One request -> its reply (never raises: a failure is an ``{"error": ...}`` reply)."""
    try:
        if not isinstance(msg, dict):
            raise UserError(f"expected a map, got {type(msg).__name__}")
        kind = msg.get("control")
        if kind == "reset":
            policy.reset(msg.get("instruction", ""), seed=msg.get("seed"), context=msg.get("context"))
            started["reset"] = True
            return {"ok": True}
        if kind == "reset_batch":
            errors = policy.reset_batch(msg["instructions"], msg["seeds"], msg["contexts"])
            started["reset"] = True
            return {"errors": [None if e is None else _error(e)["error"] for e in errors]}
        if kind == "act_batch":
            acts = policy.act_batch(msg["observations"], msg["slots"])
            return {"actions": [_error(a) if isinstance(a, Exception) else np.asarray(a, np.float32) for a in acts]}
        if kind is not None:
            raise UserError(f"unknown control message {kind!r} (reset, reset_batch, act_batch)")
        if not started.get("reset"):  # an openpi-style client: observations only, no reset message
            policy.reset(msg.get("instruction", ""), seed=None, context=None)
            started["reset"] = True
        a = np.asarray(policy.act(msg), np.float32)
        return {"actions": a.reshape(-1, a.shape[-1]) if a.ndim else a}
    except Exception as e:  # the policy's failure: reported to the client, the connection stays open
        return _error(e)


class PolicyServer:
    """Serves ``policy`` with ``meta`` (:func:`lapa_bench.serving.protocol.metadata`) as the first frame."""

    def __init__(self, policy, meta: dict, host: str = "127.0.0.1", port: int = 0):
        self.policy, self.meta, self.host, self.port = policy, meta, host, port
        self.bound = threading.Event()
        self._loop = self._stop = None

    async def _handler(self, ws):
        import websockets

        policy, started = _connection_copy(self.policy), {}
        await ws.send(protocol.packb(self.meta))
        try:
            async for raw in ws:
                try:
                    msg = protocol.unpackb(raw)
                except Exception as e:  # noqa: BLE001
                    await ws.send(protocol.packb({"error": f"not a msgpack message: {e}"}))
                    continue
                reply = await asyncio.to_thread(handle, policy, msg, started)
                await ws.send(protocol.packb(reply))
        except websockets.ConnectionClosed:
            pass

    async def _main(self):
        from websockets.asyncio.server import serve

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._handler, self.host, self.port, compression=None, max_size=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self.bound.set()
            await self._stop.wait()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def run(self) -> None:
        """Serve until interrupted (the command line)."""
        asyncio.run(self._main())

    def start(self) -> "PolicyServer":
        """Serve from a daemon thread (tests, benchmarks); returns once the port is bound."""
        threading.Thread(target=self.run, daemon=True).start()
        if not self.bound.wait(30):
            raise RuntimeError("the policy server did not start within 30 s")
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


def server_for(policy, name: str, checkpoint: str | None, host: str = "127.0.0.1", port: int = 0) -> PolicyServer:
    """A server for a built policy: its metadata from the policy's resolved config and checkpoint files."""
    from lapa_bench import provenance
    from lapa_bench.fingerprint import files_fingerprint
    from lapa_bench.policy import config_to_dict

    if getattr(policy, "privileged", False):
        raise UserError(f"policy {name!r} reads the simulator's state (privileged): it cannot be served")
    cfg = config_to_dict(policy.config)
    size = cfg.get("source_size") or ([cfg["image_size"]] * 2 if isinstance(cfg.get("image_size"), int) else None)
    meta = protocol.metadata(name, cfg, files_fingerprint(checkpoint) if checkpoint else None,
                             provenance.package_versions(), image_size=size)
    return PolicyServer(policy, meta, host, port)
