"""Baselines behind the same interface: IDM, VPT, UniPi (Scratch is tested with LAPA's stage 3)."""
import json

import numpy as np
import pytest
import torch

from lapa_bench.policies.idm.modeling_idm import IDM, IDMConfig
from lapa_bench.policies.unipi.modeling_unipi import UniPiConfig, VideoUNet

from conftest import micro, requires_sim, tiny_dataset  # noqa: F401


def test_idm_shapes_overfit_and_round_trip(tmp_path):
    torch.manual_seed(0)
    m = IDM(IDMConfig(image_size=32, width=16, depth=3, hidden=64))
    x, y = torch.rand(8, 3, 32, 32), torch.rand(8, 3, 32, 32)
    a = torch.randn(8, 7) * 0.01
    from lapa_bench.data.normalize import Normalizer

    m.set_normalizer(Normalizer({"action": {"mean": a.mean(0).tolist(), "std": a.std(0).tolist(),
                                            "min": a.min(0).values.tolist(), "max": a.max(0).values.tolist()}}))
    assert m(x, y).shape == (8, 7)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss, _ = m.loss({"x_t": x, "x_th": y, "action": a})
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    m.save_pretrained(tmp_path / "idm")
    m2 = IDM.from_pretrained(tmp_path / "idm")
    m.eval()
    assert torch.equal(m.predict(x, y), m2.eval().predict(x, y))


def test_unipi_sampler_shapes_range_and_overfit():
    torch.manual_seed(0)
    c = UniPiConfig(image_size=16, plan_frames=2, replan_every=2, width=32, text_dim=16, sample_steps=4)
    m = VideoUNet(c)
    x = torch.rand(3, 3, 16, 16)
    fut = (x[:, None] + 0.05 * torch.randn(3, 2, 3, 16, 16)).clamp(0, 1)
    out = m.sample(x, ["a", "b", "c"], generator=torch.Generator().manual_seed(0))
    assert out.shape == (3, 2, 3, 16, 16) and out.min() >= 0 and out.max() <= 1
    t = torch.tensor([100, 500, 900])
    noise = torch.randn(3, 6, 16, 16, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3)
    losses = []
    for _ in range(200):
        loss = m.diffusion_loss(x, fut, ["a", "b", "c"], t=t, noise=noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
    with pytest.raises(ValueError, match="replan_every"):
        UniPiConfig(plan_frames=2, replan_every=3)


def test_unipi_policy_round_trip_gives_identical_actions(tmp_path):
    from lapa_bench.policy import make_policy

    p = make_policy("unipi", image_size=16, plan_frames=3, replan_every=2, width=32, text_dim=16, sample_steps=3)
    obs = {"image": np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8), "instruction": "go"}
    p.reset("go", seed=3)
    a = p.act(obs)
    assert a.shape == (2, 7) and np.isfinite(a).all()  # an action chunk: replan every 2 steps
    p.save_pretrained(tmp_path / "u")
    q = make_policy("unipi", checkpoint=tmp_path / "u")
    q.reset("go", seed=3)
    assert np.array_equal(q.act(obs), a)


@requires_sim
def test_baselines_train_and_run_in_simpler(tmp_path, capsys):
    """idm train/eval, vpt train, unipi train/eval on tiny data; each checkpoint runs a SIMPLER episode."""
    from lapa_bench.app.cli import main
    from lapa_bench.records import read_records

    ds = str(tiny_dataset(tmp_path / "ds", episodes=5))
    idm_set = ["--model.image_size", "32", "--model.width", "16", "--model.depth", "3", "--model.hidden", "32"]
    quiet = ["--train.progress", "false"]
    assert main(["idm", "train", "--data", ds, "--out", str(tmp_path / "idm"), "--train.steps", "5", *quiet,
                 *idm_set]) == 0
    assert main(["idm", "eval", "--checkpoint", str(tmp_path / "idm"), "--data", ds, "--out",
                 str(tmp_path / "idm.json")]) == 0
    m = json.loads((tmp_path / "idm.json").read_text())
    assert m["samples"] > 0 and np.isfinite(m["ratio_to_mean_action"])
    assert "vs mean-action" in capsys.readouterr().out
    vla_set = []
    for k, v in micro().to_dict().items():
        if k in ("image_size", "vision", "text", "prompt", "max_prompt_tokens", "action_bins"):
            vla_set += [f"--model.{k}", v if isinstance(v, str) else json.dumps(v)]
    assert main(["vpt", "train", "--data", ds, "--videos", ds, "--out", str(tmp_path / "vpt"), "--finetune.steps", "3",
                 "--pretrain.steps", "3", "--idm.train.steps", "3", "--finetune.batch_size", "4",
                 "--pretrain.batch_size", "4", "--device", "cpu", "--finetune.progress", "false", *vla_set]) == 0
    assert (tmp_path / "vpt" / "pseudo_actions.npz").is_file()
    assert json.loads((tmp_path / "vpt" / "config.json").read_text())["policy"] == "vpt"
    uni_set = ["--model.image_size", "16", "--model.plan_frames", "2", "--model.replan_every", "2",
               "--model.width", "32", "--model.text_dim", "16", "--model.sample_steps", "2"]
    assert main(["unipi", "train", "--videos", ds, "--data", ds, "--out", str(tmp_path / "unipi"), "--train.steps", "3",
                 "--idm.train.steps", "3", "--train.batch_size", "4", *quiet, *uni_set]) == 0
    assert main(["unipi", "eval", "--checkpoint", str(tmp_path / "unipi"), "--videos", ds, "--out",
                 str(tmp_path / "u.json")]) == 0
    u = json.loads((tmp_path / "u.json").read_text())
    assert {"one_step_mse", "copy_mse"} <= set(u) and np.isfinite(u["one_step_mse"])
    for name in ("vpt", "unipi"):
        out = tmp_path / f"eval_{name}"
        assert main(["eval", "--policy", name, "--checkpoint", str(tmp_path / name), "--tasks", "carrot",
                     "--episodes", "1", "--out", str(out), "--no-progress"]) == 0
        (rec,) = read_records(out)
        assert rec["policy"] == name and rec["error"] is None and rec["steps"] == 60


def test_bc_learns_what_the_image_says_and_its_check_says_so(tmp_path):
    """The reference `bc` reads the image: on image-cued demonstrations its held-out error is far below
    the mean action's and its image-blind twin's (the learning check in eval.json), and the checkpoint
    acts as a policy with an action chunk."""
    from conftest import image_cued_dataset
    from lapa_bench.policy import make_policy
    from lapa_bench.training import Inputs, TrainConfig
    from lapa_bench.policies.bc.configuration_bc import BCConfig
    from lapa_bench.policies.bc.train import BCTrainConfig, train

    ds = image_cued_dataset(tmp_path / "ds")
    cfg = BCTrainConfig(model=BCConfig(image_size=32, depth=2, width=16, hidden=64, chunk=2, execute=2,
                                       random_shift=2),
                        train=TrainConfig(steps=150, batch_size=16, lr=1e-3, warmup_steps=10, val_fraction=0.25,
                                          progress=False, log_every=50),
                        blind_twin_fraction=1.0)
    train(cfg, Inputs(data=[str(ds)]), tmp_path / "bc", device="cpu")
    ev = json.loads((tmp_path / "bc" / "eval.json").read_text())
    assert ev["ratio_to_mean_action"] < 0.3, ev
    assert ev["blind_twin"]["ratio_to_mean_action"] > 0.7 and ev["beats_blind_twin"] and ev["learned"], ev
    p = make_policy("bc", checkpoint=tmp_path / "bc")
    obs = {"image": np.full((480, 640, 3), 40, np.uint8), "instruction": "go to the square",
           "state": np.zeros(7, np.float32)}
    a = p.act(obs)
    assert a.shape == (2, 7) and set(np.unique(a[:, 6])) <= {-1.0, 1.0}
    assert json.loads((tmp_path / "bc" / "config.json").read_text())["config"]["source_size"] == [32, 32]
    # the held-out episodes are recorded, so that the training-layout check can tell them apart
    from lapa_bench.app.replay import held_out_episodes
    from lapa_bench.data import LeRobotDataset, episode_key
    from lapa_bench.data.torch_datasets import split_episodes

    src = LeRobotDataset(ds)
    _, val = split_episodes(len(src), 0.25, 0)
    assert held_out_episodes(tmp_path / "bc") == {episode_key(src, i) for i in val} and val
    assert held_out_episodes(tmp_path / "bc" / "last") == held_out_episodes(tmp_path / "bc")  # the last weights
    assert held_out_episodes(tmp_path / "nowhere") is None
