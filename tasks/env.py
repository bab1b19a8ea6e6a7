"""A gymnasium env around one SIMPLER Bridge task (ManiSkill 3): one scene on the CPU, or ``num_envs``
scenes stepped in lockstep on ManiSkill's GPU backend.

Two APIs on one class: the gymnasium ``reset``/``step`` of one episode (``num_envs == 1``), and the
batched ``reset_batch``/``step_batch`` (lists of per-env observations and infos) that the batched
rollout (:func:`lapa_bench.rollout.run_batch`) uses. On the CPU, ManiSkill simulates one scene per
env: :class:`EnvList` gives N of them the batched API (``make_env(task, num_envs=N, backend="cpu")``).
"""
from __future__ import annotations

import contextlib
import os

import gymnasium as gym
import numpy as np

from lapa_bench.errors import UserError
from lapa_bench import assets, specs
from lapa_bench.data.preprocess import resize
from lapa_bench.geometry import pose_in_frame, quat_to_euler_xyz
from lapa_bench.env_list import EnvList

GRIPPER_QPOS_CLOSED, GRIPPER_QPOS_OPEN = 0.015, 0.037


def _quiet_mani_skill() -> None:
    """Hide ManiSkill's known-harmless set-up warnings (set LAPA_BENCH_VERBOSE=1 to see them)."""
    if os.environ.get("LAPA_BENCH_VERBOSE"):
        return
    import logging
    import warnings

    from mani_skill.utils.logging_utils import logger  # named "mani_skill " (sic)

    logger.setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="Creating a tensor from a list of numpy.ndarrays")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="mani_skill")


def _refuse_prompt(message: str) -> bool:
    raise assets.AssetsMissingError(f"ManiSkill wanted to ask: {message!r}\n{assets.FIX_HINT}")


BACKENDS = ("auto", "cpu", "gpu")


def resolve_backend(requested: str = "auto") -> str:
    """``auto`` -> ``gpu`` when CUDA is present, else ``cpu``: ManiSkill's physics *and* rendering."""
    if requested not in BACKENDS:
        raise UserError(f"backend must be one of {BACKENDS}, got {requested!r}")
    import torch

    if requested == "gpu" and not torch.cuda.is_available():
        raise UserError("backend gpu needs CUDA (ManiSkill's GPU physics and rendering), which this machine does not "
                         "have; use --backend cpu (or auto)")
    if requested != "auto":
        return requested
    return "gpu" if torch.cuda.is_available() else "cpu"


class SimplerBridgeEnv(gym.Env):
    """One SIMPLER WidowX task with lapa-bench's observation and action (see ``lapa_bench.specs``).

    ``reset(seed=s, options={"episode_id": i})`` places the objects in SIMPLER's evaluation
    configuration ``i`` (0-23); ``reset_batch(seeds, episode_ids)`` does so for each of ``num_envs``
    scenes (``backend="gpu"``: ManiSkill's ``physx_cuda``; the CPU backend holds one scene). ``info`` carries SIMPLER's metrics as Python scalars:
    ``success`` (source object on target now), ``is_src_obj_grasped`` (ever, this episode),
    ``consecutive_grasp`` (grasped for >= 5 consecutive steps, ever) and ``src_on_target``.
    Episodes never terminate early; they are truncated at the task's ``max_steps``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": specs.CONTROL_HZ}

    def __init__(self, task, image_size=None, num_envs: int = 1, backend: str = "auto", render_scale: float = 1.0,
                 embodiment: str = "widowx"):
        from lapa_bench.tasks import floating_gripper
        from lapa_bench.tasks.specs import get_task

        self.task = get_task(task)
        if embodiment not in floating_gripper.EMBODIMENTS:
            raise UserError(f"embodiment {embodiment!r}: choose from {list(floating_gripper.EMBODIMENTS)}")
        self.embodiment = embodiment
        assets.check_assets()  # before mani_skill is imported: never reach its y/n prompt
        import mani_skill.envs  # noqa: F401  (registers the envs)

        _quiet_mani_skill()
        from mani_skill.utils import download_asset

        download_asset.prompt_yes_no = _refuse_prompt  # belt and braces: never block on input()
        from mani_skill.envs.tasks.digital_twins.base_env import BaseDigitalTwinEnv

        # ManiSkill keeps this list on the class: it would grow with every env made in a process.
        BaseDigitalTwinEnv._objects_to_remove_from_greenscreen = []
        self.backend = resolve_backend(backend)
        if num_envs < 1 or (self.backend == "cpu" and num_envs != 1):
            raise UserError(f"num_envs={num_envs}: ManiSkill's CPU backend simulates one scene per env; use "
                             "make_env(task, num_envs=N, backend='cpu') for a list of CPU envs, or backend='gpu'")
        self.num_envs = int(num_envs)
        self.sim_backend = "physx_cuda" if self.backend == "gpu" else "physx_cpu"
        if not 0.1 <= render_scale <= 1.0:
            raise UserError(f"render_scale must be in [0.1, 1] (1: SIMPLER's 640x480 camera), got {render_scale}")
        self.render_scale = float(render_scale)
        if embodiment == "floating_gripper":
            floating_gripper.register()
        self._gripper_range = ((floating_gripper.GRIPPER_QPOS_CLOSED, floating_gripper.GRIPPER_QPOS_OPEN)
                               if embodiment == "floating_gripper" else (GRIPPER_QPOS_CLOSED, GRIPPER_QPOS_OPEN))
        self._env = gym.make(
            self.task.env_id if embodiment == "widowx" else floating_gripper.env_id(self.task.env_id),
            obs_mode="rgb+segmentation",
            num_envs=self.num_envs,
            sim_backend=self.sim_backend,
            render_backend=self.backend,
            max_episode_steps=self.task.max_steps,
            **({} if render_scale == 1.0 else {"sensor_configs": {"3rd_view_camera": _scaled_camera(render_scale)}}),
        )
        u = self._env.unwrapped
        self._eval_layouts = (u.xyz_configs.clone(), u.quat_configs.clone())  # SIMPLER's 24 layouts
        self.image_size = tuple(image_size) if image_size else specs.DEFAULT_IMAGE_SIZE
        self.observation_space = specs.observation_space(self.image_size)
        self.action_space = specs.action_space()
        self.max_steps = self.task.max_steps
        self.instruction = self.task.instruction
        self._last_frame = None
        _exact_fast_greenscreen(u)

    @contextlib.contextmanager
    def _no_render(self):
        """Within: ManiSkill's step computes no observation (no camera render, readback or greenscreen); physics,
        the success check and the info are as always. ``obs_mode == "none"`` is ManiSkill's own no-observation
        path (``BaseEnv.get_obs`` returns ``{}``); rendering is a pure function of the scene's state, so a later
        rendered frame is the same whether or not the frames before it were rendered."""
        u = self._env.unwrapped
        mode = u._obs_mode
        u._obs_mode = "none"
        try:
            yield
        finally:
            u._obs_mode = mode

    # -- gymnasium API (one episode) -------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        self._single()
        super().reset(seed=seed)  # gymnasium's own np_random (the simulator is seeded below)
        options = dict(options or {})
        if "episode_id" not in options:  # one of SIMPLER's layouts, from the seed (ManiSkill would draw from torch's
            # global generator, which no seed reaches: the same seed gave another layout)
            options["episode_id"] = self.task.episode_ids[int(self.np_random.integers(len(self.task.episode_ids)))]
        options["episode_id"] = int(options["episode_id"])
        obs, info = self._env.reset(seed=seed, options=options)
        return self._obs(obs, 0), self._info(info, 0)

    def step(self, action, read: bool = True):
        """One step. ``read=False``: the caller will not look at this step's image (e.g. the policy is still
        executing a chunk), so the camera is not rendered and ``obs["image"]`` is None (state and info as always)."""
        self._single()
        a = np.asarray(action, dtype=np.float32).reshape(specs.ACTION_DIM)
        with contextlib.nullcontext() if read else self._no_render():
            obs, _, _, truncated, info = self._env.step(a)
        return (self._obs(obs, 0) if read else self._blind_obs(0)), 0.0, False, \
            bool(np.asarray(truncated).reshape(-1)[0]), self._info(info, 0)

    # -- batched API (num_envs scenes in lockstep) ---------------------------------------
    def reset_batch(self, seeds, episode_ids) -> list[dict]:
        """Reset every scene: scene i to evaluation layout ``episode_ids[i]`` with ``seeds[i]``."""
        import torch

        if len(seeds) != self.num_envs or len(episode_ids) != self.num_envs:
            raise UserError(f"reset_batch needs {self.num_envs} seeds and episode ids, got {len(seeds)}, "
                             f"{len(episode_ids)}")
        if self.num_envs == 1:
            return [self.reset(seed=int(seeds[0]), options={"episode_id": int(episode_ids[0])})[0]]
        obs, _ = self._env.reset(seed=[int(s) for s in seeds],
                                 options={"episode_id": torch.as_tensor([int(e) for e in episode_ids])})
        return self._obs_all(obs)

    def step_batch(self, actions, read=None) -> tuple[list[dict], list[dict]]:
        """``actions (num_envs, 7)`` -> (per-scene observations, per-scene infos). ``read``: per scene, whether
        its image will be looked at (default: all); the scenes render together, so only when none is read is
        the render skipped (unread scenes' images are None)."""
        a = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, specs.ACTION_DIM)
        read = [True] * self.num_envs if read is None else [bool(r) for r in read]
        if self.num_envs == 1:
            obs, _, _, _, info = self.step(a[0], read=read[0])
            return [obs], [info]
        with contextlib.nullcontext() if any(read) else self._no_render():
            obs, _, _, _, info = self._env.step(a)
        all_obs = self._obs_all(obs) if any(read) else [self._blind_obs(i) for i in range(self.num_envs)]
        return all_obs, [self._info(info, i) for i in range(self.num_envs)]

    def render(self):
        return self._last_frame

    def close(self):
        self._env.close()

    # -- helpers -------------------------------------------------------------------------
    def _single(self):
        if self.num_envs != 1:
            raise RuntimeError(f"this env holds {self.num_envs} scenes: use reset_batch/step_batch")

    @property
    def unwrapped_env(self):
        return self._env.unwrapped

    def _obs(self, raw, i: int) -> dict:
        img = raw["sensor_data"]["3rd_view_camera"]["rgb"][i].cpu().numpy()
        img = resize(img, self.image_size)  # the one resize (lapa_bench.data.preprocess)
        if i == 0:
            self._last_frame = img
        return {"image": img, "instruction": self.instruction, "state": self.proprio(i)}

    def _blind_obs(self, i: int) -> dict:
        """The observation of a step whose image nobody reads (not rendered)."""
        return {"image": None, "instruction": self.instruction, "state": self.proprio(i)}

    def _obs_all(self, raw) -> list[dict]:
        """Every scene's observation (the images leave the GPU in one copy)."""
        rgb = raw["sensor_data"]["3rd_view_camera"]["rgb"].cpu().numpy()
        return [{"image": resize(rgb[i], self.image_size), "instruction": self.instruction, "state": self.proprio(i)}
                for i in range(self.num_envs)]

    def _info(self, info, i: int) -> dict:
        """Scene ``i``'s info as Python scalars (arrays keep their per-scene shape)."""
        out = {}
        for k, v in info.items():
            if hasattr(v, "reshape"):
                v = np.asarray(v.cpu() if hasattr(v, "cpu") else v)
                v = (v.reshape(-1) if self.num_envs == 1 else v[i].reshape(-1)) if v.ndim else v.reshape(-1)
                v = v[0].item() if v.size == 1 else v
            out[k] = v
        return out

    def proprio(self, i: int = 0) -> np.ndarray:
        """The 7-D state of scene ``i`` (:mod:`lapa_bench.specs`)."""
        u = self._env.unwrapped
        root = u.agent.robot.pose.raw_pose[i].cpu().numpy().astype(np.float64)
        ee = u.agent.controller.controllers["arm"].ee_link.pose.raw_pose[i].cpu().numpy().astype(np.float64)
        p, q = pose_in_frame(root[:3], root[3:], ee[:3], ee[3:])  # numpy: cheaper than torch poses here
        rpy = quat_to_euler_xyz(q)
        finger = float(u.agent.robot.get_qpos()[i, -2])
        closed, open_ = self._gripper_range
        g = 2 * (finger - closed) / (open_ - closed) - 1
        return np.array([*p, *rpy, g], dtype=np.float32)

    def initial_layout(self) -> dict:
        """Where the objects were placed at the last reset, before settling (world frame)."""
        u = self._env.unwrapped
        return {name: {"p": u.objs[name].pose.p[0].cpu().numpy().tolist(),
                       "q": u.objs[name].pose.q[0].cpu().numpy().tolist()} for name in u.obj_names}

    def set_layout(self, xyz, quat) -> None:
        """Place the objects of the *next* reset at a custom layout (data collection only).

        ``xyz``: (n_objects, 3) world positions, ``quat``: (n_objects, 4) wxyz, in the order of
        the env's ``obj_names`` (source first). Reset with ``options={"episode_id": 0}``.
        :meth:`restore_layouts` brings SIMPLER's evaluation layouts back.
        """
        import torch

        u = self._env.unwrapped
        u.xyz_configs = torch.as_tensor(np.asarray(xyz), dtype=torch.float32)[None]
        u.quat_configs = torch.as_tensor(np.asarray(quat), dtype=torch.float32)[None]

    def set_layouts(self, layouts: list) -> list[int]:
        """Custom layouts ``[(xyz, quat), ...]`` for the next ``reset_batch``, one per scene; returns the
        episode ids that select them (scene b: position b and orientation b of the stored configs)."""
        import torch

        if len(layouts) != self.num_envs:
            raise UserError(f"set_layouts needs {self.num_envs} layouts, got {len(layouts)}")
        u = self._env.unwrapped
        u.xyz_configs = torch.as_tensor(np.stack([x for x, _ in layouts]), dtype=torch.float32)
        u.quat_configs = torch.as_tensor(np.stack([q for _, q in layouts]), dtype=torch.float32)
        n = self.num_envs
        return [b * n + b for b in range(n)]  # SIMPLER: position id // n_quats, orientation id % n_quats

    def restore_layouts(self) -> None:
        u = self._env.unwrapped
        u.xyz_configs, u.quat_configs = self._eval_layouts

    def evaluation_layouts(self) -> dict:
        """World xy of every object in each of the 24 evaluation episodes: {name: (24, 2)}."""
        u = self._env.unwrapped
        xyz, quat = self._eval_layouts
        ids = np.asarray(self.task.episode_ids)
        n_xyz, n_q = len(xyz), len(quat)
        pos_ids = (ids % (n_xyz * n_q)) // n_q
        p = xyz.cpu().numpy()[pos_ids]  # (24, n_objects, 3)
        return {name: p[:, i, :2] for i, name in enumerate(u.obj_names)}

    def scene(self, i: int):
        """Scene ``i`` as a privileged policy sees it (``privileged_state()``, ``task``, ``instruction``)."""
        return self if self.num_envs == 1 else _SceneView(self, i)

    def privileged_state(self, i: int = 0) -> dict:
        """Simulator ground truth of scene ``i`` for privileged policies (the ``scripted`` oracle), base frame.

        Returns positions (m) and quaternions (wxyz) of the source and target objects, the
        end-effector's measured and target pose, the finger positions, and the objects' bounding
        box half-sizes in their own frames.
        """
        u = self._env.unwrapped
        to_base = u.agent.robot.pose.inv()
        arm = u.agent.controller.controllers["arm"]

        def pq(pose):
            return pose.p[i].cpu().numpy().astype(np.float64), pose.q[i].cpu().numpy().astype(np.float64)

        out = {}
        for role, name in (("source", self.task.source_object), ("target", self.task.target_object)):
            p, q = pq(to_base * u.objs[name].pose)
            bbox = u.model_db[name]["bbox"]
            half = (np.array(bbox["max"]) - np.array(bbox["min"])) / 2
            out[role] = {"p": p, "q": q, "half_size": half}
        out["ee"] = dict(zip("pq", pq(arm.ee_pose_at_base)))
        out["ee_target"] = dict(zip("pq", pq(arm._target_pose)))
        out["fingers"] = [pq(to_base * link.pose)[0] for link in (u.agent.finger1_link, u.agent.finger2_link)]
        return out


CAMERA_SIZE = (480, 640)  # SIMPLER's 3rd_view_camera (H, W) and its intrinsics (both scenes: a Logitech C920)
CAMERA_K = np.array([[623.588, 0, 319.501], [0, 623.588, 239.545], [0, 0, 1]])


def _scaled_camera(scale: float) -> dict:
    """The camera at ``scale`` of its resolution with the intrinsics scaled with it (the same view, fewer pixels;
    ManiSkill resizes the greenscreen background to it). For development checks only: a policy sees the frame
    after a resize either way, but not the same pixels."""
    h, w = (round(x * scale) for x in CAMERA_SIZE)
    k = CAMERA_K.copy()
    k[0, 0] *= w / CAMERA_SIZE[1]
    k[1, 1] *= h / CAMERA_SIZE[0]
    k[0, 2] = (k[0, 2] + 0.5) * w / CAMERA_SIZE[1] - 0.5
    k[1, 2] = (k[1, 2] + 0.5) * h / CAMERA_SIZE[0] - 0.5
    return {"width": w, "height": h, "intrinsic": k}


def _exact_fast_greenscreen(u) -> None:
    """SIMPLER's greenscreen (``BaseDigitalTwinEnv._green_sceen_rgb``: background pixels take the real image,
    pixels of the robot and the task's objects keep the render), with the mask from a lookup table over the
    segmentation ids instead of ``torch.isin`` and one ``torch.where`` instead of two products and a sum: the
    same pixels, several times cheaper. Other overlay modes keep ManiSkill's own code."""
    import torch

    original = u._green_sceen_rgb

    def green_screen(rgb, segmentation, overlay_img):
        if u.rgb_overlay_mode != "background" or rgb.dtype != overlay_img.dtype:
            return original(rgb, segmentation, overlay_img)
        seg = segmentation[..., 0].long()
        src = u._segmentation_ids_to_keep  # rebuilt by ManiSkill on reconfiguration: the table follows it
        size = int(seg.max()) + 1
        cached = getattr(u, "_lapa_keep_lut", None)
        if cached is None or cached[0] is not src or cached[1].numel() < size or cached[1].device != seg.device:
            keep_ids = src.to(seg.device).long()
            n = max(size, int(keep_ids.max()) + 1 if keep_ids.numel() else 0)
            lut = torch.zeros(n, dtype=torch.bool, device=seg.device)
            lut[keep_ids[keep_ids >= 0]] = True
            u._lapa_keep_lut = cached = (src, lut)
        keep = cached[1][seg.clamp(min=0)] & (seg >= 0)
        return torch.where(keep[..., None], rgb, overlay_img)

    u._green_sceen_rgb = green_screen
    u._lapa_original_green_screen = original


class _SceneView:
    """One scene of a batched env, for a privileged policy bound to it."""

    def __init__(self, env: SimplerBridgeEnv, i: int):
        self.env, self.i = env, i
        self.task, self.instruction = env.task, env.instruction

    def privileged_state(self) -> dict:
        return self.env.privileged_state(self.i)


def make_env(task, image_size=None, num_envs: int = 1, backend: str = "auto", render_scale: float = 1.0,
             embodiment: str = "widowx"):
    """Make the env of one SIMPLER Bridge task.

    ``task``: short name (``spoon``, ``carrot``, ``stack``, ``eggplant``) or ManiSkill env id.
    ``image_size``: ``(H, W)`` to resize the camera image to (default 480x640, native).
    ``backend``: ``auto`` (GPU physics and rendering when CUDA is present), ``cpu`` or ``gpu``.
    ``num_envs``: scenes stepped in lockstep (the batched API); on the CPU an :class:`EnvList` of
    single-scene envs, on the GPU one ManiSkill env with ``num_envs`` scenes.
    ``render_scale``: < 1 renders the camera at that fraction of 640x480 (intrinsics scaled): development checks
    only, never a committed SIMPLER result.
    ``embodiment``: ``widowx`` (SIMPLER's) or ``floating_gripper`` (ManiSkill's floating Panda gripper in the same
    scenes, for action-free videos of another body: :mod:`lapa_bench.tasks.floating_gripper`).
    Raises :class:`lapa_bench.assets.AssetsMissingError` when the assets are not installed.
    """
    backend = resolve_backend(backend)
    if num_envs > 1 and backend == "cpu":
        return EnvList([SimplerBridgeEnv(task, image_size=image_size, backend="cpu", render_scale=render_scale,
                                         embodiment=embodiment) for _ in range(num_envs)])
    return SimplerBridgeEnv(task, image_size=image_size, num_envs=num_envs, backend=backend, render_scale=render_scale,
                            embodiment=embodiment)
