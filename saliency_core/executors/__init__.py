"""Executors: where chunks of check work (and suite cells) are computed.

Every executor has the same interface, :class:`~saliency_core.executors.local.Executor`:
``map(worker_factory, tasks)`` yields each task's output, in task order, computing
at most a bounded number of tasks ahead. ``local`` runs them in this process; ``ray``
(:mod:`saliency_core.executors.ray`, optional) on the actors of a Ray cluster.
"""

from .local import Executor, LocalExecutor, get_executor

__all__ = ["Executor", "LocalExecutor", "get_executor"]
