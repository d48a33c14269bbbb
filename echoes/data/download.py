"""Resumable, verified downloads of large archives (UCF101's servers are slow and sometimes down).

The bytes go to ``<name>.part``; an interrupted transfer resumes from there with an HTTP Range
request, retrying with exponential back-off and trying each mirror in turn. Only a complete,
verified file is renamed to ``<name>``, so a killed or failed download never looks finished. A
checksum mismatch moves the file aside to ``<name>.sha256-mismatch`` and says expected vs actual.
Without a pinned checksum the digest is computed, printed and written to ``<name>.sha256`` so the
next run can pin it.
"""

from __future__ import annotations

import http.client
import os
import re
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from echoes.files import sha256_file

CHUNK = 1 << 20
# Worth retrying: the server or the network may recover. Other 4xx answers are final for a URL.
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(RuntimeError):
    """No mirror delivered the file; the message lists each URL with its last error."""


class ChecksumError(RuntimeError):
    """The downloaded bytes are not the pinned ones; the file was kept aside for inspection."""


@dataclass(frozen=True)
class Transfer:
    """How a download behaves: ``retries`` further attempts per URL after the first, waiting
    ``backoff * 2**k`` seconds between them; the socket timeout; TLS certificate checks
    (``verify_tls=False``: the UCF server's certificate has lapsed before, and the SHA-256 still
    guards the bytes); the progress bar; and the sleep function (tests pass a no-op)."""

    retries: int = 5
    backoff: float = 2.0
    timeout: float = 60.0
    verify_tls: bool = True
    progress: bool = True
    sleep: Callable[[float], None] = time.sleep


class _Transient(Exception):
    """An attempt that may succeed if repeated (dropped connection, timeout, 5xx)."""


def _total_size(response: http.client.HTTPResponse, offset: int) -> int | None:
    """The full file size the server announces, whether it answered the Range request or not."""
    if response.status == 206:
        match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not match or int(match.group(1)) != offset:
            raise _Transient(f"unexpected Content-Range {response.headers.get('Content-Range')!r}")
        return None if match.group(3) == "*" else int(match.group(3))
    length = response.headers.get("Content-Length")
    return int(length) if length is not None else None


def _fetch_once(url: str, part: Path, timeout: float, progress: bool, context: ssl.SSLContext | None) -> None:
    """One attempt: append to ``part`` from where it stops; raise :class:`_Transient` to retry."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "echoes-downloader"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout, context=context)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the part already holds every byte, or is longer than the file
            if error.headers.get("Content-Range", "").rpartition("/")[2] == str(offset):
                return
            part.unlink()
            raise _Transient(f"HTTP 416 for a {offset}-byte partial file; starting over") from error
        if error.code in TRANSIENT_STATUS:
            raise _Transient(f"HTTP {error.code} {error.reason}") from error
        raise
    except (urllib.error.URLError, OSError) as error:
        raise _Transient(str(getattr(error, "reason", error))) from error
    with response:
        if response.status == 200 and offset:
            offset = 0  # the server ignored Range: start again rather than append a second copy
        total = _total_size(response, offset)
        mode = "ab" if offset else "wb"
        received = offset
        try:
            with (
                open(part, mode) as handle,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=part.name.removesuffix(".part"),
                    disable=not progress,
                    mininterval=1.0,
                ) as bar,
            ):
                while block := response.read(CHUNK):
                    handle.write(block)
                    received += len(block)
                    bar.update(len(block))
        except (OSError, http.client.HTTPException) as error:
            raise _Transient(f"connection lost after {received} bytes: {error}") from error
    if total is not None and received != total:
        raise _Transient(f"connection closed after {received} of {total} bytes")


def fetch(urls: Sequence[str], dest: str | os.PathLike, transfer: Transfer | None = None) -> Path:
    """Download the first URL of ``urls`` that works into ``<dest>.part`` (not verified, not renamed).

    Each attempt resumes the partial file. A partial file is never created before the server
    has answered with data, so a 404 or an unreachable host leaves nothing behind.
    """
    transfer = transfer or Transfer()
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    context = None if transfer.verify_tls else ssl._create_unverified_context()
    failures = []
    for url in urls:
        for attempt in range(transfer.retries + 1):
            try:
                _fetch_once(url, part, transfer.timeout, transfer.progress, context)
                return part
            except _Transient as error:
                last = f"{error} (attempt {attempt + 1} of {transfer.retries + 1})"
                print(f"download of {url}: {last}", flush=True)
                if attempt < transfer.retries:
                    transfer.sleep(transfer.backoff * 2**attempt)
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code} {error.reason}"
                break
            except ValueError as error:  # urllib's answer to a malformed URL
                last = str(error)
                break
        failures.append(f"{url}: {last}")
    if part.exists() and part.stat().st_size == 0:
        part.unlink()
    kept = f"; {part} keeps {part.stat().st_size} bytes for the next attempt" if part.exists() else ""
    raise DownloadError(f"could not download {dest.name}:\n  " + "\n  ".join(failures) + kept)


def verify(part: Path, dest: Path, sha256: str | None, progress: bool = True) -> str:
    """Check ``part`` against ``sha256`` and rename it to ``dest``; return the digest.

    A mismatch moves the bytes to ``<dest>.sha256-mismatch`` (never deleted: 6.5 GB are precious
    and the evidence matters) and raises. With no pinned digest, ``<dest>.sha256`` records it.
    """
    actual = sha256_file(part, progress)
    if sha256 is not None and actual != sha256.lower():
        quarantine = dest.with_name(dest.name + ".sha256-mismatch")
        os.replace(part, quarantine)
        raise ChecksumError(
            f"{dest.name}: SHA-256 mismatch: expected {sha256.lower()}, got {actual}; "
            f"the file was moved to {quarantine} (delete it to retry, or fix the pinned checksum)"
        )
    if sha256 is None:
        dest.with_name(dest.name + ".sha256").write_text(f"{actual}  {dest.name}\n")
        print(f"{dest.name}: SHA-256 {actual} (no checksum pinned in config; pin this one to verify future downloads)")
    os.replace(part, dest)
    return actual


def download(
    urls: Sequence[str], dest: str | os.PathLike, sha256: str | None = None, transfer: Transfer | None = None
) -> Path:
    """Stage entry point: resumable fetch from the first working mirror, then verify and rename."""
    transfer = transfer or Transfer()
    dest = Path(dest)
    verify(fetch(urls, dest, transfer), dest, sha256, transfer.progress)
    return dest
