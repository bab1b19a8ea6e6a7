"""The ``vpt`` policy: LAPA's VLM pretrained on IDM pseudo-actions, then finetuned."""
from lapa_bench.policy import register_policy
from lapa_bench.policies.lapa.policy import LAPAPolicy


@register_policy("vpt")
class VPTPolicy(LAPAPolicy):
    """VPT: VLM pretrained on IDM-labelled pseudo-actions of the videos, finetuned on actions."""
