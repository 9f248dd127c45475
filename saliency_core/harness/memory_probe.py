"""Peak memory over one measured span (:class:`MemoryProbe`): host RSS (Linux ``VmHWM``,
reset at the start through ``/proc/self/clear_refs`` where permitted, else the
process-lifetime ``ru_maxrss``) and, on a GPU, the device allocator's peak."""

from __future__ import annotations

import resource


__all__ = ["MemoryProbe"]


_MIB = 1024.0 * 1024.0


def _proc_status_kib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


class MemoryProbe:
    """Peak host RSS and device memory over one measured span.

    ``start()`` resets the peaks where the OS / TensorFlow allow it; ``stop()`` returns
    ``(peak_rss_mb, rss_start_mb, scope, peak_device_mb)`` where ``scope`` is ``"cell"``
    when the RSS peak was reset at ``start()`` and ``"process"`` when it is the
    process-lifetime peak (``ru_maxrss``).
    """

    def __init__(self, device: str | None = None):
        self.device = device  # "/GPU:0" style or None
        self.scope = "process"
        self.rss_start_mb: float | None = None

    def _tf_device(self) -> str | None:
        if self.device and "GPU" in self.device.upper():
            return self.device.lstrip("/").upper()
        return None

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets VmHWM (peak RSS) to the current RSS (Linux >= 4.0)
            self.scope = "cell"
        except OSError:
            self.scope = "process"
        rss = _proc_status_kib("VmRSS")
        self.rss_start_mb = None if rss is None else rss / 1024.0
        dev = self._tf_device()
        if dev:
            import tensorflow as tf

            try:
                tf.config.experimental.reset_memory_stats(dev)
            except (ValueError, RuntimeError):
                pass

    def stop(self) -> tuple[float, float | None, str, float | None]:
        hwm = _proc_status_kib("VmHWM") if self.scope == "cell" else None
        if hwm is None:
            self.scope = "process"
            hwm = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux
        peak_device = None
        dev = self._tf_device()
        if dev:
            import tensorflow as tf

            try:
                peak_device = tf.config.experimental.get_memory_info(dev)["peak"] / _MIB
            except (ValueError, RuntimeError, KeyError):
                peak_device = None
        return hwm / 1024.0, self.rss_start_mb, self.scope, peak_device
