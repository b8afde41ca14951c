"""Read a product CSV as a stream of validated batches. Pure Python: no database here.

The file is read row by row through `csv` over a UTF-8 text stream (a BOM is dropped, CRLF and
LF both work, quoted fields may hold commas, quotes and newlines), so memory stays flat
whatever the file's size.
"""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import BinaryIO

from products.models import Product

REQUIRED_COLUMNS = ("sku", "name")
OPTIONAL_COLUMNS = ("description", "price")
SKU_MAX_LENGTH = Product._meta.get_field("sku").max_length
NAME_MAX_LENGTH = Product._meta.get_field("name").max_length
PRICE_MAX_DIGITS = Product._meta.get_field("price").max_digits
PRICE_DECIMALS = Product._meta.get_field("price").decimal_places
# Enough of a bad value to recognise it in the error list without storing a whole blob.
ERROR_VALUE_MAX_LENGTH = 200
READ_BYTES = 64 * 1024
# The csv module's own default (128 KiB) rejects long descriptions; 1 MiB still bounds memory.
csv.field_size_limit(1024 * 1024)


class CsvFileError(Exception):
    """The whole file is unusable: the job fails with this message."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(f"Line {line}: {message}" if line else message)
        self.line = line


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    value: str
    message: str


@dataclass
class Batch:
    """Valid rows as (line, sku, name, description, price) and the errors of the others."""

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
        """Batches of `size` rows read (valid or not), the first one of `first` rows if given."""
        batch = Batch()
        limit = first or size
        validate = RowValidator(self.columns, self.width)
        while True:
            line = self._reader.line_num + 1
            row = self._next_row()
            if row is None:
                break
            if not row:  # a blank line
                continue
            batch.rows_read += 1
            product, errors = validate(line, row)
            if errors:
                batch.errors.extend(errors)
                batch.rows_skipped += 1
            else:
                batch.rows.append(product)
            if batch.rows_read == limit:
                batch.bytes_read = self._stream.bytes_read
                yield batch
                batch, limit = Batch(), size
        if batch.rows_read:
            batch.bytes_read = self._stream.bytes_read
            yield batch


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
        if name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
            if name in columns:
                raise CsvFileError(f"The header names the column “{name}” twice.", line=1)
            columns[name] = index
        else:
            unknown.append(header[index].strip() or f"(unnamed column {index + 1})")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise CsvFileError(
            "The first line must be a header with the columns sku and name "
            f"(missing: {', '.join(missing)}; found: {', '.join(header) or 'nothing'}).",
            line=1,
        )
    warnings = [f"Ignored unknown columns: {', '.join(unknown)}."] if unknown else []
    return columns, warnings


class RowValidator:
    """Turns one CSV row into a product tuple, or into the errors that make it unusable."""

    def __init__(self, columns: dict[str, int], width: int):
        self.width = width
        self.sku = columns["sku"]
        self.name = columns["name"]
        self.description = columns.get("description")
        self.price = columns.get("price")

    def __call__(self, line: int, row: list[str]) -> tuple[tuple | None, list[RowError]]:
        if len(row) != self.width:
            value = _clip(",".join(row))
            return None, [RowError(line, "", value, f"Expected {self.width} fields, found {len(row)}.")]
        errors = []
        sku = row[self.sku].strip()
        if not sku:
            errors.append(RowError(line, "sku", "", "SKU is required."))
        elif len(sku) > SKU_MAX_LENGTH:
            errors.append(RowError(line, "sku", _clip(sku), f"SKU is longer than {SKU_MAX_LENGTH} characters."))
        name = row[self.name].strip()
        if not name:
            errors.append(RowError(line, "name", "", "Name is required."))
        elif len(name) > NAME_MAX_LENGTH:
            errors.append(RowError(line, "name", _clip(name), f"Name is longer than {NAME_MAX_LENGTH} characters."))
        description = "" if self.description is None else row[self.description].strip()
        price = None
        if self.price is not None and row[self.price].strip():
            price, message = _parse_price(row[self.price].strip())
            if message:
                errors.append(RowError(line, "price", _clip(row[self.price]), message))
        if errors:
            return None, errors
        return (line, sku, name, description, price), []


def _parse_price(text: str) -> tuple[str | None, str]:
    try:
        price = Decimal(text)
    except InvalidOperation:
        return None, "Price is not a number (write it like 19.99)."
    if not price.is_finite():
        return None, "Price is not a number (write it like 19.99)."
    if price < 0:
        return None, "Price cannot be negative."
    if price.adjusted() >= PRICE_MAX_DIGITS - PRICE_DECIMALS:
        return None, "Price is too large."
    cents = price.quantize(Decimal(1).scaleb(-PRICE_DECIMALS))
    if cents != price:
        return None, f"Price has more than {PRICE_DECIMALS} decimals."
    return str(cents), ""


def _clip(value: str) -> str:
    return value if len(value) <= ERROR_VALUE_MAX_LENGTH else value[: ERROR_VALUE_MAX_LENGTH - 1] + "…"


def sniff_problem(head: bytes) -> str | None:
    """Why the first bytes of a file cannot be a CSV text file, if they cannot."""
    if not head:
        return "The file is empty."
    if b"\x00" in head:
        return "This is not a CSV text file (it contains binary data)."
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "This is not a CSV text file: it is not UTF-8 text (save it as “CSV UTF-8”)."
    return None
