"""Training and evaluation of one model on one split with one seed, tuned and measured.

The rooms, in the order a run goes through them:

- :mod:`echoes.training.spec`: what to run (:class:`~echoes.training.spec.RunSpec`, one frozen
  value: model, params, tuning grid, training settings, split, seed, device, threads);
- :mod:`echoes.training.data`: the split's clips in memory;
- :mod:`echoes.training.protocol`: which clips validate, which candidates compete, which wins
  (plain rules, no PyTorch: the config is checked with them while the DAG is built);
- :mod:`echoes.training.tuning`: every candidate fitted on the fit clips, scored on validation;
- :mod:`echoes.training.fits`: the gradient loop and the closed-form fit of one candidate;
- :mod:`echoes.training.evaluation`: predictions, accuracies, confusion, inference timing;
- :mod:`echoes.training.job`: the stage (load, tune, evaluate, write the bundle and
  ``metrics.json``, track in MLflow).
"""
