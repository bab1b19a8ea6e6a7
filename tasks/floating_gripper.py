"""Another embodiment in the same scenes: the four SIMPLER Bridge tasks with ManiSkill's floating Panda gripper
standing in for the WidowX, seen by the same camera.

The gripper (``floating_panda_gripper``, shipped in mani-skill's own package assets: nothing to download) has its
root where the WidowX's base stands and starts with its fingertips where the WidowX's start, facing down. The
camera is SIMPLER's ``3rd_view_camera`` fixed in the world at the pose it has on the WidowX (it rides on the
robot's base there, which never moves), with the same real background behind the greenscreen. The controller
takes lapa-bench's action as the WidowX's does (a delta of the end-effector target in the base frame, metres and
radians; gripper +1 open, -1 closed), so the same ``scripted`` oracle solves the tasks. A floating hand is the
closest thing here to the human hand of LAPA's videos: another body in the Bridge scenes, doing the Bridge tasks.

:func:`register` adds one ManiSkill env per task, ``<SIMPLER env id without -v1>-FloatingGripper-v1``;
``make_env(task, embodiment="floating_gripper")`` makes it.
"""
from __future__ import annotations

import numpy as np

EMBODIMENTS = ("widowx", "floating_gripper")
SUFFIX = "-FloatingGripper-v1"
GRIPPER_QPOS_CLOSED, GRIPPER_QPOS_OPEN = 0.0, 0.04  # the Panda fingers' joint range (m)

# where the WidowX's end effector is at SIMPLER's reset, in its base frame (layout 0 of carrot and of eggplant,
# measured with SimplerBridgeEnv.privileged_state): where the gripper's TCP starts
_START_TCP = {"flat_table": [0.2921, -0.0061, 0.1353], "sink": [0.2497, -0.0675, 0.2276]}
# the WidowX's base pose at reset (ManiSkill's BaseBridgeEnv._initialize_episode), world frame, wxyz
_BASE = {"flat_table": ([0.147, 0.028, 0.870], [0, 0, 0, 1]), "sink": ([0.127, 0.060, 0.85], [0, 0, 0, 1])}

_REGISTERED = False


def env_id(simpler_env_id: str) -> str:
    return simpler_env_id.removesuffix("-v1") + SUFFIX


def register() -> None:
    """Register the floating-gripper versions of the four SIMPLER Bridge envs with ManiSkill (once)."""
    global _REGISTERED
    if _REGISTERED:
        return
    import sapien
    import torch
    from mani_skill.agents.controllers import PDEEPoseControllerConfig, PDJointPosMimicControllerConfig
    from mani_skill.agents.registration import register_agent
    from mani_skill.agents.robots.floating_panda_gripper import FloatingPandaGripper
    from mani_skill.envs.tasks.digital_twins.bridge_dataset_eval import put_on_in_scene as simpler
    from mani_skill.envs.tasks.digital_twins.bridge_dataset_eval.base_env import (
        WidowX250SBridgeDatasetFlatTable, WidowX250SBridgeDatasetSink)
    from mani_skill.sensors.camera import CameraConfig
    from mani_skill.utils import common
    from mani_skill.utils.registration import register_env

    @register_agent()
    class BridgeFloatingGripper(FloatingPandaGripper):
        uid = "lapa_bench_floating_gripper"
        stiffness, damping, force_limit = 1e4, 1e3, 200  # stiffer than the stock 1e3: it carries the objects

        @property
        def _controller_configs(self):
            arm = PDEEPoseControllerConfig(
                joint_names=self.root_joint_names, pos_lower=-1.0, pos_upper=1.0, rot_lower=-np.pi / 2,
                rot_upper=np.pi / 2, stiffness=self.stiffness, damping=self.damping, force_limit=self.force_limit,
                ee_link=self.ee_link_name, urdf_path=self.urdf_path, normalize_action=False, use_target=True)
            gripper = PDJointPosMimicControllerConfig(
                joint_names=self.gripper_joint_names, lower=GRIPPER_QPOS_CLOSED - 0.01, upper=GRIPPER_QPOS_OPEN,
                stiffness=self.gripper_stiffness, damping=self.gripper_damping,
                force_limit=self.gripper_force_limit, normalize_action=True)
            return dict(bridge=dict(arm=arm, gripper=gripper))

        def is_grasping(self, obj, min_force=0.5, max_angle=85):
            """Both fingers press on ``obj`` from inside the grasp (SIMPLER's grasp metric needs it)."""
            flags = []
            for link, sign in ((self.finger1_link, 1), (self.finger2_link, -1)):
                force = self.scene.get_pairwise_contact_forces(link, obj)
                opening = sign * link.pose.to_transformation_matrix()[..., :3, 1]
                angle = common.compute_angle_between(opening, force)
                flags.append((torch.linalg.norm(force, axis=1) >= min_force) & (torch.rad2deg(angle) <= max_angle))
            return flags[0] & flags[1]

    cameras = {"flat_table": WidowX250SBridgeDatasetFlatTable, "sink": WidowX250SBridgeDatasetSink}

    def floating(cls):
        setting = cls.scene_setting
        base = sapien.Pose(*_BASE[setting])
        widowx_camera = cameras[setting]._sensor_configs.fget(None)[0]
        camera_pose = base * widowx_camera.pose.sp  # ManiSkill keeps a batched Pose: one pose here

        class Env(cls):
            # BaseBridgeEnv.__init__ names the WidowX; this class loads the gripper in its place
            @property
            def robot_uids(self):
                return BridgeFloatingGripper

            @robot_uids.setter
            def robot_uids(self, value):
                pass

            @property
            def _default_sensor_configs(self):
                return [CameraConfig(uid="3rd_view_camera", pose=camera_pose, width=widowx_camera.width,
                                     height=widowx_camera.height, intrinsic=widowx_camera.intrinsic)]

            @property
            def _default_human_render_camera_configs(self):
                return CameraConfig("render_camera", pose=camera_pose, width=512, height=512,
                                    intrinsic=widowx_camera.intrinsic, near=0.01, far=100)

            def _initialize_episode(self, env_idx, options):
                super()._initialize_episode(env_idx, options)  # objects placed and settled, the WidowX's reset
                # the root at the WidowX's base; the TCP where the WidowX's fingertips start, facing down, open
                self.agent.robot.set_pose(base)
                qpos = np.array([0, 0, 0, 0, np.pi, 0, GRIPPER_QPOS_OPEN, GRIPPER_QPOS_OPEN])
                self.agent.reset(init_qpos=qpos)
                # the root joints are prismatic along the base's axes: shift them by the TCP's offset from its start
                tcp = (base.inv() * self.agent.tcp.pose.sp).p
                qpos[:3] = np.asarray(_START_TCP[setting]) - tcp
                self.agent.reset(init_qpos=qpos)

        Env.__name__ = Env.__qualname__ = f"{cls.__name__}FloatingGripper"
        return Env

    for name in ("PutSpoonOnTableClothInScene", "PutCarrotOnPlateInScene",
                 "StackGreenCubeOnYellowCubeBakedTexInScene", "PutEggplantInBasketScene"):
        cls = getattr(simpler, name)
        max_steps = 120 if name == "PutEggplantInBasketScene" else 60
        register_env(env_id(f"{name}-v1"), max_episode_steps=max_steps)(floating(cls))
    _REGISTERED = True
