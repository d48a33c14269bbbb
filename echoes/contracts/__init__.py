"""The on-disk contracts between stages, one module each: it alone writes and reads its format.

- :mod:`echoes.contracts.manifest`: ``data/<dataset>/manifest.tsv``
- :mod:`echoes.contracts.frames`: the decoded frame shards ``data/<dataset>/frames/shard*.h5``
- :mod:`echoes.contracts.features`: ``data/<dataset>/features.h5``
- :mod:`echoes.contracts.metrics`: ``results/models/<model>/runs/<run>/metrics.json``
- :mod:`echoes.contracts.bundle`: ``results/models/<model>/runs/<run>/model.pt``
"""
