"""Benchmark: how a check's wall time and memory grow with the number of images, in one
process and on a local Ray cluster with 1 and 2 workers.

Question (issue 13, scale-out): for 16, 128, 512 and 2,048 images, what do wall time
and peak memory of

    saliency-bench check --model efficientnet-lite0 --data DIR --methods gradient,random
        --metrics deletion,insertion,mprt,random-logit --variant function

cost in one process (the local executor) and with ``--executor ray --workers 1`` and
``--workers 2``; and what does that predict for N GPUs?

Protocol: ``max(sizes)`` crops of 256x256 of the bundled photos (seeded positions and
flips, :func:`saliency_core.data.photos.load_photos`) are written as PNG files to a
temporary folder, which ``check --data DIR --images N`` streams. Every (size,
configuration) runs the command in a fresh process, under a small measuring parent
(this script with ``--measure``) that records:

* ``wall_s``: wall time of the command; ``first_chunk_s``: until its first chunk
  line (start-up: imports, model load, Ray start and actors);
* ``driver_rss_mb``: peak RSS of the command's own process (its ``VmHWM``, sampled
  every 0.25 s from /proc); ``max_process_rss_mb``: peak RSS of the largest single
  process of the run, the command or one of its descendants (``RUSAGE_CHILDREN`` of
  the measuring parent, whose only child the command is);
* ``tree_rss_mb``: peak of the summed RSS of the command and all its descendants
  (Ray's raylet, GCS and worker processes), sampled every 0.25 s from /proc;
* ``driver_cpu_s``: CPU seconds of the command's own process (the Ray driver: reading
  images, sending chunks, recording results), sampled from /proc; ``all_cpu_s``: CPU
  seconds of the command and all its descendants (each process's last sample, so up
  to 0.25 s of a process's end is missed). On a machine shared with other work the
  CPU seconds are the steadier measure: wall time there is mostly waiting for a core.

Derived (written to the results README): the per-image cost of each configuration,
(wall(N2) - wall(N1)) / (N2 - N1) and the same of ``all_cpu_s``, which cancel
start-up; and the driver's CPU time per chunk in the Ray runs,
(driver_cpu(N2) - driver_cpu(N1)) / (chunks(N2) - chunks(N1)).

Usage (small mode, about 15 minutes on 2 quiet CPU cores; the full mode is hours on a CPU)::

    python bench/bench_scale.py --sizes 16,128 --out bench/results/scale/scale-small.json
    python bench/bench_scale.py                  # 16,128,512,2048; local, ray-1, ray-2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

CONFIGS = {
    "local": [],
    "ray-1": ["--executor", "ray", "--workers", "1"],
    "ray-2": ["--executor", "ray", "--workers", "2"],
}
MODEL, METHODS, METRICS = "efficientnet-lite0", "gradient,random", "deletion,insertion,mprt,random-logit"
CROP = 256
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


# --- the measuring parent (a fresh process per run) -------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _hwm(pid: int) -> int:
    """Peak RSS of one process so far (VmHWM), bytes."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return None


def measure(command: list[str]) -> dict:
    """Run ``command``; its wall time, chunk-line times, peak RSS and driver CPU."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = {"tree": 0, "cpu": 0.0, "driver": 0}
    cpu_by_pid: dict[int, float] = {}  # last CPU seconds seen of every process of the run
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            tree, todo, total = _children(), [proc.pid], 0
            while todo:
                pid = todo.pop()
                total += _rss(pid)
                used = _cpu(pid)
                if used is not None:
                    cpu_by_pid[pid] = max(cpu_by_pid.get(pid, 0.0), used)
                todo.extend(tree.get(pid, []))
            peak["tree"] = max(peak["tree"], total)
            peak["driver"] = max(peak["driver"], _hwm(proc.pid))
            cpu = _cpu(proc.pid)
            if cpu is not None:
                peak["cpu"] = cpu
            stop.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    chunks, tail = [], []
    for line in proc.stderr:
        if line.startswith("chunk "):
            chunks.append(
                {
                    "s": time.perf_counter() - start,
                    "driver_cpu_s": peak["cpu"],
                    "all_cpu_s": sum(cpu_by_pid.values()),
                }
            )
        tail = (tail + [line.rstrip()])[-5:]
    code = proc.wait()
    wall = time.perf_counter() - start
    stop.set()
    sampler.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "exit": code,
        "wall_s": wall,
        "first_chunk_s": chunks[0]["s"] if chunks else None,
        "chunks": chunks,
        "driver_rss_mb": peak["driver"] / 2**20,
        "max_process_rss_mb": usage.ru_maxrss / 1024,
        "tree_rss_mb": peak["tree"] / 2**20,
        "driver_cpu_s": peak["cpu"],
        "all_cpu_s": sum(cpu_by_pid.values()),
        "tail": tail if code else [],
    }


# --- the benchmark -----------------------------------------------------------------------


def write_crops(folder: str, count: int, seed: int) -> None:
    """``count`` seeded 256x256 crops of the bundled photos, as PNG files."""
    import numpy as np
    from PIL import Image

    from saliency_core.data.photos import load_photos

    photos = load_photos().images
    rng = np.random.default_rng(seed)
    for i in range(count):
        photo = photos[i % len(photos)]
        top = int(rng.integers(0, photo.shape[0] - CROP + 1))
        left = int(rng.integers(0, photo.shape[1] - CROP + 1))
        crop = photo[top : top + CROP, left : left + CROP]
        if rng.integers(2):
            crop = crop[:, ::-1]
        Image.fromarray(np.ascontiguousarray(crop)).save(os.path.join(folder, f"crop-{i:05d}.png"))


def per_unit(rows: list[dict], config: str, field: str, unit: str) -> float | None:
    """Slope of ``field`` over ``unit`` ("images" or "n_chunks") between the smallest and
    largest size measured for ``config``."""
    mine = sorted((r for r in rows if r["config"] == config and r["exit"] == 0), key=lambda r: r["images"])
    if len(mine) < 2 or mine[-1][unit] == mine[0][unit]:
        return None
    return (mine[-1][field] - mine[0][field]) / (mine[-1][unit] - mine[0][unit])


def main(argv=None) -> int:
    if argv is None and sys.argv[1:2] == ["--measure"]:
        print(json.dumps(measure(sys.argv[3:] if sys.argv[2:3] == ["--"] else sys.argv[2:])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="16,128,512,2048", help="image counts (comma separated)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="of " + ", ".join(CONFIGS))
    parser.add_argument("--chunk-images", type=int, default=16, help="images per chunk")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seed of the crop positions")
    parser.add_argument("--note", default="", help="e.g. 'measured under load'")
    parser.add_argument("--model", default=MODEL, help="the check's --model")
    parser.add_argument("--methods", default=METHODS, help="the check's --methods")
    parser.add_argument("--metrics", default=METRICS, help="the check's --metrics")
    parser.add_argument("--curve-steps", type=int, default=None, help="the check's --curve-steps")
    parser.add_argument(
        "--metric-setting",
        action="append",
        default=[],
        metavar="METRIC.SETTING=VALUE",
        help="passed to the check (repeatable), e.g. mprt-cascading.layerwise=false",
    )
    parser.add_argument(
        "--data",
        default="crops",
        choices=["crops", "synthetic"],
        help="crops: PNG crops of the bundled photos in a folder; synthetic: the synthetic set, "
        "generated per image from its seed (with --model synthetic-cnn)",
    )
    parser.add_argument("--out", default=None, help="JSON file for the results")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")

    check = ["--model", args.model, "--methods", args.methods, "--metrics", args.metrics]
    check += ["--variant", "function"]
    if args.curve_steps:
        check += ["--curve-steps", str(args.curve_steps)]
    for setting in args.metric_setting:
        check += ["--metric-setting", setting]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as work:
        data = "synthetic"
        if args.data == "crops":
            data = os.path.join(work, "crops")
            os.mkdir(data)
            write_crops(data, max(sizes), args.seed)
        for n in sizes:
            for config in configs:
                store = os.path.join(work, f"{config}-{n}.sqlite")
                command = [
                    sys.executable,
                    "-m",
                    "saliency_core",
                    "check",
                    *check,
                    "--data",
                    data,
                    "--images",
                    str(n),
                    "--chunk-images",
                    str(args.chunk_images),
                    "--batch-size",
                    str(args.batch_size),
                    "--store",
                    store,
                    *CONFIGS[config],
                ]
                out = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--measure", "--", *command],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = {
                    "images": n,
                    "config": config,
                    **json.loads(out.stdout.strip().splitlines()[-1]),  # its "chunks": chunk-line times
                    "n_chunks": -(-n // args.chunk_images),
                }
                rows.append(row)
                print(
                    f"{n:5d} images {config:6s}: exit {row['exit']}, wall {row['wall_s']:7.1f} s "
                    f"(first chunk at {row['first_chunk_s'] or float('nan'):6.1f} s), driver "
                    f"RSS {row['driver_rss_mb']:6.0f} MiB, all processes {row['tree_rss_mb']:6.0f}"
                    f" MiB, driver CPU {row['driver_cpu_s']:6.1f} s, all CPU "
                    f"{row['all_cpu_s']:6.1f} s",
                    flush=True,
                )
                if row["exit"]:
                    print("   " + "\n   ".join(row["tail"]), flush=True)
    derived = {
        config: {
            "s_per_image": per_unit(rows, config, "wall_s", "images"),
            "cpu_s_per_image": per_unit(rows, config, "all_cpu_s", "images"),
            "driver_cpu_s_per_chunk": per_unit(rows, config, "driver_cpu_s", "n_chunks"),
        }
        for config in configs
    }
    for config, values in derived.items():
        print(
            f"{config:6s}: "
            + ", ".join(f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in values.items())
        )
    if args.out:
        from saliency_core.store.machine import machine_info

        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        doc = {
            "note": args.note,
            "command": ["saliency-bench", "check", *check, "--data", args.data],
            "chunk_images": args.chunk_images,
            "batch_size": args.batch_size,
            "crop": CROP,
            "seed": args.seed,
            "load_average": os.getloadavg(),
            "machine": machine_info(detect_gpus=False),
            "rows": rows,
            "derived": derived,
        }
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
