"""The SIMPLER WidowX task table (no simulator needed): names, env ids, instructions, horizons, objects."""
from __future__ import annotations

from dataclasses import dataclass, field

from lapa_bench.errors import UnknownName


@dataclass(frozen=True)
class TaskSpec:
    name: str  # short name used on the command line
    env_id: str  # ManiSkill env id
    instruction: str
    max_steps: int
    scene: str  # "flat_table" or "sink"
    source_object: str  # object to pick (ManiSkill actor name)
    target_object: str  # where to put it
    episode_ids: tuple[int, ...] = field(default=tuple(range(24)))  # SIMPLER's 24 eval configs


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec(
            "spoon", "PutSpoonOnTableClothInScene-v1", "put the spoon on the towel", 60,
            "flat_table", "bridge_spoon_generated_modified", "table_cloth_generated_shorter",
        ),
        TaskSpec(
            "carrot", "PutCarrotOnPlateInScene-v1", "put carrot on plate", 60,
            "flat_table", "bridge_carrot_generated_modified", "bridge_plate_objaverse_larger",
        ),
        TaskSpec(
            "stack", "StackGreenCubeOnYellowCubeBakedTexInScene-v1",
            "stack the green block on the yellow block", 60,
            "flat_table", "baked_green_cube_3cm", "baked_yellow_cube_3cm",
        ),
        TaskSpec(
            "eggplant", "PutEggplantInBasketScene-v1", "put eggplant into yellow basket", 120,
            "sink", "eggplant", "dummy_sink_target_plane",
        ),
    )
}


def get_task(name: str) -> TaskSpec:
    """Look a task up by short name or ManiSkill env id."""
    if isinstance(name, TaskSpec):
        return name
    for t in TASKS.values():
        if name in (t.name, t.env_id):
            return t
    known = ", ".join(f"{t.name} ({t.env_id})" for t in TASKS.values())
    raise UnknownName(f"unknown task {name!r}. Known tasks: {known}; or 'all'.")


def resolve_tasks(names) -> list[TaskSpec]:
    """``["all"]`` or a list of names/ids (comma-separated allowed) -> task specs."""
    if isinstance(names, str):
        names = [names]
    flat = [n.strip() for name in names for n in str(name).split(",") if n.strip()]
    if not flat or flat == ["all"]:
        return list(TASKS.values())
    out = []
    for n in flat:
        t = get_task(n)
        if t not in out:
            out.append(t)
    return out
