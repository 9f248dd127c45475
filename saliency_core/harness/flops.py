"""FLOPs per image of a classifier's forward pass and of its saliency, and the machine roof.

FLOPs are counted on the traced graph of the real gradient body
(:func:`saliency_core.gradients.build_gradient_fn`) at batch size 1, with
TensorFlow's own per-op FLOP statistics (the registry ``tf.compat.v1.profiler``
uses: ``Conv2D`` = 2 x output elements x kernel height x width x input channels,
``MatMul`` = 2·m·k·n, ``Conv2DBackpropInput`` as its forward convolution,
element-wise ops one per element). Only ops the outputs depend on are counted,
so the filter gradients the tape also builds (``Conv2DBackpropFilter``), which
graph execution prunes, are not: saliency = forward pass + input-gradient pass,
about 2x the forward pass. Reference: ResNet50 at 224x224 counts 7.76 GFLOP
forward and 15.50 GFLOP saliency per image.

TensorFlow counts ``Conv2DBackpropInput`` as input elements x k_h·k_w·C_out x 2 /
(stride_h·stride_w): exactly the forward convolution's count for "same" padding,
a slight over-count at "valid" borders.

Two op types are counted here instead of by TensorFlow's registry. Batched matrix
products (``BatchMatMul``, ``BatchMatMulV2``, ``BatchMatMulV3``): the registry reads
a ``transpose_a`` attribute these ops do not have (theirs is ``adj_x``), so the
product ``a^T b`` that the gradient of attention's ``q k^T`` builds was counted with
the wrong contraction length; here it is 2 x output elements x the contracted size.
``Einsum`` (Keras ``EinsumDense`` and ``MultiHeadAttention``), which the registry does
not count: a product of two operands is 2 x the product of the sizes of every
subscript letter (each combination of indices is one multiply-add); an einsum with an
ellipsis or another number of operands stays uncounted.

The roof is the FLOP rate of a large fp32 matrix product on the same machine and
device, measured in the same run (:func:`measure_roof`): numpy on the CPU,
TensorFlow on a GPU.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..devices import check_device, is_cpu, resolve_device

__all__ = ["FlopCount", "RoofTracker", "count_flops", "graph_flops", "measure_roof", "roof_fraction"]


@dataclass(frozen=True)
class FlopCount:
    """FLOPs per image.

    Attributes:
        forward: Forward pass (raw image -> logits, preprocessing included).
        saliency: Forward pass + gradient of the class score w.r.t. the input image.
        forward_by_op, saliency_by_op: The same totals split by TensorFlow op type.
        uncounted: Op types (and how many ops) on the saliency path that TensorFlow
            has no FLOP statistics for; they count as 0 (shape and index ops, mostly).
    """

    forward: int
    saliency: int
    forward_by_op: dict = field(default_factory=dict)
    saliency_by_op: dict = field(default_factory=dict)
    uncounted: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """saliency / forward FLOPs (about 2.0 for a conv net)."""
        return self.saliency / self.forward if self.forward else float("nan")


def _batch_matmul_flops(op) -> int | None:
    a, out = op.inputs[0].shape, op.outputs[0].shape
    if not (a.is_fully_defined() and out.is_fully_defined()):
        return None
    contracted = a[-2] if op.get_attr("adj_x") else a[-1]
    return 2 * int(contracted) * int(np.prod(out.as_list()))


def _einsum_flops(op) -> int | None:
    equation = op.get_attr("equation")
    equation = equation.decode() if isinstance(equation, bytes) else equation
    if "..." in equation or "->" not in equation:
        return None
    operands = equation.replace(" ", "").split("->")[0].split(",")
    if len(operands) != 2 or len(op.inputs) != 2:
        return None
    sizes: dict[str, int] = {}
    for letters, tensor in zip(operands, op.inputs):
        shape = tensor.shape
        if not shape.is_fully_defined() or len(letters) != len(shape):
            return None
        for letter, size in zip(letters, shape.as_list()):
            sizes[letter] = max(sizes.get(letter, 1), int(size))  # size-1 broadcasting
    return 2 * int(np.prod(list(sizes.values()), dtype=np.int64))


# Op types counted here rather than by TensorFlow's registry (see the module docstring).
_OWN_COUNTS = {
    "BatchMatMul": _batch_matmul_flops,
    "BatchMatMulV2": _batch_matmul_flops,
    "BatchMatMulV3": _batch_matmul_flops,
    "Einsum": _einsum_flops,
}


def _registry_flops(graph, op) -> int | None:
    from tensorflow.python.framework import ops
    from tensorflow.python.util import deprecation

    try:
        with deprecation.silence():  # the registry calls a deprecated v1 shape helper
            return ops.get_stats_for_node_def(graph, op.node_def, "flops").value
    except (ValueError, TypeError, KeyError):  # no statistics registered / unknown shape
        return None


def graph_flops(concrete_function) -> tuple[int, dict, dict]:
    """FLOPs of the ops a concrete function's outputs depend on.

    Returns:
        ``(total, by_op_type, uncounted_op_types)``. Needs fully known shapes
        (trace with a fixed batch size).
    """
    graph = concrete_function.graph
    needed, stack = {}, [t.op for t in concrete_function.outputs]
    while stack:
        op = stack.pop()
        if op.name in needed:
            continue
        needed[op.name] = op
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    by_op: Counter = Counter()
    uncounted: Counter = Counter()
    for op in needed.values():
        own = _OWN_COUNTS.get(op.type)
        value = own(op) if own is not None else _registry_flops(graph, op)
        if value is None:
            if op.type not in ("Const", "Placeholder", "ReadVariableOp", "Identity", "NoOp"):
                uncounted[op.type] += 1
            continue
        by_op[op.type] += int(value)
    return int(sum(by_op.values())), dict(by_op), dict(uncounted)


def count_flops(classifier, *, score: str = "logit") -> FlopCount:
    """FLOPs per image of ``classifier``'s forward pass and saliency (see module doc).

    Traces the same bodies the timed variants run (one image, fixed shape); takes
    about as long as one ``tf.function`` trace of the model.
    """
    import tensorflow as tf

    from ..gradients import build_forward_fn, build_gradient_fn

    shape, dtype = classifier.input_shape, classifier.dtype
    image = tf.TensorSpec((1, *shape), dtype)
    grad = build_gradient_fn(classifier, variant="function", score=score)
    fwd = build_forward_fn(classifier, variant="function")
    # python_function is the undecorated body: traced again at a fixed batch of 1.
    # (fn is a tf.function for the "function" variant; GradientFunction types it Callable.)
    grad_cf = tf.function(grad.fn.python_function).get_concrete_function(  # type: ignore[attr-defined]
        image, tf.TensorSpec((1,), tf.int32)
    )
    fwd_cf = tf.function(fwd.fn.python_function).get_concrete_function(image)  # type: ignore[attr-defined]
    sal_total, sal_by_op, uncounted = graph_flops(grad_cf)
    fwd_total, fwd_by_op, _ = graph_flops(fwd_cf)
    return FlopCount(
        forward=fwd_total,
        saliency=sal_total,
        forward_by_op=fwd_by_op,
        saliency_by_op=sal_by_op,
        uncounted=uncounted,
    )


def roof_fraction(flops_per_image, images_per_s, roof_gflops) -> float | None:
    """The FLOP rate ``flops_per_image * images_per_s`` as a fraction of a roof given in
    GFLOP/s; None when any of the three is unknown (None or 0)."""
    if not (flops_per_image and images_per_s and roof_gflops):
        return None
    return flops_per_image * images_per_s / (roof_gflops * 1e9)


def measure_roof(
    n: int | None = None, repeats: int = 20, *, seed: int = 0, device: str | None = None
) -> float:
    """GFLOP/s of an (n x n) @ (n x n) fp32 matrix product (2·n³ FLOPs) on ``device``.

    On the CPU (``device`` None or "cpu") the product is numpy's (n = 2048 when not
    given); on a GPU ("gpu", "gpu:N") it is ``tf.linalg.matmul`` on that device
    (n = 8192 when not given, large enough to fill the device), synchronised by
    fetching one element of the result. On GPUs with TensorFloat-32, TensorFlow runs
    fp32 products and convolutions in TF32 by default, so both sides of the roof
    fraction use the same arithmetic.

    One untimed product, then ``repeats`` timed ones; the rate of the **fastest** is
    returned: the roof is the best rate the machine reaches, and on a shared machine
    other processes only ever slow a product down (a median taken during a burst of
    someone else's work would understate the roof and overstate every roof fraction).
    """
    if is_cpu(device):
        n = n or 2048
        rng = np.random.default_rng(seed)
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        out = np.empty((n, n), dtype=np.float32)

        def product():
            np.matmul(a, b, out=out)
    else:
        import tensorflow as tf

        check_device(device)  # no silent fall-back to the CPU
        n = n or 8192
        with tf.device(resolve_device(device)):
            a = tf.random.stateless_normal((n, n), seed=[seed, 0], dtype=tf.float32)
            b = tf.random.stateless_normal((n, n), seed=[seed, 1], dtype=tf.float32)

        def product():
            with tf.device(resolve_device(device)):
                float(tf.linalg.matmul(a, b)[0, 0])  # fetching waits for the device

    product()
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


class RoofTracker:
    """A device's roof during a run: the best :func:`measure_roof` rate seen so far.

    Measured (``repeats`` products) when created unless ``initial`` is given, and
    re-sampled (``sample_repeats`` products, a fraction of a second) before each cell
    when ``resample`` is true, keeping the maximum: on a machine shared with other
    work a single measurement can land in someone else's burst.

    Args:
        initial: A known roof in GFLOP/s (e.g. from the parent process); None measures.
        resample: Re-sample before each cell.
        device: "cpu" (numpy) or "gpu"/"gpu:N" (TensorFlow on that GPU).
        repeats, sample_repeats: Products timed initially and per re-sample.
    """

    def __init__(
        self,
        initial: float | None = None,
        *,
        resample: bool = True,
        device: str | None = "cpu",
        repeats: int = 20,
        sample_repeats: int = 3,
    ):
        self.device = device
        self.gflops = float(initial) if initial is not None else measure_roof(repeats=repeats, device=device)
        self.initial = self.gflops
        self.resample, self.sample_repeats = resample, sample_repeats

    def before_cell(self) -> float:
        """The roof to use for the next cell (re-sampled first when enabled), GFLOP/s."""
        if self.resample:
            self.gflops = max(self.gflops, measure_roof(repeats=self.sample_repeats, device=self.device))
        return self.gflops
