"""Read a product CSV as a stream of validated batches. Pure Python, without Django: it runs in
the import's parser process (imports.parser_process).

The file is read row by row through `csv` over a UTF-8 text stream (a BOM is dropped, CRLF and
LF both work, quoted fields may hold commas, quotes and newlines), so memory stays flat
whatever the file's size.
"""

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, islice, repeat
from typing import BinaryIO

from products.columns import IMPORT_COLUMN_NAMES, IMPORT_COLUMNS, REQUIRED_COLUMN_NAMES

# Known and left alone: the catalogue's CSV export carries `active`, which imports never change.
IGNORED_COLUMNS = ("active",)
EXAMPLE_HEADER = ",".join(IMPORT_COLUMN_NAMES)
# Field separators people save CSV files with, which make the header one column.
OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs"}
# Enough of a bad value to recognise it in the error list without storing a whole blob.
ERROR_VALUE_MAX_LENGTH = 200
READ_BYTES = 64 * 1024
# Rows are read and checked this many at a time: enough to check them column by column, few
# enough that the garbage collector does not keep scanning a batch's worth of fresh lists.
CHUNK_ROWS = 1_000
# The csv module's own default (128 KiB) rejects long descriptions; 1 MiB still bounds memory.
csv.field_size_limit(1024 * 1024)


class CsvFileError(Exception):
    """The whole file is unusable: the job fails with this message."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message, line)  # both in args, so that it pickles (parser_process)
        self.message, self.line = message, line

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    value: str
    message: str


@dataclass
class Batch:
    """Valid rows and the errors of the others. A row is one COPY text per IMPORT_COLUMNS, then
    its line: built once here, so turning a batch into COPY text needs no Python code per field."""

    rows: list[tuple] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows_read: int = 0
    rows_skipped: int = 0
    bytes_read: int = 0


class ProductCsv:
    """A product CSV file: `columns` and `warnings` come from the header, `batches()` from the rest."""

    def __init__(self, binary: BinaryIO):
        self._stream = _CheckedStream(binary)
        text = io.TextIOWrapper(io.BufferedReader(self._stream, READ_BYTES), encoding="utf-8-sig", newline="")
        self._reader = csv.reader(text)
        header = self._next_row()
        if header is None:
            raise CsvFileError("The file is empty.")
        self.columns, self.warnings = _parse_header(header)
        self.width = len(header)

    def _next_row(self) -> list[str] | None:
        line = self._reader.line_num + 1
        try:
            return next(self._reader, None)
        except csv.Error as error:
            raise CsvFileError(f"The file is not valid CSV ({error}).", line=line) from None

    def batches(self, size: int, *, first: int | None = None) -> Iterator[Batch]:
        """Batches of `size` rows read (valid or not, blank lines too). If `first` is given, the
        first batch has `first` rows and each next one twice as many as the one before, up to
        `size`: the database starts on a small batch while the next, larger one is parsed."""
        validate = RowValidator(self.columns, self.width)
        limit = first or size
        while True:
            batch, wanted = Batch(), limit
            while wanted:
                lines, rows = self._read(min(CHUNK_ROWS, wanted))
                if not rows:
                    break
                validate.add(batch, lines, rows)
                wanted -= len(rows)
            if batch.rows_read:
                batch.bytes_read = self._stream.bytes_read
                yield batch
            if wanted:  # the end of the file
                return
            limit = min(size, limit * 2)

    def _read(self, count: int) -> tuple[Sequence[int], list[list[str]]]:
        """Up to `count` rows, and the line each one starts on. Most chunks have a row per line;
        where a quoted field holds line breaks, each adds a line to its row."""
        reader = self._reader
        first = reader.line_num + 1
        try:
            rows = list(islice(reader, count))
        except csv.Error as error:
            raise CsvFileError(f"The file is not valid CSV ({error}).", line=reader.line_num) from None
        if reader.line_num - first + 1 == len(rows):
            return range(first, first + len(rows)), rows
        return list(accumulate(map(_lines_spanned, rows[:-1]), initial=first)), rows


def _lines_spanned(row: list[str]) -> int:
    """The lines of the file a row took: one, and one more per line break (CRLF, CR or LF, as
    the text stream splits lines) inside its quoted fields."""
    text = ",".join(row)
    return 1 + text.count("\n") + text.count("\r") - text.count("\r\n")


class _CheckedStream(io.RawIOBase):
    """The file's bytes as the parser reads them, refusing NUL bytes and invalid UTF-8 with the
    line they are on (decoding runs at hundreds of MB/s: checking twice costs next to nothing)."""

    def __init__(self, binary: BinaryIO):
        self._binary = binary
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._line = 1
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._binary.read(len(buffer))
        if b"\x00" in data:
            raise CsvFileError("The file is binary, not CSV text.", line=self._line_at(data, data.index(b"\x00")))
        try:
            self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as error:
            message = "The file is not UTF-8 text (save it as “CSV UTF-8”)."
            raise CsvFileError(message, line=self._line_at(data, max(error.start, 0))) from None
        self._line += data.count(b"\n")
        self.bytes_read += len(data)
        buffer[: len(data)] = data
        return len(data)

    def _line_at(self, data: bytes, offset: int) -> int:
        return self._line + data.count(b"\n", 0, offset)


def _parse_header(header: list[str]) -> tuple[dict[str, int], list[str]]:
    names = [name.strip().lower() for name in header]
    columns: dict[str, int] = {}
    unknown = []
    for index, name in enumerate(names):
        if name in IMPORT_COLUMN_NAMES:
            if name in columns:
                raise CsvFileError(f"The header names the column “{name}” twice.", line=1)
            columns[name] = index
        elif name not in IGNORED_COLUMNS:
            unknown.append(header[index].strip() or f"(unnamed column {index + 1})")
    missing = [name for name in REQUIRED_COLUMN_NAMES if name not in columns]
    if missing:
        raise CsvFileError(_header_problem(header, missing), line=1)
    warnings = [f"Ignored unknown columns: {', '.join(unknown)}."] if unknown else []
    return columns, warnings


def _header_problem(header: list[str], missing: list[str]) -> str:
    """What is wrong with a header that lacks required columns: what was found, what is expected."""
    expected = f"expected comma-separated columns such as “{EXAMPLE_HEADER}”"
    if len(header) == 1:
        for separator, name in OTHER_SEPARATORS.items():
            if separator in header[0]:
                return f"The columns are separated by {name}, not commas: found “{header[0]}”, {expected}."
    return (
        f"The first line must be a header with the columns {' and '.join(REQUIRED_COLUMN_NAMES)} "
        f"(missing: {', '.join(missing)}; found: {', '.join(header) or 'nothing'}); {expected}."
    )


class RowValidator:
    """Turns CSV rows into product rows (see Batch), or into the errors that make them unusable."""

    def __init__(self, columns: dict[str, int], width: int):
        self.width = width
        # Each declared column with its position in the file, None when the file lacks it.
        self.columns = [(column, columns.get(column.name)) for column in IMPORT_COLUMNS]

    def add(self, batch: Batch, lines: list[int], rows: tuple[list[str], ...]) -> None:
        """Add the rows starting on `lines` to the batch: checked column by column when they are
        all valid (most files; a third of the time row by row takes), else row by row, for the
        errors."""
        valid = self._valid_rows(lines, rows)
        if valid is None:
            self._add_checked(batch, lines, rows)
        else:
            batch.rows.extend(valid)
            batch.rows_read += len(valid)

    def _valid_rows(self, lines: list[int], rows: tuple[list[str], ...]) -> list[tuple] | None:
        if set(map(len, rows)) != {self.width}:  # also true of a blank line, which is []
            return None
        cells = list(zip(*rows))
        fields = []
        for column, index in self.columns:
            if index is None:
                fields.append(repeat(column.empty))
                continue
            values = list(map(str.strip, cells[index]))
            if column.required and not all(values):
                return None
            if column.max_length and max(map(len, values)) > column.max_length:
                return None
            if column.parse:
                values = [column.parse(value)[0] if value else column.empty for value in values]
                if None in values:
                    return None
            elif column.empty:
                values = [value or column.empty for value in values]
            fields.append(values)
        return list(zip(*fields, map(str, lines)))

    def _add_checked(self, batch: Batch, lines: list[int], rows: tuple[list[str], ...]) -> None:
        for line, row in zip(lines, rows):
            if not row:  # a blank line
                continue
            batch.rows_read += 1
            product, errors = self(line, row)
            if errors:
                batch.errors.extend(errors)
                batch.rows_skipped += 1
            else:
                batch.rows.append(product)

    def __call__(self, line: int, row: list[str]) -> tuple[tuple | None, list[RowError]]:
        if len(row) != self.width:
            value = _clip(",".join(row))
            return None, [RowError(line, "", value, f"Expected {self.width} fields, found {len(row)}.")]
        errors, fields = [], []
        for column, index in self.columns:
            cell = "" if index is None else row[index]
            text = cell.strip()
            if not text:
                if column.required:
                    errors.append(RowError(line, column.name, "", column.required_message))
                fields.append(column.empty)
            elif column.max_length and len(text) > column.max_length:
                errors.append(RowError(line, column.name, _clip(text), column.too_long_message))
            elif column.parse:
                value, message = column.parse(text)
                if message:
                    errors.append(RowError(line, column.name, _clip(cell), message))
                fields.append(value)
            else:
                fields.append(text)
        if errors:
            return None, errors
        return (*fields, str(line)), []


def _clip(value: str) -> str:
    return value if len(value) <= ERROR_VALUE_MAX_LENGTH else value[: ERROR_VALUE_MAX_LENGTH - 1] + "…"


def sniff_problem(head: bytes, *, whole_file: bool = False) -> str | None:
    """Why the first bytes of a file cannot be a product CSV file, if they cannot: the checks
    that run at upload time, before a job is queued. The header is checked once its line is
    complete in `head` (or `head` is the whole file)."""
    if not head:
        return "The file is empty."
    if b"\x00" in head:
        return "This is not a CSV text file (it contains binary data)."
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "This is not a CSV text file: it is not UTF-8 text (save it as “CSV UTF-8”)."
    if b"\n" in head or whole_file:
        try:
            ProductCsv(io.BytesIO(head.split(b"\n", 1)[0]))
        except CsvFileError as error:
            return error.message
    return None
