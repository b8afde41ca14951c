"""The import's parser in a process of its own (imports.parser_child): it reads the file's bytes
from a pipe and sends back the header, then each batch with its COPY payloads.

Parsing is Python work and the writes are PostgreSQL's, so on two cores they overlap; in a
thread they would also share the GIL (docs/performance.md). The child loads neither Django nor
the file's storage: the importing process reads the file (from any storage) and feeds it
through the pipe. The talk is one way: the child never hears what the importer does with a
batch, so it may finish and exit long before the importer has written it.
"""

import contextlib
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from imports.parser_child import COMMAND, END, Crash, Header
from imports.parsing import Batch, CsvFileError
from imports.payloads import Payloads

# The directory that holds the `imports` package, where the child finds it.
CODE_ROOT = Path(__file__).resolve().parent.parent
FEED_BYTES = 1024 * 1024


class ParserProcessError(RuntimeError):
    """The parser process stopped on something other than a bad file (a bug, or it was killed)."""


class ParserProcess:
    """A child process parsing the CSV file `binary`: `header()` first, then `batches()`; with
    `events`, the payloads carry the new products as their events keep them too (SkuRouter).

    Use it as a context manager: leaving it stops the child and the threads that feed it and
    read from it, also half-way through the file.
    """

    def __init__(self, binary: BinaryIO, *, batch_rows: int, first_rows: int, events: bool = False):
        self._binary = binary
        self._process = subprocess.Popen(
            [sys.executable, "-c", COMMAND, str(batch_rows), str(first_rows), str(int(events))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=CODE_ROOT,
        )
        self._feed_error: BaseException | None = None
        self._feeder = threading.Thread(target=self._feed, name="import-feeder", daemon=True)
        self._feeder.start()
        self._batches: Iterator | None = None

    def __enter__(self) -> "ParserProcess":
        return self

    def __exit__(self, *exc_info) -> None:
        self._process.kill()  # first: the reading thread then meets the end of its pipe
        if self._batches is not None:
            self._batches.close()
        self._process.wait()
        self._feeder.join()
        with contextlib.suppress(BrokenPipeError):  # bytes a stopped child never read
            self._process.stdin.close()
        self._process.stdout.close()

    def header(self) -> Header:
        header = self._receive()
        if not isinstance(header, Header):
            raise ParserProcessError(f"The parser process sent {header!r} instead of the header.")
        return header

    def batches(self) -> Iterator[tuple[Batch, Payloads]]:
        """The batches and their payloads, read from the pipe a batch ahead of the caller by a
        thread: the read overlaps the caller's writes, and a batch that parses slowly does not
        hold the database up at once."""
        self._batches = _in_background(iter(self._receive, END))
        return self._batches

    def _receive(self):
        try:
            message = pickle.load(self._process.stdout)
        except EOFError:
            raise self._feed_error or ParserProcessError(
                f"The parser process stopped (exit status {self._process.wait()})."
            ) from None
        if isinstance(message, CsvFileError):
            raise message
        if isinstance(message, Crash):
            raise ParserProcessError(f"The parser process failed:\n{message.traceback}")
        return message

    def _feed(self) -> None:
        """Copy the file into the child's stdin (a thread: the file may come from remote storage)."""
        try:
            with contextlib.suppress(BrokenPipeError):  # the child stopped early: a bad file, a cancel
                while data := self._binary.read(FEED_BYTES):
                    self._process.stdin.write(data)
                self._process.stdin.close()
        except BaseException as error:
            # A half-read file must not import as a shorter one: stop the child before it ends.
            self._feed_error = error
            self._process.kill()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


_DONE = object()


def _in_background(items: Iterable) -> Iterator:
    """Iterate `items` in a thread that stays one item in front of the consumer."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as error:  # handed to the consumer, which raises it
            put(_Failed(error))

    thread = threading.Thread(target=produce, name="import-parser-reader", daemon=True)
    thread.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
