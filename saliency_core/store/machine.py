"""Machine and commit metadata recorded with every run.

Both dicts use pytest-benchmark's field names (``machine_info``: ``node``,
``processor``, ``machine``, ``python_*``, ``release``, ``system``, ``cpu``;
``commit_info``: ``id``, ``time``, ``author_time``, ``dirty``, ``project``,
``branch``) so exported runs read like its JSON files, and add what a
TensorFlow benchmark needs: library versions, CPU model and count, GPUs with
their driver, the XLA flags in force, TensorFlow's CPU thread pools and whether
oneDNN is on. Collecting never raises: whatever
cannot be found is None (or an empty list) and, where useful, an ``error`` entry.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["machine_info", "commit_info", "cpu_model", "nvidia_smi_gpus", "thread_settings", "onednn_enabled"]

_TIMEOUT_S = 10


def _dist_version(name: str) -> str | None:
    module = sys.modules.get(name)
    version = getattr(module, "__version__", None)
    if version:
        return str(version)
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU model name (``model name`` in /proc/cpuinfo, else ``platform.processor()``)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        text = ""
    for field in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        for line in text.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == field and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown"


def nvidia_smi_gpus(output: str | None = None) -> list[dict]:
    """GPUs reported by ``nvidia-smi`` as ``[{"name", "driver"}]``; [] when it is absent.

    Args:
        output: The text of ``nvidia-smi --query-gpu=name,driver_version
            --format=csv,noheader`` to parse instead of running it (for tests).
    """
    if output is None:
        exe = shutil.which("nvidia-smi")
        if exe is None:
            return []
        try:
            output = subprocess.run(
                [exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return []
    gpus = []
    for line in output.splitlines():
        if not line.strip():
            continue
        name, _, driver = line.rpartition(",")
        if not name:
            name, driver = driver, ""
        gpus.append({"name": name.strip(), "driver": driver.strip() or None})
    return gpus


def _tensorflow_gpus() -> tuple[list[dict], str | None]:
    """GPUs TensorFlow sees: ``[{"device", "name", "compute_capability"}]`` and an error."""
    try:
        import tensorflow as tf  # lazy: only a run's start pays for it

        devices = tf.config.list_physical_devices("GPU")
    except Exception as exc:  # a broken CUDA install must not stop a run
        return [], f"{type(exc).__name__}: {exc}"
    gpus = []
    for device in devices:
        try:
            details = tf.config.experimental.get_device_details(device) or {}
        except Exception:
            details = {}
        cc = details.get("compute_capability")
        gpus.append(
            {
                "device": device.name,
                "name": details.get("device_name"),
                "compute_capability": ".".join(map(str, cc)) if cc else None,
            }
        )
    return gpus, None


def thread_settings() -> dict:
    """TensorFlow's CPU thread pools as this process set them, and the environment.

    ``intra_op``/``inter_op``: ``tf.config.threading.get_*_parallelism_threads()`` (0 =
    TensorFlow's default, about one thread per core), or None when TensorFlow is not
    imported; ``env``: ``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS`` and
    ``OMP_NUM_THREADS`` as set (None when unset).
    """
    out: dict = {
        "intra_op": None,
        "inter_op": None,
        "env": {
            k: os.environ.get(k)
            for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
        },
    }
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            out["intra_op"] = int(tf.config.threading.get_intra_op_parallelism_threads())
            out["inter_op"] = int(tf.config.threading.get_inter_op_parallelism_threads())
        except Exception:  # noqa: BLE001 - metadata never raises
            pass
    return out


def onednn_enabled() -> bool | None:
    """Whether TensorFlow's oneDNN (MKL) kernels are on in this process, or None when
    TensorFlow is not imported or does not say. TensorFlow decides at start-up from
    ``TF_ENABLE_ONEDNN_OPTS`` and the CPU (TF 2.21 turns them on by default only on
    CPUs with AVX-512 VNNI/BF16 or AMX; ``TF_ENABLE_ONEDNN_OPTS=1`` forces them on)."""
    if "tensorflow" not in sys.modules:
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except Exception:  # noqa: BLE001 - a private API: absent in some builds
        return None


def machine_info(*, detect_gpus: bool = True) -> dict:
    """Describe this machine and its software (JSON-serialisable).

    Args:
        detect_gpus: Ask TensorFlow for GPUs (imports TensorFlow) and run
            ``nvidia-smi`` if present. False leaves ``gpus`` empty and
            ``gpu_detection`` = ``"skipped"``.

    Returns:
        pytest-benchmark's ``machine_info`` fields plus ``saliency_bench``,
        ``tensorflow``, ``keras``, ``numpy`` (versions), ``cpu_model``, ``cpu_count``
        (logical CPUs), ``cpu_usable`` (CPUs this process may run on), ``gpus``
        (``[{"device", "name", "compute_capability", "driver"}]``), ``gpu_driver``,
        ``gpu_detection`` (``"ok"``, ``"skipped"`` or the error text), ``xla_flags``
        and ``tf_xla_flags`` (the environment variables, or None), ``keras_backend``,
        ``tf_threads`` (:func:`thread_settings`), ``onednn_opts`` (the
        ``TF_ENABLE_ONEDNN_OPTS`` variable, or None), ``onednn_enabled``
        (:func:`onednn_enabled`, read after TensorFlow is imported) and
        ``malloc_arena_max`` (the ``MALLOC_ARENA_MAX`` variable, or None; see
        :mod:`saliency_core.allocator`).
    """
    model = cpu_model()
    count = os.cpu_count()
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = count
    info: dict = {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": {"brand_raw": model, "count": count, "arch": platform.machine()},
        "saliency_bench": _dist_version("saliency-bench"),
        "tensorflow": _dist_version("tensorflow"),
        "keras": _dist_version("keras"),
        "numpy": _dist_version("numpy"),
        "cpu_model": model,
        "cpu_count": count,
        "cpu_usable": usable,
        "gpus": [],
        "gpu_driver": None,
        "gpu_detection": "skipped",
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "tf_xla_flags": os.environ.get("TF_XLA_FLAGS"),
        "keras_backend": os.environ.get("KERAS_BACKEND"),
        "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
    }
    if detect_gpus:
        gpus, error = _tensorflow_gpus()
        smi = nvidia_smi_gpus()
        for i, gpu in enumerate(gpus):  # TF and nvidia-smi list GPUs in the same order
            gpu["driver"] = smi[i]["driver"] if i < len(smi) else None
            if not gpu["name"] and i < len(smi):
                gpu["name"] = smi[i]["name"]
        if not gpus and smi:  # a GPU TensorFlow cannot use is still worth recording
            gpus = [
                {"device": None, "name": g["name"], "compute_capability": None, "driver": g["driver"]}
                for g in smi
            ]
        info["gpus"] = gpus
        info["gpu_driver"] = smi[0]["driver"] if smi else None
        info["gpu_detection"] = error or "ok"
        info["tensorflow"] = _dist_version("tensorflow")  # the imported module's own version
    info["tf_threads"] = thread_settings()
    info["onednn_enabled"] = onednn_enabled()
    return info


def _git(args: list[str], cwd: Path) -> str:
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S, check=True, env=env
    ).stdout.strip()


def commit_info(path: str | Path | None = None) -> dict:
    """The git commit of ``path`` (default: the saliency_core source tree).

    Returns:
        ``{"id", "time", "author_time", "dirty", "project", "branch"}`` as in
        pytest-benchmark; outside a git work tree (or without git) ``id`` is
        ``"unversioned"`` and ``error`` says why. ``dirty`` ignores untracked files.
    """
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent.parent
    info: dict = {
        "id": "unversioned",
        "time": None,
        "author_time": None,
        "dirty": False,
        "project": None,
        "branch": None,
    }
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], cwd))
        info["project"] = top.name
        info["branch"] = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
        if info["branch"] == "HEAD":
            info["branch"] = "(detached head)"
        info["dirty"] = bool(_git(["status", "--porcelain", "--untracked-files=no"], cwd))
        info["id"] = _git(["rev-parse", "HEAD"], cwd)
        info["time"] = _git(["show", "-s", "--format=%cI", "HEAD"], cwd)
        info["author_time"] = _git(["show", "-s", "--format=%aI", "HEAD"], cwd)
    except subprocess.CalledProcessError as exc:
        lines = (exc.stderr or exc.stdout or "").strip().splitlines()
        info["error"] = lines[-1] if lines else str(exc)
    except (OSError, subprocess.SubprocessError) as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
    return info
