"""Tests on the real ManiSkill SIMPLER env (few, short episodes)."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_sim
from lapa_bench import specs
from lapa_bench.app.evaluate import EvalConfig, evaluate
from lapa_bench.rollout import run_episode
from lapa_bench.policy import Policy, make_policy
from lapa_bench.records import read_records

pytestmark = [requires_sim]
LAPA_BENCH = [sys.executable, "-m", "lapa_bench.app.cli"]


def _strip(rows):
    return sorted([{k: v for k, v in r.items() if k != "wall_seconds"} for r in rows],
                  key=lambda r: (r["task"], r["episode_id"], r["seed"]))


@pytest.mark.parametrize("task", ["spoon", "carrot", "stack", "eggplant"])
def test_env_contract(task):
    from lapa_bench.tasks import TASKS, make_env

    env = make_env(task, image_size=(128, 160))
    try:
        obs, info = env.reset(seed=0, options={"episode_id": 5})
        assert set(obs) == {"image", "instruction", "state"}
        assert obs["image"].shape == (128, 160, 3) and obs["image"].dtype == np.uint8
        assert obs["image"].std() > 5  # a real rendered picture, not a blank frame
        assert obs["instruction"] == TASKS[task].instruction
        assert obs["state"].shape == (specs.STATE_DIM,) and obs["state"].dtype == np.float32
        assert env.observation_space["image"].contains(obs["image"])
        assert env.max_steps == TASKS[task].max_steps
        a = np.zeros(7, np.float32)
        a[2], a[6] = 0.02, specs.GRIPPER_OPEN
        obs2, r, term, trunc, info = env.step(a)
        assert not term and not trunc
        for k in ("success", "is_src_obj_grasped", "consecutive_grasp"):
            assert isinstance(info[k], bool)
        assert 0.005 < obs2["state"][2] - obs["state"][2] < 0.03  # dz moves the gripper up
    finally:
        env.close()


def test_scripted_oracle_solves_an_episode(carrot_env):
    r = run_episode(carrot_env, make_policy("scripted"), episode_id=7, seed=0)
    assert r["error"] is None and r["success_once"] and r["grasped"]


def test_outcomes_tell_never_grasped_from_grasped_and_not_lifted(carrot_env):
    """The records' ``outcome`` on the simulator: the oracle succeeds, the zero policy never grasps, and the
    oracle's own actions stopped two steps after it closes the gripper (before its lift) hold the carrot
    without lifting it (what closed-loop policies did on their training layouts: results/learning, ninth round)."""
    actions = []
    oracle = run_episode(carrot_env, make_policy("scripted"), episode_id=7, seed=0,
                         on_step=lambda obs, a: actions.append(np.array(a)))
    close = int(np.argmax(np.array(actions)[:, 6] < 0))
    assert close > 0, "the oracle never closed the gripper"
    stopped = run_episode(carrot_env, make_policy("replay", actions=np.array(actions[:close + 2])), 7, 0)
    zero = run_episode(carrot_env, make_policy("zero"), 7, 0)
    assert oracle["outcome"] in ("success", "success_lost")
    assert stopped["grasped"] and stopped["outcome"] == "not_lifted", stopped
    assert zero["outcome"] == "never_grasped"


def test_nan_action_fails_episode_and_run_goes_on(tmp_path):
    class NanAt3(Policy):
        def reset(self, instruction, seed=None, context=None):
            self.t, self.ep = 0, context["episode_id"]

        def act(self, obs):
            self.t += 1
            if self.ep == 0 and self.t == 3:
                return np.full(7, np.nan)
            if self.ep == 1:
                return np.zeros(3)
            return np.zeros(7)

    cfg = EvalConfig(policy="nan_at_3", out=str(tmp_path / "run"), tasks=["carrot"], episodes=3,
                     progress=False, video=1)
    evaluate(cfg, policy=NanAt3())
    rows = {r["episode_id"]: r for r in read_records(tmp_path / "run")}
    assert len(rows) == 3
    assert "NaN" in rows[0]["error"] and rows[0]["steps"] == 2
    assert "shape" in rows[1]["error"] and rows[1]["steps"] == 0
    assert rows[2]["error"] is None and rows[2]["steps"] == 60
    # --video 1: the first episode of the task is saved as an mp4, named without its result
    assert rows[0]["video"] == "videos/carrot/episode00_seed0.mp4" and rows[1]["video"] is None
    import imageio.v2 as imageio

    frames = imageio.mimread(tmp_path / "run" / rows[0]["video"])
    assert len(frames) == 3 and frames[0].shape == (480, 640, 3)  # reset frame + 2 steps

    # the bug is fixed: a rerun retries the errored episodes (only those), the new records win
    from lapa_bench.app.evaluate import errored
    from lapa_bench.records import latest_records

    class Fixed(Policy):
        def act(self, obs):
            return np.zeros(7)

    evaluate(dataclasses.replace(cfg, retry_errors=False), policy=Fixed())
    assert len(read_records(tmp_path / "run")) == 3 and len(errored(tmp_path / "run")) == 2  # kept as they were
    evaluate(cfg, policy=Fixed())
    assert len(read_records(tmp_path / "run")) == 5  # the two errored episodes ran again; their reasons stay
    latest = latest_records(tmp_path / "run")
    assert not errored(tmp_path / "run") and all(r["steps"] == 60 for r in latest.values())


def _eval_cmd(out, *extra):
    return LAPA_BENCH + ["eval", "--policy", "random", "--tasks", "carrot", "--episodes", "3",
                         "--seeds", "0", "1", "--out", str(out), "--no-progress", *extra]


def test_determinism_and_resume_after_kill_9(tmp_path):
    """Same seed -> identical records; a run killed with SIGKILL resumes with nothing lost or
    duplicated and yields the same records as an uninterrupted run."""
    env = dict(os.environ)
    full = tmp_path / "full"
    subprocess.run(_eval_cmd(full), check=True, env=env, capture_output=True, timeout=600)
    rows_full = read_records(full)
    assert len(rows_full) == 6

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_eval_cmd(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(read_records(killed)) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(read_records(killed))
    assert 2 <= n_before < 6, "the kill should land mid-run"
    res = subprocess.run(_eval_cmd(killed), env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "already done" in res.stdout
    rows_resumed = read_records(killed)
    assert len(rows_resumed) == 6
    assert len({(r["task"], r["episode_id"], r["seed"]) for r in rows_resumed}) == 6
    assert _strip(rows_resumed) == _strip(rows_full)  # determinism across processes, too
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["versions"]["mani-skill"] and manifest["assets"]["kind"]


def test_cli_rejects_bad_input(tmp_path):
    def run(*args):
        return subprocess.run(LAPA_BENCH + list(args), capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    r = run("eval", "--policy", "nope", "--tasks", "carrot", "--out", str(tmp_path / "a"))
    assert r.returncode == 2 and "unknown policy 'nope'" in r.stderr and "scripted" in r.stderr
    r = run("eval", "--policy", "zero", "--tasks", "teapot", "--out", str(tmp_path / "b"))
    assert r.returncode == 2 and "unknown task 'teapot'" in r.stderr and "carrot" in r.stderr
    r = run("eval", "--policy", "zero", "--policy.bogus", "1", "--tasks", "carrot", "--out", str(tmp_path / "c"))
    assert r.returncode == 2 and "valid keys" in r.stderr
    # a wrongly typed policy setting is refused before anything runs (it used to fail every episode)
    r = run("eval", "--policy", "random", "--policy.scale", "abc", "--tasks", "carrot", "--out", str(tmp_path / "e"))
    assert r.returncode == 2 and "expected list[float]" in r.stderr and not (tmp_path / "e").exists()
    r = run("eval", "--policy", "zero", "--shard", "5/4", "--out", str(tmp_path / "d"))
    assert r.returncode == 2 and "shard" in r.stderr
    # every episode errors (out-of-bounds actions): recorded as failures, and the command exits 1 saying why
    r = run("eval", "--policy", "random", "--policy.scale", "[5, 5, 5, 5, 5, 5]", "--tasks", "carrot", "--episodes",
            "1", "--out", str(tmp_path / "f"), "--no-progress")
    assert r.returncode == 1 and "1 episode(s) errored" in r.stderr and "invalid action" in r.stderr
    assert "errored" in r.stdout  # the table counts them


def test_missing_assets_never_prompt(tmp_path):
    """With no assets, eval fails fast with the fix, and never reaches ManiSkill's y/n prompt."""
    env = dict(os.environ, MS_ASSET_DIR=str(tmp_path / "no_assets"))
    r = subprocess.run(LAPA_BENCH + ["eval", "--policy", "zero", "--tasks", "carrot", "--episodes", "1",
                                     "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert "lapa-bench assets download" in r.stderr and "MS_ASSET_DIR" in r.stderr
    assert "(y|n)" not in r.stdout
    from lapa_bench.tasks import make_env
    from lapa_bench.assets import AssetsMissingError

    old = os.environ["MS_ASSET_DIR"]
    try:
        os.environ["MS_ASSET_DIR"] = str(tmp_path / "no_assets")
        with pytest.raises(AssetsMissingError, match="assets download"):
            make_env("carrot")
    finally:
        os.environ["MS_ASSET_DIR"] = old


def test_output_dir_of_another_policy_is_refused(tmp_path):
    cfg = EvalConfig(policy="zero", out=str(tmp_path), tasks=["carrot"], episodes=1, progress=False)
    from lapa_bench.app.evaluate import RunMismatchError, write_manifest

    import torch

    m = write_manifest(cfg, tmp_path)
    assert m["torch_threads"] == torch.get_num_threads()  # closed-loop outcomes can depend on it
    with pytest.raises(RunMismatchError, match="another --out"):
        write_manifest(EvalConfig(policy="random", out=str(tmp_path)), tmp_path)


def test_records_carry_the_run_identity_so_a_lost_manifest_cannot_mix_runs(tmp_path):
    from lapa_bench.app.evaluate import RunMismatchError
    from lapa_bench.app.report import build_report

    cfg = EvalConfig(policy="zero", out=str(tmp_path / "run"), tasks=["carrot"], episodes=1, progress=False)
    evaluate(cfg)
    (rec,) = read_records(tmp_path / "run")
    assert rec["run_id"] == cfg.run_id()
    for broken in ("", None):  # a truncated manifest, then none at all
        if broken is None:
            (tmp_path / "run" / "manifest.json").unlink()
        else:
            (tmp_path / "run" / "manifest.json").write_text(broken)
        with pytest.raises(RunMismatchError, match="records of another run"):
            evaluate(EvalConfig(policy="random", out=str(tmp_path / "run"), tasks=["carrot"], episodes=1,
                                progress=False))
    assert len(read_records(tmp_path / "run")) == 1  # nothing was added
    with open(tmp_path / "run" / "records.jsonl", "a") as f:  # records of two runs merged by hand
        f.write(json.dumps({**rec, "episode_id": 5, "run_id": "0123456789ab"}) + "\n")
    with pytest.raises(ValueError, match="mixes the records of 2 runs"):
        build_report([tmp_path / "run"], quiet=True)


def test_a_rerun_with_nothing_to_do_keeps_the_revision_that_wrote_the_records(tmp_path):
    """The manifest names the revision and versions of the last process that ran episodes: rerunning a finished
    evaluation (e.g. to rebuild a report) leaves them; resuming with episodes to run updates them."""
    cfg = EvalConfig(policy="zero", out=str(tmp_path), tasks=["carrot"], episodes=1, progress=False)
    evaluate(cfg)
    path = tmp_path / "manifest.json"
    m = json.loads(path.read_text())
    path.write_text(json.dumps({**m, "git_sha": "the-writer", "versions": {"x": "1"}}))
    evaluate(cfg)
    m = json.loads(path.read_text())
    assert m["git_sha"] == "the-writer" and m["versions"] == {"x": "1"}
    evaluate(EvalConfig(policy="zero", out=str(tmp_path), tasks=["carrot"], episodes=2, progress=False))
    m = json.loads(path.read_text())
    assert m["git_sha"] != "the-writer" and "x" not in m["versions"]


def test_a_committed_evaluation_is_found_done_from_another_checkout(tmp_path):
    """The same command from a fresh clone (another path to the same checkpoint) finds a committed cell's
    evaluation done (the checkpoint is named by its files); another checkpoint at that path is refused."""
    import shutil

    from lapa_bench.app.evaluate import RunMismatchError
    from lapa_bench.fingerprint import files_fingerprint

    root = Path(__file__).resolve().parents[1]
    committed = root / "results" / "mini" / "eval" / "scratch_25" / "task_seed_0"
    ck = tmp_path / "clone" / "results" / "mini" / "scratch" / "n25_s0"
    shutil.copytree(root / "results" / "mini" / "scratch" / "n25_s0", ck,
                    ignore=shutil.ignore_patterns("last", "blind_twin"))
    shutil.copytree(committed, tmp_path / "eval")
    before = (tmp_path / "eval" / "records.jsonl").read_text()
    conf = json.loads((committed / "manifest.json").read_text())["config"]
    cfg = EvalConfig(**{**conf, "checkpoint": str(ck), "out": str(tmp_path / "eval"), "progress": False})
    evaluate(cfg)  # every episode done: nothing re-run, nothing added
    assert (tmp_path / "eval" / "records.jsonl").read_text() == before
    m = json.loads((tmp_path / "eval" / "manifest.json").read_text())
    assert m["identity"]["checkpoint"] == files_fingerprint(ck) and "identity_before" not in m
    (ck / "config.json").write_text((ck / "config.json").read_text() + "\n")
    with pytest.raises(RunMismatchError):  # other files at the same path: another run
        evaluate(cfg)


def test_maniskill_prompt_is_refused(carrot_env):
    """Even if ManiSkill itself decides to ask its y/n download question, we raise instead."""
    from mani_skill.utils import download_asset

    from lapa_bench.assets import AssetsMissingError

    with pytest.raises(AssetsMissingError, match="assets download"):
        download_asset.prompt_yes_no("Would you like to download them now?")


def test_batched_cpu_envs_see_what_one_env_sees(carrot_env):
    """make_env(num_envs=2) on the CPU: two single-scene envs in lockstep, pixel-identical to one env."""
    from lapa_bench.tasks import make_env

    envs = make_env("carrot", num_envs=2, backend="cpu")
    try:
        assert envs.num_envs == 2 and envs.sim_backend == "physx_cpu"
        obs = envs.reset_batch([0, 1], [3, 5])
        for b, (eid, seed) in enumerate([(3, 0), (5, 1)]):
            ref, _ = carrot_env.reset(seed=seed, options={"episode_id": eid})
            np.testing.assert_array_equal(obs[b]["image"], ref["image"])
            np.testing.assert_array_equal(obs[b]["state"], ref["state"])
        a = np.zeros((2, 7), np.float32)
        a[:, 0], a[:, 6] = 0.01, 1.0
        obs, infos = envs.step_batch(a)
        assert len(obs) == len(infos) == 2 and isinstance(infos[1]["success"], bool)
        ref, *_ = carrot_env.step(a[1])  # carrot_env was last reset to scene 1's layout
        np.testing.assert_array_equal(obs[1]["image"], ref["image"])
    finally:
        envs.close()


def test_batched_evaluation_matches_and_resumes_per_batch(tmp_path):
    """--num-envs 2 with the privileged oracle (each episode's copy reads its own scene): the same records as
    one env at a time, successes included; a grown run resumes with nothing duplicated."""
    common = dict(policy="scripted", tasks=["carrot"], seeds=[0], progress=False)
    evaluate(EvalConfig(out=str(tmp_path / "one"), episodes=3, **common))
    evaluate(EvalConfig(out=str(tmp_path / "two"), episodes=2, num_envs=2, **common))
    evaluate(EvalConfig(out=str(tmp_path / "two"), episodes=3, num_envs=2, **common))  # one more: a short batch
    one, two = read_records(tmp_path / "one"), read_records(tmp_path / "two")
    assert len(two) == 3 and _strip(two) == _strip(one)
    assert sum(r["success_once"] for r in one) >= 2  # the oracle succeeds: the comparison has teeth
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["num_envs"] == 2 and manifest["sim_backend"] == "physx_cpu"


def test_rendering_only_what_is_read_gives_the_same_records(carrot_env, monkeypatch):
    """A policy executing chunks of 4 reads one frame in four: the others are not rendered. Records (success,
    grasp, steps, outcome) and the images the policy saw are the same as when every step renders, and with a
    video (every frame recorded) too; the video's frames are the rendered-every-step frames."""
    import hashlib

    from lapa_bench import rollout

    oracle_actions = []
    run_episode(carrot_env, make_policy("scripted"), episode_id=7, seed=0,
                on_step=lambda obs, a: oracle_actions.append(np.array(a)))

    class ChunkReplay(Policy):  # the oracle's actions, 4 per call; notes a hash of every image it is given
        def reset(self, instruction, seed=None, context=None):
            self.t, self.seen = 0, []

        def act(self, obs):
            self.seen.append(hashlib.sha1(obs["image"].tobytes()).hexdigest())
            chunk = np.array(oracle_actions[self.t:self.t + 4] or [np.zeros(7)], np.float32)
            self.t += 4
            return chunk

    def run(frames=None, every_step=False):
        calls = []
        if every_step:  # the old path: every step renders
            monkeypatch.setattr(rollout, "_step_batch", lambda env, a, read: env.step_batch(a))
        orig = carrot_env.step
        monkeypatch.setattr(carrot_env, "step", lambda a, read=True: (calls.append(read), orig(a, read=read))[1])
        p = ChunkReplay()
        rec = run_episode(carrot_env, p, episode_id=7, seed=0, frames=frames)
        monkeypatch.undo()
        rec.pop("wall_seconds")
        return rec, p.seen, calls

    old, old_seen, old_calls = run(every_step=True)
    new, new_seen, new_calls = run()
    frames = []
    video, video_seen, video_calls = run(frames=frames)
    assert old["success_once"] and old["grasped"], old
    assert new == old and video == old
    assert new_seen == old_seen == video_seen and len(new_seen) == 15
    assert all(old_calls) and all(video_calls) and sum(new_calls) == 14  # one render in four (none after the last)
    assert len(frames) == 61


def test_one_writer_per_run_folder(tmp_path):
    """A second evaluation of the same --out (and shard) stops with a message while the first holds the folder;
    other shards of it may run; once the first is gone (however it ended) the folder is free again."""
    from lapa_bench.app.evaluate import RunFolderBusy, _lock

    out = tmp_path / "run"
    out.mkdir()
    held = _lock(out, None)
    cfg = EvalConfig(policy="zero", out=str(out), tasks=["carrot"], episodes=1, progress=False)
    with pytest.raises(RunFolderBusy, match="being written by another evaluation .*pid"):
        evaluate(cfg)
    _lock(out, (0, 2)).close()  # a shard has its own lock
    held.close()
    evaluate(cfg)
    assert len(read_records(out)) == 1


@pytest.mark.parametrize("task, episode", [("spoon", 3), ("stack", 11), ("eggplant", 20)])
def test_scripted_oracle_solves_every_task(task, episode):
    """The upper bound holds on the other three tasks too (one layout each; the committed 4 x 24 result:
    results/oracle)."""
    from lapa_bench.tasks import make_env

    env = make_env(task, image_size=(64, 64))
    try:
        r = run_episode(env, make_policy("scripted"), episode_id=episode, seed=0)
    finally:
        env.close()
    assert r["error"] is None and r["success_once"] and r["grasped"], r


def test_two_shards_merge_into_one_report(tmp_path, capsys):
    """`eval --shard 1/2` and `2/2` into one folder write their own record files, together exactly the unsharded
    plan (no episode twice or missing), and `report` reads them as one run."""
    from lapa_bench.app.cli import main

    out = tmp_path / "run"
    base = ["eval", "--policy", "zero", "--tasks", "carrot", "spoon", "--episodes", "2", "--seeds", "0", "--out",
            str(out), "--no-progress"]
    assert main(base + ["--shard", "1/2"]) == 0
    assert main(base + ["--shard", "2/2"]) == 0
    files = sorted(p.name for p in out.glob("records*.jsonl"))
    assert files == ["records.shard-1-of-2.jsonl", "records.shard-2-of-2.jsonl"]
    keys = [(r["task"], r["episode_id"], r["seed"]) for r in read_records(out)]
    assert len(keys) == len(set(keys)) == 4
    assert main(["report", str(out), "--out", str(tmp_path / "table")]) == 0
    whole = tmp_path / "whole"
    assert main(base[:-3] + ["--out", str(whole), "--no-progress"]) == 0  # the same plan, unsharded
    strip = lambda rows: sorted((r["task"], r["episode_id"], r["success_once"], r["grasped"], r["steps"], r["outcome"])  # noqa: E731
                                for r in rows)
    assert strip(read_records(out)) == strip(read_records(whole))
    assert main(["report", str(whole), "--out", str(tmp_path / "table_whole")]) == 0
    assert (tmp_path / "table" / "table.md").read_text() == (tmp_path / "table_whole" / "table.md").read_text()
    assert main(base + ["--shard", "1/2"]) == 0  # a rerun of a finished shard runs nothing
    assert len(read_records(out)) == 4


def test_reduced_render_resolution_is_opt_in_and_never_mixed(tmp_path):
    """`--render-scale 0.5` renders the camera at 320x240 (the same view: intrinsics scaled), is marked in the
    manifest, and a folder of full-resolution records refuses it."""
    import json

    from lapa_bench.app.evaluate import RunMismatchError
    from lapa_bench.tasks import make_env

    frames = {}
    for scale in (0.5, 1.0):
        env = make_env("carrot", image_size=(120, 160), render_scale=scale)
        try:
            frames[scale] = env.reset(seed=0, options={"episode_id": 3})[0]["image"].astype(float)
            cam = env.unwrapped_env._sensors["3rd_view_camera"].config
            assert (cam.height, cam.width) == ((240, 320) if scale == 0.5 else (480, 640))
        finally:
            env.close()
    # the same scene, framed the same (the policy's frame is resized to image_size either way): close pixels
    assert np.abs(frames[0.5] - frames[1.0]).mean() < 3  # measured 0.44; unscaled intrinsics (a zoom): 13.5
    out = tmp_path / "run"
    evaluate(EvalConfig(policy="zero", out=str(out), tasks=["carrot"], episodes=1, progress=False))
    with pytest.raises(RunMismatchError, match="render_scale"):
        evaluate(EvalConfig(policy="zero", out=str(out), tasks=["carrot"], episodes=1, progress=False, render_scale=0.5))
    dev = tmp_path / "dev"
    evaluate(EvalConfig(policy="zero", out=str(dev), tasks=["carrot"], episodes=1, progress=False, render_scale=0.5))
    assert "REDUCED RESOLUTION" in json.loads((dev / "manifest.json").read_text())["render"]["note"]


def test_the_floating_gripper_plays_the_bridge_tasks_in_the_same_scene_and_camera(tmp_path):
    """Another embodiment in the same scenes (tasks/floating_gripper.py): the same oracle solves a task with the
    floating Panda gripper; the frame is SIMPLER's camera on the same scene (the background and the objects where
    the WidowX's frame has them), and only the robot's pixels differ; its collection says which body made it."""
    from lapa_bench.app.collect import CollectConfig, collect
    from lapa_bench.data.lerobot import dataset_settings
    from lapa_bench.tasks import make_env

    frames = {}
    for body in ("widowx", "floating_gripper"):
        env = make_env("carrot", image_size=(128, 128), embodiment=body)
        try:
            frames[body] = env.reset(seed=0, options={"episode_id": 4})[0]["image"].astype(int)
            if body == "floating_gripper":
                assert -1.01 <= env.proprio()[6] <= 1.01  # the gripper's opening on lapa-bench's scale
                # its TCP starts where the WidowX's end effector does
                assert np.allclose(env.privileged_state()["ee"]["p"], [0.2921, -0.0061, 0.1353], atol=0.005)
                r = run_episode(env, make_policy("scripted"), episode_id=4, seed=0)
                assert r["error"] is None and r["success_once"] and r["grasped"], r
        finally:
            env.close()
    differs = np.abs(frames["widowx"] - frames["floating_gripper"]).max(-1) > 30
    assert 0.01 < differs.mean() < 0.25  # the robots' pixels, not the scene's
    with pytest.raises(ValueError, match="embodiment"):
        make_env("carrot", embodiment="hand")

    out = tmp_path / "gripper"
    collect(CollectConfig(tasks=["carrot"], episodes=1, out=str(out), image_size=(64, 64), seed=5,
                          embodiment="floating_gripper", progress=False))
    assert dataset_settings(out)[0]["collected"]["embodiment"] == "floating_gripper"
    with pytest.raises(ValueError, match="two bodies"):  # a WidowX run does not resume it
        collect(CollectConfig(tasks=["carrot"], episodes=2, out=str(out), image_size=(64, 64), seed=5,
                              progress=False))


def test_held_out_layouts_are_new_disjoint_and_fixed_by_their_seed(tmp_path):
    """`eval --layouts SEED`: the episodes start from random layouts away from SIMPLER's (the oracle still solves
    them), the same seed gives the same layouts, and a folder of SIMPLER layouts refuses them."""
    from lapa_bench.app.evaluate import RunMismatchError
    from lapa_bench.tasks import make_env

    def run(out, **kw):
        cfg = EvalConfig(policy="scripted", out=str(tmp_path / out), tasks=["carrot"], episodes=2, progress=False,
                         image_size=(64, 64), **kw)
        evaluate(cfg)
        return _strip(read_records(cfg.out))

    a, b = run("a", layouts=7), run("b", layouts=7)
    assert a == b and all(r["success_once"] for r in a)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["identity"]["layouts"] == 7
    # which assets ran, by the pack's fingerprint, not by where it lies on this machine
    assert "dir" not in manifest["assets"] and len(manifest["assets"]["fingerprint"]) == 12
    run("simpler")
    with pytest.raises(RunMismatchError):
        run("simpler", layouts=7)
    # the first held-out layout puts the carrot elsewhere than any SIMPLER layout
    env = make_env("carrot", image_size=(64, 64))
    try:
        from lapa_bench.app.evaluate import _place
        from lapa_bench.tasks import get_task

        _place(env, get_task("carrot"), 7, [(None, 0, 0)])
        env.reset(seed=0, options={"episode_id": 0})
        p = env.initial_layout()[env.task.source_object]["p"]
        simpler = env.evaluation_layouts()[env.task.source_object]
        assert np.linalg.norm(simpler - np.asarray(p)[:2], axis=1).min() >= 0.02
    finally:
        env.close()


def test_the_tasks_are_gymnasium_ids_another_harness_can_make():
    """`gymnasium.make("lapa_bench.tasks:lapa_bench/SimplerCarrot-v0")` from a process that imported nothing of
    ours gives the env (gymnasium imports the module, which registers every task and embodiment); it passes
    gymnasium's own env checker (a seed alone fixes the layout), and the floating gripper's id makes its env."""
    code = """
import gymnasium as gym
from gymnasium.utils.env_checker import check_env
env = gym.make("lapa_bench.tasks:lapa_bench/SimplerCarrot-v0", image_size=(64, 64))
check_env(env.unwrapped, skip_render_check=True)
a = env.reset(seed=3)[0]["image"]; b = env.reset(seed=3)[0]["image"]
assert (a == b).all()
env.close()
g = gym.make("lapa_bench/SimplerEggplantFloatingGripper-v0", image_size=(64, 64))
assert g.unwrapped.embodiment == "floating_gripper" and g.unwrapped.max_steps == 120
print(sorted(k for k in gym.registry if k.startswith("lapa_bench/")))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    ids = eval(out.stdout.strip().splitlines()[-1])
    assert len(ids) == 8 and "lapa_bench/SimplerSpoon-v0" in ids
