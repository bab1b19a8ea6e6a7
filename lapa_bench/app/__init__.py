"""The application on top: the CLI, the pipeline, the evaluation engine, collection, replay and reports.
It imports the core (``lapa_bench``), the tasks and, through the registries, the policies and methods."""
