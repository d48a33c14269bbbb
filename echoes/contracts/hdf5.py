"""What the HDF5 contracts share: a format check and ``(id, reason)`` lists."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np


def check_format(h5: h5py.File, path: Path, expected: int, what: str, error: type[Exception]) -> None:
    """Raise ``error`` naming ``path`` unless the file's ``format`` attribute is ``expected``."""
    found = h5.attrs.get("format")
    if found != expected:
        raise error(f"{path}: {what} format {found!r}, expected {expected}; delete it and rerun snakemake")


def write_pairs(h5: h5py.File, ids: str, reasons: str, pairs: Sequence[tuple[str, str]]) -> None:
    string = h5py.string_dtype()
    h5.create_dataset(ids, data=np.array([p[0] for p in pairs], dtype=object), dtype=string)
    h5.create_dataset(reasons, data=np.array([p[1] for p in pairs], dtype=object), dtype=string)


def read_pairs(h5: h5py.File, ids: str, reasons: str) -> list[tuple[str, str]]:
    return list(zip([s.decode() for s in h5[ids][:]], [s.decode() for s in h5[reasons][:]], strict=True))
