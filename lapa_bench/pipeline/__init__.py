"""One command from data to the comparison table: ``lapa-bench pipeline configs/NAME.yaml``.

Stages (each cached in ``OUT``; a rerun skips what is done and resumes what was interrupted):

1. ``collect demos``   labelled trajectories: the scripted oracle on the Bridge tasks (disjoint from eval)
2. ``collect videos``  the action-free Bridge video corpus (more oracle episodes, actions dropped)
3. ``collect panda``   cross-embodiment videos (Panda tabletop tasks), when a run uses them;
   ``collect gripper``  another embodiment in the same scenes (the floating Panda gripper on the Bridge tasks)
4. one training stage per entry of ``runs``: a registered training method (``lapa-bench methods``)
   with its config from ``methods.<name>``, on the demos and the run's video corpus
5. ``eval``    every trained policy (and the ``scripted``/``random`` bounds) on the SIMPLER tasks
6. ``report``  table (both success definitions) + plot in ``OUT/report``

The YAML maps onto :class:`PipelineConfig` (typed, nested dataclasses): unknown keys and wrongly
typed values stop the run before any work, naming the key. ``methods.<name>`` is validated against
that method's own config class, so a method's defaults live in one place (its dataclass);
``lapa-bench pipeline CONFIG --print-config`` prints everything resolved. Stage wall times go to
``OUT/pipeline.json``.

Modules, bottom to top: ``config`` (the YAML's typed shape), ``cells`` (a cell's id, names and folders),
``stages`` (the cached stage runner), ``corpora`` (the data stages), ``tables`` (the learning check, LAQ and
compute tables), ``plan`` (``--plan``), ``run`` (the stages in order, ``--report``).
"""
from lapa_bench.pipeline.cells import cell_id, cells, select_cells, slug
from lapa_bench.pipeline.config import CorpusSpec, EvalSpec, PipelineConfig, RunSpec, validate
from lapa_bench.pipeline.plan import format_plan, plan
from lapa_bench.pipeline.run import report_only, run

__all__ = ["CorpusSpec", "EvalSpec", "PipelineConfig", "RunSpec", "cell_id", "cells", "format_plan", "plan",
           "report_only", "run", "select_cells", "slug", "validate"]
