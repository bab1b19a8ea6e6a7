"""Open the black box: what does each latent action code do?

    lapa-bench laq inspect --laq ckpt/laq --data data/bridge_demos --out runs/laq_inspect

Writes into OUT:

* ``atlas.png``: one row per code c (the sequence "c c c c": every token of the step set to c)
  and per most frequent code sequence: real start frames x_t, the decoder's x_{t+H} for that
  code, and the change |x_{t+H} - x_t| (brightened). What moves is what the code stands for.
* ``usage.png``: usage per code, overall and per task (stacked bars); codebook perplexity.
* ``actions.csv`` + ``quiver.png``: for data with actions, mean and spread of the true 7-D action
  per code (each step counts once for each of its tokens), and the mean end-effector translation
  per code as arrows (dx, dy; colour dz).
* ``consistency.json``: the linear probe's held-out R^2 per action dimension, and the mutual
  information (bits) between code and task vs between code and action direction (the dominant
  axis and sign of the translation, or "still"). A code that tracks motion, not the task, has
  I(code; direction) >> I(code; task).
* ``index.html``: everything above on one page (images embedded), viewable in a browser.
"""
from __future__ import annotations

import base64
import html
import json
from collections import Counter
from pathlib import Path

import numpy as np

from lapa_bench.errors import UserError


def mutual_information(a, b) -> float:
    """I(A; B) in bits from paired samples of two discrete variables."""
    a, b = np.asarray(a), np.asarray(b)
    if len(a) == 0:
        return 0.0
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / (pa @ pb)[nz])).sum())


def entropy(x) -> float:
    _, c = np.unique(np.asarray(x), return_counts=True)
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum())


def direction_label(action: np.ndarray, still: float = 0.002) -> str:
    """The dominant translation axis and sign of an action ("+x", "-z", ...) or "still"."""
    t = action[:3]
    k = int(np.argmax(np.abs(t)))
    if abs(t[k]) < still:
        return "still"
    return ("+" if t[k] > 0 else "-") + "xyz"[k]


def _load(laq, data_dirs, codes_path, max_episodes):
    from lapa_bench.data import episode_key, open_datasets
    from lapa_bench.policies.laq.codes import label

    if not Path(codes_path).is_file():
        label(laq, data_dirs, codes_path, max_episodes=max_episodes)
    codes = dict(np.load(codes_path))
    eps = []
    for d in data_dirs:
        for ds in open_datasets(d):
            ds = ds.head(max_episodes) if max_episodes else ds
            for i in range(len(ds)):
                key = episode_key(ds, i)
                ep = ds.episode(i, with_frames=False)
                eps.append({"ds": ds, "i": i, "codes": codes[key], "task": ep["task"], "action": ep.get("action")})
    return eps


def _png(fig, path):
    fig.savefig(path, dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def atlas(model, eps, out_path, examples: int = 4, top_sequences: int = 6, seed: int = 0):
    """Rows: each code (uniform sequence) and the most frequent sequences; columns: per example x_t | decoded | change."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    c = model.config
    rng = np.random.default_rng(seed)
    picks = [(e, int(rng.integers(0, max(1, len(eps[e]["codes"]) - c.frame_gap))))
             for e in rng.choice(len(eps), min(examples, len(eps)), replace=False)]
    from lapa_bench.data.preprocess import ImagePreprocess

    prep = ImagePreprocess(c.image_size)
    starts = [prep.frames(eps[e]["ds"].frames(eps[e]["i"])[t:t + 1])[0] for e, t in picks]
    x = prep(np.stack(starts))
    seqs = Counter(tuple(int(v) for v in row) for ep in eps for row in ep["codes"])
    rows = [(f"code {k} (all tokens)", (k,) * c.code_seq_len) for k in range(c.codebook_size)]
    rows += [(f"sequence {' '.join(map(str, s))} ({n} steps)", s) for s, n in seqs.most_common(top_sequences)]
    fig, axes = plt.subplots(len(rows), 3 * len(starts), figsize=(1.3 * 3 * len(starts), 1.4 * len(rows)),
                             squeeze=False)
    model.eval()
    with torch.no_grad():
        for r, (name, seq) in enumerate(rows):
            idx = torch.tensor([seq] * len(starts), dtype=torch.long)
            dec = model.decode_indices(x, idx).clamp(0, 1)
            for j in range(len(starts)):
                a = x[j].permute(1, 2, 0).numpy()
                b = dec[j].permute(1, 2, 0).numpy()
                d = np.clip(np.abs(b - a).mean(-1) * 8, 0, 1)
                for k, (img, title) in enumerate([(a, "x_t"), (b, "decoded x_t+H"), (d, "change x8")]):
                    ax = axes[r, 3 * j + k]
                    ax.imshow(img, cmap="magma" if img.ndim == 2 else None, vmin=0, vmax=1)
                    ax.set_xticks([]), ax.set_yticks([])
                    if r == 0:
                        ax.set_title(title, fontsize=7)
            axes[r, 0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle("LAQ code atlas: what each latent action does to real start frames", fontsize=10)
    return _png(fig, out_path)


def inspect(laq, data_dirs, out, max_episodes=None, examples: int = 4, seed: int = 0) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from lapa_bench.specs import ACTION_NAMES
    from lapa_bench.policies.laq.modeling_laq import LAQ
    from lapa_bench.policies.laq.nsvq import NSVQ

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = LAQ.from_pretrained(laq)
    c = model.config
    eps = _load(laq, data_dirs, out / "codes.npz", max_episodes)
    if not eps:
        raise UserError(f"no episodes in {data_dirs}")
    K = c.codebook_size
    # token-level table: one row per (step, token)
    rows = []
    for e, ep in enumerate(eps):
        T = len(ep["codes"])
        for t in range(T - c.frame_gap if T > c.frame_gap else T):
            a = ep["action"][t:t + c.frame_gap].sum(0) if ep["action"] is not None else None
            for j in range(c.code_seq_len):
                rows.append({"episode": e, "t": t, "position": j, "code": int(ep["codes"][t, j]), "task": ep["task"],
                             **({n: float(v) for n, v in zip(ACTION_NAMES, a)} if a is not None else {}),
                             "direction": direction_label(a) if a is not None else None})
    df = pd.DataFrame(rows)
    import torch

    usage = np.bincount(df["code"], minlength=K)
    ppl = NSVQ.perplexity(torch.tensor(df["code"].to_numpy().copy()), K)
    paths = {"atlas": atlas(model, eps, out / "atlas.png", examples=examples, seed=seed)}
    # usage overall and per task
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
    ax[0].bar(range(K), usage / usage.sum())
    ax[0].set(xlabel="code", ylabel="share of tokens", title=f"usage (perplexity {ppl:.2f} of {K})")
    per_task = df.groupby(["task", "code"]).size().unstack(fill_value=0).reindex(columns=range(K), fill_value=0)
    bottom = np.zeros(K)
    for task, r in per_task.iterrows():
        share = r.to_numpy() / max(r.sum(), 1)
        ax[1].bar(range(K), share, bottom=bottom, label=task[:28])
        bottom += share
    ax[1].set(xlabel="code", ylabel="share within each task (stacked)", title="usage per task")
    ax[1].legend(fontsize=6)
    paths["usage"] = _png(fig, out / "usage.png")
    result = {"codebook_size": K, "code_seq_len": c.code_seq_len, "perplexity": ppl, "usage": usage.tolist(),
              "codes_used": int((usage > 0).sum()), "episodes": len(eps), "steps": int(len(df) / c.code_seq_len)}
    has_actions = ACTION_NAMES[0] in df.columns
    if has_actions:
        g = df.groupby("code")[list(ACTION_NAMES)]
        mean, std = g.mean().add_prefix("mean_"), g.std().add_prefix("std_")
        table = pd.concat([mean, std], axis=1).reindex(range(K))
        table.insert(0, "tokens", df.groupby("code").size().reindex(range(K), fill_value=0))
        table.index.name = "code"
        table.to_csv(out / "actions.csv", float_format="%.5f")
        m = g.mean().reindex(range(K)).fillna(0)
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        q = ax.quiver(np.zeros(K), np.zeros(K), m["dx"], m["dy"], m["dz"], angles="xy", scale_units="xy", scale=1,
                      cmap="coolwarm")
        lim = float(max(np.abs(m[["dx", "dy"]].to_numpy()).max(), 1e-4)) * 1.3
        for k in range(K):
            ax.annotate(str(k), (m["dx"][k], m["dy"][k]), fontsize=9)
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="mean dx (m)", ylabel="mean dy (m)",
               title="mean end-effector translation per code")
        fig.colorbar(q, ax=ax, label="mean dz (m)")
        paths["quiver"] = _png(fig, out / "quiver.png")
        from lapa_bench.policies.laq.codes import probe

        pr = probe(laq, data_dirs, seed=seed, max_episodes=max_episodes, codes=dict(np.load(out / "codes.npz")))
        result.update({
            "probe_r2": pr["r2"], "probe_r2_translation": pr["r2_translation"],
            "mi_code_task_bits": mutual_information(df["code"], df["task"]),
            "mi_code_direction_bits": mutual_information(df["code"], df["direction"]),
            "entropy_task_bits": entropy(df["task"]), "entropy_direction_bits": entropy(df["direction"]),
            "entropy_code_bits": entropy(df["code"])})
        result["action_table"] = table.round(5).reset_index().to_dict(orient="records")
    (out / "consistency.json").write_text(json.dumps(result, indent=2, default=float))
    paths["html"] = write_html(out / "index.html", result, paths, has_actions)
    msg = f"[laq inspect] perplexity {ppl:.2f}, {result['codes_used']}/{K} codes used"
    if has_actions:
        msg += (f"; probe R^2 translation {result['probe_r2_translation']:.3f}; I(code;direction) "
                f"{result['mi_code_direction_bits']:.3f} bits vs I(code;task) {result['mi_code_task_bits']:.3f} bits")
    print(msg)
    print(f"[laq inspect] page: {paths['html']}")
    return {**result, "paths": {k: str(v) for k, v in paths.items()}}


def write_html(path, result, paths, has_actions) -> Path:
    def img(p, alt):
        data = base64.b64encode(Path(p).read_bytes()).decode()
        return f'<img alt="{alt}" src="data:image/png;base64,{data}" style="max-width:100%">'

    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>LAQ inspection</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}td,th{padding:2px 8px;"
             "text-align:right}table{border-collapse:collapse}tr:nth-child(even){background:#f3f3f3}</style>",
             "</head><body><h1>What do the latent actions mean?</h1>",
             f"<p>{result['episodes']} episodes, {result['steps']} steps; codebook {result['codebook_size']} codes x "
             f"{result['code_seq_len']} tokens per step; perplexity {result['perplexity']:.2f}; "
             f"{result['codes_used']} codes used.</p>",
             "<h2>Code atlas</h2><p>Each row sets every token of a step to one code (or uses a frequent "
             "sequence); columns show real start frames, the decoder's next frame for that code, and the "
             "brightened change. What moves is what the code stands for.</p>", img(paths["atlas"], "atlas"),
             "<h2>Usage</h2>", img(paths["usage"], "usage")]
    if has_actions:
        r2 = ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in result["probe_r2"].items())
        parts += ["<h2>Actions per code</h2>", img(paths["quiver"], "quiver"),
                  "<h2>Consistency</h2><ul>",
                  f"<li>linear probe (one-hot codes to the true action), held-out R<sup>2</sup>: {html.escape(r2)}; "
                  f"translation mean {result['probe_r2_translation']:.3f}</li>",
                  f"<li>I(code; action direction) = {result['mi_code_direction_bits']:.3f} bits "
                  f"(H(direction) = {result['entropy_direction_bits']:.2f})</li>",
                  f"<li>I(code; task) = {result['mi_code_task_bits']:.3f} bits (H(task) = "
                  f"{result['entropy_task_bits']:.2f})</li></ul>",
                  "<h3>Mean true action per code</h3><table><tr><th>code</th><th>tokens</th>"
                  + "".join(f"<th>{n}</th>" for n in ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"))
                  + "</tr>"]
        for row in result["action_table"]:
            vals = [row.get(f"mean_{n}") for n in ("dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper")]
            parts.append(f"<tr><td>{row['code']}</td><td>{row['tokens']}</td>"
                         + "".join(f"<td>{v:.4f}</td>" if isinstance(v, (int, float)) and v == v else "<td>-</td>"
                                   for v in vals) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    Path(path).write_text("\n".join(parts))
    return Path(path)
