"""Benchmark: how closely can float32 saliency maps agree at all?

Question (the core's "three variants give the same maps" bar): the variants are
asked to agree to 1e-3 relative L2 on real photos, at batch 1 and 5, for ResNet50
with random weights and for the pretrained EfficientNet-Lite0. XLA reorders float32
arithmetic, so its maps differ from eager's by rounding. How large is float32
rounding itself for each network? Measured per model and batch size, relative L2
(``||a - b|| / ||b||``) of the per-channel maps (``reduce="none"``):

* ``xla`` vs ``eager`` and ``function`` vs ``eager`` (the bar);
* each of ``eager`` and ``xla`` vs a float64 computation of the same weights (the
  truth that float32 approximates);
* ``eager`` at the given batch vs ``eager`` one image at a time (the same kernels,
  another blocking: no reordering by XLA involved);
* ``eager`` on the input vs ``eager`` on the input moved by one float32 ulp per pixel
  (``np.nextafter``): how sensitive the map is to a change far below a pixel value's
  precision;
* ``saliency_core.variant_agreement`` for ``xla``: how many ReLU units the two
  variants put on different sides of a kink (``kink_flips``), and ``xla`` vs ``eager``
  with every unit within 1e-4 of a kink pinned (``xla_vs_eager_pinned``);
* the same for ``eager`` on the input and on the input + 1 ulp (``ulp_kink_flips``,
  ``eager_vs_eager_1ulp_pinned``), and for ``eager`` and ``xla`` against float64
  (``*_vs_f64_pinned``).

If eager's own map moves by more than 1e-3 when the input moves by one ulp, or sits
more than 1e-3 from float64, a 1e-3 bar between two float32 implementations is below
what float32 resolves for that network.

Usage (about 12 minutes on 2 CPU cores)::

    python bench/bench_precision.py                          # resnet50 seeds 0,1,2 and lite0
    python bench/bench_precision.py --resnet-seeds 0 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "grace_hopper")
COLUMNS = (
    "xla_vs_eager",
    "function_vs_eager",
    "eager_vs_f64",
    "xla_vs_f64",
    "eager_vs_eager_b1",
    "eager_vs_eager_1ulp",
    "kink_flips",
    "xla_vs_eager_pinned",
    "ulp_kink_flips",
    "eager_vs_eager_1ulp_pinned",
    "eager_vs_f64_pinned",
    "xla_vs_f64_pinned",
)


def _rel_l2(a, b) -> float:
    import numpy as np

    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _float64_copy(clf):
    """The classifier's network rebuilt in float64 with the same weights."""
    import dataclasses

    import keras

    if clf.name == "efficientnet-lite0":
        from saliency_core.models.lite0_network import build_efficientnet_lite0

        m64 = build_efficientnet_lite0(dtype="float64")
    else:  # a registry backbone, built again under a float64 policy (a clone keeps float32)
        from saliency_core.models.registry import BACKBONES

        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy("float64")
        try:
            m64 = BACKBONES[clf.name].build(weights="random")
        finally:
            keras.config.set_dtype_policy(previous)
    if any(str(layer.compute_dtype) != "float64" for layer in m64.layers if layer.weights):
        raise RuntimeError(f"the float64 copy of {clf.name} does not compute in float64")
    m64.set_weights([w.astype("float64") for w in clf.model.get_weights()])
    return dataclasses.replace(clf, name=f"{clf.name}-f64", model=m64)


def measure(clf, x, batches) -> list[dict]:
    import numpy as np

    from saliency_core import Explainer, variant_agreement

    def maps(model, images, variant, batch):
        return Explainer(model, variant=variant, batch_size=batch).explain(images, reduce="none").maps

    clf64 = _float64_copy(clf)
    ref = maps(clf64, x.astype(np.float64), "eager", len(x))
    ulp = np.nextafter(x, np.float32(np.inf)).astype(np.float32)
    eager_b1 = maps(clf, x, "eager", 1)
    rows = []
    for batch in batches:
        m = {v: maps(clf, x, v, batch) for v in ("eager", "function", "xla")}
        rows.append(
            {
                "model": clf.name,
                "weights": clf.weights,
                "batch": batch,
                "xla_vs_eager": _rel_l2(m["xla"], m["eager"]),
                "function_vs_eager": _rel_l2(m["function"], m["eager"]),
                "eager_vs_f64": _rel_l2(m["eager"], ref),
                "xla_vs_f64": _rel_l2(m["xla"], ref),
                "eager_vs_eager_b1": _rel_l2(m["eager"], eager_b1),
                "eager_vs_eager_1ulp": _rel_l2(maps(clf, ulp, "eager", batch), m["eager"]),
            }
        )
        agreement = variant_agreement(clf, x, "xla", batch_size=batch)
        rows[-1].update(
            kink_flips=len(agreement.flips),
            xla_vs_eager_pinned=agreement.pinned_rel_l2,
            max_flip_margin=agreement.max_flip_margin,
            pinned_units=agreement.pinned_units,
            xla_vs_eager_per_image=agreement.rel_l2_per_image.tolist(),
        )
        by_ulp = variant_agreement(clf, ulp, "eager", reference_images=x, batch_size=batch)
        rows[-1].update(ulp_kink_flips=len(by_ulp.flips), eager_vs_eager_1ulp_pinned=by_ulp.pinned_rel_l2)
        for v in ("eager", "xla"):
            vs64 = variant_agreement(
                clf, x, v, reference=clf64, reference_images=x.astype(np.float64), batch_size=batch
            )
            rows[-1][f"{v}_vs_f64_pinned"] = vs64.pinned_rel_l2
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resnet-seeds", default="0,1,2", help="seeds of ResNet50's random weights")
    parser.add_argument("--batches", default="1,5")
    parser.add_argument("--no-lite0", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)

    from saliency_core.data.photos import load_photos
    from saliency_core.models.registry import load_model

    photos = load_photos(list(PHOTOS)).images
    batches = [int(b) for b in args.batches.split(",")]
    models = [("resnet50", dict(weights="random", seed=int(s))) for s in args.resnet_seeds.split(",") if s]
    if not args.no_lite0:
        models.append(("efficientnet-lite0", {}))

    rows = []
    print(f"{'model':<20} {'seed':>4} {'batch':>5} " + " ".join(f"{c:>19}" for c in COLUMNS))
    for name, kwargs in models:
        clf = load_model(name, **kwargs)
        for row in measure(clf, clf.prepare(photos), batches):
            row["seed"] = kwargs.get("seed")
            rows.append(row)
            seed = "-" if row["seed"] is None else row["seed"]
            print(
                f"{name:<20} {seed:>4} {row['batch']:>5} "
                + " ".join(
                    f"{row[c]:>19}" if isinstance(row[c], int) else f"{row[c]:>19.2e}" for c in COLUMNS
                ),
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
