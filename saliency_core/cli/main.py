"""The ``saliency-bench`` command: parses arguments, configures logging and
devices, then calls one verb. Nothing here runs at import of the library.

Exit codes: 0 success, 1 a check, gate or comparison failed, 2 a usage or input error
(missing file, weights unavailable offline, bad option), 3 a gate is inconclusive.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from .errors import CliError

__all__ = ["main", "CliError"]


#: TensorFlow's oneDNN CPU kernels, unless the environment says otherwise. TF 2.21 turns
#: them on by default only on CPUs with AVX-512 VNNI/BF16 or AMX; on this project's AVX2
#: machine (2 cores) they gave 1.2-1.8x the images per CPU second of ResNet50 saliency
#: (function, batch 8) at every thread setting tried (bench/results/threads).
ONEDNN_DEFAULT = "1"


def configure_runtime(verbose: bool = False) -> None:
    """Quiet TensorFlow's C++ logging, pick the TF backend, turn oneDNN on (unless
    ``TF_ENABLE_ONEDNN_OPTS`` is set) and bound the C heap
    (:func:`~saliency_core.allocator.tune_allocator`), before TF is imported."""
    from ..allocator import tune_allocator

    tune_allocator()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", ONEDNN_DEFAULT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1" if verbose else "3")
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with file descriptor 2 captured.

    TensorFlow's native libraries write start-up lines ("oneDNN custom operations are
    on", "Could not find cuda drivers") to fd 2 before its logging is configured, so
    ``TF_CPP_MIN_LOG_LEVEL`` does not silence them. They are shown only if the import
    fails. ``--verbose`` keeps them.
    """
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """Warnings as one line each, without the source location."""
    return f"saliency-bench: warning: {message}\n"


def build_parser() -> argparse.ArgumentParser:
    from . import commands_check, commands_core, commands_harness, commands_report, commands_store

    parser = argparse.ArgumentParser(
        prog="saliency-bench",
        description="Compute, time and sanity-check gradient saliency maps (TensorFlow / Keras 3).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="import a file that registers methods or metrics (repeatable)",
    )
    parser.add_argument(
        "--intra-op-threads",
        type=int,
        default=None,
        metavar="N",
        help="TensorFlow's threads per op (default: TensorFlow's choice, or "
        "TF_NUM_INTRAOP_THREADS); recorded with every run",
    )
    parser.add_argument(
        "--inter-op-threads",
        type=int,
        default=None,
        metavar="N",
        help="TensorFlow's ops run at once (default: TensorFlow's choice, or "
        "TF_NUM_INTEROP_THREADS); recorded with every run",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (commands_core, commands_harness, commands_check, commands_report, commands_store):
        module.register(sub)
    return parser


def _plugins_before_parsing(argv: list[str]) -> None:
    """Import ``--plugin`` files first, so their methods and metrics are valid choices."""
    from ..plugins import PluginError, load_plugin_file

    for i, arg in enumerate(argv):
        path = (
            argv[i + 1]
            if arg == "--plugin" and i + 1 < len(argv)
            else arg.split("=", 1)[1]
            if arg.startswith("--plugin=")
            else None
        )
        if path is not None:
            try:
                load_plugin_file(path)
            except PluginError as exc:
                raise CliError(f"--plugin: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    configure_runtime("-v" in argv or "--verbose" in argv)
    try:
        _plugins_before_parsing(argv)
    except CliError as exc:
        print(f"saliency-bench: error: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    if getattr(args, "uses_tensorflow", False) and not args.verbose and "tensorflow" not in sys.modules:
        import_tensorflow_quietly()
    previous_format, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        if getattr(args, "uses_tensorflow", False):
            from ..devices import configure_threads

            try:
                configure_threads(args.intra_op_threads, args.inter_op_threads)
            except (ValueError, RuntimeError) as exc:
                raise CliError(f"--intra-op-threads/--inter-op-threads: {exc}") from None
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"saliency-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("saliency-bench: interrupted; finished results are kept in the store", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = previous_format
