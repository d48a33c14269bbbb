"""What each reservoir of a stack is, measured the DeepESN literature's way (Gallicchio, Micheli &
Pedrelli 2017; Jaeger 2001 for the memory capacity).

- The **effective spectral radius** of a layer is that of its leaky update's linearisation,
  ``(1 - a) I + a W``: how far it sits from the edge of stability, which ``spectral_radius`` (of
  ``W`` alone) does not say once ``a < 1``.
- Its **linear memory capacity**: the stack is driven by one scalar i.i.d. signal ``u(t)`` uniform
  in ``[-1, 1]`` (on every input feature alike); for each delay ``k`` a linear readout of the
  layer's states at ``t`` is fitted to ``u(t - k)`` on one stretch and scored on the next, and
  ``MC = sum_k r^2`` (squared correlation on the held-out stretch, so an overfitted readout does
  not count as memory; the fitted stretch is 10 steps per unit, enough for the estimate to settle).
"""

from __future__ import annotations

import numpy as np
import torch

from echoes.models.esn import ReservoirStack, spectral_radius

WASHOUT = 100  # steps before any state counts: the initial state's transient
FIT_STEPS_PER_UNIT = 10  # fewer and the N-unit readout overfits: MC 3.0 with 2 steps per unit, 14 with 16
SCORE_STEPS = 2000
MAX_DELAY = 200  # delays beyond what a leaky reservoir of these sizes recalls add ~0 each
RIDGE = 1e-4  # relative to the mean eigenvalue of the states' Gram matrix


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
    """Every layer's states ``[T, N]`` for one input sequence ``[T, input_size]``."""
    states, every = inputs[None], []
    for layer in stack.layers:
        states = layer(states)
        every.append(states[0])
    return every


def memory_capacity(stack: ReservoirStack, seed: int = 0, max_delay: int = MAX_DELAY) -> list[float]:
    """Per layer, the linear memory capacity (sum over delays 1..``max_delay`` of the held-out r^2)."""
    rng = np.random.default_rng(seed)
    fit_steps = FIT_STEPS_PER_UNIT * max(layer.units for layer in stack.layers)
    steps = WASHOUT + max_delay + fit_steps + SCORE_STEPS
    u = rng.uniform(-1, 1, steps)
    device = stack.layers[0].W.device
    inputs = torch.from_numpy(np.repeat(u[:, None], stack.layers[0].W_in.shape[0], 1)).float().to(device)
    start = WASHOUT + max_delay
    targets = np.stack([u[start - k : steps - k] for k in range(1, max_delay + 1)], 1)  # [T', K]
    states = layer_states(stack, inputs)
    return [_capacity(layer[start:].double().cpu().numpy(), targets, fit_steps) for layer in states]


def _capacity(states: np.ndarray, targets: np.ndarray, fit_steps: int) -> float:
    """Sum over target columns of the squared correlation of a ridge readout on the held-out steps."""
    x = np.hstack([states, np.ones((len(states), 1))])
    fit, score = slice(0, fit_steps), slice(fit_steps, None)
    gram = x[fit].T @ x[fit]
    shrink = RIDGE * np.trace(gram) / len(gram) * np.eye(len(gram))
    weights = np.linalg.solve(gram + shrink, x[fit].T @ targets[fit])
    predicted, actual = x[score] @ weights, targets[score]
    predicted, actual = predicted - predicted.mean(0), actual - actual.mean(0)
    r = (predicted * actual).sum(0) / np.sqrt((predicted**2).sum(0) * (actual**2).sum(0) + 1e-300)
    return float((r**2).sum())
