"""Benchmark: does peak memory of SmoothGrad and integrated gradients grow with samples/steps?

Question (issue 14, memory-bounded methods): on 32 images, is the peak RSS of
SmoothGrad with 100 samples within 1.2x of SmoothGrad with 10 (and the same for
integrated gradients with 100 and 10 steps)? The vanilla gradient on the same images
is the floor: the model, the images and TensorFlow themselves.

Protocol: 32 seeded 256x256 crops of the bundled photos (as ``bench_scale.py``), the
pretrained EfficientNet-Lite0, ``saliency(..., variant="function", batch_size=16)``.
Every (method, samples) runs in a fresh Python process under the measuring parent of
``bench_scale.py``, which records the process's peak RSS (``VmHWM``) and wall time.
Memory is a value, not a timing: the numbers hold on a loaded machine; the wall times
do not.

    python bench/bench_method_memory.py --out bench/results/method-memory
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [
    ("gradient", None, 0),
    ("smoothgrad", "samples", 10),
    ("smoothgrad", "samples", 100),
    ("integrated_gradients", "steps", 10),
    ("integrated_gradients", "steps", 100),
]
CHILD = """
import sys, time, numpy as np
from PIL import Image
sys.path.insert(0, {here!r})
from saliency_core import saliency
from saliency_core.models.registry import load_model
paths = sorted(__import__("glob").glob({folder!r} + "/*.png"))[:{images}]
clf = load_model("efficientnet-lite0")
x = clf.prepare(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]))
options = {options!r}
start = time.perf_counter()
maps = saliency(clf, x, method={method!r}, variant="function", batch_size={batch}, seed=0, options=options)
assert maps.shape[0] == len(paths) and np.isfinite(maps).all()
print(time.perf_counter() - start)
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--out", default="bench/results/method-memory")
    args = parser.parse_args(argv)
    sys.path.insert(0, HERE)
    import tempfile

    from bench_scale import write_crops

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-method-memory-") as folder:
        write_crops(folder, args.images, seed=0)
        for method, option, value in CASES:
            code = CHILD.format(
                here=os.path.dirname(HERE),
                folder=folder,
                images=args.images,
                options={option: value} if option else None,
                method=method,
                batch=args.batch_size,
            )
            out = subprocess.run(
                [
                    sys.executable,
                    os.path.join(HERE, "bench_scale.py"),
                    "--measure",
                    "--",
                    sys.executable,
                    "-c",
                    code,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            m = json.loads(out.stdout.strip().splitlines()[-1])
            if m["exit"]:
                raise SystemExit(f"{method} {option}={value} failed:\n" + "\n".join(m["tail"]))
            row = {"method": method, "option": option, "value": value, "peak_rss_mb": m["driver_rss_mb"]}
            row["wall_s"] = m["wall_s"]
            rows.append(row)
            print(
                f"{method:22s} {option or '':8s} {value:4d}: peak RSS {row['peak_rss_mb']:7.0f} MiB, "
                f"wall {row['wall_s']:6.1f} s",
                flush=True,
            )
    by = {(r["method"], r["value"]): r["peak_rss_mb"] for r in rows}
    ratios = {
        "smoothgrad_100_over_10": by[("smoothgrad", 100)] / by[("smoothgrad", 10)],
        "ig_100_over_10": by[("integrated_gradients", 100)] / by[("integrated_gradients", 10)],
    }
    print(", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    os.makedirs(args.out, exist_ok=True)
    from saliency_core.store.machine import machine_info

    with open(os.path.join(args.out, "method-memory.json"), "w", encoding="utf-8") as fh:
        json.dump(
            {
                "images": args.images,
                "batch_size": args.batch_size,
                "rows": rows,
                "ratios": ratios,
                "load_average": os.getloadavg(),
                "machine": machine_info(detect_gpus=False),
            },
            fh,
            indent=2,
        )
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
