"""A check's progress: a bar from the chunk lines on a terminal, the lines as they are off one."""

import io

from saliency_core.checks.progress_line import ChunkLine
from saliency_core.cli.check_progress import CheckProgress


def test_a_chunk_line_carries_its_numbers_and_reads_as_before():
    line = ChunkLine(2, 4, 128, 256, 3.2)
    assert (line.chunk, line.chunks, line.images, line.total, line.rate) == (2, 4, 128, 256, 3.2)
    assert line == "chunk 2/4: 128/256 images, 3.20 images/s, ETA 40 s"
    # an iterable of unknown length: no count, no ETA
    assert ChunkLine(3, None, 48, None, 2.0) == "chunk 3: 48 images, 2.00 images/s"


def test_off_a_terminal_every_line_is_printed_as_it_comes():
    out = io.StringIO()  # not a terminal
    with CheckProgress(out) as progress:
        assert progress.bar is False
        for line in [
            "loading",
            ChunkLine(1, 2, 3, 6, 1.5),
            "[1/1] gradient deletion: 0.1",
            ChunkLine(2, 2, 6, 6, 2),
        ]:
            progress(line)
    assert out.getvalue().splitlines() == [
        "loading",
        "chunk 1/2: 3/6 images, 1.50 images/s, ETA 2 s",
        "[1/1] gradient deletion: 0.1",
        "chunk 2/2: 6/6 images, 2.00 images/s, ETA 0 s",
    ]


def test_on_a_terminal_the_chunks_move_a_bar_and_other_lines_print_above_it():
    out = io.StringIO()
    with CheckProgress(out, bar=True) as progress:
        progress("loading")
        progress(ChunkLine(1, 2, 3, 6, 1.5))
        progress("[1/1] gradient deletion: 0.1")
        progress(ChunkLine(2, 2, 6, 6, 2.0))
    text = out.getvalue()
    assert text.startswith("loading\n")
    assert "[1/1] gradient deletion: 0.1" in text
    assert "6/6" in text and "images, 2.00/s" in text and "chunk 2/2" in text
    assert "chunk 1/2: 3/6 images" not in text  # drawn as a bar, not printed as a line
