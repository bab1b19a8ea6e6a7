"""The trained VLA checkpoints behind the harness's one policy interface.

* ``lapa``: latent pretraining (stage 2) + action finetuning (stage 3).
* ``scratch``: the same model and action head, finetuned on the labelled trajectories only.

Both load with ``from_pretrained(dir)`` / ``lapa-bench eval --policy lapa --checkpoint DIR``.
"""
from __future__ import annotations

from pathlib import Path

from lapa_bench.errors import UserError
from lapa_bench.policy import ModelPolicy, register_policy
from lapa_bench.policies.lapa.configuration_lapa import LAPAConfig


@register_policy("lapa")
class LAPAPolicy(ModelPolicy):
    """LAPA: VLM latent-pretrained on LAQ codes of action-free videos, finetuned on actions."""

    config_class = LAPAConfig

    @classmethod
    def model_class(cls):
        from lapa_bench.policies.lapa.modeling_lapa import LAPAModel

        return LAPAModel

    def _build(self):
        return self.model_class().build(self.config)

    def _check(self, model, directory: Path) -> None:
        if model.config.head != "action":
            raise UserError(f"{directory} is a latent-pretrained (stage 2) checkpoint: it predicts latent codes, "
                             f"not actions. Finetune it first: lapa-bench lapa finetune --init {directory} ...")

    def _states(self, observations: list[dict], slots: list[int]):
        return super()._states(observations, slots) if self.model.config.proprio else None


@register_policy("scratch")
class ScratchPolicy(LAPAPolicy):
    """Scratch: LAPA's VLM and action head trained on the labelled trajectories only (no pretraining)."""
