"""Read a packaged TOML file by name, or any TOML file by path, with errors that name it."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["read_toml"]


def read_toml(name_or_path, folder: Path, kind: str, error: type[Exception]) -> tuple[dict, Path]:
    """Parse ``name_or_path``: an existing file, else ``folder / f"{name}.toml"``.

    Args:
        name_or_path: A file path or the name of a packaged file in ``folder``.
        folder: Where the packaged files live.
        kind: What the file is, for messages ("suite", "policy").
        error: Exception class raised for a missing, unreadable or invalid file.

    Returns:
        ``(data, path)``: the parsed document and the file it came from.
    """
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        packaged = folder / f"{name_or_path}.toml"
        if not packaged.is_file():
            names = sorted(p.stem for p in folder.glob("*.toml"))
            raise error(
                f"no {kind} {str(name_or_path)!r}: not a file and not a packaged {kind} ({', '.join(names)})"
            )
        path = packaged
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")), path
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {kind} file: {exc}") from None
