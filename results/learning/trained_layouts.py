"""Training-layout check of runs made before the held-out episodes were recorded: which of the first 10
layouts per task a run held out (its split: split_episodes over the tasks' datasets in folder order, the
trainer's val_fraction and seed), and the successes on the layouts it trained on.

    python results/learning/trained_layouts.py results/learning/RUN/train_layouts.json DATA_DIR [VAL_FRACTION SEED]
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from lapa_bench.data import episode_key, open_datasets  # noqa: E402
from lapa_bench.data.torch_datasets import episode_keys, split_episodes  # noqa: E402

res, data = json.loads(Path(sys.argv[1]).read_text()), sys.argv[2]
frac, seed = (float(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (0.1, 0)
sources = open_datasets(data)
_, val = split_episodes(sum(len(s) for s in sources), frac, seed)
held = set(episode_keys(sources, val))  # the keys training records since held-out episodes are recorded
key = {(s.root.name, ep["episode_index"]): episode_key(s, i) for s in sources for i, ep in enumerate(s.episodes)}
eps = res["episodes"]
trained = [e for e in eps if key[e["dataset"], e["episode_index"]] not in held]
print(f"{len(eps)} layouts, {len(eps) - len(trained)} of them held out; on the {len(trained)} trained on: "
      f"success_once {sum(e['success_once'] for e in trained)}, grasped {sum(e['grasped'] for e in trained)}")
