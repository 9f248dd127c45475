"""The executor interface, and the one that runs everything in this process."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, Protocol, TypeVar

__all__ = ["Executor", "LocalExecutor", "get_executor", "EXECUTORS"]

Task = TypeVar("Task")
Out = TypeVar("Out")

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    """Computes tasks with workers built by a factory.

    ``map(factory, tasks)`` builds workers with ``factory()`` (once per process or
    device: a worker holds a model and its compiled functions), calls
    ``worker(task)`` for each task and yields the outputs in task order. It reads
    ``tasks`` lazily and keeps a bounded number of them in flight, so memory does not
    grow with their number. A task that cannot be computed (its worker died) yields an
    exception instance in its place instead of stopping the others.
    """

    name: str

    def map(
        self, factory: Callable[[], Callable[[Task], Out]], tasks: Iterable[Task]
    ) -> Iterator[Out | BaseException]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """One worker, in this process, one task at a time."""

    name = "local"

    def map(self, factory, tasks):
        worker = factory()
        for task in tasks:
            yield worker(task)

    def close(self) -> None:
        pass


def get_executor(name: str = "local", **options) -> Executor:
    """``"local"`` or ``"ray"`` (``address=``, ``workers=``, ``num_gpus_per_worker=``).

    Raises:
        ValueError: an unknown name.
        ImportError: ``"ray"`` without Ray installed (the message says how to install it).
    """
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from .ray import RayExecutor

        return RayExecutor(**options)
    raise ValueError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
