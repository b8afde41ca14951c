"""The import's parser process: what crosses the pipes, and that it never outlives its import."""

import io
import os
import signal
from pathlib import Path

import pytest

from imports.parser_process import FEED_BYTES, ParserProcess, ParserProcessError
from imports.parsing import CsvFileError


def parser_processes() -> list[int]:
    """This process's children that run the import's parser, found through /proc."""
    children = Path(f"/proc/{os.getpid()}/task").glob("*/children")
    pids = [int(pid) for path in children for pid in path.read_text().split()]
    return [pid for pid in pids if b"imports.parser_child" in _cmdline(pid)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:  # ended meanwhile
        return b""


def big_csv(rows: int) -> bytes:
    return ("sku,name\n" + "".join(f"SKU-{i},Name {i}\n" for i in range(rows))).encode()


class UnreadableTail(io.BytesIO):
    """A file whose storage fails after the first read."""

    def read(self, size=-1):
        if self.tell():
            raise OSError("Connection reset while reading the file.")
        return super().read(size)


def test_header_and_batches_arrive_from_the_child():
    """The child sends the header, then each batch's counts and payloads: the new SKUs sorted by key."""
    data = b"SKU,Name,colour\nb-2,Bee,red\nA-1,Ay,blue\nbad\nc-3,See,green\n"
    with ParserProcess(io.BytesIO(data), batch_rows=3, first_rows=3) as parser:
        header = parser.header()
        batches = list(parser.batches())
    assert header.columns == {"sku": 0, "name": 1}
    assert header.warnings == ["Ignored unknown columns: colour."]
    assert [(batch.rows_read, batch.rows_skipped, len(batch.errors)) for batch, _ in batches] == [(3, 1, 1), (1, 0, 0)]
    first = batches[0][1]
    assert first.new == b"A-1\tAy\t\t\\N\nb-2\tBee\t\t\\N\n"
    assert (first.new_count, first.new_lines, first.merge) == (2, "3\n2", b"")
    assert batches[-1][0].bytes_read == len(data)


def test_a_bad_file_fails_with_its_message_and_line():
    """A CsvFileError raised in the child reaches the importer with its message and line."""
    with ParserProcess(io.BytesIO(b"sku,name\na,A\n\x00\n"), batch_rows=10, first_rows=10) as parser:
        with pytest.raises(CsvFileError) as raised:
            parser.header()
    assert (raised.value.line, str(raised.value)) == (3, "Line 3: The file is binary, not CSV text.")


def test_a_file_that_cannot_be_read_to_the_end_fails_instead_of_importing_shorter():
    """A storage error half-way stops the child and is raised: a half-read file never ends as a whole one."""
    with ParserProcess(UnreadableTail(big_csv(200_000)), batch_rows=1000, first_rows=1000) as parser:
        parser.header()
        with pytest.raises(OSError, match="Connection reset"):
            for _batch in parser.batches():
                pass
    assert len(big_csv(200_000)) > FEED_BYTES  # so the first read succeeded


def test_rows_are_split_by_whether_an_earlier_batch_had_their_sku():
    """Every batch's rows arrive once: SKUs new to the file in the append payload, SKUs an
    earlier batch had (in any case) in the merge payload with their lines. The child decides
    nothing else, so it may finish and exit long before the importer is done."""
    data = b"sku,name\na,A\nb,B\nA,A2\nc,C\nB,B2\nd,D\n"
    with ParserProcess(io.BytesIO(data), batch_rows=2, first_rows=2) as parser:
        parser.header()
        payloads = [payloads for _, payloads in parser.batches()]
    assert [(p.new, p.merge) for p in payloads] == [
        (b"a\tA\t\t\\N\nb\tB\t\t\\N\n", b""),
        (b"c\tC\t\t\\N\n", b"A\tA2\t\t\\N\t4\n"),
        (b"d\tD\t\t\\N\n", b"B\tB2\t\t\\N\t6\n"),
    ]
    assert [(p.new_lines, p.duplicates) for p in payloads] == [("2\n3", 0), ("5", 0), ("7", 0)]


def test_leaving_half_way_stops_the_child():
    """A cancelled import (the context left after one batch) leaves no parser process behind."""
    with ParserProcess(io.BytesIO(big_csv(300_000)), batch_rows=1000, first_rows=1000) as parser:
        parser.header()
        next(parser.batches())
        assert len(parser_processes()) == 1
    assert parser_processes() == []


def test_a_child_that_dies_fails_clearly():
    """A parser process killed mid-file (out of memory, say) is an error, not a short file."""
    with ParserProcess(io.BytesIO(big_csv(300_000)), batch_rows=1000, first_rows=1000) as parser:
        parser.header()
        batches = parser.batches()
        next(batches)
        os.kill(parser_processes()[0], signal.SIGKILL)
        with pytest.raises(ParserProcessError, match=r"stopped \(exit status -9\)"):
            for _batch in batches:
                pass


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tail, status", [("", "completed"), ("\x00\n", "failed"), ("a\n", "completed_with_errors")],
    ids=["completed", "parser-fails", "row-errors"],
)
def test_an_import_leaves_no_parser_process_behind(run_import, tail, status):
    """The parser's child process ends with the import, also when the file turns out bad
    half-way (a NUL byte after the first read)."""
    job = run_import("sku,name\n" + "a,A\n" * 200_000 + tail)
    assert job.status == status
    assert parser_processes() == []
