"""Unpacking archives with real tools: ``bsdtar`` first, ``unar`` as the fallback.

Debian has no ``unrar``, and neither tool reads every RAR: bsdtar (libarchive-tools) reads RAR5
and non-solid RAR4, unar reads all RAR4 but fails on some RAR5. Both also read zip and tar.
Extraction goes to a hidden sibling folder that is moved into place only when complete.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

# tool -> (system package, command line given archive and output folder)
EXTRACTORS: dict[str, tuple[str, list[str]]] = {
    "bsdtar": ("libarchive-tools", ["bsdtar", "-x", "-f", "{archive}", "-C", "{out}"]),
    "unar": ("unar", ["unar", "-q", "-f", "-D", "-o", "{out}", "{archive}"]),
}


class MissingToolError(RuntimeError):
    """No extraction tool is installed; the message names the system packages."""


class ArchiveError(RuntimeError):
    """Every tool failed on the archive (not an archive, corrupt, or an unsupported RAR flavour)."""


def available_extractors(tools: Sequence[str] = tuple(EXTRACTORS)) -> list[str]:
    return [tool for tool in tools if shutil.which(tool)]


def require_extractor(tools: Sequence[str] = tuple(EXTRACTORS)) -> list[str]:
    """The installed tools, or an error naming what to install: checked before any download starts."""
    found = available_extractors(tools)
    if not found:
        packages = " ".join(EXTRACTORS[t][0] for t in tools)
        raise MissingToolError(
            f"extracting the archive needs one of {', '.join(tools)}, and none is installed; "
            f"install them with `sudo apt-get install -y {packages}` (Debian/Ubuntu) "
            f"or `conda install -c conda-forge libarchive` for bsdtar"
        )
    return found


def _content_root(unpacked: Path, inner: str | None) -> Path:
    """The folder to keep: ``inner`` if the archive has it, else its single top-level folder."""
    if inner and (unpacked / inner).is_dir():
        return unpacked / inner
    entries = list(unpacked.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


def extract(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    inner: str | None = None,
    tools: Sequence[str] = tuple(EXTRACTORS),
) -> str:
    """Unpack ``archive`` so that ``dest`` holds its content folder; return the tool that worked.

    ``inner`` names the archive's top folder to keep (``UCF-101``, ``ucfTrainTestlist``).
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"archive {archive} does not exist")
    errors = []
    dest.parent.mkdir(parents=True, exist_ok=True)
    for tool in require_extractor(tools):
        scratch = dest.with_name(f".{dest.name}.unpacking")
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        try:
            command = [arg.format(archive=archive.resolve(), out=scratch) for arg in EXTRACTORS[tool][1]]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0 or not any(scratch.iterdir()):
                message = (result.stderr or result.stdout).strip() or "no files extracted"
                errors.append(f"{tool}: {message.splitlines()[-1]}")
                continue
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(_content_root(scratch, inner), dest)
            return tool
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    raise ArchiveError(f"{archive} could not be extracted:\n  " + "\n  ".join(errors))
