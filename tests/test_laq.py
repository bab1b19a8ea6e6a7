"""LAQ (stage 1) unit tests: shapes, NSVQ gradients, overfitting, checkpoints, code replacement."""
import pytest
import torch

from lapa_bench.policies.laq.configuration_laq import LAQConfig, laq_full, laq_tiny
from lapa_bench.policies.laq.modeling_laq import LAQ
from lapa_bench.policies.laq.nsvq import NSVQ


def micro():
    return LAQConfig(image_size=32, patch_size=8, dim=64, spatial_depth=1, temporal_depth=1, decoder_depth=1,
                     heads=2, dim_head=16, code_dim=8, replace_every=5)


def pair(b=4, s=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, s, s, generator=g)
    return x, torch.roll(x, shifts=2, dims=3)  # the "action": a shift to the right


def test_nsvq_shapes_and_gradients():
    vq = NSVQ(dim=8, codebook_size=8)
    z = torch.randn(5, 4, 8, requires_grad=True)
    q, idx, loss = vq(z)
    assert q.shape == z.shape and idx.shape == (5, 4) and idx.dtype == torch.long and loss.ndim == 0
    q.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0  # gradient reaches the encoder side
    assert vq.codebook.grad is not None and vq.codebook.grad.abs().sum() > 0
    vq.eval()
    q2, idx2, _ = vq(z.detach())
    assert torch.equal(q2, vq.codebook[idx2])


def test_laq_shapes_and_encoder_gradient():
    m = LAQ(micro())
    x_t, x_th = pair()
    out = m(x_t, x_th)
    assert out["recon"].shape == x_th.shape and out["indices"].shape == (4, 4)
    out["loss"].backward()
    assert m.patch_embed[1].weight.grad.abs().sum() > 0  # through NSVQ into the encoder
    with pytest.raises(ValueError, match="expects frames"):
        m(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16))


def test_configs():
    full, tiny = laq_full(), laq_tiny()
    assert (full.image_size, full.patch_size, full.dim, full.spatial_depth, full.temporal_depth, full.heads,
            full.codebook_size, full.code_seq_len) == (256, 32, 1024, 8, 8, 16, 8, 4)
    assert tiny.image_size == 64 and tiny.codebook_size == 8
    with pytest.raises(ValueError, match="square"):
        LAQConfig(code_seq_len=3)


def test_laq_overfits_one_batch():
    torch.manual_seed(0)
    m = LAQ(micro())
    x_t, x_th = pair()
    opt = torch.optim.AdamW(m.parameters(), lr=2e-3)
    first = None
    for step in range(150):
        out = m(x_t, x_th)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["loss"].item()
    m.eval()
    final = m(x_t, x_th)["loss"].item()
    assert final <= 0.1 * first, (first, final)


def test_dead_codes_are_replaced():
    torch.manual_seed(0)
    vq = NSVQ(dim=4, codebook_size=8, dead_threshold=0.05)
    vq.codebook.data[1:] += 100.0  # far away: never chosen
    z = torch.randn(64, 4)
    vq(z)
    assert NSVQ.perplexity(vq.nearest(z), 8) < 1.5
    assert vq.replace_dead_codes(z) == 7
    assert NSVQ.perplexity(vq.nearest(z), 8) > 3


def test_save_load_round_trip(tmp_path):
    m = LAQ(micro()).eval()
    x_t, x_th = pair()
    m.save_pretrained(tmp_path / "laq")
    m2 = LAQ.from_pretrained(tmp_path / "laq").eval()
    assert torch.equal(m.label(x_t, x_th), m2.label(x_t, x_th))
    assert torch.allclose(m(x_t, x_th)["recon"], m2(x_t, x_th)["recon"])
    with pytest.raises(FileNotFoundError, match="not a LAQ checkpoint"):
        LAQ.from_pretrained(tmp_path)


def _toy_videos(path, episodes=3, frames=6):
    """A tiny LeRobot dataset of sliding stripes (32 px) with random actions."""
    import numpy as np

    from lapa_bench.data import LeRobotWriter
    from lapa_bench.specs import ACTION_NAMES

    w = LeRobotWriter(path, fps=5, image_shape=(32, 32, 3), action_names=ACTION_NAMES)
    yy, xx = np.mgrid[0:32, 0:32]
    rng = np.random.default_rng(0)
    for e in range(episodes):
        w.add_episode(np.stack([np.stack([(xx * 8 + 5 * t + 40 * e) % 256, yy * 8, xx * 4], -1)
                                for t in range(frames)]).astype(np.uint8), task="slide",
                      actions=rng.normal(size=(frames, 7)).astype(np.float32))
    return path


MICRO = dict(image_size=32, patch_size=8, dim=32, spatial_depth=1, temporal_depth=1, decoder_depth=1, heads=2,
             dim_head=16, code_dim=8, replace_every=3)


def test_train_resume_and_label(tmp_path):
    """The training command on a tiny dataset: log with perplexity, resume, eval.json, labels."""
    import json

    import numpy as np

    from lapa_bench.training import Inputs, TrainConfig
    from lapa_bench.policies.laq.configuration_laq import LAQConfig
    from lapa_bench.policies.laq.codes import label
    from lapa_bench.policies.laq.train import LAQTrainConfig, train

    _toy_videos(tmp_path / "ds")
    cfg = LAQTrainConfig(model=LAQConfig(**MICRO), train=TrainConfig(steps=6, batch_size=4, log_every=2, save_every=3,
                                                                     progress=False, val_fraction=0.34))
    inputs = Inputs(videos=[str(tmp_path / "ds")])
    train(cfg, inputs, tmp_path / "laq")
    log = (tmp_path / "laq" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss,lr,samples_per_s,recon_loss,perplexity,codes_used,replaced") and len(log) >= 4
    assert json.loads((tmp_path / "laq" / "last" / "trainer_state.json").read_text())["step"] == 6
    cfg.train.steps = 8
    train(cfg, inputs, tmp_path / "laq")  # resumes at 6
    assert json.loads((tmp_path / "laq" / "last" / "trainer_state.json").read_text())["step"] == 8
    ev = json.loads((tmp_path / "laq" / "eval.json").read_text())
    assert {"val_mse", "copy_mse", "perplexity", "codes_used"} <= set(ev)
    label(tmp_path / "laq", [tmp_path / "ds"], tmp_path / "codes.npz")
    z = np.load(tmp_path / "codes.npz")
    assert len(z.files) == 3 and z[z.files[0]].shape == (6, 4)
    from lapa_bench.policies.laq.codes import probe

    res = probe(tmp_path / "laq", [tmp_path / "ds"], val_fraction=0.34)
    assert set(res["r2"]) >= {"dx", "dy", "dz"} and np.isfinite(res["r2_translation"])


def test_sweep_trains_probes_and_resumes(tmp_path):
    """`laq sweep`: one LAQ per combination, its usage and probe, the table, and a rerun that trains nothing."""
    import json

    import pytest

    from lapa_bench.config import ConfigError
    from lapa_bench.training import TrainConfig
    from lapa_bench.policies.laq.configuration_laq import LAQConfig
    from lapa_bench.policies.laq.sweep import usage
    from lapa_bench.policies.laq.train import SweepConfig, sweep_command

    def sweep(cfg, device="auto"):
        return sweep_command(cfg, device)

    ds = str(_toy_videos(tmp_path / "ds", episodes=4))
    cfg = SweepConfig(videos=[ds], data=[ds], out=str(tmp_path / "sweep"), grid={"frame_gap": [1, 2]},
                      model=LAQConfig(**MICRO),
                      train=TrainConfig(steps=3, batch_size=4, log_every=1, save_every=3, progress=False,
                                        val_fraction=0.25))
    res = sweep(cfg, device="cpu")
    names = [r["name"] for r in res["rows"]]
    assert names == ["frame_gap1", "frame_gap2"]
    for r in res["rows"]:
        assert 0 < r["max_share_data"] <= 1 and 0 < r["max_share_videos"] <= 1
        assert 1 <= r["codes_used"] <= 8
        assert {"r2_dx", "r2_dy", "r2_dz", "improvement_vs_copy"} <= set(r)
        # the actions are random: no code explains them, so the default bar (R^2 >= 0.5) is not met
        assert r["r2_translation"] < 0.5 and not r["passes"]
    assert res["best"] is None
    # bars between the two rows' values: exactly the better row passes, and it is the one picked
    r2 = {r["name"]: r["r2_translation"] for r in res["rows"]}
    hi, lo = max(r2, key=r2.get), min(r2, key=r2.get)
    if r2[hi] > r2[lo]:
        cfg.min_r2_translation, cfg.max_code_share = (r2[hi] + r2[lo]) / 2, 1.0
        res = sweep(cfg, device="cpu")
        assert [r["passes"] for r in res["rows"]] == [n == hi for n in names] and res["best"] == hi
    assert (tmp_path / "sweep" / "sweep.md").read_text().count("\n| frame_gap") == 2
    assert (tmp_path / "sweep" / "sweep.png").stat().st_size > 0
    log = (tmp_path / "sweep" / "frame_gap2" / "log.csv").read_text()
    cfg.max_code_share = 0.0  # a bar nothing meets: every row fails, no best; cached LAQs are not retrained
    res2 = sweep(cfg, device="cpu")
    assert (tmp_path / "sweep" / "frame_gap2" / "log.csv").read_text() == log
    assert res2["best"] is None and not any(r["passes"] for r in res2["rows"])
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["best"] is None
    cfg.train.steps = 4  # more steps: the cached LAQs train on from step 3, then are measured again
    sweep(cfg, device="cpu")
    assert json.loads((tmp_path / "sweep" / "frame_gap2" / "last" / "trainer_state.json").read_text())["step"] == 4
    cfg.train.steps = 2
    with pytest.raises(ConfigError, match="trained for 4 steps"):
        sweep(cfg, device="cpu")
    cfg.train.steps = 4  # another codebook: the cached LAQs are refused by name, not measured as if they had it
    cfg.model = LAQConfig(**{**MICRO, "codebook_size": 4})
    with pytest.raises(ValueError, match=r"frame_gap1' made with other settings \(model.codebook_size: 8 then, "
                                         r"4 now\): delete"):
        sweep(cfg, device="cpu")
    assert usage([0, 0, 0, 1], 4) == {"max_share": 0.75, "perplexity": pytest.approx(1.7548, abs=1e-3),
                                      "codes_used": 2}
    with pytest.raises(ConfigError, match="not LAQ settings"):
        sweep(SweepConfig(videos=[ds], data=[ds], out=str(tmp_path / "bad"), grid={"gap": [1]}))
    with pytest.raises(ConfigError, match="must be a multiple"):
        sweep(SweepConfig(videos=[ds], data=[ds], out=str(tmp_path / "bad"), grid={"patch_size": [7]}))


def test_sweep_grid_as_listed_combinations():
    """A --grid list tries exactly the combinations it lists (settings that change together); bad lists are named."""
    from lapa_bench.config import ConfigError
    from lapa_bench.policies.laq.configuration_laq import laq_tiny
    from lapa_bench.policies.laq.sweep import combinations, grid_keys

    grid = [{"image_size": 64, "patch_size": 8}, {"image_size": 128, "patch_size": 16, "code_seq_len": 1}]
    combos = combinations(grid, laq_tiny())
    assert [n for n, _ in combos] == ["image_size64-patch_size8", "image_size128-patch_size16-code_seq_len1"]
    assert combos[1][1] == {"image_size": 128, "patch_size": 16, "code_seq_len": 1}
    assert grid_keys(grid) == ["image_size", "patch_size", "code_seq_len"]
    from types import SimpleNamespace

    from lapa_bench.policies.laq.sweep import to_markdown
    table = to_markdown([{"name": n, **c} for n, c in combos], SimpleNamespace(grid=grid, model=laq_tiny()))
    assert "| image_size64-patch_size8 | 64 | 8 | 4 |" in table  # code_seq_len: the base LAQ's, not "n/a"
    assert len(combinations({"frame_gap": [1, 2], "codebook_size": [8, 16]}, laq_tiny())) == 4
    with pytest.raises(ConfigError, match="non-empty dicts"):
        combinations([{"frame_gap": 2}, 3], laq_tiny())
    with pytest.raises(ConfigError, match="repeats a combination"):
        combinations([{"frame_gap": 2}, {"frame_gap": 2}], laq_tiny())
    with pytest.raises(ConfigError, match="not a valid LAQ config"):
        combinations([{"image_size": 128, "patch_size": 24}], laq_tiny())


def test_action_transformer_over_the_difference(tmp_path):
    """action_depth > 0: blocks over the difference tokens before pooling; gradients reach them, the code shape is the
    same, it round-trips through a checkpoint, and a checkpoint written before the field existed loads without it."""
    import json

    m = LAQ(LAQConfig(**{**micro().to_dict(), "action_depth": 1, "code_seq_len": 1}))
    x_t, x_th = pair()
    out = m(x_t, x_th)
    assert out["indices"].shape == (4, 1)
    out["loss"].backward()
    assert m.action.blocks[0].attn.qkv.weight.grad.abs().sum() > 0 and m.action_pos.grad.abs().sum() > 0
    m.save_pretrained(tmp_path / "a")
    m2 = LAQ.from_pretrained(tmp_path / "a").eval()
    assert m2.config.action_depth == 1 and torch.equal(m2.label(x_t, x_th), m.eval().label(x_t, x_th))
    old = LAQ(micro())
    old.save_pretrained(tmp_path / "old")
    cfg_file = next(p for p in (tmp_path / "old").rglob("config.json"))
    raw = json.loads(cfg_file.read_text())
    (raw.get("config", raw)).pop("action_depth")
    cfg_file.write_text(json.dumps(raw))
    assert LAQ.from_pretrained(tmp_path / "old").config.action_depth == 0


def test_probe_known_answers(tmp_path):
    """The probe on data where the answer is known: codes that determine the translation (one token per axis:
    its sign; a fourth token constant) give R^2 ~ 1 on held-out episodes; the same codes shuffled across steps
    give R^2 ~ 0."""
    import numpy as np

    from lapa_bench.data import LeRobotWriter, episode_key, open_datasets
    from lapa_bench.specs import ACTION_NAMES
    from lapa_bench.policies.laq.codes import probe
    from lapa_bench.policies.laq.configuration_laq import LAQConfig
    from lapa_bench.policies.laq.modeling_laq import LAQ

    LAQ(LAQConfig(**{**MICRO, "code_seq_len": 4, "codebook_size": 3, "frame_gap": 1})).save_pretrained(tmp_path / "laq")
    rng = np.random.default_rng(0)
    w = LeRobotWriter(tmp_path / "ds" / "carrot", fps=5, image_shape=(8, 8, 3), action_names=ACTION_NAMES)
    signs = []
    for e in range(20):
        s = rng.integers(-1, 2, size=(12, 3))
        a = np.zeros((12, 7), np.float32)
        a[:, :3] = 0.01 * s
        a[:, 6] = 1
        signs.append(np.hstack([s + 1, np.ones((12, 1), int)]))  # code index 0, 1, 2 per axis
        w.add_episode(np.zeros((12, 8, 8, 3), np.uint8), task="x", actions=a)
    ds = open_datasets(tmp_path / "ds")[0]
    codes = {episode_key(ds, i): signs[i] for i in range(20)}
    right = probe(tmp_path / "laq", [str(tmp_path / "ds")], codes=codes, device="cpu")
    assert right["r2_translation"] > 0.99
    flat = np.concatenate(signs)
    perm = rng.permutation(len(flat))
    shuffled = {k: flat[perm[12 * i:12 * i + 12]] for i, k in enumerate(codes)}
    wrong = probe(tmp_path / "laq", [str(tmp_path / "ds")], codes=shuffled, device="cpu")
    assert abs(wrong["r2_translation"]) < 0.15


def test_laq_commands_from_the_cli(tmp_path, capsys):
    """The documented `laq` commands, one real call each: train, label, probe, inspect, sweep --grid."""
    import json

    import numpy as np

    from lapa_bench.app.cli import main

    ds = str(_toy_videos(tmp_path / "ds", episodes=4))
    micro = [f"--model.{k} {v}" for k, v in MICRO.items()]
    micro = [x for m in micro for x in m.split()]
    train = ["--train.steps", "3", "--train.batch_size", "4", "--train.progress", "false", "--train.val_fraction", "0.25"]
    assert main(["laq", "train", "--videos", ds, "--out", str(tmp_path / "laq"), "--device", "cpu", *micro, *train]) == 0
    assert main(["laq", "label", "--checkpoint", str(tmp_path / "laq"), "--data", ds, "--out",
                 str(tmp_path / "codes.npz"), "--device", "cpu"]) == 0
    codes = dict(np.load(tmp_path / "codes.npz"))
    assert len(codes) == 4 and all(c.shape[1] == 4 for c in codes.values())
    assert main(["laq", "probe", "--checkpoint", str(tmp_path / "laq"), "--data", ds, "--out",
                 str(tmp_path / "probe.json"), "--device", "cpu"]) == 0
    assert set(json.loads((tmp_path / "probe.json").read_text())["r2"]) >= {"dx", "dy", "dz"}
    assert main(["laq", "inspect", "--laq", str(tmp_path / "laq"), "--data", ds, "--out", str(tmp_path / "insp"),
                 "--examples", "2", "--device", "cpu"]) == 0
    assert (tmp_path / "insp" / "index.html").stat().st_size > 0
    assert main(["laq", "sweep", "--videos", ds, "--data", ds, "--out", str(tmp_path / "sweep"), "--device", "cpu",
                 "--grid", '{"frame_gap": [1, 2]}', *micro, *train]) == 0
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text())["rows"][1]["name"] == "frame_gap2"
