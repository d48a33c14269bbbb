"""What each reservoir of a stack is, measured the DeepESN literature's way (Gallicchio, Micheli &
Pedrelli 2017; Jaeger 2001 for the memory capacity).

- The **effective spectral radius** of a layer is that of its leaky update's linearisation,
  ``(1 - a) I + a W``: how far it sits from the edge of stability, which ``spectral_radius`` (of
  ``W`` alone) does not say once ``a < 1``.
- Its **linear memory capacity**: the stack is driven by one scalar i.i.d. signal ``u(t)`` uniform
  in ``[-1, 1]`` (on every input feature alike); for each delay ``k`` a linear readout of the
  layer's states at ``t`` is fitted to ``u(t - k)`` on one stretch and scored on the next, and
  ``MC = sum_k r^2`` (squared correlation on the held-out stretch, so an overfitted readout does
  not count as memory; the fitted stretch is 10 steps per unit, the same for every layer and model).
  The stretches are cut from ``SEQUENCES`` independent input sequences run side by side, each
  after its own washout: the same estimate as from one long sequence, in a fraction of the steps
  (a reservoir steps a batch of sequences in about the time it steps one).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from echoes.models.esn import ReservoirStack
from echoes.models.reservoir import spectral_radius

WASHOUT = 100  # steps before any state counts: the initial state's transient
# More fitted steps give a larger estimate (a 1000-unit SimpleESN, radius 0.88, leak 0.19, input scaling
# 0.87: MC 4.2 with 2 steps per unit, 4.8 with 10, 5.8 with 16): compare layers and models at this one setting.
FIT_STEPS_PER_UNIT = 10
SCORE_STEPS = 2000
MAX_DELAY = 200  # delays beyond what a leaky reservoir of these sizes recalls add ~0 each
RIDGE = 1e-4  # relative to the mean eigenvalue of the centred states' Gram matrix
SEQUENCES = 8  # input sequences run side by side


def effective_spectral_radius(stack: ReservoirStack) -> list[float]:
    """Per layer, the spectral radius of ``(1 - a) I + a W``."""
    radii = []
    for layer in stack.layers:
        w = layer.W.double().cpu().numpy()
        leaky = (1 - layer.leak_rate) * np.eye(len(w)) + layer.leak_rate * w
        radii.append(spectral_radius(leaky))
    return radii


@torch.no_grad()
def layer_states(stack: ReservoirStack, inputs: torch.Tensor) -> list[torch.Tensor]:
    """Every layer's states ``[B, T, N]`` for input sequences ``[B, T, input_size]``."""
    states, every = inputs, []
    for layer in stack.layers:
        states = layer(states)
        every.append(states)
    return every


def memory_capacity(stack: ReservoirStack, seed: int = 0, max_delay: int = MAX_DELAY) -> list[float]:
    """Per layer, the linear memory capacity (sum over delays 1..``max_delay`` of the held-out r^2)."""
    rng = np.random.default_rng(seed)
    fit_steps = FIT_STEPS_PER_UNIT * max(layer.units for layer in stack.layers)
    start = WASHOUT + max_delay  # the first step of each sequence whose every delayed input exists
    length = start + math.ceil((fit_steps + SCORE_STEPS) / SEQUENCES)
    u = rng.uniform(-1, 1, (SEQUENCES, length))
    device = stack.layers[0].W.device
    inputs = torch.from_numpy(np.repeat(u[:, :, None], stack.layers[0].W_in.shape[0], 2)).float().to(device)
    delayed = [np.stack([seq[start - k : length - k] for k in range(1, max_delay + 1)], 1) for seq in u]
    targets = np.concatenate(delayed)  # [SEQUENCES * (length - start), max_delay], sequence after sequence
    states = layer_states(stack, inputs)
    return [_capacity(layer[:, start:].reshape(len(targets), -1).double().cpu().numpy(), targets, fit_steps)
            for layer in states]  # fmt: skip


def _capacity(states: np.ndarray, targets: np.ndarray, fit_steps: int) -> float:
    """Sum over target columns of the squared correlation of a ridge readout on the held-out steps.

    States and targets are centred on the fitted stretch's means (the intercept), so the ridge,
    relative to the mean variance of the states, shrinks the states alone.
    """
    fit, score = slice(0, fit_steps), slice(fit_steps, None)
    mean, target_mean = states[fit].mean(0), targets[fit].mean(0)
    x, y = states - mean, targets - target_mean
    gram = x[fit].T @ x[fit]
    if not np.trace(gram) > 0:  # no state moves: nothing of the input is held
        return 0.0
    shrink = RIDGE * np.trace(gram) / len(gram) * np.eye(len(gram))
    weights = np.linalg.solve(gram + shrink, x[fit].T @ y[fit])
    predicted, actual = x[score] @ weights, y[score]
    predicted, actual = predicted - predicted.mean(0), actual - actual.mean(0)
    r = (predicted * actual).sum(0) / np.sqrt((predicted**2).sum(0) * (actual**2).sum(0) + 1e-300)
    return float((r**2).sum())
