"""Benchmark: do `xla` and `function` compute the same gradients as eager, on every backbone?

For each registry backbone (random weights, seeded) and the pretrained
EfficientNet-Lite0, on bundled photos, ``saliency_core.variant_agreement`` reports:

* the relative L2 of the raw input gradients, variant vs eager, as computed;
* how many ReLU / max-pooling units the two put on different sides of a kink;
* the relative L2 again with every unit within 1e-4 of a kink pinned in both.

Networks with smooth activations (swish, GELU) have no kink layer, so their two
numbers are the same. VGG16's ReLUs, applied inside its Conv2D/Dense layers, are read
from a copy with each split into a layer of its own. A model whose kinks cannot be
read (inside a nested model) is listed with the reason.

Usage (about 10 minutes on 2 CPU cores)::

    python bench/bench_agreement.py --out bench/results/precision/agreement-backbones.md
    python bench/bench_agreement.py --models resnet50,densenet121 --variants function
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

PHOTOS = ("chelsea", "coffee")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated (default: every backbone and Lite0)")
    parser.add_argument("--variants", default="xla,function")
    parser.add_argument("--seed", type=int, default=0, help="seed of the backbones' random weights")
    parser.add_argument("--out", type=Path, help="also write the Markdown table to this file")
    args = parser.parse_args(argv)

    import warnings

    from saliency_core import variant_agreement
    from saliency_core.data.photos import load_photos
    from saliency_core.explainer import XlaOnCpuWarning
    from saliency_core.kinks import KinkAnalysisError
    from saliency_core.models.registry import BACKBONES, load_model

    warnings.simplefilter("ignore", XlaOnCpuWarning)
    names = args.models.split(",") if args.models else [*BACKBONES, "efficientnet-lite0"]
    photos = load_photos(list(PHOTOS)).images
    rows = [
        "| model | weights | variant | as computed | units flipped | of units | pinned | seconds |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(rows), flush=True)
    for name in names:
        kwargs = {} if name == "efficientnet-lite0" else dict(weights="random", seed=args.seed)
        clf = load_model(name, **kwargs)
        x = clf.prepare(photos)
        weights = clf.weights if name == "efficientnet-lite0" else f"random, seed {args.seed}"
        for variant in args.variants.split(","):
            start = time.perf_counter()
            try:
                a = variant_agreement(clf, x, variant, batch_size=len(x))
            except KinkAnalysisError as exc:
                reason = str(exc).split(";")[0].split(": ", 1)[-1]  # the layers, without the advice
                row = f"| {name} | {weights} | {variant} | not analysed: ReLUs inside {reason} |||||"
            else:
                row = (
                    f"| {name} | {weights} | {variant} | {a.rel_l2:.2e} | {len(a.flips)} | "
                    f"{a.kink_units:,} | {a.pinned_rel_l2:.2e} | {time.perf_counter() - start:.0f} |"
                )
            rows.append(row)
            print(row, flush=True)
    if args.out:
        args.out.write_text("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
