"""``remote``: a policy served by ``lapa-bench serve`` (or any server speaking its protocol), e.g. a checkpoint of
another framework in its own environment. Works as any policy: records, resume, shards, reports, ``--num-envs``
(one message per batch).

    lapa-bench eval --policy remote --policy.url ws://127.0.0.1:8765 --tasks all --episodes 24 --out runs/remote

The server's metadata (policy, resolved config, checkpoint fingerprint) is part of the run's identity, so a
resumed run refuses episodes of another server, checkpoint or config. A transport failure (no server, a reply
later than ``timeout``, the connection lost) stops the run with a message and records nothing for the
episodes in flight (a rerun resumes); an error the policy raised on the server fails that episode, with its
reason, as it would in-process.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lapa_bench.errors import UserError
from lapa_bench.policy import Policy, TransportError, register_policy


@dataclass
class RemoteConfig:
    url: str = ""  # ws://HOST:PORT of the policy server (`lapa-bench serve` prints it)
    connect_timeout: float = 10.0  # seconds to reach the server and receive its metadata
    timeout: float = 120.0  # seconds to wait for one reply (a batch's inference included)

    def __post_init__(self):
        if self.connect_timeout <= 0 or self.timeout <= 0:
            raise UserError("remote: connect_timeout and timeout must be > 0 seconds")


class RemotePolicyError(RuntimeError):
    """The served policy raised (its message, as the server reported it)."""


@register_policy("remote")
class RemotePolicy(Policy):
    """A policy on a policy server (`lapa-bench serve`), over a WebSocket."""

    config_class = RemoteConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        if not self.config.url:
            raise UserError("policy remote needs --policy.url ws://HOST:PORT (a server started with "
                             "`lapa-bench serve --policy NAME ...`)")
        self._ws, self.meta = None, None

    # -- the connection ------------------------------------------------------------------
    def _connect(self):
        if self._ws is not None:
            return self._ws
        from websockets.sync.client import connect

        from lapa_bench.serving import protocol

        url = self.config.url
        try:
            ws = connect(url, open_timeout=self.config.connect_timeout, compression=None, max_size=None,
                         close_timeout=1)
            meta = protocol.unpackb(ws.recv(timeout=self.config.connect_timeout))
        except (OSError, TimeoutError) as e:
            raise TransportError(f"no policy server at {url} within {self.config.connect_timeout:g} s "
                                 f"({type(e).__name__}: {e}); start one with `lapa-bench serve --policy NAME "
                                 "[--checkpoint DIR] --port PORT`") from None
        except Exception as e:  # noqa: BLE001  (an invalid URI, a handshake refused)
            raise TransportError(f"cannot open {url}: {type(e).__name__}: {e}") from None
        try:
            self.meta = protocol.check_metadata(meta, url)
        except ValueError as e:
            ws.close()
            raise TransportError(str(e)) from None
        self._ws = ws
        return ws

    def _call(self, msg: dict) -> dict:
        from websockets.exceptions import ConnectionClosed

        from lapa_bench.serving import protocol

        ws = self._connect()
        try:
            ws.send(protocol.packb(msg))
            reply = protocol.unpackb(ws.recv(timeout=self.config.timeout))
        except TimeoutError:
            self._drop()
            raise TransportError(f"no reply from {self.config.url} within {self.config.timeout:g} s "
                                 "(--policy.timeout); the run stops, rerun the same command to resume") from None
        except (ConnectionClosed, OSError) as e:
            self._drop()
            raise TransportError(f"the policy server at {self.config.url} went away ({type(e).__name__}: {e}); "
                                 "restart it and rerun the same command: finished episodes are kept") from None
        if isinstance(reply, dict) and "error" in reply and len(reply) == 1:
            raise RemotePolicyError(f"on the server: {reply['error']}")
        return reply

    def _drop(self):
        try:
            self._ws.close()
        except Exception:  # noqa: BLE001
            pass
        self._ws = None

    def run_identity(self) -> dict:
        """What names the served policy in a run's identity: policy, resolved config, checkpoint fingerprint."""
        self._connect()
        return {k: self.meta.get(k) for k in ("protocol", "version", "policy", "config", "checkpoint")}

    # -- the policy ----------------------------------------------------------------------
    def reset(self, instruction, seed=None, context=None):
        self._call({"control": "reset", "instruction": instruction, "seed": seed, "context": context or {}})

    def act(self, obs):
        return self._actions(self._call(_obs(obs))["actions"])

    def reset_batch(self, instructions, seeds, contexts):
        reply = self._call({"control": "reset_batch", "instructions": list(instructions),
                            "seeds": [None if s is None else int(s) for s in seeds], "contexts": list(contexts)})
        return [None if e is None else RemotePolicyError(f"on the server: {e}") for e in reply["errors"]]

    def act_batch(self, observations, slots):
        reply = self._call({"control": "act_batch", "observations": [_obs(o) for o in observations],
                            "slots": [int(b) for b in slots]})
        return [RemotePolicyError(f"on the server: {a['error']}") if isinstance(a, dict) else self._actions(a)
                for a in reply["actions"]]

    @staticmethod
    def _actions(a):
        return np.asarray(a, np.float32)

    def close(self):
        if self._ws is not None:
            self._drop()


def _obs(obs: dict) -> dict:
    return {"image": np.ascontiguousarray(obs["image"]), "instruction": obs["instruction"],
            "state": np.asarray(obs["state"], np.float32)}
