"""How a harvest is cut into blocks of sequences, and where the blocks run.

The step loop (:mod:`echoes.models.esn_kernels`) pushes one block of sequences at a time through a
reservoir; its products and elementwise passes are small (``[N, b]`` per step). Two choices decide
how fast a batch goes through them; neither changes what is computed.

- **Width.** With a CSR product on CPU a block is as wide as harvests fastest on this machine (the
  best width moves with the CPU's caches), timed once per machine on the harvest itself and kept
  (:class:`echoes.measured.MeasuredChoices`), so that later runs harvest at the same width and give
  the same bytes. Dense products, and GPUs, take the whole batch.
- **Threads.** With several blocks and several CPU threads, the blocks run side by side, one per
  thread and every op on one thread, instead of one block at a time with every op split over the
  threads: a step's ops take tens of microseconds, and splitting each one costs a fork and a join
  (1.1-1.15x faster on 2 cores, ``benchmarks/README.md``). Results come back in the blocks' order.
  A pass that feeds each block to a running sum (the states' PCA) keeps one block at a time on all
  threads: its per-block GEMM wants them, and the sum its order.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from typing import TypeVar

import torch

from echoes.measured import MeasuredChoices, machine_key
from echoes.models.esn_kernels import EncodeBlock, Matrices, Workspace

BLOCK_WIDTHS = (32, 64, 128, 256)
Item, Result = TypeVar("Item"), TypeVar("Result")


def candidate_widths(matrices: list[torch.Tensor], batch: int) -> list[int]:
    """Block widths a harvest of ``batch`` sequences may use with ``matrices`` (the ``W^T`` and
    ``W_in^T`` in use): ``BLOCK_WIDTHS`` below the batch (and the batch itself, if no wider) when
    a CSR product runs on CPU; else only the whole batch (dense products want it wide, a GPU has no
    cache to fit). Powers of two keep rows aligned to vector registers and cache lines."""
    sparse = [matrix for matrix in matrices if matrix.is_sparse_csr]
    if not sparse or sparse[0].device.type != "cpu":
        return [batch]
    return [width for width in BLOCK_WIDTHS if width < batch] + ([batch] if batch <= BLOCK_WIDTHS[-1] else [])


@contextmanager
def ops_on_one_thread(active: bool = True) -> Iterator[None]:
    """While ``active``, every PyTorch op runs on one thread (the blocks run side by side instead);
    the thread count is restored after, whatever happens."""
    threads = torch.get_num_threads()
    if active:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if active:
            torch.set_num_threads(threads)


def in_order(function: Callable[[Item, Workspace], Result], items: Sequence[Item], threads: int) -> Iterator[Result]:
    """``function(item, workspace)`` for every item, on ``threads`` threads, each with its own
    :class:`Workspace`, the results yielded in the items' order. About ``2 * threads`` results at most
    wait to be taken, so a harvest holds a few blocks' states, never the batch's."""
    if threads <= 1:
        workspace = Workspace()
        yield from (function(item, workspace) for item in items)
        return
    local = threading.local()

    def call(item: Item) -> Result:
        if not hasattr(local, "workspace"):
            local.workspace = Workspace()
        return function(item, local.workspace)

    pool = ThreadPoolExecutor(threads, thread_name_prefix="echoes-harvest")
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(call, item))
            if len(pending) > 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class BlockedHarvest:
    """Harvests a batch in blocks of sequences, as wide as harvests fastest on this machine.

    The width is measured on the harvest itself (a product timed alone misses what the step's
    other work does to the caches), once per set of candidate widths: every batch wider than
    ``BLOCK_WIDTHS[-1]`` has the same candidates, so a harvest in batches of 1024 and a last,
    shorter one times once. It is kept per machine (:class:`MeasuredChoices`), so later runs
    harvest at the same width and give the same bytes. ``forced`` fixes a width instead.
    """

    def __init__(self) -> None:
        self.widths: dict[str, int] = {}

    def __call__(
        self,
        x: torch.Tensor,
        matrices: Matrices,
        encode_block: EncodeBlock,
        forced: int | None = None,
        consume: Callable[[torch.Tensor], None] | None = None,
    ) -> torch.Tensor | None:
        """Pooled states of ``x`` ``[B, T, F]``, block by block through ``encode_block``; with
        ``consume``, each block's result is handed to it instead, in the blocks' order, and None returned.

        On the first harvest with a set of candidates on this machine, the timing harvests blocks
        of ``x`` whose results are then dropped (``consume`` never sees them): the batch is harvested
        again at the chosen width, exactly as every later run will harvest it (the cost is paid once
        per machine). Without ``consume``, several blocks on CPU run side by side on PyTorch's threads,
        each op on one thread, and the width is timed that way too.
        """
        flat = [matrix for pair in matrices for matrix in pair]
        widths = candidate_widths(flat, len(x))
        side_by_side = consume is None and len(widths) > 1 and x.device.type == "cpu"
        threads = torch.get_num_threads() if side_by_side else 1
        with ops_on_one_thread(threads > 1):  # timed as its blocks will run
            width = self.width(x, widths, matrices, encode_block) if forced is None else forced
        blocks = x.split(width)
        workers = min(threads, len(blocks))  # a single block keeps every thread for its ops

        def encode(block: torch.Tensor, workspace: Workspace) -> torch.Tensor:
            return encode_block(block, matrices, workspace)

        with ops_on_one_thread(workers > 1), closing(in_order(encode, blocks, workers)) as results:
            if consume is None:
                return torch.cat(list(results))
            for result in results:
                consume(result)
        return None

    def width(self, x: torch.Tensor, widths: list[int], matrices: Matrices, encode_block: EncodeBlock) -> int:
        """The block width for this set of candidates on this machine: kept, or timed now."""
        shapes = [(tuple(m.shape), m.is_sparse_csr and m.values().numel()) for pair in matrices for m in pair]
        key = f"{machine_key(x.device)} | widths {widths} | {shapes}"
        if key not in self.widths:
            if len(widths) == 1:
                self.widths[key] = widths[0]
            else:
                measure = lambda: self.time_widths(x, widths, matrices, encode_block)  # noqa: E731
                self.widths[key] = MeasuredChoices().get_or_measure(key, measure)
        return self.widths[key]

    @staticmethod
    def time_widths(x: torch.Tensor, widths: list[int], matrices: Matrices, encode_block: EncodeBlock) -> int:
        """The width of ``widths`` that harvests the first blocks of ``x`` in the least seconds per sequence.

        Two blocks of the narrowest width, then each next width against the best so far in turn,
        next, best, best, next (a slow spell of a shared host hits both alike, and a drift, such as
        a harvest getting faster over its first blocks while caches and clocks warm up, favours
        neither: in the order next, best, next, best it favoured the best so far), the faster of
        each width's blocks counting, for as long as the wider width wins and the batch lasts.
        """
        seconds: dict[int, float] = {}
        workspaces: dict[int, Workspace] = {}  # two widths' buffers at most, reused by their blocks
        start = 0

        def harvest(width: int) -> None:
            nonlocal start
            began = time.perf_counter()
            encode_block(x[start : start + width], matrices, workspaces[width])
            seconds[width] = min(seconds.get(width, math.inf), (time.perf_counter() - began) / width)
            start += width

        best = widths[0]
        if 2 * best > len(x):
            return len(x)
        workspaces[best] = Workspace()
        for timed in (best, best):
            harvest(timed)
        for width in widths[1:]:
            if start + 2 * (width + best) > len(x):
                break
            workspaces[width] = Workspace()
            for timed in (width, best, best, width):
                harvest(timed)
            loser, best = (best, width) if seconds[width] < seconds[best] else (width, best)
            del workspaces[loser]
            if best != width:
                break
        return best
