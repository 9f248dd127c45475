"""Run chunks of check work on the actors of a Ray cluster (optional: ``pip install
"saliency-bench[ray]"``).

Each actor builds its worker once with ``factory()`` (one model, compiled once, per
actor) and computes tasks sent to it. An actor takes one GPU when the cluster has
GPUs, else ``num_cpus`` cores (TensorFlow's thread pools are sized to them, so two
actors on two cores do not oversubscribe them). The driver keeps at most
``tasks_per_worker`` tasks per actor between sending and yielding, so memory does
not grow with the number of tasks, and yields outputs in task order. An actor that
dies (killed, out of memory) is restarted by Ray (``max_restarts``) and its tasks
sent again (``max_task_retries``); when retries run out, the task yields the
exception and the run records that chunk as failed with the reason.

Timing cells of suites run here too (:mod:`saliency_core.executors.ray_cells`).
"""

from __future__ import annotations

import collections
import logging
import os
from typing import Any, Callable, Iterable, Iterator

__all__ = ["RayExecutor", "WorkerLostError", "INSTALL_HINT", "import_ray", "short_reason"]

log = logging.getLogger(__name__)

INSTALL_HINT = 'Ray is not installed; install it with: pip install "saliency-bench[ray]"'
_REASON_CHARS = 600


class WorkerLostError(RuntimeError):
    """A task's Ray worker died (or Ray could not run the task) and retries ran out."""


def short_reason(exc: BaseException) -> str:
    """A Ray error as one line: its type and its message's words, at most 600 characters."""
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


def import_ray():
    """The ``ray`` module; ImportError with the install command when it is missing."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return ray


def _configure_worker_process(threads: int | None) -> None:
    """Before any tensor: quiet TensorFlow, the C heap bounded as in the driver, GPU
    memory growth, thread pools sized to the cores Ray gave this actor."""
    from ..allocator import tune_allocator

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tune_allocator()
    from ..devices import configure_gpus

    configure_gpus()
    if threads:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(min(2, int(threads)))
        except RuntimeError as exc:  # already initialised in this process
            log.debug("thread pools unchanged: %s", exc)


class _ChunkActor:
    """One Ray actor: builds the worker once, then computes tasks."""

    def __init__(self, factory: Callable, threads: int | None):
        _configure_worker_process(threads)
        self.worker = factory()

    def compute(self, task):
        return self.worker(task)

    def pid(self) -> int:
        return os.getpid()


class RayExecutor:
    """Computes tasks on Ray actors, outputs in task order.

    Args:
        address: Cluster to join: ``"auto"``, ``"HOST:6379"`` or a client address
            ``"ray://HOST:10001"``; None joins the cluster this process is already
            connected to, or ``RAY_ADDRESS`` (set for ``ray job submit`` entry points),
            else starts a local one on this machine's cores.
        workers: Actors to start; default one per GPU of the cluster, else one per
            2 CPUs (at least 1).
        num_gpus_per_worker: GPUs per actor; default 1 when the cluster has GPUs, else 0.
        num_cpus_per_worker: Cores per actor; default 1 with GPUs, else the cluster's
            CPUs shared out over the workers (and then also the size of its TensorFlow
            thread pools).
        tasks_per_worker: Tasks per actor between sending and yielding (bounds memory).
        max_restarts: Times Ray restarts an actor that died.
        max_task_retries: Times a task of a dead actor is sent again after its restart.
        runtime_env: Ray runtime environment of the actors (e.g. ``{"pip": [...]}``).
        init_options: Further ``ray.init`` options when a cluster is started or joined.

    Raises:
        ImportError: Ray is not installed (the message says how to install it).
        RuntimeError: the cluster cannot be joined (the message names the address),
            or it cannot give a worker the resources asked for.
        ValueError: ``workers`` or another count below its minimum.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        num_gpus_per_worker: float | None = None,
        *,
        num_cpus_per_worker: float | None = None,
        tasks_per_worker: int = 2,
        max_restarts: int = 2,
        max_task_retries: int = 1,
        runtime_env: dict | None = None,
        init_options: dict | None = None,
    ):
        self.ray = import_ray()
        for option, value, least in (
            ("workers", workers, 1),
            ("tasks_per_worker", tasks_per_worker, 1),
            ("max_restarts", max_restarts, 0),
            ("max_task_retries", max_task_retries, 0),
        ):
            if value is not None and value < least:
                raise ValueError(f"{option} must be >= {least}, got {value}")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.started = False
        self.tasks_per_worker = int(tasks_per_worker)
        self.max_restarts, self.max_task_retries = int(max_restarts), int(max_task_retries)
        self.runtime_env = runtime_env
        self.actors: list = []  # the current map's actors (tests kill them)
        self._factory_ref = None  # the worker factory in the object store, during a map
        self._connect(init_options)
        try:
            self._size(workers, num_gpus_per_worker, num_cpus_per_worker)
        except BaseException:
            self.close()
            raise

    def _connect(self, init_options: dict | None) -> None:
        """Join ``self.address`` (or the cluster already joined), or start a local one."""
        ray, address = self.ray, self.address
        if ray.is_initialized():
            return
        options = dict(init_options or {})
        options.setdefault("log_to_driver", False)
        try:
            if address:
                ray.init(address=address, **options)
            else:
                options.setdefault("num_cpus", os.cpu_count() or 1)
                options.setdefault("include_dashboard", False)
                ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            raise RuntimeError(f"cannot join {where}: {exc}") from None
        self.started = True

    def _size(self, workers, num_gpus_per_worker, num_cpus_per_worker) -> None:
        """Workers and their resources, from the options or the cluster's resources."""
        ray = self.ray
        resources = ray.cluster_resources()
        gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
        node_cpus = max([float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")] or [0.0])
        if num_gpus_per_worker is None:
            num_gpus_per_worker = 1 if gpus >= 1 else 0
        if workers is None:
            workers = int(gpus // num_gpus_per_worker) if num_gpus_per_worker else int(cpus // 2)
        self.workers = max(1, int(workers))
        if num_cpus_per_worker is None:
            num_cpus_per_worker = (
                1 if num_gpus_per_worker else max(1, min(int(cpus // self.workers), int(node_cpus)))
            )
        self.num_gpus_per_worker = float(num_gpus_per_worker)
        self.num_cpus_per_worker = float(num_cpus_per_worker)
        self._check_fits(gpus, cpus, node_cpus)

    def _check_fits(self, gpus: float, cpus: float, node_cpus: float) -> None:
        if self.num_gpus_per_worker > gpus:
            raise RuntimeError(
                f"a worker asks for {self.num_gpus_per_worker:g} GPU(s); the Ray cluster has {gpus:g}"
            )
        if self.num_cpus_per_worker > node_cpus:
            raise RuntimeError(
                f"a worker asks for {self.num_cpus_per_worker:g} CPU(s); the "
                f"largest node of the Ray cluster has {node_cpus:g}"
            )
        if self.workers * self.num_cpus_per_worker > cpus or self.workers * self.num_gpus_per_worker > gpus:
            log.warning(
                "%d workers x (%g CPU, %g GPU) exceed the cluster's %g CPU, %g GPU: "
                "some wait until others finish",
                self.workers,
                self.num_cpus_per_worker,
                self.num_gpus_per_worker,
                cpus,
                gpus,
            )

    def _start_actors(self, factory: Callable) -> list:
        ray = self.ray
        options: dict[str, Any] = dict(
            num_cpus=self.num_cpus_per_worker,
            num_gpus=self.num_gpus_per_worker,
            max_restarts=self.max_restarts,
            max_task_retries=self.max_task_retries,
        )
        if self.runtime_env:
            options["runtime_env"] = self.runtime_env
        actor_class = ray.remote(_ChunkActor).options(**options)
        # The driver holds the factory's reference for the whole map: a restarted actor
        # runs __init__ again with it, and Ray frees a constructor argument in the object
        # store once the first creation succeeded and no one else holds it (ray-project/ray
        # issue 47043; seen here in CI as ReferenceCountingAssertionError on restart).
        self._factory_ref = ray.put(factory)
        threads = None if self.num_gpus_per_worker else int(self.num_cpus_per_worker)
        return [actor_class.remote(self._factory_ref, threads) for _ in range(self.workers)]

    def map(self, factory: Callable[[], Callable], tasks: Iterable) -> Iterator:
        """Yield ``worker(task)`` for each task, in task order (an exception instance for
        a task whose actor died and could not be retried)."""
        ray = self.ray
        self.actors = actors = self._start_actors(factory)
        load = [0] * len(actors)
        window = self.tasks_per_worker * len(actors)
        order: collections.deque = collections.deque()  # refs, in task order
        running: dict = {}  # ref -> actor index
        done: dict = {}  # ref -> output or exception, finished but not yet yielded
        source = iter(tasks)
        exhausted = False
        try:
            while True:
                while not exhausted and len(order) < window:
                    target = min(range(len(actors)), key=load.__getitem__)
                    if load[target] >= self.tasks_per_worker:
                        break
                    try:
                        task = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    ref = actors[target].compute.remote(task)
                    order.append(ref)
                    running[ref] = target
                    load[target] += 1
                if not order:
                    return
                head = order[0]
                while head not in done:
                    ready, _ = ray.wait(list(running), num_returns=1)
                    for ref in ready:
                        load[running.pop(ref)] -= 1
                        done[ref] = self._result(ref)
                order.popleft()
                yield done.pop(head)
        finally:
            for ref in running:
                ray.cancel(ref, force=False)
            for actor in actors:
                ray.kill(actor, no_restart=True)
            self.actors = []
            self._factory_ref = None

    def _result(self, ref):
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the worker raised: its own exception
            cause = exc.as_instanceof_cause()
            return cause if isinstance(cause, BaseException) else exc
        except ray.exceptions.RayError as exc:  # actor died, retries used up, ...
            log.warning("a Ray task failed: %s", exc)
            lost = WorkerLostError(
                f"the Ray worker was lost after {self.max_task_retries} retries: {short_reason(exc)}"
            )
            lost.__cause__ = exc
            return lost

    def run_cells(self, store, run_id: str, suite, specs, roofs, *, retry_failed: bool = False):
        """Time suite cells on the cluster, each in a new worker process; yield
        ``(spec, status)`` as the driver records each (see
        :mod:`saliency_core.executors.ray_cells`)."""
        from .ray_cells import run_cells

        return run_cells(self, store, run_id, suite, specs, roofs, retry_failed=retry_failed)

    def close(self) -> None:
        """Shut down the Ray cluster if this executor started it (not one it joined)."""
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()
        self.started = False

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
