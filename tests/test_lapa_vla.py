"""LAPA stages 2 and 3 (and Scratch): the VLM, its heads, action bins, checkpoints, backbones, CLI."""
import json

import numpy as np
import pytest
import torch

from lapa_bench.specs import ACTION_HIGH, ACTION_LOW

from lapa_bench.policies.lapa.action_bins import decode, encode, fit_bins
from lapa_bench.policies.lapa.configuration_lapa import LAPAConfig, lapa_full, lapa_tiny
from lapa_bench.policies.lapa.modeling_lapa import LAPAModel, byte_tokenizer

from conftest import micro, requires_sim, tiny_dataset


def batch(model, b=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    px = torch.rand(b, 3, model.config.image_size, model.config.image_size, generator=g)
    tok = model.tokenize([f"task number {i}" for i in range(b)])
    return px, tok


def test_byte_tokenizer_round_trip():
    tok = byte_tokenizer()
    text = "put the spoon on the towel ü"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text and max(ids) < 256 and tok.pad_token_id == 256


def test_constant_accuracy_reference():
    from lapa_bench.policies.lapa.train import constant_accuracy

    t = np.array([[0, 5], [0, 6], [1, 6], [0, 6]])
    assert constant_accuracy(t) == pytest.approx((3 / 4 + 3 / 4) / 2)
    assert constant_accuracy(np.zeros((3, 4, 2), dtype=int)) == 1.0  # (N, K, ...) is flattened per sample


def test_shuffled_targets_keep_the_codes_counts_and_drop_the_motion():
    from lapa_bench.policies.lapa.train import shuffled_targets

    rng = np.random.default_rng(0)
    codes = {f"ep{i}": rng.integers(0, 16, (40 + i, 1)) + 16 * (i % 2) for i in range(6)}
    assert shuffled_targets(codes, "laq", 0) is codes
    ep = shuffled_targets(codes, "episode_shuffled", 3)
    for k in codes:  # each episode keeps its own codes (its scene), in another order (not the motion's)
        assert sorted(ep[k].ravel()) == sorted(codes[k].ravel()) and not np.array_equal(ep[k], codes[k])
    corpus = shuffled_targets(codes, "corpus_shuffled", 3)
    assert {k: len(v) for k, v in corpus.items()} == {k: len(v) for k, v in codes.items()}
    everything = lambda d: sorted(np.concatenate(list(d.values())).ravel())  # noqa: E731
    assert everything(corpus) == everything(codes)
    # codes 16-31 belong to odd episodes only: shuffled over the corpus, even episodes get them too
    assert any((corpus[f"ep{i}"] >= 16).any() for i in (0, 2, 4))
    for how in ("episode_shuffled", "corpus_shuffled"):  # fixed by the seed
        a, b, c = (shuffled_targets(codes, how, s) for s in (3, 3, 4))
        assert all(np.array_equal(a[k], b[k]) for k in codes) and not all(np.array_equal(a[k], c[k]) for k in codes)
    with pytest.raises(ValueError, match="targets="):
        shuffled_targets(codes, "reversed", 0)


def test_shapes_both_heads_and_configs():
    m = LAPAModel(micro(head="latent"))
    px, tok = batch(m)
    assert m(px, **tok).shape == (4, 4, 8)  # code_seq_len x codebook_size
    # the latent head predicts the codes of `chunk` steps, as the action head predicts `chunk` actions
    assert LAPAModel(micro(head="latent", chunk=3))(px, **tok).shape == (4, 12, 8)
    m.replace_head("action")
    assert m(px, **tok).shape == (4, 7, 16)  # 7 dims x bins
    assert m.predict(np.zeros((2, 50, 60, 3), np.uint8), ["a", "b"]).shape == (2, 1, 7)  # (B, chunk, 7)
    # the small-data recipe: a chunk of 4 continuous actions, a proprio token
    m = LAPAModel(micro(chunk=4, execute=2, action_head="l1", proprio=True))
    assert m(px, **tok, state=torch.zeros(4, 7)).shape == (4, 28, 1)
    a = m.predict(np.zeros((2, 50, 60, 3), np.uint8), ["a", "b"], np.zeros((2, 7), np.float32))
    assert a.shape == (2, 4, 7) and set(np.unique(a[..., 6])) <= {-1.0, 1.0}
    with pytest.raises(ValueError, match="execute"):
        micro(chunk=2, execute=3)
    full, tiny = lapa_full(), lapa_tiny()
    assert full.text["hidden_size"] == 4096 and full.text["num_hidden_layers"] == 32 and full.action_bins == 256
    assert tiny.image_size == 64
    with pytest.raises(ValueError, match="head"):
        LAPAConfig(head="value")


def test_conv_stem_tower_and_the_image_size_flowing_one_way(tmp_path):
    """`vision: {model_type: conv}` (preset small) puts a convolutional stem in the ViT's place; the model's
    image_size reaches the tower (one way), and the checkpoint rebuilds it."""
    from lapa_bench.policies.lapa.configuration_lapa import lapa_small
    from lapa_bench.policies.lapa.modeling_lapa import ConvStem

    small = lapa_small()
    assert small.vision["model_type"] == "conv" and small.image_size == 128
    m = LAPAModel(micro(image_size=32, vision={"model_type": "conv", "width": 8, "depth": 3}, action_head="l1",
                        chunk=2, proprio=True)).eval()
    assert isinstance(m.vision, ConvStem) and m.vision.position.shape == (1, 16, 32)  # (32 / 2^3)^2 tokens
    px, tok = batch(m)
    out = m(px, **tok, state=torch.zeros(4, 7))
    assert out.shape == (4, 14, 1)
    # the vision dict's own image_size does not win over the model's
    m2 = LAPAModel(micro(image_size=64, vision={"model_type": "conv", "image_size": 999, "width": 8, "depth": 3}))
    assert m2.vision.position.shape[1] == 64 and m2.config.vision["image_size"] == 64
    m.save_pretrained(tmp_path / "ck", policy_name="scratch")
    again = LAPAModel.from_pretrained(tmp_path / "ck").eval()
    with torch.no_grad():
        assert torch.equal(again(px, **tok, state=torch.zeros(4, 7)), out)
    with pytest.raises(ValueError, match="model_type"):
        LAPAModel(micro(vision={"width": 8}))
    r = LAPAModel(micro(image_size=32, vision={"model_type": "conv", "width": 8, "depth": 3, "readout": True}))
    assert r.vision(pixel_values=px).last_hidden_state.shape == (4, 17, 32)  # 16 cells + the readout token
    # fixed sine-cosine position codes: one distinct unit-amplitude code per cell, rebuilt (not stored)
    sc = LAPAModel(micro(image_size=32, vision={"model_type": "conv", "width": 8, "depth": 3, "position": "sincos"}))
    codes = sc.vision.position[0]
    assert codes.shape == (16, 32) and len({tuple(c.tolist()) for c in codes}) == 16 and codes.abs().max() <= 1
    assert not any("position" in k for k in sc.state_dict())
    with pytest.raises(ValueError, match="position"):
        LAPAModel(micro(image_size=32, vision={"model_type": "conv", "width": 8, "depth": 3, "position": "rope"}))


def test_query_readout_is_a_direct_path_from_the_image_to_the_head(tmp_path):
    """``query_readout`` (preset small): the image features and the state reach every query token without
    attention; its shared part survives ``replace_head``, its per-query part is new with the head."""
    from lapa_bench.policies.lapa.configuration_lapa import lapa_small

    assert lapa_small().query_readout > 0
    conv = {"model_type": "conv", "width": 8, "depth": 3}
    torch.manual_seed(0)
    kw = dict(image_size=32, vision=conv, action_head="l1", chunk=2, proprio=True)
    with_qr, without = LAPAModel(micro(**kw, query_readout=16)).eval(), LAPAModel(micro(**kw)).eval()
    px, tok = batch(with_qr)
    state = torch.zeros(4, 7)
    for m in (with_qr, without):  # cut every attention output: no token can read another one
        for layer in m.language.layers:
            torch.nn.init.zeros_(layer.self_attn.o_proj.weight)
    with torch.no_grad():
        def spread(m):  # how much the queries' outputs differ between the 4 images
            return m(px, **tok, state=state).std(0).max().item()
        assert spread(without) < 1e-6 < 1e-3 < spread(with_qr)
    # latent pretraining -> action finetuning: the shared readout is kept, the per-query vectors are new
    lat = LAPAModel(micro(**{**kw, "action_head": "bins", "proprio": False}, head="latent", query_readout=16))
    trunk = lat.readout[0].weight.detach().clone()
    assert lat.query_proj.out_features == lat.config.num_queries * 32 == 8 * 32
    lat.replace_head("action")
    assert torch.equal(lat.readout[0].weight, trunk) and lat.query_proj.out_features == 14 * 32
    with_qr.save_pretrained(tmp_path / "ck", policy_name="scratch")
    again = LAPAModel.from_pretrained(tmp_path / "ck").eval()
    with torch.no_grad():
        assert torch.equal(again(px, **tok, state=state), with_qr(px, **tok, state=state))
    with pytest.raises(ValueError, match="query_readout"):
        micro(query_readout=-1)


def test_action_bins_round_trip():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, size=(2000, 7))
    a[:, 6] = rng.choice([-1.0, 1.0], 2000)
    for strategy in ("uniform", "quantile"):
        edges, centers = fit_bins(a, 64, strategy)
        idx = encode(a, edges)
        d = decode(idx, centers)
        inner = (a[:, 0] > edges[0, 0]) & (a[:, 0] < edges[0, -1])
        width = edges[0, idx[:, 0] + 1] - edges[0, idx[:, 0]]
        assert np.all(np.abs(d[inner, 0] - a[inner, 0]) <= width[inner] + 1e-7)  # decodes inside its bin
        assert set(np.unique(d[:, 6])) == {-1.0, 1.0}  # a binary gripper decodes exactly
    with pytest.raises(ValueError, match="strategy"):
        fit_bins(a, 8, "log")


@pytest.mark.parametrize("head", ["latent", "action"])
@pytest.mark.parametrize("cheap", [{}, {"query_tokens": "per_step", "pool_prompt": True}])
def test_each_stage_overfits_one_batch(head, cheap):
    """Also with the short token sequence: one query per chunk step, the prompt pooled into one token."""
    torch.manual_seed(0)
    m = LAPAModel(micro(head=head, **cheap))
    px, tok = batch(m)
    target = torch.randint(0, m.config.num_classes, (4, m.config.num_queries), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss, _ = m.loss({"image": px, "instruction": [f"task number {i}" for i in range(4)], "target": target})
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])


def test_save_load_identical_outputs_and_policy(tmp_path):
    from lapa_bench.policy import make_policy

    m = LAPAModel(micro()).eval()
    m.set_action_bins(*fit_bins(np.random.default_rng(0).normal(size=(100, 7)), 16))
    m.save_pretrained(tmp_path / "ck", policy_name="lapa")
    m2 = LAPAModel.from_pretrained(tmp_path / "ck").eval()
    px, tok = batch(m)
    with torch.no_grad():
        assert torch.equal(m(px, **tok), m2(px, **tok))
    pol = make_policy("lapa", checkpoint=tmp_path / "ck", device="cpu")
    obs = {"image": np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8), "instruction": "go"}
    a = pol.act(obs)
    expected = np.clip(m.predict(obs["image"][None], ["go"])[0], ACTION_LOW, ACTION_HIGH)  # within the action bounds
    assert a.shape == (1, 7) and np.allclose(a, expected)
    pol.save_pretrained(tmp_path / "ck2")
    assert np.array_equal(make_policy("lapa", checkpoint=tmp_path / "ck2").act(obs), a)
    # a latent (stage-2) checkpoint is not a policy yet
    LAPAModel(micro(head="latent")).save_pretrained(tmp_path / "pre")
    with pytest.raises(ValueError, match="Finetune it first"):
        make_policy("lapa", checkpoint=tmp_path / "pre")


def test_pretrained_backbones_load_from_local_folders(tmp_path):
    """--vision-backbone / --backbone: towers and tokenizer come from saved checkpoints; vision frozen."""
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    vis = CLIPVisionModel(CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                                           num_hidden_layers=1, num_attention_heads=2))
    vis.save_pretrained(tmp_path / "vision")
    lm = LlamaForCausalLM(LlamaConfig(vocab_size=259, hidden_size=48, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128))
    lm.save_pretrained(tmp_path / "lm")
    byte_tokenizer().save_pretrained(tmp_path / "lm")
    cfg = micro(vision={}, text={}, vision_backbone=str(tmp_path / "vision"), language_backbone=str(tmp_path / "lm"))
    m = LAPAModel.build(cfg)
    assert m.freeze_vision and not any(p.requires_grad for p in m.vision.parameters())
    (key,) = [k for k in vis.state_dict() if k.endswith("patch_embedding.weight")]
    assert torch.equal(m.vision.state_dict()[key], vis.state_dict()[key])
    assert m.config.text["hidden_size"] == 48  # resolved config recorded for the checkpoint
    px, tok = batch(m)
    loss, _ = m.loss({"image": px, "instruction": ["go"] * 4, "target": torch.zeros(4, 7, dtype=torch.long)})
    loss.backward()
    assert m.projector[0].weight.grad is not None
    m.eval().save_pretrained(tmp_path / "ck")
    (tmp_path / "vision" / "model.safetensors").unlink()  # the checkpoint must not need the backbones
    m2 = LAPAModel.from_pretrained(tmp_path / "ck").eval()
    with torch.no_grad():
        assert torch.equal(m(px, **tok), m2(px, **tok))


@requires_sim
def test_cli_pretrain_finetune_resume_and_eval_in_simpler(tmp_path):
    """laq train -> lapa pretrain -> lapa finetune (resumes) -> scratch -> one SIMPLER episode each."""
    from lapa_bench.app.cli import main
    from lapa_bench.records import read_records

    ds = str(tiny_dataset(tmp_path / "ds"))
    laq_set = ["--model.image_size", "32", "--model.patch_size", "8", "--model.dim", "32", "--model.spatial_depth", "1",
               "--model.temporal_depth", "1", "--model.decoder_depth", "1", "--model.heads", "2", "--model.code_dim", "8"]
    assert main(["laq", "train", "--videos", ds, "--out", str(tmp_path / "laq"), "--train.steps", "3",
                 "--train.batch_size", "4", "--train.progress", "false", *laq_set]) == 0
    vla_set = []
    for k, v in micro().to_dict().items():
        if k in ("image_size", "vision", "text", "prompt", "max_prompt_tokens", "action_bins"):
            vla_set += [f"--model.{k}", v if isinstance(v, str) else json.dumps(v)]
    common = ["--device", "cpu", *vla_set]
    steps = lambda stage, n: [f"--{stage}.steps", str(n), f"--{stage}.batch_size", "4",  # noqa: E731
                              f"--{stage}.progress", "false"]
    assert main(["lapa", "pretrain", "--videos", ds, "--laq", str(tmp_path / "laq"), "--out", str(tmp_path / "pre"),
                 *common, *steps("pretrain", 4), "--model.chunk", "2"]) == 0
    pre = json.loads((tmp_path / "pre" / "config.json").read_text())
    assert pre["config"]["head"] == "latent" and (tmp_path / "pre" / "latent_codes.npz").is_file()
    assert LAPAModel.from_pretrained(tmp_path / "pre").queries.shape[0] == 2 * pre["config"]["code_seq_len"]
    assert pre["config"]["source_size"] == [32, 32]  # the stored size of the training frames
    assert main(["lapa", "finetune", "--data", ds, "--init", str(tmp_path / "pre"), "--out", str(tmp_path / "ft"),
                 *common, *steps("finetune", 4)]) == 0
    assert main(["lapa", "finetune", "--data", ds, "--init", str(tmp_path / "pre"), "--out", str(tmp_path / "ft"),
                 *common, *steps("finetune", 6)]) == 0  # resumes to 6 steps
    assert json.loads((tmp_path / "ft" / "last" / "trainer_state.json").read_text())["step"] == 6
    log = (tmp_path / "ft" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,loss,lr,samples_per_s,accuracy")
    assert main(["scratch", "train", "--data", ds, "--out", str(tmp_path / "scratch"), *common,
                 *steps("finetune", 6)]) == 0
    assert json.loads((tmp_path / "scratch" / "config.json").read_text())["policy"] == "scratch"
    ev = json.loads((tmp_path / "scratch" / "eval.json").read_text())
    assert 0 < ev["constant_accuracy"] <= 1 and ev["val_samples"] > 0
    for name in ("lapa", "scratch"):
        ck = tmp_path / ("ft" if name == "lapa" else "scratch")
        out = tmp_path / f"eval_{name}"
        assert main(["eval", "--policy", name, "--checkpoint", str(ck), "--tasks", "carrot", "--episodes", "1",
                     "--out", str(out), "--no-progress"]) == 0
        (rec,) = read_records(out)
        assert rec["policy"] == name and rec["error"] is None and rec["steps"] == 60


def test_the_short_token_sequence_keeps_the_outputs():
    """query_tokens per_step + pool_prompt: chunk + 1 tokens instead of chunk x 7 + the prompt's, the same
    (B, K, classes) outputs; each step's 7 outputs come from its one query token."""
    kw = dict(action_head="l1", chunk=4, proprio=True)
    full, short = LAPAModel(micro(**kw)).eval(), LAPAModel(micro(**kw, query_tokens="per_step", pool_prompt=True)).eval()
    assert full.queries.shape[0] == 28 and short.queries.shape[0] == 4 and short.head.out_features == 7
    px, tok = batch(short)
    seen = []
    short.language.register_forward_pre_hook(lambda mod, a, kw: seen.append(kw["inputs_embeds"].shape[1]),
                                             with_kwargs=True)
    with torch.no_grad():
        out = short(px, **tok, state=torch.zeros(4, 7))
        assert out.shape == full(px, **tok, state=torch.zeros(4, 7)).shape == (4, 28, 1)
    assert seen == [full.vision(pixel_values=px).last_hidden_state.shape[1] + 1 + 1 + 4]
    with pytest.raises(ValueError, match="query_tokens"):
        micro(query_tokens="per_dim")


def test_the_recipe_forward_compiles_without_graph_breaks():
    """torch.compile traces the 64 px recipe's forward whole (the conv stem returns transformers' output type,
    not a SimpleNamespace), and random shifts make the same crops as the per-sample loop they replaced."""
    import torch._dynamo as dyn
    import torch.nn.functional as F

    from lapa_bench.data.preprocess import random_shift
    from lapa_bench.policies.lapa.configuration_lapa import PRESETS
    from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

    c = PRESETS["small"]()
    for k, v in dict(image_size=64, random_shift=4, pool_prompt=True, query_tokens="per_step", command_state=True,
                     head="action").items():
        setattr(c, k, v)
    m = LAPAModel.build(c)
    tok = m.tokenize(["put carrot on plate", "stack the green block on the yellow block"])
    assert tok["input_ids"].shape == (2, c.max_prompt_tokens)
    assert torch.equal(m.tokenize(["put carrot on plate"])["input_ids"][0], tok["input_ids"][0])  # cached, same
    e = dyn.explain(m.forward)(torch.rand(2, 3, 64, 64), tok["input_ids"], tok["attention_mask"],
                               torch.randn(2, c.state_dim))
    assert e.graph_break_count == 0, [str(r.reason)[:200] for r in e.break_reasons]

    x = torch.rand(5, 3, 16, 16)
    torch.manual_seed(3)
    got = random_shift(x, 2)
    torch.manual_seed(3)
    xp = F.pad(x, (2, 2, 2, 2), mode="replicate")
    dx, dy = torch.randint(0, 5, (5,)).tolist(), torch.randint(0, 5, (5,)).tolist()
    assert torch.equal(got, torch.stack([xp[i, :, dy[i]:dy[i] + 16, dx[i]:dx[i] + 16] for i in range(5)]))


@pytest.mark.parametrize("name", ["scratch", "bc"])
def test_loading_a_policy_reads_its_config_once_and_sets_only_rollout_settings(tmp_path, monkeypatch, name):
    """A checkpoint's config.json is read once (the policy's config is the model's); a rollout setting can be
    set on it, a setting of the trained model cannot (it used to be dropped without a word)."""
    from pathlib import Path

    from lapa_bench.config import ConfigError
    from lapa_bench.policy import make_policy

    if name == "scratch":
        m = LAPAModel(micro(chunk=4, execute=4)).eval()
        m.set_action_bins(*fit_bins(np.random.default_rng(0).normal(size=(50, 7)), 16))
        m.save_pretrained(tmp_path / "ck", policy_name="scratch")
    else:
        from lapa_bench.policies.bc.modeling_bc import BCConfig, BCModel

        BCModel(BCConfig(image_size=32, width=8)).save_pretrained(tmp_path / "ck")
    reads = []
    real = Path.read_text

    def counting(self, *a, **k):
        if self.name == "config.json":
            reads.append(str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", counting)
    policy = make_policy(name, checkpoint=tmp_path / "ck", device="cpu", execute=2)
    assert len(reads) == 1, reads
    assert policy.config.execute == 2 and policy.model.config is policy.config
    with pytest.raises(ConfigError, match="image_size: a setting of the trained model"):
        make_policy(name, checkpoint=tmp_path / "ck", device="cpu", image_size=64)
