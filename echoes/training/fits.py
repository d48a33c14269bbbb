"""Fitting one candidate: the gradient loop with early stopping, or the closed-form fit.

- Gradient models (LSTMs, user models): AdamW on cross-entropy in shuffled mini-batches, gradient
  norm clipping, early stopping on validation loss with ``patience`` (the loss keeps improving
  after validation accuracy saturates, so a saturated epoch does not end training); the weights
  of the last epoch that lowered the validation loss by more than ``min_delta`` are kept.
- Closed-form models (ESNs, the linear controls): one pass over the fit clips, in batches of
  ``harvest_batch_size`` (wide, because the reservoir's per-step product runs near the machine's
  peak only for wide batches), then the ridge solve, its strength chosen by GCV on the fit clips.
  Their one pass is "epoch 1".

The **convergence epoch** is the first epoch whose validation accuracy is within
``convergence_tolerance`` (default 0.005, half a point) of the best validation accuracy.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn
from tqdm import tqdm

from echoes.contracts.records import Epoch
from echoes.devices import synchronize
from echoes.models import BaseModel
from echoes.training.data import Batches, batches
from echoes.training.evaluation import TrainingDiverged, predict, top_k_accuracy, validation_loss
from echoes.training.spec import TrainingConfig

Clips = tuple[torch.Tensor, torch.Tensor]


def kept_epoch(history: Sequence[Epoch], min_delta: float) -> int:
    """The epoch (1-based) whose weights early stopping keeps: the last to lower validation loss by > ``min_delta``."""
    best, kept = math.inf, 1
    for h in history:
        if h.val_loss < best - min_delta:
            best, kept = h.val_loss, h.epoch
    return kept


def convergence_epoch(val_accuracy: list[float], tolerance: float) -> int:
    """First epoch (1-based) whose validation accuracy is within ``tolerance`` of the best."""
    best = max(val_accuracy)
    return next(i for i, acc in enumerate(val_accuracy, start=1) if acc >= best - tolerance)


class EarlyStopping:
    """Keeps the weights of the last epoch that lowered validation loss by more than ``min_delta``;
    says stop after ``patience`` epochs without one."""

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best_loss, self.best_state, self.waited = math.inf, None, 0

    def should_stop(self, model: nn.Module, val_loss: float) -> bool:
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.waited = val_loss, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.waited += 1
        return self.waited >= self.patience


def train_epoch(
    model: BaseModel, optimiser: torch.optim.Optimizer, train: Clips, cfg: TrainingConfig, device: str, epoch: int,
    generator: torch.Generator,
) -> tuple[float, float]:  # fmt: skip
    """One pass of AdamW over shuffled mini-batches; (mean loss, training accuracy)."""
    model.train()
    loss_sum, correct = 0.0, 0
    for step, (xb, yb) in enumerate(batches(*train, cfg.batch_size, generator)):
        xb, yb = xb.to(device), yb.to(device)
        logits = model(xb)
        loss = nn.functional.cross_entropy(logits, yb)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"epoch {epoch}, batch {step}: loss is {loss.item()}; lower training.learning_rate "
                f"(now {cfg.learning_rate}) or training.grad_clip (now {cfg.grad_clip})"
            )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimiser.step()
        loss_sum += loss.item() * len(yb)
        correct += int((logits.argmax(1) == yb).sum())
    return loss_sum / len(train[0]), correct / len(train[0])


def fit_gradient(
    model: BaseModel, train: Clips, val: Clips, cfg: TrainingConfig, device: str, seed: int,
    on_epoch: Callable[[Epoch], None] | None = None,
) -> list[Epoch]:  # fmt: skip
    """AdamW with early stopping on validation loss; leaves the kept epoch's weights in ``model``.

    ``on_epoch`` sees each epoch's history entry (a pruner's report; it may raise to stop the fit).
    """
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    stopping = EarlyStopping(cfg.patience, cfg.min_delta)
    history: list[Epoch] = []

    def validated_epoch(epoch: int) -> dict[str, float]:
        loss, train_accuracy = train_epoch(model, optimiser, train, cfg, device, epoch, generator)
        val_logits = predict(model, val[0], cfg.batch_size, device)
        val_acc, val_loss = top_k_accuracy(val_logits, val[1], 1), validation_loss(model, val_logits, val[1])
        return {"loss": loss, "train_accuracy": train_accuracy, "val_accuracy": val_acc, "val_loss": val_loss}

    with tqdm(range(1, cfg.max_epochs + 1), desc="epochs", unit="epoch", mininterval=2) as progress:
        for epoch in progress:
            history.append(timed_epoch(epoch, device, validated_epoch))
            last = history[-1]
            progress.set_postfix(
                loss=f"{last.loss:.3f}", val_loss=f"{last.val_loss:.3f}", val=f"{last.val_accuracy:.3f}"
            )
            if not math.isfinite(last.val_loss):
                raise TrainingDiverged(f"epoch {epoch}: validation loss is {last.val_loss}")
            if on_epoch is not None:
                on_epoch(history[-1])
            if stopping.should_stop(model, last.val_loss):
                break
    kept = history[kept_epoch(history, cfg.min_delta) - 1]
    print(
        f"{'stopped early' if len(history) < cfg.max_epochs else 'ran all epochs'} after epoch {len(history)}; "
        f"kept epoch {kept.epoch} (validation loss {kept.val_loss:.4f}, accuracy {kept.val_accuracy:.3f})",
        file=sys.stderr,
    )
    model.load_state_dict(stopping.best_state)
    return history


def timed_epoch(epoch: int, device: str, run: Callable[[int], dict[str, float]]) -> Epoch:
    """``run(epoch)`` (its measured values), timed between device synchronisations, as the history's entry."""
    synchronize(device)
    start = time.perf_counter()
    values = run(epoch)
    synchronize(device)
    return Epoch(epoch=epoch, seconds=time.perf_counter() - start, timestamp=int(time.time() * 1000), **values)


def fit_epochs(model: BaseModel, train: Clips, cfg: TrainingConfig, device: str, seed: int, epochs: int) -> list[Epoch]:
    """AdamW for exactly ``epochs`` epochs, without validation: the refit on training + validation
    clips (``training.refit``), for as many epochs as early stopping kept in the selected trial."""
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(seed)

    def refit_epoch(epoch: int) -> dict[str, float]:
        loss, train_accuracy = train_epoch(model, optimiser, train, cfg, device, epoch, generator)
        return {"loss": loss, "train_accuracy": train_accuracy}

    return [timed_epoch(e, device, refit_epoch) for e in tqdm(range(1, epochs + 1), desc="refit epochs", unit="epoch")]


def fit_closed_form(model: BaseModel, train: Clips, cfg: TrainingConfig, device: str) -> tuple[list[Epoch], dict]:
    """One harvest of the fit clips and the ridge solve; (a one-epoch history, the fit's info)."""
    synchronize(device)
    start = time.perf_counter()
    info = model.fit(Batches(*train, cfg.harvest_batch_size))
    synchronize(device)
    seconds = time.perf_counter() - start
    train_acc = top_k_accuracy(predict(model, train[0], cfg.harvest_batch_size, device), train[1], 1)
    gcv = ", ".join(f"{r}: {score:.4g}" for r, score in info.get("gcv", {}).items())
    print(
        f"closed-form fit on {len(train[0])} clips in {seconds:.2f} s (harvest {info['harvest_s']:.2f} s, "
        f"solve {info['solve_s']:.2f} s); ridge {info['ridge']:.4g}"
        + (f", chosen by GCV from {{{gcv}}}" if gcv else ""),
        file=sys.stderr,
    )
    return [Epoch(epoch=1, train_accuracy=train_acc, seconds=seconds, timestamp=int(time.time() * 1000))], info
