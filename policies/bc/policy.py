"""The ``bc`` policy: the reference small-CNN behaviour cloner (the floor any VLA variant must reach)."""
from __future__ import annotations

from lapa_bench.policy import ModelPolicy, register_policy
from lapa_bench.policies.bc.configuration_bc import BCConfig


@register_policy("bc")
class BCPolicy(ModelPolicy):
    """BC: small CNN + proprio + instruction -> an action chunk (L1 deltas, binary gripper); a reference."""

    config_class = BCConfig

    @classmethod
    def model_class(cls):
        from lapa_bench.policies.bc.modeling_bc import BCModel

        return BCModel
