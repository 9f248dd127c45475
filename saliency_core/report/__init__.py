"""Reports of one run, rendered from the results store alone (never recomputed).

Example::

    from saliency_core.store import ResultStore
    from saliency_core.report import render_report
    paths = render_report(ResultStore("reports/results.sqlite"), "latest", "reports/latest")
    paths["html"]   # reports/latest/report.html, one self-contained page

Output layout in ``out_dir``: ``report.html`` (figures embedded), ``report.md`` and
``figures/*.png`` (the figures the Markdown links to).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["FORMATS", "render_report"]

FORMATS = ("html", "md")
FIGURE_DIR = "figures"


def render_report(store, run_id, out_dir, formats=("html", "md")) -> dict[str, Path]:
    """Render run ``run_id`` of ``store`` into ``out_dir``; return ``{format: path}``.

    Args:
        store: A ``saliency_core.store.ResultStore``.
        run_id: A run id, ``"latest"`` or a unique id prefix (resolved by the store).
        out_dir: Directory to write into (created); existing report files are replaced.
        formats: Any of ``FORMATS``: ``"html"`` (one self-contained page) and ``"md"``
            (Markdown with its figures as PNG files beside it).

    Raises:
        ValueError: An unknown format.
        saliency_core.store.UnknownRunError: No run matches ``run_id``.
    """
    from .figures import build_figures
    from .html import render_html
    from .markdown import render_markdown
    from .run_reader import load_report_data

    formats = tuple(dict.fromkeys(formats))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(
            f"unknown report format {', '.join(map(repr, unknown)) or '(none)'}; "
            f"choose from {', '.join(FORMATS)}"
        )
    data = load_report_data(store, run_id)
    figures = build_figures(data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if "html" in formats:
        paths["html"] = out_dir / "report.html"
        paths["html"].write_text(render_html(data, figures), encoding="utf-8")
    if "md" in formats:
        fig_dir = out_dir / FIGURE_DIR
        fig_dir.mkdir(exist_ok=True)
        for stale in fig_dir.glob("[0-9][0-9]-*.png"):  # this renderer's names only
            stale.unlink()
        for fig in figures:
            (fig_dir / f"{fig.name}.png").write_bytes(fig.png)
        paths["md"] = out_dir / "report.md"
        paths["md"].write_text(render_markdown(data, figures, FIGURE_DIR), encoding="utf-8")
    return paths
