"""MLflow tracking: one experiment per dataset, one run per (model, split, seed).

Runs are logged from the files a training job wrote, by one ``track_model`` job per model
(:mod:`echoes.stages.track`): training jobs import no MLflow. The database and the experiment are
created by one process at a time: a new SQLite database created by several processes at once
breaks for good (Alembic migration race), so every tracking job creates them, if absent, under a
file lock (``<db>.lock``); a database deleted later, or a tracking URI changed since
(``MLFLOW_TRACKING_URI`` wins over ``tracking.uri``, read when the job runs), is created once,
safely, even with several jobs starting together.

A run carries its training job's own start and end (``started_ms``, ``ended_ms`` in
``metrics.json``). Logging a run retires earlier runs of its name: runs left RUNNING by a killed
tracking job are marked KILLED (their half-written local artifacts removed) and earlier finished
ones are tagged ``echoes.superseded``, so the experiment shows one current run per name; a run
already logged from the same ``metrics.json`` is kept. A tracking failure never loses a training
result: the files exist before tracking starts and this package only warns about what it could
not log.

The rooms: :mod:`echoes.tracking.experiment` (the URI, the database and the experiment, created
once) and :mod:`echoes.tracking.runs` (one run: opened, logged, closed).
"""
