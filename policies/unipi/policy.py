"""The ``unipi`` policy: plan ``plan_frames`` future frames with the video model, turn consecutive
frames into actions with the IDM, execute ``replan_every`` of them (an action chunk), plan again."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lapa_bench import specs
from lapa_bench.policy import Policy, register_policy
from policies.unipi.configuration_unipi import UniPiConfig


@register_policy("unipi")
class UniPiPolicy(Policy):
    """UniPi: text-conditioned video diffusion plans frames; an IDM converts them to actions."""

    config_class = UniPiConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.video = self.idm = None
        self._rng = None

    def _place(self, video, idm):
        from lapa_bench.device import resolve_device

        dev = resolve_device(self.device)
        self.video, self.idm = video.to(dev).eval(), idm.to(dev).eval()

    def _ensure(self):
        if self.video is None:  # untrained (tests / smoke runs)
            from policies.idm.modeling_idm import IDM, IDMConfig
            from policies.unipi.modeling_unipi import VideoUNet

            s = self.config.image_size
            self._place(VideoUNet(self.config), IDM(IDMConfig(image_size=s, depth=3)))

    def _load_weights(self, directory: Path) -> None:
        from policies.idm.modeling_idm import IDM
        from policies.unipi.modeling_unipi import VideoUNet

        video = VideoUNet.from_pretrained(directory)
        self.config = video.config
        self._place(video, IDM.from_pretrained(directory / "idm"))

    def reset(self, instruction, seed=None, context=None):
        import torch

        self._gen = torch.Generator().manual_seed(0 if seed is None else int(seed))

    def act(self, obs: dict) -> np.ndarray:
        import torch

        self._ensure()
        if getattr(self, "_gen", None) is None:
            self.reset(obs["instruction"])
        dev = next(self.video.parameters()).device
        x = self.config.preprocess()(obs["image"][None]).to(dev)
        plan = self.video.sample(x, [obs["instruction"]], generator=self._gen)[0]  # (k, 3, S, S)
        frames = torch.cat([x, plan], 0)
        idm_in = frames
        if self.idm.config.image_size != self.config.image_size:
            idm_in = torch.nn.functional.interpolate(frames, size=self.idm.config.image_size, mode="bilinear")
        acts = self.idm.predict(idm_in[:-1], idm_in[1:]).cpu().numpy()[: self.config.replan_every]
        return np.clip(acts, specs.ACTION_LOW, specs.ACTION_HIGH).astype(np.float32)

    def save_pretrained(self, directory) -> Path:
        self._ensure()
        d = self.video.save_pretrained(directory, policy_name=self.name)
        self.idm.save_pretrained(Path(d) / "idm")
        return d
