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
- :mod:`echoes.training.layers`: what each layer of a layered model (an ESN's reservoirs) adds;
- :mod:`echoes.training.job`: one run on clips in memory, into its metrics record. The stage around it
  (files, MLflow) is :mod:`echoes.stages.train`: nothing here imports MLflow or a dataset module.
"""
