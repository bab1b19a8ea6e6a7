"""Fill in the ``held_out`` field of a training-layout check made before `replay-check` read the held-out
episodes of a run's ``last/`` folder (it recorded None there): the same keys the fixed code reads.

    .venv/bin/python results/learning/mark_held_out.py CHECK.json DATASET CHECKPOINT
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from lapa_bench.app.replay import held_out_episodes  # noqa: E402
from lapa_bench.data import episode_key  # noqa: E402
from lapa_bench.data.lerobot import open_datasets  # noqa: E402

check, data, ckpt = sys.argv[1:4]
held = held_out_episodes(ckpt)
keys = {(ds.root.name, ds.episodes[i]["episode_index"]): episode_key(ds, i) for ds in open_datasets(data) for i in range(len(ds))}
d = json.loads(Path(check).read_text())
for e in d["episodes"]:
    e["held_out"] = keys[(e["dataset"], e["episode_index"])] in held
Path(check).write_text(json.dumps(d, indent=2))
tr = [e for e in d["episodes"] if not e["held_out"]]
print(f"{check}: {sum(e['success_once'] for e in tr)}/{len(tr)} trained layouts succeed")
