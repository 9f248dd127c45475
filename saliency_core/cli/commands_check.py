"""``check`` (sanity-check metrics per method) and ``gate`` (a policy's verdict, exit 0/1/2).

Both load a model and a data set, start a run in the results store (suite "check" or
"gate"), record one ``check`` cell per (method, metric) as it finishes, and finish
the run. ``gate`` also records a ``gate`` cell. Data: ``photos`` (the bundled photos),
``synthetic`` (generated images with ground-truth object masks, at the model's input
size), an image folder, a video file or ``video`` (the bundled video, with the moving
object's masks; frames sampled with ``--fps`` and ``--max-frames``). ``--model
synthetic-cnn`` is the small CNN trained on the synthetic set. The choices of
``--methods`` and ``--metrics`` come from the registries.
"""

from __future__ import annotations

from pathlib import Path

from ..checks.settings import DEFAULT_BATCH_SIZE, DEFAULT_CURVE_STEPS, DEFAULT_SYNTHETIC_IMAGES, CheckSettings
from ..gradients import PRECISIONS
from .check_command import cmd_check
from .commands_harness import default_store_path
from .common import (
    add_model_arguments,
    add_variant_arguments,
    add_video_arguments,
)
from .gate_command import cmd_gate

__all__ = ["register"]


def _common_arguments(p) -> None:
    add_model_arguments(p, required=False)  # required unless --resume (checked in prepare)
    p.add_argument(
        "--data",
        default=None,
        metavar="photos|synthetic|video|DIR|LIST.txt|VIDEO",
        help="'photos' (bundled), 'synthetic' (images with object masks, at the "
        "model's input size), an image folder, a video file (.mp4, .avi, .mov, "
        ".mkv, .webm, .gif) or 'video' (the bundled video, with the moving "
        "object's masks)",
    )
    p.add_argument(
        "--images",
        type=int,
        default=None,
        metavar="N",
        help=f"use the first N images (default: all photos or folder images; "
        f"{DEFAULT_SYNTHETIC_IMAGES} synthetic)",
    )
    p.add_argument(
        "--data-seed",
        type=int,
        default=1,
        metavar="S",
        help="seed of the synthetic images (the synthetic CNN trains on seed 0)",
    )
    add_video_arguments(p)
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="run seed: method noise, the random map, randomized weights, the random-logit class",
    )
    add_variant_arguments(p, what="gradient and forward")
    p.add_argument(
        "--score-precision",
        default=None,
        choices=PRECISIONS,
        help="network precision when deletion and insertion score their perturbed images "
        "(default: --precision's). A low one is checked in the same run: about one image in "
        "--score-check-every is also scored in float32, and the result counts only if the "
        "AUC change stays within the AUC's 95%% interval (else a gate says INCONCLUSIVE)",
    )
    p.add_argument(
        "--score-check-every",
        type=int,
        default=CheckSettings.score_check_every,
        metavar="K",
        help="with a low --score-precision, also score about one image in K in float32 (default %(default)s)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help="images per compiled gradient call and per scored perturbation chunk",
    )
    p.add_argument(
        "--curve-steps",
        type=int,
        default=DEFAULT_CURVE_STEPS,
        metavar="N",
        help="deletion/insertion steps: H*W/N pixels moved per step (RISE's published "
        "protocol is 224 at 224x224, about 4x slower)",
    )
    p.add_argument(
        "--method-option",
        action="append",
        default=[],
        metavar="METHOD.OPTION=VALUE",
        help="a method's option, e.g. smoothgrad.samples=50 (repeatable; "
        "'list methods' shows each method's options)",
    )
    p.add_argument(
        "--metric-setting",
        action="append",
        default=[],
        metavar="METRIC.SETTING=VALUE",
        help="a metric's setting, e.g. smprt.samples=10 (repeatable; 'list metrics' "
        "shows each metric's settings)",
    )
    p.add_argument("--device", default=None, help="cpu, gpu or gpu:N (default: TensorFlow's choice)")
    p.add_argument(
        "--chunk-images",
        type=int,
        default=64,
        metavar="N",
        help="images per chunk: the unit of work, of resuming and of memory (default 64)",
    )
    p.add_argument(
        "--executor",
        default="local",
        choices=("local", "ray"),
        help="where chunks run: this process (default) or a Ray cluster",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster to join (default: start a local one); e.g. auto or ray://host:10001",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="Ray workers (default: one per GPU, else one per 2 CPUs)",
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue a killed or interrupted run (same settings, from its store): "
        "finished chunks are kept, the rest is computed",
    )
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"results store file (default: {default_store_path()})",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")


def register(sub) -> None:
    """Add ``check`` and ``gate`` to the ``saliency-bench`` parser."""
    p = sub.add_parser(
        "check",
        help="sanity-check saliency methods: deletion, insertion, randomization, ...",
        description="Compute each metric for each method on one model and data set, record each "
        "result in the results store as it finishes, and print a table per method "
        "(with the chance baseline's value beside each metric when it was run). "
        "Exit 0; 2 on an input error or when a metric could not be computed "
        "(its reason is printed and stored).",
    )
    _common_arguments(p)
    p.add_argument(
        "--methods",
        default=None,
        metavar="M,M",
        help="methods and controls (default: the registry's check defaults; 'list methods')",
    )
    p.add_argument(
        "--metrics",
        default=None,
        metavar="M,M",
        help="metrics (default: the registry's defaults, plus the localisation "
        "metrics on synthetic data; 'list metrics')",
    )
    p.set_defaults(func=cmd_check, uses_tensorflow=True)

    p = sub.add_parser(
        "gate",
        help="decide one method against a policy (exit 0 pass, 1 fail, 3 inconclusive, 2 error)",
        description="Compute the metrics a policy's rules read for one method (and for a "
        "control when a rule compares against it), print each rule with its "
        "measured value and 95%% confidence interval over images, and exit 0 when "
        "every rule passes (its whole interval on the required side), 1 when one "
        "fails (its whole interval on the wrong side), 3 when one is inconclusive "
        "(the interval straddles the threshold, or the maps cannot decide it: the "
        "number of images likely to decide it is printed), 2 on an error.",
    )
    _common_arguments(p)
    p.add_argument(
        "--policy",
        default="default",
        metavar="POLICY.toml",
        help="policy file, or a packaged policy name (default: default)",
    )
    p.add_argument(
        "--method", default=None, help="the method to gate (default: the registry's primary method)"
    )
    p.set_defaults(func=cmd_gate, uses_tensorflow=True)
