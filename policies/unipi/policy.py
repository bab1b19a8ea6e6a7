"""The ``unipi`` policy: plan ``plan_frames`` future frames with the video model, turn consecutive
frames into actions with the IDM, execute ``replan_every`` of them (an action chunk), plan again."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lapa_bench import specs
from lapa_bench.policy import Policy, register_policy
from lapa_bench.policies.unipi.configuration_unipi import UniPiConfig


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
            from lapa_bench.policies.idm.modeling_idm import IDM, IDMConfig
            from lapa_bench.policies.unipi.modeling_unipi import VideoUNet

            s = self.config.image_size
            self._place(VideoUNet(self.config), IDM(IDMConfig(image_size=s, depth=3)))

    def _load_weights(self, directory: Path) -> None:
        from lapa_bench.policies.idm.modeling_idm import IDM
        from lapa_bench.policies.unipi.modeling_unipi import VideoUNet

        # the config from_pretrained read once, with the user's overrides (e.g. sample_steps)
        self._place(VideoUNet.from_pretrained(directory, config=self.config), IDM.from_pretrained(directory / "idm"))

    @staticmethod
    def _generator(seed):
        import torch

        return torch.Generator().manual_seed(0 if seed is None else int(seed))

    def reset(self, instruction, seed=None, context=None):
        self._gen = self._generator(seed)

    def act(self, obs: dict) -> np.ndarray:
        if getattr(self, "_gen", None) is None:
            self.reset(obs["instruction"])
        return self._plan([obs], [self._gen])[0]

    def reset_batch(self, instructions, seeds, contexts) -> list:
        """One noise stream per episode (as when run alone); the models are shared."""
        self._gens = [self._generator(s) for s in seeds]
        return [None] * len(instructions)

    def act_batch(self, observations: list[dict], slots: list[int]) -> list:
        """One planning pass (video model, then IDM) for every episode of the batch."""
        return self._plan(observations, [self._gens[b] for b in slots])

    def _plan(self, observations: list[dict], generators: list) -> list[np.ndarray]:
        import torch

        self._ensure()
        dev = next(self.video.parameters()).device
        x = self.config.preprocess()(np.stack([o["image"] for o in observations])).to(dev)
        plans = self.video.sample(x, [o["instruction"] for o in observations], generator=generators)  # (B, k, 3, S, S)
        frames = torch.cat([x[:, None], plans], 1)  # (B, k + 1, 3, S, S)
        b, k1 = frames.shape[:2]
        idm_in = frames.flatten(0, 1)
        if self.idm.config.image_size != self.config.image_size:
            idm_in = torch.nn.functional.interpolate(idm_in, size=self.idm.config.image_size, mode="bilinear")
        idm_in = idm_in.view(b, k1, *idm_in.shape[1:])
        acts = self.idm.predict(idm_in[:, :-1].flatten(0, 1), idm_in[:, 1:].flatten(0, 1)).cpu().numpy()
        acts = acts.reshape(b, k1 - 1, -1)[:, : self.config.replan_every]
        return [np.clip(a, specs.ACTION_LOW, specs.ACTION_HIGH).astype(np.float32) for a in acts]

    def save_pretrained(self, directory) -> Path:
        self._ensure()
        d = self.video.save_pretrained(directory, policy_name=self.name)
        self.idm.save_pretrained(Path(d) / "idm")
        return d
