"""The tracking URI, the database and the experiment: created once, by one process at a time."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def resolve_tracking_uri(configured: str) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the configured URI with a relative SQLite path made absolute."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        path = Path(uri[len(prefix) :]).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = prefix + str(path)
    return uri


def experiment_name(dataset: str) -> str:
    return f"echoes-{dataset}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


@contextmanager
def creation_lock(uri: str) -> Iterator[None]:
    """Hold ``<db>.lock`` while a SQLite database or an experiment may be created (no-op for servers)."""
    database = sqlite_path(uri)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def init_experiment(uri: str, name: str, artifact_root: Path) -> dict[str, str]:
    """Create the tracking database (if new) and the experiment (if absent), one process at a time."""
    with creation_lock(uri):
        return _init_experiment(uri, name, artifact_root)


def _init_experiment(uri: str, name: str, artifact_root: Path) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        # A tracking server stores artifacts where it was told to (--artifacts-destination), reachable
        # from every node; only a local database gets a local artifact folder.
        remote = uri.startswith(("http://", "https://"))
        location = None if remote else (Path(artifact_root).resolve() / name).as_uri()
        # marks the experiment as model training for the UI's kind selector (3.17 still opens its GenAI
        # overview first: README gives the training-runs URL)
        experiment_id = client.create_experiment(
            name, artifact_location=location, tags={"mlflow.experimentKind": "custom_model_development"}
        )
    else:
        experiment_id = experiment.experiment_id
    return {
        "tracking_uri": uri,
        "experiment_name": name,
        "experiment_id": experiment_id,
        "artifact_root": str(Path(artifact_root).resolve()),
    }


def config_hash(values: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_commit(path: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_name(model: str, split: int, seed: int) -> str:
    return f"{model}-split{split}-seed{seed}"
