"""The policy server and the `remote` policy: the wire format, the same records as in-process on SIMPLER (single
and batched), and every transport or policy failure with its message or recorded reason."""
import threading
import time

import numpy as np
import pytest

from conftest import requires_sim
from lapa_bench.policy import Policy, TransportError, make_policy, register_policy
from lapa_bench.serving import protocol
from lapa_bench.serving.server import PolicyServer, server_for


# -- the wire format ----------------------------------------------------------------------
def test_protocol_roundtrip_and_openpi_encoding():
    msg = {"image": np.arange(12, dtype=np.uint8).reshape(2, 2, 3), "state": np.float32([1, 2]), "k": np.int64(3),
           "nested": [{"a": np.zeros((1, 7), np.float32)}], "text": "put carrot on plate"}
    back = protocol.unpackb(protocol.packb(msg))
    assert back["image"].dtype == np.uint8 and np.array_equal(back["image"], msg["image"])
    assert back["k"] == 3 and back["nested"][0]["a"].shape == (1, 7) and back["text"] == msg["text"]
    # an openpi client's frame (openpi_client.msgpack_numpy: bytes keys __ndarray__, data, dtype, shape)
    import msgpack

    a = np.ones((3, 7), np.float32)
    frame = msgpack.packb({"actions": {b"__ndarray__": True, b"data": a.tobytes(), b"dtype": a.dtype.str,
                                       b"shape": a.shape}}, use_bin_type=True)
    assert np.array_equal(protocol.unpackb(frame)["actions"], a)
    with pytest.raises(ValueError, match="cannot send"):
        protocol.packb({"x": np.array([object()])})


# -- policies for the failure cases ---------------------------------------------------------
_STATE = {"die_on_episode": None, "server": None}


@register_policy("test_server_raises")
class _Raises(Policy):
    def act(self, obs):
        raise RuntimeError("the model broke")


@register_policy("test_server_nan")
class _NaN(Policy):
    def act(self, obs):
        return np.full(7, np.nan, np.float32)


@register_policy("test_server_slow")
class _Slow(Policy):
    def act(self, obs):
        time.sleep(3)
        return np.zeros(7, np.float32)


@register_policy("test_server_dies")
class _Dies(Policy):
    """Holds still; stops its server at the first step of episode ``_STATE['die_on_episode']``."""

    def reset(self, instruction, seed=None, context=None):
        self.episode = (context or {}).get("episode_id")

    def act(self, obs):
        if _STATE["die_on_episode"] is not None and self.episode == _STATE["die_on_episode"]:
            _STATE["server"].stop()
            time.sleep(1)
        return np.array([0, 0, 0, 0, 0, 0, 1], np.float32)


class _Counter:
    """Per-episode state kept inside a model-like object (as LeRobot keeps its action queue in its module)."""

    def __init__(self):
        self.steps = 0

    def state_dict(self):
        return {}


@register_policy("test_server_counts")
class _Counts(Policy):
    """Acts with the number of steps since its reset (in x); its state lives in ``self.model``."""

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.model = _Counter()

    def reset(self, instruction, seed=None, context=None):
        self.model.steps = 0

    def act(self, obs):
        self.model.steps += 1
        return np.array([self.model.steps, 0, 0, 0, 0, 0, 1], np.float32)

    def spawn(self):
        import copy

        other = copy.copy(self)
        other.model = copy.deepcopy(self.model)
        return other


def _serve(name, **cfg):
    return server_for(make_policy(name, **cfg), name, None).start()


def test_no_server_and_bad_handshakes():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    t0 = time.time()
    with pytest.raises(TransportError, match=rf"no policy server at ws://127.0.0.1:{port} .*lapa-bench serve"):
        make_policy("remote", url=f"ws://127.0.0.1:{port}", connect_timeout=2).reset("x")
    assert time.time() - t0 < 5
    for meta, why in (({**protocol.metadata("zero", {}, None, {}), "version": 99}, "version 99"),
                      ({**protocol.metadata("zero", {}, None, {}), "action_dim": 6}, "6-D actions"),
                      ({"hello": 1}, "does not speak lapa-bench-policy")):
        srv = PolicyServer(make_policy("zero"), meta).start()
        try:
            with pytest.raises(TransportError, match=why):
                make_policy("remote", url=srv.url).reset("x")
        finally:
            srv.stop()


def test_timeout_and_server_side_errors():
    obs = {"image": np.zeros((8, 8, 3), np.uint8), "instruction": "x", "state": np.zeros(7, np.float32)}
    slow = _serve("test_server_slow")
    try:
        p = make_policy("remote", url=slow.url, timeout=0.5)
        p.reset("x")
        with pytest.raises(TransportError, match=r"no reply from .* within 0.5 s"):
            p.act(obs)
    finally:
        slow.stop()
    bad = _serve("test_server_raises")
    try:
        p = make_policy("remote", url=bad.url)
        p.reset("x")
        with pytest.raises(RuntimeError, match="on the server: RuntimeError: the model broke"):
            p.act(obs)
        assert p.reset_batch(["x", "x"], [0, 1], [{}, {}]) == [None, None]
        out = p.act_batch([obs, obs], [0, 1])  # per slot, as in-process
        assert all("the model broke" in str(e) for e in out)
    finally:
        bad.stop()


def test_two_clients_of_one_server_keep_their_own_episodes():
    """Each connection acts on its own copy of the policy (made by the policy's ``spawn``), so two clients whose
    steps interleave do not share an episode's state, even one kept inside a model object."""
    obs = {"image": np.zeros((8, 8, 3), np.uint8), "instruction": "x", "state": np.zeros(7, np.float32)}
    srv = _serve("test_server_counts")
    try:
        a, b = make_policy("remote", url=srv.url), make_policy("remote", url=srv.url)
        a.reset("x")
        b.reset("x")
        seen = [float(np.asarray(p.act(obs)).reshape(-1, 7)[0, 0]) for p in (a, b, a, a, b)]
        assert seen == [1, 1, 2, 3, 2]
        a.reset("x")
        assert float(np.asarray(a.act(obs)).reshape(-1, 7)[0, 0]) == 1
        assert float(np.asarray(b.act(obs)).reshape(-1, 7)[0, 0]) == 3
    finally:
        srv.stop()


def test_server_refuses_privileged_policies():
    with pytest.raises(ValueError, match="privileged"):
        server_for(make_policy("scripted"), "scripted", None)


# -- on the simulator -----------------------------------------------------------------------
def _strip(recs):
    keep = ("task", "episode_id", "seed", "success_at_end", "success_once", "grasped", "consecutive_grasp", "steps",
            "error", "outcome")
    return sorted([{k: r[k] for k in keep} for r in recs], key=lambda r: (r["task"], r["episode_id"], r["seed"]))


@requires_sim
def test_remote_gives_the_in_process_records(tmp_path):
    """A fixed checkpoint (a 64 px `scratch`, chunks executed 2 at a time) served over loopback gives the same
    records as in-process, one episode at a time and 2 in lockstep (and batched = one at a time for the VLA
    itself); the server's identity is in the manifest."""
    import json

    import torch

    from lapa_bench.app.evaluate import EvalConfig, evaluate
    from lapa_bench.records import read_records

    torch.manual_seed(0)
    model = make_policy("scratch", preset="small", image_size=64, pool_prompt=True, query_tokens="per_step",
                        command_state=True, execute=2, device="cpu")
    model.save_pretrained(tmp_path / "ck")
    ck = str(tmp_path / "ck")
    srv = server_for(make_policy("scratch", checkpoint=ck, device="cpu"), "scratch", ck).start()
    try:
        common = dict(tasks=["carrot"], episodes=2, seeds=[0], progress=False)
        runs = {}
        for n in (1, 2):
            local = evaluate(EvalConfig(policy="scratch", checkpoint=ck, out=str(tmp_path / f"local{n}"),
                                        num_envs=n, backend="cpu", **common))
            remote = evaluate(EvalConfig(policy="remote", policy_config={"url": srv.url},
                                         out=str(tmp_path / f"remote{n}"), num_envs=n, backend="cpu", **common),
                              policy=make_policy("remote", url=srv.url))
            assert _strip(read_records(local)) == _strip(read_records(remote))
            runs[n] = _strip(read_records(local))
        assert runs[1] == runs[2]  # the learned policy batched (one forward pass for 2 envs) = one at a time
        ident = json.loads((tmp_path / "remote1" / "manifest.json").read_text())["identity"]["served"]
        assert ident["policy"] == "scratch" and ident["checkpoint"] and ident["config"]["execute"] == 2
    finally:
        srv.stop()


@requires_sim
def test_policy_errors_are_recorded_and_a_dead_server_stops_the_run(tmp_path):
    from lapa_bench.app.evaluate import EvalConfig, evaluate
    from lapa_bench.records import read_records

    common = dict(tasks=["carrot"], seeds=[0], progress=False)
    for name, reason in (("test_server_raises", "on the server: RuntimeError: the model broke"),
                         ("test_server_nan", "invalid action")):
        srv = _serve(name)
        try:
            out = evaluate(EvalConfig(policy="remote", policy_config={"url": srv.url}, out=str(tmp_path / name),
                                      episodes=1, **common), policy=make_policy("remote", url=srv.url))
            (rec,) = read_records(out)
            assert reason in rec["error"] and rec["outcome"] == "error"
        finally:
            srv.stop()
    # the server dies during episode 1 (the second): the run stops, episode 0 is kept, nothing counted as failed
    _STATE["die_on_episode"] = 1
    _STATE["server"] = srv = _serve("test_server_dies")
    port = srv.port
    cfg = EvalConfig(policy="remote", policy_config={"url": srv.url}, out=str(tmp_path / "dies"), episodes=3, **common)
    with pytest.raises(TransportError, match="went away"):
        evaluate(cfg, policy=make_policy("remote", url=srv.url))
    assert [r["episode_id"] for r in read_records(tmp_path / "dies")] == [0]
    _STATE["die_on_episode"] = None  # the same policy and config served again: the rerun resumes
    srv = server_for(make_policy("test_server_dies"), "test_server_dies", None, port=port).start()
    try:
        evaluate(cfg, policy=make_policy("remote", url=srv.url))
        recs = read_records(tmp_path / "dies")
        assert sorted(r["episode_id"] for r in recs) == [0, 1, 2] and not any(r["error"] for r in recs)
    finally:
        srv.stop()


# -- a policy from another framework: LeRobot's ACT, served from LeRobot's own venv ---------------------
def _lerobot_python():
    from test_collect import LEROBOT_PYTHON

    return LEROBOT_PYTHON


@pytest.mark.skipif(not _lerobot_python().exists(), reason="LeRobot 0.3.3 cannot share this venv (it pins torch<2.8): "
                    "`make lerobot-venv` builds .venv-lerobot, where scripts/lerobot_policy.py trains and serves")
def test_a_lerobot_policy_served_from_its_own_venv_acts_as_it_does_in_process(tmp_path):
    """ACT trained (two steps) by LeRobot's own training script on a dataset LeRobot wrote, served from LeRobot's
    venv with scripts/lerobot_policy.py, queried by `remote` here: the same actions as the same checkpoint called
    in-process in that venv, over two action chunks (LeRobot's own queue) and after a reset."""
    import os
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    py, script = str(_lerobot_python()), str(repo / "scripts" / "lerobot_policy.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = tmp_path / "act"
    r = subprocess.run([py, script, "train", str(repo / "tests" / "fixtures" / "lerobot_v21"), "--out", str(run),
                        "--steps", "2", "--batch-size", "2", "--policy.dim_model=32",
                        "--policy.dim_feedforward=64", "--policy.n_heads=2", "--policy.latent_dim=8"],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    rng = np.random.default_rng(0)  # camera-sized frames, as the env sends them
    images = rng.integers(0, 256, (9, 480, 640, 3), dtype=np.uint8)
    states = rng.normal(size=(9, 7)).astype(np.float32)
    np.savez(tmp_path / "obs.npz", images=images, states=states, instruction="put the spoon on the towel")
    r = subprocess.run([py, script, "act", str(run), str(tmp_path / "obs.npz"), str(tmp_path / "in_process.npy")],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    expected = np.load(tmp_path / "in_process.npy")
    assert expected.shape == (9, 7) and np.isfinite(expected).all() and len(np.unique(expected[:, 0])) > 1

    server = subprocess.Popen([py, script, "serve", str(run), "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        line = ""
        for line in server.stdout:
            if line.startswith("serving"):
                break
        assert " at ws://" in line, f"the server printed no URL (exit {server.poll()})"
        remote = make_policy("remote", url=line.split(" at ")[-1].strip())
        assert remote.run_identity()["policy"] == "lerobot/act" and remote.run_identity()["checkpoint"]
        for attempt in range(2):  # a reset empties LeRobot's action queue: the same actions again
            remote.reset("put the spoon on the towel", seed=attempt)
            got = np.concatenate([remote.act({"image": img, "state": s, "instruction": "put the spoon on the towel"})
                                  for img, s in zip(images, states)])
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
        # the harness's batched path: one LeRobot action queue per slot, each the in-process episode
        assert remote.reset_batch(["put the spoon on the towel"] * 2, [0, 1], [{}, {}]) == [None, None]
        obs = [{"image": img, "state": s, "instruction": "put the spoon on the towel"}
               for img, s in zip(images, states)]
        steps = [remote.act_batch([o, o], [0, 1]) for o in obs]
        for slot in (0, 1):
            got = np.stack([np.reshape(a[slot], 7) for a in steps])
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
        remote.close()
    finally:
        server.kill()
        server.wait()
