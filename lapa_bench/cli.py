"""The ``lapa-bench`` command line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG = """examples:
  lapa-bench eval --policy scripted --tasks all --episodes 24 --seeds 0 --out runs/scripted
  lapa-bench eval --policy random --tasks carrot,spoon --episodes 4 --seeds 0 1 2 --out runs/random
  lapa-bench eval --policy lapa --checkpoint ckpt/lapa --shard 1/4 --out runs/lapa   # 4 processes
  lapa-bench report runs/scripted runs/random --out results/oracle
  lapa-bench policies            # what can be evaluated
  lapa-bench tasks               # the SIMPLER WidowX tasks
  lapa-bench assets check        # are the simulator assets installed?
  lapa-bench collect --tasks all --episodes 50 --out data/bridge_demos   # scripted demos
  lapa-bench data info data/bridge_demos
"""


def _kv(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    try:
        v = json.loads(v)
    except json.JSONDecodeError:
        pass  # a plain string
    return k, v


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

    e = sub.add_parser("eval", help="roll a policy out on SIMPLER tasks (resumable)",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Evaluate a policy on SIMPLER WidowX tasks. One JSON record per finished "
                       "episode is appended to OUT/records*.jsonl; re-running the same command skips "
                       "finished episodes (safe after a crash or kill -9).")
    e.add_argument("--policy", required=True, help="registered policy name (see `lapa-bench policies`)")
    e.add_argument("--checkpoint", default=None, help="checkpoint folder (config.json + weights) to load")
    e.add_argument("--policy-config", "-c", metavar="KEY=VALUE", type=_kv, action="append", default=[],
                   help="policy config override (JSON value), repeatable, e.g. -c noise=0.002")
    e.add_argument("--tasks", nargs="+", default=["all"], help="'all' or task names/env ids (default: all)")
    e.add_argument("--episodes", type=int, default=24, help="evaluation episode ids per task, first N of 24 (default 24)")
    e.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    e.add_argument("--out", required=True, help="run folder for records, manifest and videos")
    e.add_argument("--shard", default=None, metavar="I/N", help="run only shard I of N (1-based), e.g. 2/4")
    e.add_argument("--video", type=int, default=0, metavar="K", help="save mp4s of the first K episodes per task")
    e.add_argument("--label", default=None, help="name of this run in reports (default: policy name)")
    e.add_argument("--image-size", type=_image_size, default=None, metavar="HxW",
                   help="resize camera images (default 480x640, native)")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")

    r = sub.add_parser("report", help="success-rate table + plot from run folders",
                       description="Build the comparison table (pandas) with Wilson 95%% intervals, print it, "
                       "and write table.md, table.csv and plot.png to --out.")
    r.add_argument("runs", nargs="+", help="run folders written by `lapa-bench eval`")
    r.add_argument("--out", default=None, help="folder for table.md, table.csv, plot.png")
    r.add_argument("--metric", default="success_at_end",
                   choices=["success_at_end", "success_once", "grasped", "consecutive_grasp"],
                   help="headline metric (first table, plot); default success_at_end")

    c = sub.add_parser("collect", help="collect scripted demonstrations (LeRobot v2.1), disjoint from evaluation",
                       description="Roll the privileged `scripted` oracle out from random layouts that keep every "
                       "movable object >= 2 cm from its position in all 24 evaluation episodes, and write the "
                       "successful episodes as a LeRobot v2.1 dataset. Safe to interrupt; re-run to resume.")
    c.add_argument("--source", choices=["bridge", "panda"], default="bridge",
                   help="bridge: WidowX demonstrations with actions (SIMPLER tasks); panda: action-free "
                   "cross-embodiment videos of a Panda on ManiSkill tabletop tasks (default bridge)")
    c.add_argument("--tasks", nargs="+", default=["all"],
                   help="'all' or task names: SIMPLER tasks for bridge, PickCube-v1/StackCube-v1/PushCube-v1/"
                   "PullCube-v1 for panda (default all)")
    c.add_argument("--episodes", type=int, required=True, help="successful demonstrations per task")
    c.add_argument("--out", required=True, help="dataset folder")
    c.add_argument("--image-size", type=_image_size, default=(256, 256), metavar="HxW", help="frame size (default 256x256)")
    c.add_argument("--keep-failures", action="store_true", help="also store failed attempts (success=false)")
    c.add_argument("--seed", type=int, default=0, help="base seed of the layouts and noise (default 0)")
    c.add_argument("--noise", type=float, default=0.002, help="oracle translation noise std, m (default 0.002)")
    c.add_argument("--workers", type=int, default=1, help="tasks collected in parallel processes (default 1)")
    c.add_argument("--no-progress", action="store_true")

    d = sub.add_parser("data", help="inspect and check datasets")
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    di = dsub.add_parser("info", help="episodes, frames, tasks, success, action stats, contact sheet PNG")
    di.add_argument("dataset")
    di.add_argument("--sheet", default=None, help="contact sheet path (default DATASET/contact_sheet.png)")
    dr = dsub.add_parser("replay-check", help="replay recorded actions from the recorded layouts; report success")
    dr.add_argument("dataset")
    dr.add_argument("--max-episodes", type=int, default=None, help="check only the first N episodes per task")
    dr.add_argument("--out", default=None, help="write the per-episode results as JSON here")
    dr.add_argument("--workers", type=int, default=1, help="datasets replayed in parallel processes")
    dr.add_argument("--policy", default=None,
                    help="run this registered policy closed loop from the recorded layouts instead of the "
                         "recorded actions (the training-layout check of a finetuned policy)")
    dr.add_argument("--checkpoint", default=None, help="checkpoint folder for --policy")

    rz = dsub.add_parser("resize", help="re-encode datasets at a smaller square size (e.g. for a training machine)")
    rz.add_argument("dataset")
    rz.add_argument("out")
    rz.add_argument("--size", type=int, default=64)

    lq = sub.add_parser("laq", help="latent action quantization (LAPA stage 1): train, label")
    lsub = lq.add_subparsers(dest="laq_command", metavar="ACTION", required=True)
    lt = lsub.add_parser("train", help="train the LAQ model on frame pairs of action-free videos",
                         description="Train LAQ on (x_t, x_{t+H}) pairs of one or more dataset folders (actions are "
                         "ignored). Resumes from OUT/last; logs loss, perplexity and code usage to OUT/log.csv.")
    lt.add_argument("--data", nargs="+", required=True, help="dataset folders (LeRobot, or folders of them)")
    lt.add_argument("--out", required=True, help="checkpoint folder")
    lt.add_argument("--preset", default="tiny", choices=["tiny", "full"], help="model size (default tiny)")
    lt.add_argument("--set", metavar="KEY=VALUE", type=_kv, action="append", default=[],
                    help="override an LAQConfig field, e.g. --set frame_gap=2")
    lt.add_argument("--steps", type=int, default=2000)
    lt.add_argument("--batch-size", type=int, default=32)
    lt.add_argument("--lr", type=float, default=3e-4)
    lt.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1 ...")
    lt.add_argument("--seed", type=int, default=0)
    lt.add_argument("--no-progress", action="store_true")
    ll = lsub.add_parser("label", help="write the latent codes of every step of a dataset (npz)")
    ll.add_argument("checkpoint", help="LAQ checkpoint folder")
    ll.add_argument("--data", nargs="+", required=True)
    ll.add_argument("--out", required=True, help="output .npz")
    ll.add_argument("--device", default="auto")
    lp = lsub.add_parser("probe", help="linear probe: do the codes carry the true actions? (held-out R^2)")
    lp.add_argument("checkpoint", help="LAQ checkpoint folder")
    lp.add_argument("--data", nargs="+", required=True, help="datasets with actions")
    lp.add_argument("--out", default=None, help="write the result as JSON here")
    lp.add_argument("--device", default="auto")
    lin = lsub.add_parser("inspect", help="what does each code mean? atlas, usage, actions per code, HTML page",
                          description="Writes atlas.png, usage.png, quiver.png, actions.csv, consistency.json and "
                          "index.html (everything on one page) into --out.")
    lin.add_argument("--laq", required=True, help="LAQ checkpoint folder")
    lin.add_argument("--data", nargs="+", required=True, help="dataset folders (with actions for the action stats)")
    lin.add_argument("--out", required=True, help="output folder")
    lin.add_argument("--max-episodes", type=int, default=None, help="use the first N episodes of each dataset")
    lin.add_argument("--examples", type=int, default=4, help="start frames per atlas row")

    lp2 = sub.add_parser("lapa", help="LAPA stages 2 and 3: latent pretraining, action finetuning (and Scratch)")
    lsub2 = lp2.add_subparsers(dest="lapa_command", metavar="ACTION", required=True)
    pre = lsub2.add_parser("pretrain", help="stage 2: pretrain the VLM to predict LAQ codes of action-free videos",
                           description="Labels the videos with the LAQ's codes (cached in OUT/latent_codes.npz), then "
                           "trains the VLM's latent head on (image_t, instruction) -> codes of step t. Resumes from "
                           "OUT/last. Several GPUs: `accelerate launch -m lapa_bench.cli lapa pretrain ...`.")
    pre.add_argument("--videos", nargs="+", required=True, help="dataset folders (actions, if any, are ignored)")
    pre.add_argument("--laq", required=True, help="LAQ checkpoint folder (stage 1)")
    fin = lsub2.add_parser("finetune", help="stage 3: action head on labelled trajectories -> policy lapa/scratch",
                           description="Replaces the latent head of --init by an action head over discretized "
                           "actions and trains it on the labelled trajectories (policy `lapa`). Without --init the "
                           "model starts fresh: that is the Scratch baseline (policy `scratch`).")
    fin.add_argument("--data", nargs="+", required=True, help="dataset folders with actions")
    fin.add_argument("--init", default=None, help="stage-2 checkpoint (omit for Scratch)")
    fin.add_argument("--policy-name", default=None, help="registered name written into the checkpoint "
                     "(default: lapa with --init, scratch without)")
    fin.add_argument("--bins", choices=["uniform", "quantile"], default="uniform",
                     help="bin edges: uniform between the 1st/99th percentile (OpenVLA) or data quantiles")
    for q in (pre, fin):
        q.add_argument("--out", required=True, help="checkpoint folder")
        q.add_argument("--preset", default="tiny", choices=["tiny", "full"], help="model size (default tiny)")
        q.add_argument("--set", metavar="KEY=VALUE", type=_kv, action="append", default=[],
                       help="override a LAPAConfig field, e.g. --set action_bins=128")
        q.add_argument("--backbone", dest="language_backbone", default=None,
                       help="pretrained causal LM (+ tokenizer): local folder or hub id already in the cache")
        q.add_argument("--vision-backbone", default=None, help="pretrained vision encoder (CLIP/SigLIP): folder or id")
        q.add_argument("--steps", type=int, default=1000)
        q.add_argument("--batch-size", type=int, default=32)
        q.add_argument("--lr", type=float, default=3e-4)
        q.add_argument("--max-episodes", type=int, default=None, help="use the first N episodes of each dataset")
        q.add_argument("--device", default="auto", help="auto (accelerate's choice) or cpu")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--no-progress", action="store_true")

    idm = sub.add_parser("idm", help="inverse dynamics model (VPT, UniPi): train, eval")
    isub = idm.add_subparsers(dest="idm_command", metavar="ACTION", required=True)
    it = isub.add_parser("train", help="train the IDM (x_t, x_t+1 -> action) on labelled trajectories")
    it.add_argument("--data", nargs="+", required=True, help="dataset folders with actions")
    it.add_argument("--out", required=True)
    it.add_argument("--preset", default="tiny", choices=["tiny", "full"])
    it.add_argument("--set", metavar="KEY=VALUE", type=_kv, action="append", default=[], help="IDMConfig field")
    it.add_argument("--steps", type=int, default=1500)
    ie = isub.add_parser("eval", help="held-out action error of an IDM vs predicting the mean action")
    ie.add_argument("checkpoint")
    ie.add_argument("--data", nargs="+", required=True)
    ie.add_argument("--out", default=None, help="write the result as JSON here")

    vpt = sub.add_parser("vpt", help="VPT baseline: IDM pseudo-labels videos, VLM pretrains on them, finetunes")
    vsub = vpt.add_subparsers(dest="vpt_command", metavar="ACTION", required=True)
    vt = vsub.add_parser("train", help="IDM -> pseudo-actions -> pretraining -> finetuning (policy vpt)",
                         description="Each step is cached in OUT; a rerun skips finished steps. --steps is the "
                         "finetuning budget (the same as LAPA's and Scratch's); --pretrain-steps the pretraining one.")
    vt.add_argument("--data", nargs="+", required=True, help="labelled trajectories (dataset folders)")
    vt.add_argument("--videos", nargs="+", required=True, help="action-free videos (dataset folders)")
    vt.add_argument("--out", required=True)
    vt.add_argument("--preset", default="tiny", choices=["tiny", "full"])
    vt.add_argument("--set", metavar="KEY=VALUE", type=_kv, action="append", default=[], help="LAPAConfig field")
    vt.add_argument("--steps", type=int, default=1000)
    vt.add_argument("--pretrain-steps", type=int, default=None, help="default: --steps")
    vt.add_argument("--idm-steps", type=int, default=1500)
    vt.add_argument("--batch-size", type=int, default=32)
    vt.add_argument("--lr", type=float, default=3e-4)

    up = sub.add_parser("unipi", help="UniPi baseline: video diffusion planner + IDM: train, eval")
    usub = up.add_subparsers(dest="unipi_command", metavar="ACTION", required=True)
    ut = usub.add_parser("train", help="train the video model on videos and the IDM on labelled data (policy unipi)")
    ut.add_argument("--videos", nargs="+", required=True)
    ut.add_argument("--data", nargs="+", required=True)
    ut.add_argument("--out", required=True)
    ut.add_argument("--preset", default="tiny", choices=["tiny", "full"])
    ut.add_argument("--set", metavar="KEY=VALUE", type=_kv, action="append", default=[],
                    help="UniPiConfig field, e.g. --set sample_steps=20 --set replan_every=2")
    ut.add_argument("--steps", type=int, default=2000)
    ut.add_argument("--idm-steps", type=int, default=1500)
    ut.add_argument("--batch-size", type=int, default=32)
    ut.add_argument("--lr", type=float, default=3e-4)
    ue = usub.add_parser("eval", help="held-out one-step frame prediction vs copying the current frame (MSE)")
    ue.add_argument("checkpoint")
    ue.add_argument("--videos", nargs="+", required=True)
    ue.add_argument("--out", default=None, help="write the result as JSON here")
    for q in (it, ie, vt, ut, ue):
        q.add_argument("--max-episodes", type=int, default=None, help="use the first N episodes of each dataset")
        q.add_argument("--device", default="auto")
        q.add_argument("--seed", type=int, default=0)
    for q in (it, vt, ut):
        q.add_argument("--no-progress", action="store_true")

    pl = sub.add_parser("pipeline", help="data -> LAQ -> LAPA -> baselines -> eval -> table, cached and resumable",
                        description="Runs every stage of a pipeline config (configs/quickstart.yaml, "
                        "configs/mini.yaml). A rerun skips finished stages and resumes an interrupted one.")
    pl.add_argument("config", help="YAML file (see configs/)")
    pl.add_argument("--out", default=None, help="override the config's output folder")
    pl.add_argument("--until", choices=["data", "train", "eval", "report"], default="report",
                    help="stop after this group of stages (default: all). E.g. collect data here, "
                    "`--until train` on a GPU machine (needs no simulator or assets once data is cached), "
                    "then rerun here to evaluate")

    sub.add_parser("policies", help="list registered policies")
    sub.add_parser("tasks", help="list the SIMPLER tasks")
    a = sub.add_parser("assets", help="check or download the SIMPLER assets",
                       description="ManiSkill reads $MS_ASSET_DIR/data (default ~/.maniskill/data).")
    a.add_argument("action", choices=["check", "download"])
    return p


def cmd_eval(args) -> int:
    from lapa_bench.evaluate import EvalConfig, evaluate, parse_shard

    cfg = EvalConfig(policy=args.policy, out=args.out, checkpoint=args.checkpoint,
                     policy_config=dict(args.policy_config), tasks=args.tasks, episodes=args.episodes,
                     seeds=args.seeds, shard=parse_shard(args.shard), video=args.video, label=args.label,
                     image_size=args.image_size, progress=not args.no_progress)
    out = evaluate(cfg)
    from lapa_bench.report import build_report

    build_report([out], metrics=["success_at_end", "success_once"])
    print(f"[eval] records in {out}; full table and plot: lapa-bench report {out} --out DIR")
    return 0


def cmd_report(args) -> int:
    from lapa_bench.report import build_report

    res = build_report(args.runs, args.out, metric=args.metric)
    for k, v in res["paths"].items():
        print(f"[report] {k}: {v}")
    return 0


def cmd_collect(args) -> int:
    from lapa_bench.collect import CollectConfig, collect

    if args.episodes < 1:
        raise ValueError("--episodes must be >= 1")
    if args.source == "panda":
        from lapa_bench.panda_videos import PandaConfig, collect_panda

        collect_panda(PandaConfig(tasks=args.tasks, episodes=args.episodes, out=args.out, image_size=args.image_size,
                                  seed=args.seed, progress=not args.no_progress), workers=args.workers)
        return 0
    collect(CollectConfig(tasks=args.tasks, episodes=args.episodes, out=args.out, image_size=args.image_size,
                          keep_failures=args.keep_failures, seed=args.seed, noise=args.noise,
                          progress=not args.no_progress), workers=args.workers)
    return 0


def cmd_data(args) -> int:
    from lapa_bench.data import inspect

    if args.data_command == "info":
        info = inspect.dataset_info(args.dataset, sheet=args.sheet)
        print(inspect.format_info(info))
        return 0
    if args.data_command == "resize":
        from lapa_bench.data.lerobot import resize_datasets

        for p in resize_datasets(args.dataset, args.out, args.size):
            print(f"[data resize] {p}")
        return 0
    if args.checkpoint and not args.policy:
        raise SystemExit("--checkpoint needs --policy NAME (the policy class the checkpoint belongs to)")
    res = inspect.replay_check(args.dataset, max_episodes=args.max_episodes, out=args.out, workers=args.workers,
                               policy=args.policy, checkpoint=args.checkpoint)
    if args.policy:  # a diagnostic: its rate is a figure, not a pass/fail of the recording
        return 0
    return 0 if res["rate"] >= 0.95 else 1


def cmd_laq(args) -> int:
    from policies.lapa import train_laq

    if args.laq_command == "train":
        train_laq.train(train_laq.LAQTrainConfig(
            data=args.data, out=args.out, preset=args.preset, overrides=dict(args.set), steps=args.steps,
            batch_size=args.batch_size, lr=args.lr, device=args.device, seed=args.seed,
            progress=not args.no_progress))
    elif args.laq_command == "inspect":
        from policies.lapa.inspect_laq import inspect

        inspect(args.laq, args.data, args.out, max_episodes=args.max_episodes, examples=args.examples)
    elif args.laq_command == "label":
        train_laq.label(args.checkpoint, args.data, args.out, device=args.device)
    else:
        res = train_laq.probe(args.checkpoint, args.data, device=args.device)
        if args.out:
            Path(args.out).write_text(json.dumps(res, indent=2))
    return 0


def cmd_lapa(args) -> int:
    from policies.lapa import train_lapa

    cfg = train_lapa.StageConfig(out=args.out, preset=args.preset, overrides=dict(args.set), steps=args.steps,
                                 batch_size=args.batch_size, lr=args.lr, device=args.device, seed=args.seed,
                                 vision_backbone=args.vision_backbone, language_backbone=args.language_backbone,
                                 max_episodes=args.max_episodes, progress=not args.no_progress)
    if args.lapa_command == "pretrain":
        train_lapa.pretrain(cfg, args.videos, args.laq)
    else:
        train_lapa.finetune(cfg, args.data, init=args.init, policy_name=args.policy_name, bin_strategy=args.bins)
    print(f"[lapa {args.lapa_command}] checkpoint: {args.out}")
    return 0


def _write_json(path, payload):
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2))


def cmd_idm(args) -> int:
    from policies.idm import train_idm

    if args.idm_command == "train":
        train_idm.train(train_idm.IDMTrainConfig(data=args.data, out=args.out, preset=args.preset,
                                                 overrides=dict(args.set), steps=args.steps,
                                                 max_episodes=args.max_episodes, seed=args.seed, device=args.device,
                                                 progress=not args.no_progress))
    else:
        _write_json(args.out, train_idm.eval_command(args.checkpoint, args.data, seed=args.seed,
                                                     max_episodes=args.max_episodes, device=args.device))
    return 0


def cmd_vpt(args) -> int:
    from policies.lapa.train_lapa import StageConfig
    from policies.vpt import train_vpt

    cfg = StageConfig(out=args.out, preset=args.preset, overrides=dict(args.set), steps=args.steps,
                      batch_size=args.batch_size, lr=args.lr, device=args.device, seed=args.seed,
                      max_episodes=args.max_episodes, progress=not args.no_progress)
    train_vpt.train(cfg, args.data, args.videos, idm_steps=args.idm_steps, pretrain_steps=args.pretrain_steps)
    print(f"[vpt train] checkpoint: {args.out}")
    return 0


def cmd_unipi(args) -> int:
    from policies.unipi import train_unipi

    if args.unipi_command == "train":
        train_unipi.train(train_unipi.UniPiTrainConfig(
            videos=args.videos, data=args.data, out=args.out, preset=args.preset, overrides=dict(args.set),
            steps=args.steps, idm_steps=args.idm_steps, batch_size=args.batch_size, lr=args.lr,
            max_episodes=args.max_episodes, seed=args.seed, device=args.device, progress=not args.no_progress))
        print(f"[unipi train] checkpoint: {args.out}")
    else:
        _write_json(args.out, train_unipi.eval_command(args.checkpoint, args.videos, seed=args.seed,
                                                       max_episodes=args.max_episodes, device=args.device))
    return 0


def cmd_pipeline(args) -> int:
    from lapa_bench.pipeline import PipelineConfig, run

    cfg = PipelineConfig.from_yaml(args.config)
    if args.out:
        cfg.out = args.out
    run(cfg, until=args.until)
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
    from tasks import TASKS

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


COMMANDS = {"eval": cmd_eval, "report": cmd_report, "collect": cmd_collect, "data": cmd_data, "laq": cmd_laq, "lapa": cmd_lapa, "idm": cmd_idm, "vpt": cmd_vpt,
            "unipi": cmd_unipi, "pipeline": cmd_pipeline, "policies": cmd_policies, "tasks": cmd_tasks,
            "assets": cmd_assets}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    from lapa_bench.assets import AssetsMissingError
    from lapa_bench.evaluate import RunMismatchError
    from lapa_bench.data import DatasetFormatError
    from lapa_bench.policy import ConfigError

    try:
        return COMMANDS[args.command](args)
    except (AssetsMissingError, RunMismatchError, ConfigError, DatasetFormatError, FileNotFoundError, ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"lapa-bench {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; finished episodes are saved, re-run the same command to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
