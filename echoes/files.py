"""Files every stage writes: atomic outputs, JSON, job logs, checksums."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete ``path``'s temporaries left by killed jobs (``.<name>.tmp-<pid>`` of a process that is gone)."""
    stale = []
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            stale.append(tmp)
    return stale


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it into place only if the block succeeds.

    A killed or failing job therefore never leaves a file that looks finished.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_path` for a folder: built aside, swapped in whole at the end."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = _tmp_sibling(path)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def log_to(path: str | os.PathLike | None) -> Iterator[None]:
    """Send this process's stdout, stderr and log records to ``path`` (a job's log file)."""
    if path is None:
        yield
        return
    import logging
    from contextlib import redirect_stderr, redirect_stdout

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as handle, redirect_stdout(handle), redirect_stderr(handle):
        handler = logging.StreamHandler(handle)
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        try:
            yield
        except BaseException as error:
            import traceback

            traceback.print_exc(file=handle)
            # the console shows the reason too, not only "see the log": the first thing a user reads
            print(f"{type(error).__name__}: {error} (log: {path})", file=sys.__stderr__, flush=True)
            raise
        finally:
            logging.getLogger().removeHandler(handler)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically, keys sorted so that identical results give identical files."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def sha256_file(path: str | os.PathLike, progress: bool = False) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (archives are gigabytes; the bar shows how far)."""
    path = Path(path)
    digest = hashlib.sha256()
    with (
        open(path, "rb") as handle,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"sha256 {path.name}",
            disable=not progress,
        ) as bar,
    ):
        while block := handle.read(1 << 20):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()
