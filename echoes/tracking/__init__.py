"""MLflow tracking: one experiment per dataset, one run per (model, split, seed).

The database and the experiment are created by one process at a time: a new SQLite database
created by several processes at once breaks for good (Alembic migration race). The
``init_tracking`` job creates them before training starts, and every training job checks again
under the same file lock (``<db>.lock``), so a database deleted later, or a tracking URI changed
since (``MLFLOW_TRACKING_URI`` wins over ``tracking.uri``, read when the job runs), is created once,
safely, even with many jobs starting together.

A rerun of a (model, split, seed) deletes runs of that name left RUNNING by a killed job (with
their local artifact folder, ``.artifact.uploading.*`` files included) and tags the earlier
finished ones ``echoes.superseded``, so the experiment shows one current run per name. A tracking
failure never loses a training result: the caller writes ``metrics.json`` first and this module
only warns about what it could not log.

The rooms: :mod:`echoes.tracking.experiment` (the URI, the database and the experiment, created
once) and :mod:`echoes.tracking.runs` (one run per training job: opened, logged, closed).
"""
