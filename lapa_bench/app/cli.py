"""The ``lapa-bench`` command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lapa_bench.errors import UserError


EPILOG = """Settings of policies, training methods and pipelines are dataclass fields, set with one syntax:
--KEY VALUE, dotted for nesting (--finetune.lr 1e-4, --model.image_size 128; --policy.noise 0.01 at
evaluation; JSON for lists and dicts). --print-config prints any command's resolved config.

examples:
  lapa-bench eval --policy scripted --tasks all --episodes 24 --seeds 0 --out runs/scripted
  lapa-bench eval --policy random --policy.scale 0.5 --tasks carrot spoon --episodes 4 --seeds 0 1 2 --out runs/random
  lapa-bench eval --policy lapa --checkpoint ckpt/lapa --shard 1/4 --out runs/lapa   # 4 processes
  lapa-bench report runs/scripted runs/random --out results/oracle
  lapa-bench policies            # what can be evaluated
  lapa-bench tasks               # the SIMPLER WidowX tasks
  lapa-bench assets check        # are the simulator assets installed?
  lapa-bench collect --tasks all --episodes 50 --out data/bridge_demos   # scripted demos
  lapa-bench data info data/bridge_demos
  lapa-bench methods             # what can be trained
  lapa-bench scratch train --data data/bridge_demos --out ckpt/scratch --finetune.steps 2000
  lapa-bench lapa train --data data/bridge_demos --videos data/bridge_videos --out ckpt/lapa --print-config
"""


S = argparse.SUPPRESS  # flags default to "not given": defaults live in the dataclasses (EvalConfig, CollectConfig), shown in the help


def _d(cls, name: str):
    """The default of a dataclass field (for help texts: defaults are defined only there)."""
    from lapa_bench.config import field_default

    return field_default(cls, name)


def _given(args, names) -> dict:
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def _image_size(text: str):
    try:
        h, w = (int(x) for x in text.lower().split("x"))
        return (h, w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW like 256x256, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lapa-bench",
        description="Train LAPA-style policies and benchmark them beside baselines in SIMPLER (ManiSkill 3).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    for add in (_add_eval, _add_report, _add_collect, _add_data, _add_checkpoint, add_method_commands, _add_pipeline,
                _add_serve, _add_listings):
        add(sub)
    return p


def _policy_arguments(p) -> None:
    """The flags that name the policy a command builds (`eval`, `serve`); --policy.KEY VALUE come as extra args."""
    p.add_argument("--policy", required=True, help="registered policy name (see `lapa-bench policies`)")
    p.add_argument("--checkpoint", default=None, help="checkpoint folder (config.json + weights) to load")
    p.add_argument("--device", default="auto", help="where learned policies run: auto, cpu, cuda, cuda:N")


def _add_eval(sub) -> None:
    """`lapa-bench eval`."""
    e = sub.add_parser("eval", help="roll a policy out on SIMPLER tasks (resumable)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Evaluate a policy on SIMPLER WidowX tasks. One JSON record per finished "
                       "episode is appended to OUT/records*.jsonl; re-running the same command skips "
                       "finished episodes (safe after a crash or kill -9).")
    _policy_arguments(e)
    e.add_argument("--print-config", action="store_true", help="print the policy's resolved config and exit")
    from lapa_bench.app.evaluate import EvalConfig

    e.add_argument("--tasks", nargs="+", default=S, help=f"'all' or task names/env ids (default {_d(EvalConfig, 'tasks')})")
    e.add_argument("--episodes", type=int, default=S,
                   help=f"evaluation episode ids per task, first N of 24 (default {_d(EvalConfig, 'episodes')})")
    e.add_argument("--seeds", type=int, nargs="+", default=S, help=f"seeds (default {_d(EvalConfig, 'seeds')})")
    e.add_argument("--out", required=True, help="run folder for records, manifest and videos")
    e.add_argument("--shard", default=None, metavar="I/N", help="run only shard I of N (1-based), e.g. 2/4")
    e.add_argument("--video", type=int, default=S, metavar="K", help="save mp4s of the first K episodes per task")
    e.add_argument("--label", default=S, help="name of this run in reports (default: policy name)")
    e.add_argument("--image-size", type=_image_size, default=S, metavar="HxW",
                   help="resize camera images (default 480x640, native)")
    e.add_argument("--num-envs", type=int, default=S, metavar="N",
                   help="episodes simulated in lockstep, one policy forward pass for all (default 1; on a GPU "
                   "ManiSkill steps N scenes at once, e.g. 72 = 24 episodes x 3 seeds; on the CPU N envs in one "
                   "process)")
    e.add_argument("--backend", choices=["auto", "cpu", "gpu"], default=S,
                   help="simulator: auto (ManiSkill GPU physics and rendering when CUDA is present), cpu or gpu "
                   "(default auto; recorded in the manifest, and a run folder never mixes backends)")
    e.add_argument("--render-scale", type=float, default=S, metavar="S",
                   help="render the camera at S x 640x480 (e.g. 0.5: 320x240, intrinsics scaled): faster development "
                   "checks only, marked in the manifest and never mixed with full-resolution records (default 1)")
    e.add_argument("--layouts", type=int, default=S, metavar="SEED",
                   help="evaluate on new random layouts drawn from SEED (disjoint from SIMPLER's; episode id e is the "
                   "e-th of each task, --episodes any count) instead of SIMPLER's 24 (default: SIMPLER's)")
    e.add_argument("--no-retry-errors", action="store_true",
                   help="keep episodes recorded with an error as they are (default: a rerun retries them)")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_report(sub) -> None:
    """`lapa-bench report`."""
    r = sub.add_parser("report", help="success-rate table + plot from run folders",
                       description="Build the comparison table (pandas) with Wilson 95% intervals, print it, "
                       "and write table.md, table.csv and plot.png to --out.")
    r.add_argument("runs", nargs="+", help="run folders written by `lapa-bench eval`")
    r.add_argument("--out", default=None, help="folder for table.md, table.csv, plot.png")
    r.add_argument("--metric", default="success_at_end",
                   choices=["success_at_end", "success_once", "grasped", "consecutive_grasp"],
                   help="headline metric (first table, plot); default success_at_end")
    r.add_argument("--compare-to", default=None, metavar="LABEL", action="append",
                   help="also print every other policy minus this one (e.g. scratch) in percentage points, with "
                   "a 95%% paired-bootstrap interval over the layouts both ran (and their trained seeds); a "
                   "pipeline sweep's method name compares each labelled-set size with that method's same size; "
                   "repeat it for more references (--compare-to scratch --compare-to lapa): one table each")


def _add_collect(sub) -> None:
    """`lapa-bench collect`."""
    from lapa_bench.app.collect import CollectConfig

    c = sub.add_parser("collect", help="collect scripted demonstrations (LeRobot v2.1), disjoint from evaluation",
                       description="Roll the privileged `scripted` oracle out from random layouts that keep every "
                       "movable object >= 2 cm from its position in all 24 evaluation episodes, and write the "
                       "successful episodes as a LeRobot v2.1 dataset. Safe to interrupt; re-run to resume.")
    c.add_argument("--source", choices=["bridge", "gripper", "panda"], default="bridge",
                   help="bridge: WidowX demonstrations with actions (SIMPLER tasks); gripper: the same tasks and scenes "
                   "played by ManiSkill's floating Panda gripper (another body in the Bridge scenes; its actions are "
                   "not the WidowX's); panda: action-free cross-embodiment videos of a Panda on ManiSkill tabletop "
                   "tasks (default bridge)")
    c.add_argument("--tasks", nargs="+", default=["all"],
                   help="'all' or task names: SIMPLER tasks for bridge, PickCube-v1/StackCube-v1/PushCube-v1/"
                   "PullCube-v1 for panda (default all)")
    c.add_argument("--episodes", type=int, required=True, help="successful demonstrations per task")
    c.add_argument("--out", required=True, help="dataset folder")
    c.add_argument("--image-size", type=_image_size, default=S, metavar="HxW",
                   help=f"frame size (default {_d(CollectConfig, 'image_size')})")
    c.add_argument("--keep-failures", action="store_true", default=S, help="also store failed attempts (success=false)")
    c.add_argument("--seed", type=int, default=S, help=f"base seed of the layouts and noise (default {_d(CollectConfig, 'seed')})")
    c.add_argument("--noise", type=float, default=S,
                   help=f"oracle translation noise std, m (default {_d(CollectConfig, 'noise')})")
    c.add_argument("--dart", type=float, default=S, metavar="STD",
                   help="noise std (m) on the executed translation only, the recorded action staying the oracle's: "
                        "DART recovery data (default 0: off)")
    c.add_argument("--yaw-jitter", type=float, default=S, metavar="DEG",
                   help="bridge: each object starts in one of its evaluation orientations turned by a uniform yaw in "
                        f"+-DEG (positions stay disjoint from evaluation); 180: any yaw (default {_d(CollectConfig, 'yaw_jitter')})")
    c.add_argument("--num-envs", type=int, default=S, metavar="N",
                   help="bridge: attempts played in lockstep in one process (a GPU box: one ManiSkill env with N "
                   "scenes; the dataset is the same for any N); default 1")
    c.add_argument("--backend", choices=["auto", "cpu", "gpu"], default=S,
                   help="bridge with --num-envs > 1: the simulator (default auto: GPU when CUDA is present)")
    c.add_argument("--workers", type=int, default=1, help="parallel processes (default 1): bridge: each task's attempts are played by N processes "
                   "(every core for any number of tasks; the dataset is the same for any N); panda: N tasks at a time")
    c.add_argument("--no-progress", action="store_true")


def _add_data(sub) -> None:
    """`lapa-bench data`."""
    d = sub.add_parser("data", help="inspect and check datasets")
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    di = dsub.add_parser("info", help="episodes, frames, tasks, success, action stats, contact sheet PNG")
    di.add_argument("dataset")
    di.add_argument("--sheet", default=None,
                    help="contact sheet path (default runs/data_info/<dataset>/contact_sheet.png: never inside the dataset)")
    dr = dsub.add_parser("replay-check", help="replay recorded actions from the recorded layouts; report success")
    dr.add_argument("dataset")
    dr.add_argument("--max-episodes", type=int, default=None, help="check only the first N episodes per task")
    dr.add_argument("--out", default=None, help="write the per-episode results as JSON here")
    dr.add_argument("--workers", type=int, default=1, help="datasets replayed in parallel processes")
    dr.add_argument("--policy", default=None,
                    help="run this registered policy closed loop from the recorded layouts instead of the "
                         "recorded actions (the training-layout check of a finetuned policy)")
    dr.add_argument("--checkpoint", default=None, help="checkpoint folder for --policy")
    dr.epilog = ("--policy.KEY VALUE overrides the policy's config as in `eval`, e.g. --policy.execute 4 (a chunk "
                 "policy executes 4 of its predicted actions before it predicts again)")

    rz = dsub.add_parser("resize", help="re-encode datasets at a smaller square size (e.g. for a training machine)")
    rz.add_argument("dataset")
    rz.add_argument("out")
    rz.add_argument("--size", type=int, default=64)
    ss = dsub.add_parser("subset", help="the first N episodes of each dataset as complete datasets (nested "
                         "labelled-set sizes; stats recomputed for the subset; files hard-linked)")
    ss.add_argument("dataset")
    ss.add_argument("out")
    ss.add_argument("--episodes", type=int, required=True, help="episodes per dataset (per task)")


def _add_checkpoint(sub) -> None:
    """`lapa-bench checkpoint`."""
    c = sub.add_parser("checkpoint", help="operations on a trained checkpoint folder")
    csub = c.add_subparsers(dest="checkpoint_command", metavar="ACTION", required=True)
    h = csub.add_parser("half", help="store a policy's weights in half precision if that keeps its training-layout "
                        "success (half the size, e.g. to commit it)",
                        description="Runs the training-layout check on the float32 weights, converts every float32 "
                        "tensor of 1024+ elements to float16 (smaller ones, such as normalizer statistics, stay "
                        "float32; loading casts back to float32), runs the check again and keeps the float16 file "
                        "only if it solves at least as many layouts; writes CHECKPOINT/half.json. An evaluation names "
                        "its checkpoint by its files: convert before evaluating.")
    h.add_argument("checkpoint", help="a policy checkpoint folder (config.json naming its policy + model.safetensors)")
    h.add_argument("--demos", required=True, help="the demonstrations it was trained on (their recorded layouts)")
    h.add_argument("--max-episodes", type=int, default=10, help="layouts per task checked (default 10)")
    h.add_argument("--workers", type=int, default=1, help="datasets checked in parallel processes")


def _add_pipeline(sub) -> None:
    """`lapa-bench pipeline`."""
    pl = sub.add_parser("pipeline", help="data -> LAQ -> LAPA -> baselines -> eval -> table, cached and resumable",
                        description="Runs every stage of a pipeline config (configs/quickstart.yaml, "
                        "configs/mini.yaml). A rerun skips finished stages and resumes an interrupted one.")
    pl.add_argument("config", help="YAML file (see configs/); any key can be overridden with --KEY VALUE, "
                    "e.g. --methods.scratch.finetune.steps 50 --eval.episodes 2")
    pl.add_argument("--print-config", action="store_true", help="print the resolved, validated config and exit")
    pl.add_argument("--plan", action="store_true",
                    help="print what the run would do and exit: episodes per collection, every training stage "
                         "(steps x batch, shared ones once, cached ones marked done), episodes evaluated")
    pl.add_argument("--plan-json", default=None, metavar="FILE", help="with --plan's output, write it to FILE as JSON")
    pl.add_argument("--out", default=None, help="override the config's output folder")
    pl.add_argument("--cells", nargs="+", default=None, metavar="CELL",
                    help="run only these cells, LABEL/nN/sS (a run's label, labelled demonstrations per task, "
                    "training seed; `--plan` lists them), and `bounds` for the bounds' evaluation: their stages, "
                    "checks and evaluation, with the data they need; the report covers every cell evaluated so far")
    pl.add_argument("--report", action="store_true",
                    help="only rebuild the report (tables, plots, compute per cell) from the files in OUT: every "
                    "cell evaluated there, the others listed as not yet run; nothing is collected, trained or "
                    "evaluated (each cell's settings are checked against the config first)")
    pl.add_argument("--until", choices=["data", "train", "eval", "report"], default="report",
                    help="stop after this group of stages (default: all). E.g. collect data here, "
                    "`--until train` on a GPU machine (needs no simulator or assets once data is cached), "
                    "then rerun here to evaluate")


def _add_serve(sub) -> None:
    """`lapa-bench serve`."""
    sv = sub.add_parser("serve", help="serve a policy over a WebSocket (evaluate it elsewhere with --policy remote)",
                        description="Builds the policy as `eval` does and serves it (lapa_bench/serving/protocol.py: "
                        "msgpack frames, NumPy arrays as openpi encodes them; an openpi-style client can query it). "
                        "Evaluate it with `lapa-bench eval --policy remote --policy.url ws://HOST:PORT ...`.")
    _policy_arguments(sv)
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    sv.add_argument("--port", type=int, default=0, help="port (default 0: a free one, printed)")


def _add_listings(sub) -> None:
    """`lapa-bench policies, methods, tasks, assets`."""
    sub.add_parser("policies", help="list registered policies")
    sub.add_parser("methods", help="list registered training methods (lapa-bench METHOD train --help)")
    sub.add_parser("tasks", help="list the SIMPLER tasks")
    a = sub.add_parser("assets", help="check or download the SIMPLER assets",
                       description="ManiSkill reads $MS_ASSET_DIR/data (default ~/.maniskill/data).")
    a.add_argument("action", choices=["check", "download"])


def _policy_overrides(policy: str, extra: list[str]) -> dict:
    """``--policy.KEY VALUE`` flags, typed against the policy's config dataclass before anything runs."""
    from lapa_bench import config
    from lapa_bench.policy import get_policy_class

    cls = get_policy_class(policy)
    return config.typed_overrides(cls.config_class, config.parse_dotted(extra, "policy."), "--policy.")


def _build_policy(args, need_checkpoint: bool = True):
    """The policy of `--policy/--checkpoint/--device/--policy.KEY VALUE` and its typed overrides; a learned
    policy without a checkpoint is refused (an untrained model says nothing) unless ``need_checkpoint`` is off."""
    from lapa_bench.policy import ModelPolicy, get_policy_class, make_policy

    overrides = _policy_overrides(args.policy, args.extra)
    if need_checkpoint and issubclass(get_policy_class(args.policy), ModelPolicy) and not args.checkpoint:
        raise UserError(f"policy {args.policy!r} is a learned policy: give --checkpoint DIR, a folder its training "
                         f"wrote (e.g. `lapa-bench {args.policy} train ... --out DIR`); an untrained one says nothing")
    return make_policy(args.policy, checkpoint=args.checkpoint, device=args.device, **overrides), overrides


def cmd_eval(args) -> int:
    from lapa_bench import config
    from lapa_bench.app.evaluate import EvalConfig, evaluate, parse_shard

    policy, overrides = _build_policy(args, need_checkpoint=not args.print_config)
    if args.print_config:
        print(config.dump_yaml(policy.config))
        return 0
    cfg = EvalConfig(policy=args.policy, out=args.out, checkpoint=args.checkpoint, policy_config=overrides,
                     shard=parse_shard(args.shard), device=args.device, progress=not args.no_progress,
                     retry_errors=not args.no_retry_errors,
                     **_given(args, ("tasks", "episodes", "seeds", "video", "label", "image_size", "num_envs",
                                     "backend", "render_scale", "layouts")))
    out = evaluate(cfg, policy)
    from lapa_bench.app.report import build_report

    build_report([out], metrics=["success_at_end", "success_once"])
    print(f"[eval] records in {out}; full table and plot: lapa-bench report {out} --out DIR")
    from lapa_bench.app.evaluate import errored

    bad = errored(out, cfg.tasks, cfg.episodes, cfg.seeds)
    if bad:
        reasons = list(dict.fromkeys(r["error"] for r in bad))
        print(f"lapa-bench eval: {len(bad)} episode(s) errored (counted as failures); first reasons: "
              + " | ".join(reasons[:3]) + ". Fix the cause and rerun the same command: errored episodes are "
              "retried.", file=sys.stderr)
        return 1
    return 0


def cmd_report(args) -> int:
    from lapa_bench.app.report import build_report

    res = build_report(args.runs, args.out, metric=args.metric, compare_to=args.compare_to)
    for k, v in res["paths"].items():
        print(f"[report] {k}: {v}")
    return 0


BRIDGE_COLLECT_FLAGS = ("keep_failures", "noise", "dart", "yaw_jitter", "num_envs", "backend")  # CollectConfig's own; not Panda's


def cmd_collect(args) -> int:
    from lapa_bench.app.collect import EMBODIMENT_OF_SOURCE, CollectConfig, collect

    if args.episodes < 1:
        raise UserError("--episodes must be >= 1")
    common = dict(tasks=args.tasks, episodes=args.episodes, out=args.out, progress=not args.no_progress,
                  **_given(args, ("image_size", "seed")))
    if args.source == "panda":
        given = [f for f in BRIDGE_COLLECT_FLAGS if hasattr(args, f)]
        if given:
            raise UserError(f"--source panda does not take {', '.join('--' + f.replace('_', '-') for f in given)} "
                             "(bridge demonstrations only)")
        from lapa_bench.app.panda_videos import PandaConfig, collect_panda

        collect_panda(PandaConfig(**common), workers=args.workers)
        return 0
    collect(CollectConfig(**common, **_given(args, BRIDGE_COLLECT_FLAGS),
                          embodiment=EMBODIMENT_OF_SOURCE[args.source]),
            workers=args.workers)
    return 0


def cmd_checkpoint(args) -> int:
    from lapa_bench.app.replay import half_precision

    half_precision(args.checkpoint, args.demos, max_episodes=args.max_episodes, workers=args.workers)
    return 0


def cmd_data(args) -> int:
    from lapa_bench.data import inspect

    if args.extra and not (args.data_command == "replay-check" and getattr(args, "policy", None)):
        raise SystemExit(f"unrecognized arguments: {' '.join(args.extra)} (--policy.KEY VALUE needs "
                         "`data replay-check --policy NAME`)")

    if args.data_command == "info":
        sheet = args.sheet or Path("runs") / "data_info" / Path(args.dataset).resolve().name / "contact_sheet.png"
        info = inspect.dataset_info(args.dataset, sheet=sheet)
        print(inspect.format_info(info))
        return 0
    if args.data_command == "resize":
        from lapa_bench.data.lerobot import resize_datasets

        for p in resize_datasets(args.dataset, args.out, args.size):
            print(f"[data resize] {p}")
        return 0
    if args.data_command == "subset":
        from lapa_bench.data.lerobot import subset_datasets

        for p in subset_datasets(args.dataset, args.out, args.episodes, exact=True):
            print(f"[data subset] {p}")
        return 0
    if args.checkpoint and not args.policy:
        raise SystemExit("--checkpoint needs --policy NAME (the policy class the checkpoint belongs to)")
    overrides = _policy_overrides(args.policy, args.extra) if args.extra else {}
    from lapa_bench.app.replay import replay_check

    res = replay_check(args.dataset, max_episodes=args.max_episodes, out=args.out, workers=args.workers,
                       policy=args.policy, checkpoint=args.checkpoint, policy_config=overrides)
    if args.policy:  # a diagnostic: its rate is a figure, not a pass/fail of the recording
        return 0
    return 0 if res["rate"] >= 0.95 else 1


def add_method_commands(sub) -> None:
    """``lapa-bench METHOD train`` and ``lapa-bench METHOD ACTION`` for every registered training method:
    their flags are generated from the method's config dataclass (lapa_bench.config)."""
    from lapa_bench import config
    from lapa_bench.training.registry import available_methods, get_method

    for name in available_methods():
        m = get_method(name)
        mp = sub.add_parser(name, help=f"{m.summary} (train" + "".join(f", {c}" for c in m.commands) + ")")
        msub = mp.add_subparsers(dest="method_action", metavar="ACTION", required=True)
        t = msub.add_parser("train", help=m.summary, formatter_class=argparse.RawDescriptionHelpFormatter,
                            description=f"{m.summary}\n\nTrains through the one loop: resumes from OUT/last, logs "
                            "OUT/log.csv, writes the model and OUT/eval.json (the done marker)."
                            + (f" The checkpoint loads as policy `{m.policy}`." if m.policy else ""))
        for corpus in m.needs:
            t.add_argument(f"--{corpus}", nargs="+", required=True, metavar="DIR",
                           help={"data": "labelled trajectories (dataset folders with actions)",
                                 "videos": "action-free videos (dataset folders; actions, if any, are ignored)"}[corpus])
        t.add_argument("--out", required=True, help="checkpoint folder")
        t.add_argument("--config", default=None, metavar="YAML", help="start from this config file (flags win)")
        _common(t)
        config.add_arguments(t, m.config_class)
        t.set_defaults(handler=_run_method_train, method=name)
        for cname, c in m.commands.items():
            cp = msub.add_parser(cname, help=c.help, description=c.help)
            _common(cp)
            config.add_arguments(cp, c.config_class)
            cp.set_defaults(handler=_run_method_command, method=name, command_name=cname)


def _common(p) -> None:
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:N")
    p.add_argument("--print-config", action="store_true", help="print the resolved config (YAML) and exit")


def _run_method_train(args) -> int:
    from lapa_bench import config
    from lapa_bench.device import parse_device
    from lapa_bench.training.registry import Inputs, get_method, run_method

    m = get_method(args.method)
    raw = config.load_yaml(args.config) if args.config else {}
    cfg = config.from_dict(m.config_class, config.merge(raw, config.overrides_from_args(args, m.config_class)))
    if args.print_config:
        print(config.dump_yaml(cfg))
        return 0
    parse_device(args.device)
    inputs = Inputs(**{c: getattr(args, c) for c in m.needs})
    run_method(m, cfg, inputs, args.out, args.device)
    print(f"[{args.method} train] checkpoint: {args.out}" + (f" (policy {m.policy})" if m.policy else ""))
    return 0


def _run_method_command(args) -> int:
    from lapa_bench import config
    from lapa_bench.device import parse_device
    from lapa_bench.training.registry import get_method

    c = get_method(args.method).commands[args.command_name]
    cfg = config.from_dict(c.config_class, config.overrides_from_args(args, c.config_class))
    if args.print_config:
        print(config.dump_yaml(cfg))
        return 0
    parse_device(args.device)
    c.fn(cfg, args.device)
    return 0


def cmd_pipeline(args) -> int:
    from lapa_bench import config
    from lapa_bench.pipeline.config import PipelineConfig
    from lapa_bench.pipeline.run import run

    # values read as YAML, as in the config file: --demos.episodes 25, --demos_per_task '[10, 25]'
    extra = config.nest(config.yaml_values(config.parse_dotted(args.extra, "")))
    if args.out:
        extra["out"] = args.out
    cfg = PipelineConfig.from_yaml(args.config, overrides=extra)
    if args.print_config:
        print(config.dump_yaml(cfg))
        return 0
    from lapa_bench.pipeline.cells import select_cells

    select_cells(cfg, args.cells)  # unknown cells stop here, --plan included
    if args.plan or args.plan_json:
        from lapa_bench.pipeline.plan import format_plan, plan

        p = plan(cfg)
        print(format_plan(p))
        if args.plan_json:
            from lapa_bench.io import write_json_atomic

            write_json_atomic(args.plan_json, p)
        return 0
    if args.report:
        if args.cells:
            raise UserError("--report rebuilds the report of every cell evaluated in OUT: give it without --cells")
        from lapa_bench.pipeline.run import report_only

        report_only(cfg)
        return 0
    run(cfg, until=args.until, only=args.cells)
    return 0


def cmd_methods(args) -> int:
    from lapa_bench.training.registry import available_methods, broken_methods, get_method

    for name in available_methods():
        m = get_method(name)
        extra = f"  [policy {m.policy}; needs {', '.join(m.needs)}]" if m.policy else f"  [needs {', '.join(m.needs)}]"
        print(f"{name:<10} {m.summary}{extra}")
    for mod, err in broken_methods().items():
        print(f"[unavailable] {mod}: {err}")
    return 0


def cmd_policies(args) -> int:
    from lapa_bench.policy import broken_policies, describe_policies

    for row in describe_policies():
        flag = " (privileged)" if row["privileged"] else ""
        print(f"{row['name']:<12} {row['summary']}{flag}")
    for mod, err in broken_policies().items():
        print(f"[unavailable] {mod}: {err}")
    return 0


def cmd_tasks(args) -> int:
    from lapa_bench.tasks import TASKS

    for t in TASKS.values():
        print(f"{t.name:<9} {t.env_id:<46} {t.max_steps:>4} steps  {len(t.episode_ids)} episodes  "
              f"{t.scene:<10} \"{t.instruction}\"")
    return 0


def cmd_assets(args) -> int:
    from lapa_bench import assets

    if args.action == "download":
        d = assets.download()
    else:
        d = assets.check_assets()
    print(f"[assets] OK: {d} ({assets.asset_source()['kind']})")
    return 0


def cmd_serve(args) -> int:
    from lapa_bench.serving.server import server_for

    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: give 0 (a free port) or 1..65535")
    policy, _ = _build_policy(args)
    server = server_for(policy, args.policy, args.checkpoint, args.host, args.port)  # refuses privileged policies
    import threading

    threading.Thread(target=lambda: (server.bound.wait(), print(f"[serve] {args.policy} on {server.url} "
                                                                 "(Ctrl-C stops)", flush=True)), daemon=True).start()
    try:
        server.run()
    except OSError as e:
        raise UserError(f"cannot serve on {args.host}:{args.port}: {e}") from None
    return 0


COMMANDS = {"eval": cmd_eval, "serve": cmd_serve, "report": cmd_report, "collect": cmd_collect, "data": cmd_data,
            "checkpoint": cmd_checkpoint, "pipeline": cmd_pipeline, "policies": cmd_policies, "methods": cmd_methods,
            "tasks": cmd_tasks, "assets": cmd_assets}
EXTRA_ARGS = {"eval", "pipeline", "data", "serve"}  # take dotted config flags (--policy.KEY / --KEY) parsed late


def main(argv=None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if extra and args.command not in EXTRA_ARGS:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    from lapa_bench.errors import UserError
    from lapa_bench.provenance import apply_threads

    apply_threads()  # one per process unless LAPA_BENCH_THREADS says (benchmarks/threads.py)
    try:
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return handler(args)
    except UserError as e:  # the user's to fix: its one line; anything else is a bug and shows its traceback
        print(f"lapa-bench {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; finished episodes are saved, re-run the same command to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
