"""The one training path: typed configs, device parsing, the data contract (episode keys, one
preprocessing path, one normalizer), one loop, and a trainable method added from its own folder."""
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from lapa_bench.specs import ACTION_HIGH, ACTION_LOW
import torch
import yaml

from conftest import REPO, micro, requires_sim, tiny_dataset


# -- config ---------------------------------------------------------------------------------
def test_config_types_are_checked_and_named():
    from dataclasses import dataclass, field

    from lapa_bench import config as C
    from lapa_bench.training import TrainConfig

    @dataclass
    class Inner:
        steps: int = 3
        lr: float = 1e-3
        tags: list[str] = field(default_factory=list)

    @dataclass
    class Outer:
        inner: Inner = field(default_factory=lambda: Inner(steps=9))
        name: str | None = None

    o = C.from_dict(Outer, {"inner": {"lr": "1e-4"}})
    assert o.inner.steps == 9 and o.inner.lr == 1e-4  # nested defaults kept; YAML's "1e-4" string accepted
    for bad, msg in [({"inner": {"steps": "abc"}}, "inner.steps: expected int, got 'abc'"),
                     ({"inner": {"steps": True}}, "inner.steps: expected int"),
                     ({"inner": {"tags": "a"}}, r"inner.tags: expected list\[str\]"),
                     ({"inner": {"stepz": 1}}, r"unknown key\(s\) \['stepz'\]; valid keys: \['lr', 'steps', 'tags'\]"),
                     ({"name": 3}, "name: expected str | null")]:
        with pytest.raises(C.ConfigError, match=msg):
            C.from_dict(Outer, bad)
    with pytest.raises(C.ConfigError, match="schedule: expected one of 'constant', 'cosine'"):
        C.from_dict(TrainConfig, {"schedule": "linear"})
    assert C.from_dict(Outer, C.to_dict(o)) == o  # printed configs load back


def test_policy_config_rejects_wrong_types_at_construction():
    from lapa_bench.config import ConfigError
    from lapa_bench.policy import make_policy

    with pytest.raises(ConfigError, match="scale: expected list"):
        make_policy("random", scale="abc")
    with pytest.raises(ConfigError, match="valid keys"):
        make_policy("random", max_step=1)


def test_device_parsing():
    from lapa_bench.device import parse_device, resolve_device

    assert parse_device("cuda:1") == ("cuda", 1) and parse_device("cuda") == ("cuda", None)
    assert parse_device(" CPU ") == ("cpu", None) and parse_device("auto") == ("auto", None)
    for bad in ("gpu", "cuda:x", "cpu:1", "cuda:-1", ""):
        with pytest.raises(ValueError, match="not valid"):
            parse_device(bad)
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:1")
    else:  # pragma: no cover - on a GPU machine
        n = torch.cuda.device_count()
        assert resolve_device(f"cuda:{n - 1}") == torch.device("cuda", n - 1)
        with pytest.raises(ValueError, match="CUDA device"):
            resolve_device(f"cuda:{n}")


# -- data contract ----------------------------------------------------------------------------
def test_episode_keys_of_two_corpora_with_the_same_task_folders_do_not_collide(tmp_path):
    from lapa_bench.data import episode_key, open_datasets
    from lapa_bench.policies.laq.configuration_laq import LAQConfig
    from lapa_bench.policies.laq.modeling_laq import LAQ
    from lapa_bench.policies.laq.codes import label

    a = tiny_dataset(tmp_path / "bridge" / "carrot", episodes=2)
    b = tiny_dataset(tmp_path / "panda" / "carrot", episodes=3, T=6)
    keys = [episode_key(ds, i) for root in (a, b) for ds in open_datasets(root) for i in range(len(ds))]
    assert len(set(keys)) == len(keys) == 5
    # the keys do not depend on where the corpus lies (a run folder copied to a GPU machine keeps them)
    import shutil

    shutil.copytree(a, tmp_path / "copy" / "carrot")
    assert episode_key(open_datasets(tmp_path / "copy" / "carrot")[0], 0) == keys[0]
    LAQ(LAQConfig(image_size=32, patch_size=8, dim=32, spatial_depth=1, temporal_depth=1, decoder_depth=1, heads=2,
                  dim_head=16, code_dim=8)).save_pretrained(tmp_path / "laq")
    codes = np.load(label(tmp_path / "laq", [tmp_path / "bridge", tmp_path / "panda"], tmp_path / "codes.npz"))
    assert sorted(codes.files) == sorted(keys)  # nothing overwritten
    assert codes[keys[2]].shape == (6, 4)  # the panda corpus' own episode, not bridge's


def test_training_and_rollout_preprocessing_give_identical_tensors(tmp_path):
    """A camera frame gives the same model input whether it went through a dataset (training: stored at
    the collection size, then StepSamples) or straight to the policy (rollout)."""
    from lapa_bench.data.preprocess import resize
    from lapa_bench.data.torch_datasets import StepSamples
    from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

    rng = np.random.default_rng(0)
    native = rng.integers(0, 256, (3, 480, 640, 3), dtype=np.uint8)  # the 3rd_view_camera's size
    stored = np.stack([resize(f, (48, 48)) for f in native])  # what the env renders for `collect --image-size 48x48`

    class Source:  # a dataset source (frames as stored; the video codec is left out of this comparison)
        def __len__(self):
            return 1

        def frames(self, i):
            return stored

        def instruction(self, i):
            return "put carrot on plate"

    for crop in (None, (0.1, 0.2, 0.7, 0.6)):
        model = LAPAModel(micro(source_size=(48, 48), crop=crop))
        ds = StepSamples([Source()], {0: np.zeros((3, 7), np.int64)}, preprocess=model.config.preprocess())
        train_in = torch.stack([ds[t]["image"] for t in range(3)])
        rollout_in = model.preprocess_images(native)
        assert train_in.shape == (3, 3, 32, 32) and torch.equal(train_in, rollout_in)
    # without the stored size (old checkpoints) the two paths differ: that is what source_size fixes
    old = LAPAModel(micro())
    assert not torch.equal(old.preprocess_images(native), StepSamples(
        [Source()], {0: np.zeros((3, 7), np.int64)}, preprocess=old.config.preprocess())[0]["image"][None].expand(3, -1, -1, -1))


def test_normalizer_round_trips_stats_json(tmp_path):
    from lapa_bench.data import open_datasets
    from lapa_bench.data.normalize import Normalizer, read_stats

    a = tiny_dataset(tmp_path / "a", episodes=3)
    b = tiny_dataset(tmp_path / "b", episodes=2, T=5)
    sources = open_datasets(a) + open_datasets(b)
    acts = np.concatenate([s.episode(i, with_frames=False)["action"] for s in sources for i in range(len(s))])
    n = Normalizer.from_datasets(sources, ("action",))
    assert np.allclose(n.stats["action"]["mean"], acts.mean(0), atol=1e-6)  # merged stats == all the data
    assert np.allclose(n.stats["action"]["std"], acts.std(0), atol=1e-6)
    assert np.allclose(read_stats(a)["action"]["mean"], np.concatenate(
        [sources[0].episode(i, with_frames=False)["action"] for i in range(3)]).mean(0), atol=1e-6)
    z = n.normalize("action", acts)
    assert np.allclose(z.mean(0), 0, atol=1e-5) and np.allclose(n.unnormalize("action", z), acts, atol=1e-6)
    t = torch.as_tensor(acts)
    assert torch.allclose(n.unnormalize("action", n.normalize("action", t)), t, atol=1e-6)
    m = Normalizer.from_dict(json.loads(json.dumps(n.to_dict())))  # stored in a checkpoint and back
    assert np.allclose(m.normalize("action", acts), z)
    mm = Normalizer(n.stats, mode="min_max").normalize("action", acts)
    assert mm.min() >= -1 - 1e-6 and mm.max() <= 1 + 1e-6
    with pytest.raises(FileNotFoundError, match="stats.json"):
        Normalizer.from_datasets([tmp_path])


# -- one loop ---------------------------------------------------------------------------------
def test_exactly_one_training_loop_in_the_tree():
    """No file but the loop steps an optimizer (tests' own overfit checks aside)."""
    hits = []
    for folder in ("lapa_bench", "policies", "tasks", "benchmarks", "scripts", "results"):
        for f in (REPO / folder).rglob("*.py"):
            if re.search(r"\b(opt|optimizer|optim)\.step\(", f.read_text()):
                hits.append(str(f.relative_to(REPO)))
    assert hits == ["lapa_bench/training/loop.py"], hits


def test_backbones_reach_the_model_from_the_cli(tmp_path):
    """`--model.vision_backbone` / `--model.language_backbone` load the pretrained towers into the trained
    checkpoint (the old trainer overwrote them), and the checkpoint rebuilds without them."""
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    from lapa_bench.app.cli import main
    from lapa_bench.policies.lapa.modeling_lapa import LAPAModel, byte_tokenizer

    vis = CLIPVisionModel(CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                                           num_hidden_layers=1, num_attention_heads=2))
    vis.save_pretrained(tmp_path / "vision")
    LlamaForCausalLM(LlamaConfig(vocab_size=259, hidden_size=48, intermediate_size=64, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2,
                                 max_position_embeddings=128)).save_pretrained(tmp_path / "lm")
    byte_tokenizer().save_pretrained(tmp_path / "lm")
    ds = tiny_dataset(tmp_path / "ds", episodes=3)
    assert main(["scratch", "train", "--data", str(ds), "--out", str(tmp_path / "ck"), "--device", "cpu",
                 "--model.image_size", "32", "--model.vision_backbone", str(tmp_path / "vision"),
                 "--model.language_backbone", str(tmp_path / "lm"), "--model.max_prompt_tokens", "24",
                 "--model.action_bins", "16", "--finetune.steps", "2", "--finetune.batch_size", "4",
                 "--finetune.progress", "false"]) == 0
    cfg = json.loads((tmp_path / "ck" / "config.json").read_text())["config"]
    assert cfg["vision_backbone"] == str(tmp_path / "vision") and cfg["text"]["hidden_size"] == 48
    m = LAPAModel.from_pretrained(tmp_path / "ck")
    (key,) = [k for k in vis.state_dict() if k.endswith("patch_embedding.weight")]
    assert torch.equal(m.vision.state_dict()[key], vis.state_dict()[key])  # frozen, pretrained, loaded


# -- a trainable baseline from its own folder ----------------------------------------------
TOY_POLICY = '''
from dataclasses import dataclass, field

import numpy as np

from lapa_bench.policy import Policy, register_policy


@dataclass
class ToyConfig:
    action: list[float] = field(default_factory=lambda: [0.0] * 6 + [1.0])


@register_policy("toy_mean")
class ToyMeanPolicy(Policy):
    """Plays the mean training action (a toy trainable baseline)."""

    config_class = ToyConfig

    def act(self, obs):
        return np.clip(np.asarray(self.config.action, dtype=np.float32), -1, 1)
'''

TOY_TRAIN = '''
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lapa_bench.training import Inputs, TrainConfig, checkpoint, register_method, train_model


@dataclass
class ToyTrainConfig:
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=5, batch_size=4, lr=0.1, warmup_steps=0))


class Actions:
    def __init__(self, a):
        self.a = torch.as_tensor(a)

    def __len__(self):
        return len(self.a)

    def collate(self, idx):
        return {"action": self.a[list(idx)]}


class MeanAction(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = torch.nn.Parameter(torch.zeros(7))

    def loss(self, batch):
        return (batch["action"] - self.mean).abs().mean(), {}

    def save_pretrained(self, d):
        checkpoint.save_module(self, d, {"policy": "toy_mean"}, {"action": self.mean.tolist()})


@register_method("toy", config=ToyTrainConfig, policy="toy_mean", needs=("data",))
def train(cfg, inputs: Inputs, out, device="auto"):
    """Toy: the mean action, trained by the one loop."""
    from lapa_bench.data import open_datasets

    acts = np.concatenate([ds.episode(i, with_frames=False)["action"] for d in inputs.data
                           for ds in open_datasets(d) for i in range(len(ds))])
    train_model(MeanAction(), Actions(acts), cfg.train, out, device=device, name="toy",
                evaluate=lambda m, dev: {"l1": float((torch.as_tensor(acts) - m.mean.cpu()).abs().mean())})
    return Path(out)
'''


@requires_sim
def test_a_toy_trainable_method_from_its_own_folder_runs_through_the_pipeline(tmp_path):
    """A new trainable baseline is one folder (policy + train): the pipeline loads it as a plugin, trains
    it through the one loop and evaluates it in SIMPLER; nothing in lapa_bench or policies changes."""
    toy = tmp_path / "toy_method"
    toy.mkdir()
    (toy / "__init__.py").write_text("")
    (toy / "policy.py").write_text(textwrap.dedent(TOY_POLICY))
    (toy / "train.py").write_text(textwrap.dedent(TOY_TRAIN))
    ds = tiny_dataset(tmp_path / "demos", episodes=3)
    cfg = {"name": "toy", "out": str(tmp_path / "run"), "workers": 1, "plugins": [str(toy)],
           "demos": {"path": str(ds), "episodes": 3}, "methods": {"toy": {"train": {"steps": 6}}}, "runs": [{"method": "toy"}],
           "eval": {"tasks": ["carrot"], "episodes": 1, "seeds": [0], "bounds": []}}
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(cfg))
    # --until data: the data stages only (here none to collect), nothing trained
    r = subprocess.run([sys.executable, "-m", "lapa_bench.app.cli", "pipeline", str(tmp_path / "toy.yaml"), "--until",
                        "data"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0 and "stopped after the 'data' stages" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]
    assert not (tmp_path / "run" / "toy").exists() and (tmp_path / "run" / "config.json").is_file()
    r = subprocess.run([sys.executable, "-m", "lapa_bench.app.cli", "pipeline", str(tmp_path / "toy.yaml")],
                       capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    run = tmp_path / "run"
    assert json.loads((run / "toy" / "last" / "trainer_state.json").read_text())["step"] == 6
    assert "l1" in json.loads((run / "toy" / "eval.json").read_text())
    rec = [json.loads(x) for f in (run / "eval" / "toy").glob("records*.jsonl") for x in f.read_text().splitlines()]
    assert len(rec) == 1 and rec[0]["policy"] == "toy_mean" and rec[0]["error"] is None and rec[0]["steps"] == 60
    assert "toy" in (run / "report" / "table.csv").read_text()


def test_a_checkpoint_lacking_a_later_key_loads_and_one_with_an_unknown_key_is_refused(tmp_path):
    """Keys added to a config since a checkpoint was written take their defaults (source_size, crop: rollouts then
    resize the camera frame directly); a key the config does not know (the runtime device older checkpoints
    stored, migrated away: scripts/migrate_artifacts.py) is refused by name, not silently dropped."""
    from lapa_bench.config import ConfigError
    from lapa_bench.policy import make_policy
    from lapa_bench.policies.lapa.action_bins import fit_bins
    from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

    m = LAPAModel(micro()).eval()
    m.set_action_bins(*fit_bins(np.random.default_rng(0).normal(size=(50, 7)), 16))
    m.save_pretrained(tmp_path / "ck", policy_name="scratch")
    cfg_path = tmp_path / "ck" / "config.json"
    payload = json.loads(cfg_path.read_text())
    for k in ("source_size", "crop"):
        payload["config"].pop(k)
    cfg_path.write_text(json.dumps(payload))
    pol = make_policy("scratch", checkpoint=tmp_path / "ck", device="cpu")
    obs = {"image": np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8), "instruction": "go"}
    expected = np.clip(m.predict(obs["image"][None], ["go"])[0], ACTION_LOW, ACTION_HIGH)
    assert pol.config.source_size is None and np.allclose(pol.act(obs), expected)
    payload["config"]["device"] = "auto"
    cfg_path.write_text(json.dumps(payload))
    with pytest.raises((ConfigError, ValueError), match="device"):
        make_policy("scratch", checkpoint=tmp_path / "ck", device="cpu")


def test_simulator_tests_fail_with_the_fix_when_assets_are_missing(tmp_path):
    """Without assets a `sim` test fails (it used to skip and leave `make test` green) and says how to fix
    it; `-m "not sim"` opts out explicitly."""
    (tmp_path / "test_needs_sim.py").write_text(
        "from conftest import requires_sim\n\n@requires_sim\ndef test_x():\n    pass\n")
    import os
    import shutil

    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    env = dict(os.environ, MS_ASSET_DIR=str(tmp_path / "no_assets"), PYTHONPATH=str(REPO))
    run = lambda *a: subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *a,  # noqa: E731
                                     str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    r = run()
    assert r.returncode == 1 and "SIMPLER assets are missing" in r.stdout and "-m \"not sim\"" in r.stdout
    assert run("-m", "not sim").returncode == 5  # deselected: nothing ran, nothing failed


def test_asset_check_names_every_missing_file(tmp_path):
    """A partial asset folder (a robot mesh gone, a texture emptied) fails the check, which names the files
    (it used to pass and die later inside SAPIEN: `cannot make canonical path ...WXSA-250-M-1-Base.obj`)."""
    import os

    from lapa_bench import assets

    pack = REPO.parent / "shared" / "simpler-assets"
    if not (pack / "data").is_dir():
        pytest.skip("needs the shared asset pack beside the repo to copy from")
    for f in (pack / "data").rglob("*"):
        if f.is_file():
            dst = tmp_path / "data" / f.relative_to(pack / "data")
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(f, dst)
    assert assets.missing_files(tmp_path) == []
    (tmp_path / "data/robots/widowx/meshes_wx250s/WXSA-250-M-1-Base.obj").unlink()
    tex = tmp_path / "data/tasks/bridge_v2_real2sim_dataset/custom/models/bridge_spoon_generated_modified/Image_0.003.jpg"
    tex.unlink()
    tex.write_bytes(b"")
    with pytest.raises(assets.AssetsMissingError, match="2 file\\(s\\) missing or empty") as e:
        assets.check_assets(tmp_path)
    assert "WXSA-250-M-1-Base.obj" in str(e.value) and "Image_0.003.jpg" in str(e.value)
    eg = tmp_path / "data/tasks/bridge_v2_real2sim_dataset/custom/models/eggplant/textured.obj"
    eg.unlink()  # the eggplant's visual: the pack's .obj or the official .dae
    assert any("textured.obj | " in m for m in assets.missing_files(tmp_path))
    (eg.parent / "textured.dae").write_bytes(b"x")
    assert not any("eggplant" in m for m in assets.missing_files(tmp_path))


def test_unknown_policy_is_refused_without_importing_any_model():
    """Discovery imports only policy modules (and the CLI only method configs): no torch, no transformers,
    no ManiSkill, so a typo is answered in well under a second (it took 11-17 s)."""
    code = ("import sys, time; t = time.perf_counter()\n"
            "from lapa_bench.app.cli import main\n"
            "rc = main(['eval', '--policy', 'nope', '--out', 'x'])\n"
            "heavy = [m for m in ('torch', 'transformers', 'mani_skill', 'sapien') if m in sys.modules]\n"
            "print(rc, heavy, round(time.perf_counter() - t, 2))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    rc, heavy, secs = r.stdout.split(" [")[0], "[" + r.stdout.split(" [")[1].rsplit(" ", 1)[0], r.stdout.split()[-1]
    assert rc == "2" and heavy == "[]" and "unknown policy 'nope'" in r.stderr, (r.stdout, r.stderr)
    assert float(secs) < 5


def test_keep_best_selects_the_step_with_the_lowest_held_out_error(tmp_path):
    """train.keep best: the periodic held-out evaluations (val_log.jsonl) pick the weights the model keeps;
    the default keeps the last step's."""
    import torch

    from lapa_bench.training import TrainConfig, checkpoint, train_model

    class Drift(torch.nn.Module):  # every step moves w by +1: held-out error |w - 3| is lowest at step 3
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def loss(self, batch):
            return -self.w * batch["x"].mean(), {}

        def save_pretrained(self, d):
            checkpoint.save_module(self, d, {"model": "drift"}, {})

    class Ones:
        def __len__(self):
            return 4

        def collate(self, idx):
            return {"x": torch.ones(len(idx))}

    def evaluate(m, dev):  # the curve keeps numbers and flat dicts of numbers (per-dimension errors)
        return {"action_error": abs(m.w.item() - 3.0), "action_mae": {"dx": 0.5}, "note": "text"}

    opt = dict(steps=6, batch_size=2, warmup_steps=0, schedule="constant", grad_clip=None, progress=False)
    with pytest.raises(ValueError, match="eval_every"):
        TrainConfig(keep="best", **opt)
    torch.manual_seed(0)
    best = train_model(Drift(), Ones(), TrainConfig(lr=1.0, eval_every=1, keep="best", **opt), tmp_path / "best",
                       device="cpu", evaluate=evaluate)
    # under Adam with lr 1 and a constant gradient, w grows by 1 per step
    curve = [json.loads(x) for x in (tmp_path / "best" / "val_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in curve] == [1, 2, 3, 4, 5, 6]
    assert curve[0]["action_mae"] == {"dx": 0.5} and "note" not in curve[0]
    chosen = json.loads((tmp_path / "best" / "eval.json").read_text())["selected"]
    assert chosen["step"] == 3 and chosen["metric"] == "action_error"
    assert abs(best.w.item() - 3.0) < 0.1
    last = train_model(Drift(), Ones(), TrainConfig(lr=1.0, **opt), tmp_path / "last", device="cpu", evaluate=evaluate)
    assert abs(last.w.item() - 6.0) < 0.1 and "selected" not in json.loads((tmp_path / "last" / "eval.json").read_text())


def test_pipeline_sweep_trains_each_size_and_seed_on_nested_subsets(tmp_path):
    """`demos_per_task: [2, 3]` x `train_seeds: [0, 1]`: one training per (size, seed) on the first N
    demonstrations per task (a complete subset dataset with its own stats), seeds added to every
    training stage's seed; sizes and seeds a run does not take are refused by name."""
    from lapa_bench.pipeline.config import PipelineConfig
    from lapa_bench.pipeline.run import run
    from lapa_bench.config import ConfigError
    from lapa_bench.data import open_datasets

    toy = tmp_path / "toy_method"
    toy.mkdir()
    (toy / "__init__.py").write_text("")
    (toy / "policy.py").write_text(textwrap.dedent(TOY_POLICY))
    (toy / "train.py").write_text(textwrap.dedent(TOY_TRAIN))
    ds = tiny_dataset(tmp_path / "demos" / "carrot", episodes=4, T=4)
    raw = {"name": "sweep", "out": str(tmp_path / "run"), "plugins": [str(toy)], "demos": {"path": str(ds.parent)},
           "methods": {"toy": {"train": {"steps": 2}}}, "runs": [{"method": "toy"}],
           "demos_per_task": [2, 3], "train_seeds": [0, 1], "eval": {"bounds": []}}
    cfg = PipelineConfig.from_dict(raw)
    run(cfg, until="train")
    out = tmp_path / "run"
    for n in (2, 3):
        (sub,) = open_datasets(out / "data" / f"demos_n{n}")
        assert len(sub) == n
        for s in (0, 1):
            state = json.loads((out / "toy" / f"n{n}_s{s}" / "last" / "trainer_state.json").read_text())
            assert state["step"] == 2 and state["train"]["seed"] == s
    main = PipelineConfig.from_dict({**raw, "demos_per_task": [1, 2, 3], "main_size": 2})
    assert main.sweep(main.runs[0]) == [(1, 0), (2, 0), (2, 1), (3, 0)]  # every seed at the main size only
    with pytest.raises(ConfigError, match=r"main_size 4 is not one of demos_per_task \[2, 3\]"):
        PipelineConfig.from_dict({**raw, "main_size": 4})
    with pytest.raises(ConfigError, match=r"runs\[0\].train_seeds \[5\] not in"):
        PipelineConfig.from_dict({**raw, "runs": [{"method": "toy", "train_seeds": [5]}]})
    with pytest.raises(ConfigError, match="demos_per_task"):
        PipelineConfig.from_dict({**raw, "demos": {"episodes": 2}, "demos_per_task": [2, 3]})


def test_pipeline_sweep_shares_lapas_video_stages(tmp_path):
    """In a sweep LAPA's LAQ and latent pretraining (videos only) train once per training seed and every
    labelled-set size finetunes from them (`shared_stages: per_seed`), or once for all seeds (`once`);
    other settings on the same folder are refused by name before any training."""
    from lapa_bench.pipeline.config import PipelineConfig
    from lapa_bench.pipeline.run import run

    demos = tiny_dataset(tmp_path / "demos" / "carrot", episodes=4, T=6).parent
    videos = tiny_dataset(tmp_path / "videos" / "carrot", episodes=3, T=6).parent
    over = {k: v for k, v in micro().to_dict().items()
            if k in ("image_size", "vision", "text", "prompt", "max_prompt_tokens", "action_bins")}
    laq = dict(image_size=32, patch_size=8, dim=32, spatial_depth=1, temporal_depth=1, decoder_depth=1, heads=2,
               code_dim=8)
    stage = {"steps": 2, "batch_size": 4, "progress": False}
    raw = {"name": "share", "out": str(tmp_path / "run"), "demos": {"path": str(demos)},
           "videos": {"path": str(videos)},
           "methods": {"lapa": {"model": over, "laq": {"model": laq, "train": stage}, "pretrain": stage,
                                "finetune": stage, "blind_twin_fraction": 0}},
           "runs": [{"method": "lapa"}], "demos_per_task": [2, 3], "train_seeds": [0, 1], "eval": {"bounds": []}}
    run(PipelineConfig.from_dict(raw), until="train")
    root = tmp_path / "run" / "lapa"
    for s in (0, 1):
        shared = root / "shared" / f"s{s}"
        assert (shared / "laq" / "eval.json").is_file() and (shared / "pretrain" / "eval.json").is_file()
        assert json.loads((shared / "pretrain" / "last" / "trainer_state.json").read_text())["train"]["seed"] == s
        for n in (2, 3):
            ft = root / f"n{n}_s{s}"
            assert not (ft / "laq").exists() and not (ft / "pretrain").exists()
            assert json.loads((ft / "last" / "trainer_state.json").read_text())["init"] == str(shared / "pretrain")
    assert sorted(p.name for p in (root / "shared").iterdir()) == ["s0", "s1"]
    # each seed's LAQ probed on the labelled demos (cached by the LAQ's and the data's fingerprints), and the
    # report's LAQ table: one row per trained seed
    from lapa_bench.pipeline.stages import Stages
    from lapa_bench.pipeline.run import probe_laqs
    from lapa_bench.pipeline.cells import cells
    from lapa_bench.pipeline.tables import laq_table

    cfg = PipelineConfig.from_dict(raw)
    st = Stages(tmp_path / "run")
    probe_laqs(cfg, cells(cfg), {"demos": demos}, tmp_path / "run", st)
    probes = [root / "shared" / f"s{s}" / "laq" / "probe.json" for s in (0, 1)]
    first = [json.loads(p.read_text()) for p in probes]
    assert all(pr["made_from"]["demos_per_task"] == 3 and pr["episodes"] == 3 for pr in first)
    table = laq_table(tmp_path / "run")
    assert table.count("\n| lapa | s") == 2 and "/8 |" in table  # the tiny LAQ's 8 codes
    stamp = [p.stat().st_mtime_ns for p in probes]
    probe_laqs(cfg, cells(cfg), {"demos": demos}, tmp_path / "run", st)
    assert [p.stat().st_mtime_ns for p in probes] == stamp  # cached
    probes[0].write_text(json.dumps({**first[0], "made_from": {**first[0]["made_from"], "laq": "another"}}))
    probe_laqs(cfg, cells(cfg), {"demos": demos}, tmp_path / "run", st)
    assert json.loads(probes[0].read_text())["made_from"] == first[0]["made_from"]  # another LAQ's probe: redone
    # `pipeline --plan` counts what the run trained: the shared stages once per seed, all of it cached now
    from lapa_bench.pipeline.plan import plan

    p = plan(PipelineConfig.from_dict(raw))
    kinds = {k: v["trainings"] for k, v in p["per_stage"].items()}
    assert kinds == {"lapa.finetune": 4, "lapa.laq.train": 2, "lapa.pretrain": 2}
    assert all(t["done"] for t in p["trainings"]) and p["checkpoints"] == 4
    assert {t["shared"] for t in p["trainings"] if t["stage"] != "lapa.finetune"} == {True}
    once = plan(PipelineConfig.from_dict({**raw, "out": str(tmp_path / "x"), "shared_stages": "once",
                                          "main_size": 3}))
    assert {k: v["trainings"] for k, v in once["per_stage"].items()} == {
        "lapa.finetune": 3, "lapa.laq.train": 1, "lapa.pretrain": 1}  # sizes 2 (seed 0) and 3 (seeds 0, 1)
    assert not any(t["done"] for t in once["trainings"])

    raw["out"] = str(tmp_path / "once")
    run(PipelineConfig.from_dict({**raw, "shared_stages": "once"}), until="train")
    root = tmp_path / "once" / "lapa"
    assert sorted(p.name for p in (root / "shared").iterdir()) == ["all_seeds"]
    assert str(root / "n2_s0") in json.loads((root / "shared" / "all_seeds" / "fingerprint.json").read_text())["what"]
    inits = {json.loads((root / f"n{n}_s{s}" / "last" / "trainer_state.json").read_text())["init"]
             for n in (2, 3) for s in (0, 1)}
    assert inits == {str(root / "shared" / "all_seeds" / "pretrain")}

    # `--plan` asks the run's own question: a finished cell made with other settings is not shown as done
    lr = {**raw, "shared_stages": "once", "methods": {"lapa": {**raw["methods"]["lapa"], "finetune": {**stage, "lr": 1e-4}}}}
    finetunes = [t for t in plan(PipelineConfig.from_dict(lr))["trainings"] if t["stage"] == "lapa.finetune"]
    assert finetunes and all(not t["done"] and "other settings" in t["refused"] for t in finetunes)
    longer = {**raw["methods"]["lapa"], "pretrain": {**stage, "steps": 3}}
    # a finished run of the old settings is refused by its own fingerprint, naming the key and both values, and
    # OUT/config.json keeps describing what is there
    written = (tmp_path / "once" / "config.json").read_text()
    with pytest.raises(ValueError, match=r"n2_s0 holds a lapa training run made with other settings "
                                         r"\(config.pretrain.steps: 2 then, 3 now\): delete"):
        run(PipelineConfig.from_dict({**raw, "shared_stages": "once", "demos_per_task": [2, 4],
                                      "methods": {"lapa": longer}}), until="train")
    assert (tmp_path / "once" / "config.json").read_text() == written
    # and a new run on the shared stages of the old settings by theirs
    with pytest.raises(ValueError, match=r"all_seeds holds shared stages .* made with other settings "
                                         r"\(pretrain.steps: 2 then, 3 now\): remove .*all_seeds"):
        run(PipelineConfig.from_dict({**raw, "out": str(tmp_path / "once"), "shared_stages": "once",
                                      "demos_per_task": [4], "main_size": None, "train_seeds": [7, 8],
                                      "methods": {"lapa": longer}}), until="train")


def _scratch_cmd(tmp_path, ds, out, steps=120):
    import yaml

    over = {k: v for k, v in micro().to_dict().items()
            if k in ("image_size", "vision", "text", "prompt", "max_prompt_tokens", "action_bins")}
    cfg = tmp_path / "scratch.yaml"
    cfg.write_text(yaml.safe_dump({"model": {**over, "random_shift": 2},  # augmentation: the RNGs matter
                                   "finetune": {"steps": steps, "batch_size": 4, "save_every": 3, "eval_every": 50,
                                                "progress": False},
                                   "blind_twin_fraction": 0}))
    return [sys.executable, "-m", "lapa_bench.app.cli", "scratch", "train", "--data", str(ds), "--out", str(out),
            "--config", str(cfg), "--device", "cpu"]


def test_training_is_reproducible_and_resumes_exactly_after_kill_9(tmp_path):
    """Two identical commands give identical weights; a run killed with kill -9 mid-way and resumed ends with
    the weights of the uninterrupted run (max abs difference 0): the RNGs are seeded before the model is built,
    and the resume state holds every RNG and the batch order's position. One thread, as the same machine and
    thread count is the promise."""
    import signal
    import subprocess

    from safetensors.torch import load_file

    env = {**os.environ, "OMP_NUM_THREADS": "1", "LAPA_BENCH_THREADS": "1"}
    ds = tiny_dataset(tmp_path / "ds", episodes=6, T=8)
    for name in ("a", "b"):
        subprocess.run(_scratch_cmd(tmp_path, ds, tmp_path / name), check=True, env=env, capture_output=True)
    a, b = (load_file(tmp_path / n / "model.safetensors") for n in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)

    killed = tmp_path / "killed"
    p = subprocess.Popen(_scratch_cmd(tmp_path, ds, killed), env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    state = killed / "last" / "trainer_state.json"
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        if state.is_file() and json.loads(state.read_text())["step"] >= 30:
            break
        time.sleep(0.01)
    p.send_signal(signal.SIGKILL)
    p.wait()
    step = json.loads(state.read_text())["step"]
    assert not (killed / "eval.json").exists() and 0 < step < 120, "the run was not killed mid-way"
    out = subprocess.run(_scratch_cmd(tmp_path, ds, killed), env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"resuming from {killed / 'last'} at step" in out.stdout + out.stderr
    c = load_file(killed / "model.safetensors")
    assert max(float((a[k].float() - c[k].float()).abs().max()) for k in a) == 0.0


def test_a_finished_run_is_not_reused_for_other_settings(tmp_path, capsys):
    """`scratch train` into a folder that holds a run of other settings stops, naming each key with both values."""
    from lapa_bench.app.cli import main

    ds = tiny_dataset(tmp_path / "ds", episodes=3)
    cmd = _scratch_cmd(tmp_path, ds, tmp_path / "ck", steps=2)[3:]
    assert main(cmd) == 0
    assert main(cmd) == 0  # the same settings: done, reused
    capsys.readouterr()
    assert main(cmd + ["--model.image_size", "64"]) != 0
    err = capsys.readouterr().err
    assert "holds a scratch training run made with other settings (config.model.image_size: 32 then, 64 now)" in err
    assert "delete" in err and "another output folder" in err


def test_dataset_settings_outlive_the_data(tmp_path):
    """A committed results folder keeps `DIR.settings.json` beside a regenerable dataset: with the data gone, the
    settings of the inputs of a cached artifact still compare (and match), so a fresh clone need not regenerate
    a corpus that no remaining stage reads."""
    import shutil

    from lapa_bench.pipeline.corpora import _sidecar_matches
    from lapa_bench.data.lerobot import dataset_settings, write_settings_sidecar

    ds = tiny_dataset(tmp_path / "videos" / "carrot", episodes=3).parent
    before = dataset_settings(ds)
    recipe = {"tasks": ["carrot"], "episodes": 3, "seed": 1000, "source": "bridge"}
    write_settings_sidecar(ds, recipe)
    # a later run that reads only the first 2 per task keeps the record of the request that collected them
    write_settings_sidecar(ds, {**recipe, "episodes": 2})
    assert _sidecar_matches(ds, recipe)
    write_settings_sidecar(ds, {**recipe, "seed": 7})  # another recipe: recorded
    assert _sidecar_matches(ds, {**recipe, "seed": 7})
    write_settings_sidecar(ds, recipe)
    # a machine that holds only the first 2 of them (it collected what its cells read) keeps the record too
    side = (ds.parent / "videos.settings.json").read_text()
    small = tiny_dataset(tmp_path / "small" / "videos" / "carrot", episodes=2).parent
    (small.parent / "videos.settings.json").write_text(side)
    write_settings_sidecar(small, {**recipe, "episodes": 2})
    assert (small.parent / "videos.settings.json").read_text() == side
    shutil.rmtree(ds)
    assert dataset_settings(ds) == before
    assert _sidecar_matches(ds, recipe) and not _sidecar_matches(ds, {**recipe, "episodes": 4})


def test_a_finished_collection_is_found_done(tmp_path):
    """The pipeline's collection stage is skipped when the folder holds the episodes asked for, for Bridge
    demonstrations (one dataset per task, by task name) and for Panda videos (``panda_<Task>``): a complete Panda
    collection was not recognised and its stage re-entered, replacing its recorded wall time by seconds."""
    from lapa_bench.app.panda_videos import dataset_name
    from lapa_bench.pipeline.config import CorpusSpec
    from lapa_bench.pipeline.corpora import _collected

    panda = CorpusSpec(tasks=["PickCube-v1", "PushCube-v1"], episodes=3)
    for t in panda.tasks:
        tiny_dataset(tmp_path / "panda" / dataset_name(t), episodes=3)
    assert _collected(tmp_path / "panda", panda, "panda")
    assert not _collected(tmp_path / "panda", CorpusSpec(tasks=panda.tasks, episodes=4), "panda")
    tiny_dataset(tmp_path / "demos" / "carrot", episodes=2)
    assert _collected(tmp_path / "demos", CorpusSpec(tasks=["carrot"], episodes=2), "bridge")
    assert not _collected(tmp_path / "demos", CorpusSpec(tasks=["carrot", "spoon"], episodes=2), "bridge")


def test_a_setting_added_later_counts_as_its_default(tmp_path):
    """A fingerprint written before a setting existed compares as that setting's default (which, by rule,
    reproduces what was done before); any other value is refused."""
    from lapa_bench import fingerprint

    old = {"config": {"finetune": {"steps": 5}}}
    fingerprint.claim(tmp_path, old, "a run", exists=False, fix="x")
    defaults = {"config": {"finetune": {"steps": 1000, "compile": False}}}
    fingerprint.claim(tmp_path, {"config": {"finetune": {"steps": 5, "compile": False}}}, "a run", exists=True,
                      fix="x", defaults=defaults)
    with pytest.raises(fingerprint.FingerprintMismatch, match="config.finetune.compile: false then, true now"):
        fingerprint.claim(tmp_path, {"config": {"finetune": {"steps": 5, "compile": True}}}, "a run", exists=True,
                          fix="x", defaults=defaults)


def test_learning_check_keeps_the_rows_of_cells_checked_by_other_runs(tmp_path, capsys):
    """`--cells` checks a few cells at a time: checks/learning_check.json keeps every cell checked so far, a cell
    checked again replaces its own row."""
    from lapa_bench.pipeline.cells import Trained
    from lapa_bench.pipeline.run import learning_check

    def cell(name, err):
        ck = tmp_path / name.replace("/", "_")
        ck.mkdir(exist_ok=True)
        (ck / "eval.json").write_text(json.dumps({"action_error": err, "mean_action_error": 0.4, "learned": True}))
        return {name: Trained("scratch", ck, name, {}, None)}

    folder = tmp_path / "checks"
    learning_check(cell("scratch/n25/s0", 0.15), folder, 0, 1, None)
    learning_check(cell("scratch/n25/s1", 0.14), folder, 0, 1, None)
    learning_check(cell("scratch/n25/s0", 0.16), folder, 0, 1, None)
    rows = json.loads((folder / "learning_check.json").read_text())
    assert [(r["label"], r["action_error"]) for r in rows] == [("scratch/n25/s1", 0.14), ("scratch/n25/s0", 0.16)]


# -- half precision ---------------------------------------------------------------------------
def _small_checkpoint(folder, policy="scratch"):
    from lapa_bench.training import checkpoint

    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.LayerNorm(32))
    checkpoint.save_weights(m, folder)
    (folder / "config.json").write_text(json.dumps({"policy": policy, "config": {}}) if policy else "{}")
    return m


def test_to_half_halves_big_tensors_and_loads_back_into_float32(tmp_path):
    from safetensors.torch import load_file

    from lapa_bench.training import checkpoint

    m = _small_checkpoint(tmp_path)
    before = (tmp_path / "model.safetensors").stat().st_size
    info = checkpoint.to_half(tmp_path)
    stored = load_file(tmp_path / "model.safetensors")
    assert stored["0.weight"].dtype == torch.float16  # 64 x 32 = 2048 elements
    assert stored["0.bias"].dtype == stored["1.weight"].dtype == torch.float32  # 32 elements: kept
    assert info["converted"] == 1 and info["kept_float32"] == 3 and info["bytes"]["after"] < before
    back = checkpoint.load_weights(torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.LayerNorm(32)), tmp_path)
    assert back[0].weight.dtype == torch.float32
    assert torch.allclose(back[0].weight, m[0].weight, atol=1e-3) and not torch.equal(back[0].weight, m[0].weight)
    with pytest.raises(ValueError, match="half precision already"):
        checkpoint.to_half(tmp_path)


@pytest.mark.parametrize("fp16_successes", [7, 6])
def test_half_precision_keeps_float16_only_when_the_training_layouts_agree(tmp_path, monkeypatch, fp16_successes):
    """The training-layout check runs before and after; fewer successes in float16 restore the float32 file."""
    from lapa_bench.app import replay
    from lapa_bench.fingerprint import files_fingerprint

    _small_checkpoint(tmp_path)
    fp32 = files_fingerprint(tmp_path)
    original = (tmp_path / "model.safetensors").read_bytes()
    calls = []

    def fake_check(demos, max_episodes, workers, policy, checkpoint, progress):
        calls.append((policy, files_fingerprint(checkpoint)))
        k = 7 if len(calls) == 1 else fp16_successes
        return {"episodes": [{"success_once": i < k} for i in range(8)]}

    monkeypatch.setattr(replay, "replay_check", fake_check)
    if fp16_successes < 7:
        with pytest.raises(ValueError, match="6/8 training layouts against 7/8 in float32; the float32 weights are restored"):
            replay.half_precision(tmp_path, "demos")
        assert (tmp_path / "model.safetensors").read_bytes() == original and not (tmp_path / "half.json").exists()
    else:
        info = replay.half_precision(tmp_path, "demos")
        assert info["training_layouts"]["success_once"] == {"float32": "7/8", "float16": "7/8"}
        assert info["fingerprint"] == {"float32": fp32, "float16": files_fingerprint(tmp_path)} != fp32
        assert json.loads((tmp_path / "half.json").read_text()) == info
    assert [c[0] for c in calls] == ["scratch", "scratch"] and calls[0][1] == fp32 != calls[1][1]
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == []  # the backup is gone


def test_half_precision_refuses_a_checkpoint_that_names_no_policy(tmp_path):
    from lapa_bench.app.replay import half_precision

    _small_checkpoint(tmp_path, policy=None)
    with pytest.raises(ValueError, match="Only a policy checkpoint is converted"):
        half_precision(tmp_path, "demos")


def test_half_precision_refuses_half_weights_before_any_check(tmp_path, monkeypatch):
    from lapa_bench.app import replay
    from lapa_bench.training import checkpoint

    _small_checkpoint(tmp_path)
    checkpoint.to_half(tmp_path)
    monkeypatch.setattr(replay, "replay_check", lambda *a, **k: pytest.fail("checked weights it cannot convert"))
    with pytest.raises(ValueError, match="half precision already"):
        replay.half_precision(tmp_path, "demos")


def test_training_layout_check_of_other_weights_is_redone(tmp_path, monkeypatch):
    """A training-layout check names the weights it ran (their files' fingerprint); once the checkpoint holds
    other weights (e.g. converted to half precision), the pipeline checks again instead of reusing it."""
    from lapa_bench.app import replay
    from lapa_bench.pipeline.stages import Stages
    from lapa_bench.pipeline.cells import Trained
    from lapa_bench.pipeline.run import learning_check
    from lapa_bench.fingerprint import files_fingerprint
    from lapa_bench.training import checkpoint

    ck = tmp_path / "cell"
    _small_checkpoint(ck)
    (ck / "eval.json").write_text(json.dumps({"action_error": 0.1, "mean_action_error": 0.4, "learned": True}))
    runs = []

    def fake_check(demos, max_episodes, out, workers, policy, checkpoint, progress, policy_config):
        runs.append(files_fingerprint(checkpoint))
        res = {"episodes": [{"success_once": True}], "checkpoint_fingerprint": files_fingerprint(checkpoint),
               "policy_config": policy_config}
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(res))
        return res

    monkeypatch.setattr(replay, "replay_check", fake_check)
    cells = {"scratch/n25/s0": Trained("scratch", ck, "scratch", {}, "demos")}
    st = Stages(tmp_path / "out")
    learning_check(cells, tmp_path / "checks", 1, 1, st)
    learning_check(cells, tmp_path / "checks", 1, 1, st)
    assert len(runs) == 1  # the same weights: reused
    checkpoint.to_half(ck)
    (ck / "half.json").write_text(json.dumps({"training_layouts": {"success_once": {"float32": "1/1",
                                                                                      "float16": "1/1"}}}))
    rows = learning_check(cells, tmp_path / "checks", 1, 1, st)
    assert len(runs) == 2 and runs[1] == files_fingerprint(ck)
    assert rows[0]["half"] == {"float32": "1/1", "float16": "1/1"}  # the report's check table names it
    # other rollout settings: checked again too
    learning_check({"scratch/n25/s0": Trained("scratch", ck, "scratch", {}, "demos", {"execute": 2})},
                   tmp_path / "checks", 1, 1, st)
    assert len(runs) == 3


def test_nan_in_the_actions_is_refused_before_training_and_a_nan_loss_stops_the_loop(tmp_path, capsys):
    """NaN in a dataset's action column: `data info` warns, `scratch train` refuses before any step (it trained to
    completion with a nan loss and exit 0); a loss that turns non-finite anyway stops the loop with the fix."""
    import pandas as pd

    from lapa_bench.app.cli import main
    from lapa_bench.training.loop import TrainConfig, TrainingDiverged, train_model

    ds = tiny_dataset(tmp_path / "ds", episodes=3)
    part = next((ds / "data").rglob("episode_000001.parquet"))
    df = pd.read_parquet(part)
    df.at[2, "action"] = np.full(7, np.nan, np.float32)
    df.to_parquet(part)
    assert main(["data", "info", str(ds)]) == 0
    assert "WARNING      non-finite actions (nan or inf) in 1 episodes" in capsys.readouterr().out
    assert main(["scratch", "train", "--data", str(ds), "--out", str(tmp_path / "ck"), "--finetune.steps", "2",
                 "--finetune.progress", "false", "--model.preset", "tiny"]) == 2
    assert "non-finite actions (nan or inf) in ds episode 1" in capsys.readouterr().err

    class Nan(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def loss(self, batch):
            return self.w.sum() * float("nan"), {}

        def save_pretrained(self, d):
            pass

    class Data:
        def __len__(self):
            return 8

        def collate(self, idx):
            return {"x": torch.zeros(len(idx))}

    with pytest.raises(TrainingDiverged, match="the loss is nan at step 1"):
        train_model(Nan(), Data(), TrainConfig(steps=3, batch_size=2, log_every=1, progress=False), tmp_path / "nan",
                    device="cpu", name="nan")
