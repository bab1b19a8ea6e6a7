"""The ``bc`` policy: the reference small-CNN behaviour cloner (the floor any VLA variant must reach)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lapa_bench import specs
from lapa_bench.policy import Policy, register_policy
from policies.bc.configuration_bc import BCConfig


@register_policy("bc")
class BCPolicy(Policy):
    """BC: small CNN + proprio + instruction -> an action chunk (L1 deltas, binary gripper); a reference."""

    config_class = BCConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.model = None

    def _ensure(self):
        if self.model is None:  # untrained (tests, smoke runs); checkpoints load weights
            from policies.bc.modeling_bc import BCModel

            self._place(BCModel(self.config))
        return self.model

    def _place(self, model):
        from lapa_bench.device import resolve_device

        self.model = model.to(resolve_device(self.device)).eval()
        self.config = model.config

    def _load_weights(self, directory: Path) -> None:
        from policies.bc.modeling_bc import BCModel

        model = BCModel.from_pretrained(directory)
        model.config.execute = self.config.execute  # the one rollout setting a user may change
        self._place(model)

    def act(self, obs: dict) -> np.ndarray:
        chunk = self._ensure().predict(obs["image"][None], [obs["instruction"]], obs["state"][None])[0]
        return np.clip(chunk[: self.config.execute], specs.ACTION_LOW, specs.ACTION_HIGH).astype(np.float32)

    def save_pretrained(self, directory) -> Path:
        return self._ensure().save_pretrained(directory, policy_name=self.name)
