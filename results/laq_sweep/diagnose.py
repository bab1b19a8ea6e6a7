"""The checks behind results/laq_sweep/README.md's "what it says" (run from the repository root, after run2.sh):

    .venv/bin/python results/laq_sweep/diagnose.py kmeans              # ceiling: K clusters of the true translation
    .venv/bin/python results/laq_sweep/diagnose.py latent LAQ_FOLDER   # ridge probe on the latent before quantization
    .venv/bin/python results/laq_sweep/diagnose.py codes LAQ_FOLDER    # what each code takes (needs its codes.npz)

Data: data/learning/demos (run.sh's collection, 100 oracle episodes per task).
"""
import sys

import numpy as np

from lapa_bench.data import episode_key, open_sources

DATA = "data/learning/demos"


def summed(a, H):
    return np.stack([a[t:t + H].sum(0) for t in range(len(a) - H + 1)])


def kmeans():
    """R^2 of the best K-code quantisation of the true summed translation (spoon, 20 episodes fit, the rest held out)."""
    A = [ds.episode(i, with_frames=False)["action"] for ds in open_sources([f"{DATA}/spoon"]) for i in range(len(ds) - 1)]
    for H in (1, 2, 4):
        Y = [summed(a, H) for a in A]
        tr, va = np.concatenate(Y[:20]), np.concatenate(Y[20:])
        sd = tr[:, :3].std(0)
        for K in (8, 16, 32):
            rng = np.random.default_rng(0)
            X = tr[:, :3] / sd
            C = X[rng.choice(len(X), K, replace=False)]
            for _ in range(50):
                lab = ((X[:, None] - C[None]) ** 2).sum(-1).argmin(1)
                C = np.stack([X[lab == k].mean(0) if (lab == k).any() else C[k] for k in range(K)])
            lv = ((va[:, None, :3] / sd - C[None]) ** 2).sum(-1).argmin(1)
            r2 = 1 - ((va[:, :3] - C[lv] * sd) ** 2).sum(0) / ((va[:, :3] - tr[:, :3].mean(0)) ** 2).sum(0)
            print(f"H {H} K {K}: R^2 dx dy dz {np.round(r2, 3)}, mean {r2.mean():.3f}, largest cluster "
                  f"{np.bincount(lv, minlength=K).max() / len(lv):.2f}")


def latent(folder):
    """Ridge from the continuous latent (before NSVQ) and from the one-hot codes to the summed action, 20 episodes
    per task, every 5th episode held out."""
    import torch

    from lapa_bench.data.preprocess import ImagePreprocess
    from lapa_bench.policies.laq.modeling_laq import LAQ

    m = LAQ.from_pretrained(folder).eval()
    c, H = m.config, m.config.frame_gap
    prep = ImagePreprocess(c.image_size)
    Z, Q, Y, G = [], [], [], []
    for e, (ds, i) in enumerate((ds, i) for ds in open_sources([DATA], 20) for i in range(len(ds))):
        x, a = prep(ds.frames(i)), ds.episode(i, with_frames=False)["action"]
        n = len(x) - H
        with torch.no_grad():
            z = m.encode(x[:n], x[H:H + n])
        q = m.vq.nearest(z).numpy()
        oh = np.zeros((n, c.code_seq_len * c.codebook_size))
        for j in range(c.code_seq_len):
            oh[np.arange(n), j * c.codebook_size + q[:, j]] = 1
        Z.append(z.reshape(n, -1).numpy()), Q.append(oh), Y.append(summed(a, H)[:n]), G.append(np.full(n, e))
    Z, Q, Y, G = map(np.concatenate, (Z, Q, Y, G))
    va = G % 5 == 0
    tr = ~va

    def r2(X):
        X = np.hstack([X, np.ones((len(X), 1))])
        W = np.linalg.solve(X[tr].T @ X[tr] + 1e-2 * np.eye(X.shape[1]), X[tr].T @ Y[tr])
        return 1 - ((Y[va] - X[va] @ W) ** 2).sum(0) / ((Y[va] - Y[tr].mean(0)) ** 2).sum(0)

    print(f"{folder}: R^2 dx dy dz gripper, latent {np.round(r2(Z)[[0, 1, 2, 6]], 3)}, "
          f"one-hot codes {np.round(r2(Q)[[0, 1, 2, 6]], 3)}")


def codes(folder):
    """Per code (one-token LAQs): share of steps, mean position in the episode, mean and spread of the summed
    translation (cm), mean summed gripper command."""
    from lapa_bench.policies.laq.modeling_laq import LAQ

    H = LAQ.from_pretrained(folder).config.frame_gap
    lab = dict(np.load(f"{folder}/codes.npz"))
    A, C, T = [], [], []
    for ds in open_sources([DATA]):
        for i in range(len(ds)):
            a = ds.episode(i, with_frames=False)["action"]
            n = len(a) - H + 1
            A.append(summed(a, H)), C.append(lab[episode_key(ds, i)][:n, 0]), T.append(np.arange(n) / len(a))
    A, C, T = map(np.concatenate, (A, C, T))
    print("code share t/T | mean dx dy dz (cm) | spread dx dy dz (cm) | gripper")
    for k in np.argsort(-np.bincount(C)):
        s = C == k
        if s.any():
            print(f"{k:3d} {s.mean():.3f} {T[s].mean():.2f} | {np.round(100 * A[s, :3].mean(0), 1)} | "
                  f"{np.round(100 * A[s, :3].std(0), 1)} | {A[s, 6].mean():5.2f}")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:] or ["--help"]
    if cmd not in ("kmeans", "latent", "codes"):
        sys.exit(__doc__)
    {"kmeans": kmeans, "latent": latent, "codes": codes}[cmd](*args)
