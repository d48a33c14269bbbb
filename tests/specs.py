"""Run specifications as the workflow builds them from a config entry, for tests that train."""

from echoes.training.spec import RunSpec


def spec(model_class, params=None, training=None, seed=0, grid=None, name=None, search=None, tuning=None) -> RunSpec:
    """The run of ``model_class`` (named ``name``, else the class) on split 1 with ``seed``: its
    ``grid`` (``tune``) or ``search`` space under the ``tuning`` budget."""
    entry = {"class": model_class, "params": params or {}, "tune": grid or {}, "search": search or {}}
    return RunSpec.from_config(name or model_class, entry, training or {}, tuning, split=1, seed=seed)
