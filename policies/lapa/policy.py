"""The trained VLA checkpoints behind the harness's one policy interface.

* ``lapa``: latent pretraining (stage 2) + action finetuning (stage 3).
* ``scratch``: the same model and action head, finetuned on the labelled trajectories only.

Both load with ``from_pretrained(dir)`` / ``lapa-bench eval --policy lapa --checkpoint DIR``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lapa_bench import specs
from lapa_bench.policy import Policy, register_policy
from policies.lapa.configuration_lapa import LAPAConfig


@register_policy("lapa")
class LAPAPolicy(Policy):
    """LAPA: VLM latent-pretrained on LAQ codes of action-free videos, finetuned on actions."""

    config_class = LAPAConfig

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.model = None

    def _ensure_model(self):
        if self.model is None:  # an untrained model (tests, smoke runs); checkpoints load weights
            from policies.lapa.modeling_lapa import LAPAModel

            self._place(LAPAModel.build(self.config))
        return self.model

    def _place(self, model):
        from lapa_bench.device import resolve_device

        self.model = model.to(resolve_device(self.device)).eval()
        self.config = model.config

    def _load_weights(self, directory: Path) -> None:
        from policies.lapa.modeling_lapa import LAPAModel

        model = LAPAModel.from_pretrained(directory)
        model.config.execute = self.config.execute  # the one rollout setting a user may change
        if model.config.head != "action":
            raise ValueError(f"{directory} is a latent-pretrained (stage 2) checkpoint: it predicts latent codes, "
                             f"not actions. Finetune it first: lapa-bench lapa finetune --init {directory} ...")
        self._place(model)

    def act(self, obs: dict) -> np.ndarray:
        """An action chunk: the first ``execute`` of the ``chunk`` actions the model predicts."""
        model = self._ensure_model()
        state = obs["state"][None] if model.config.proprio else None
        chunk = model.predict(obs["image"][None], [obs["instruction"]], state)[0]
        return np.clip(chunk[: self.config.execute], specs.ACTION_LOW, specs.ACTION_HIGH).astype(np.float32)

    def save_pretrained(self, directory) -> Path:
        return self._ensure_model().save_pretrained(directory, policy_name=self.name)


@register_policy("scratch")
class ScratchPolicy(LAPAPolicy):
    """Scratch: LAPA's VLM and action head trained on the labelled trajectories only (no pretraining)."""
