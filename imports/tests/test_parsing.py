"""Parsing and validation of product CSV files, without the database."""

import io

import pytest

from imports import parsing
from imports.parsing import CsvFileError, ProductCsv, sniff_problem
from products.columns import NULL as NO_PRICE


def parse(content: bytes | str, size: int = 1000):
    data = content.encode() if isinstance(content, str) else content
    product_csv = ProductCsv(io.BytesIO(data))
    batches = list(product_csv.batches(size))
    return product_csv, [row for batch in batches for row in batch.rows], [e for batch in batches for e in batch.errors]


def test_header_is_case_insensitive_in_any_order():
    """Column names match in any letter case and order, with spaces around them."""
    _, rows, errors = parse(" Name ,DESCRIPTION,SKU\nLamp,Warm,abc-1\n")
    assert rows == [("abc-1", "Lamp", "Warm", NO_PRICE, "2")]
    assert errors == []


def test_unknown_columns_are_reported_once_as_a_warning():
    """Extra columns are ignored and named in one warning."""
    product_csv, rows, _ = parse("sku,name,colour,size\na,A,red,L\nb,B,blue,M\n")
    assert product_csv.warnings == ["Ignored unknown columns: colour, size."]
    assert [row[0] for row in rows] == ["a", "b"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "The file is empty."),
        ("name,description\nLamp,Warm\n", "Line 1: The first line must be a header with the columns sku and name (missing: sku"),
        ("abc-1,Lamp\n", "Line 1: The first line must be a header"),
        ("sku,name,SKU\n", "Line 1: The header names the column “sku” twice."),
    ],
)
def test_unusable_header_fails_the_file(content, message):
    """An empty file or a header without sku and name cannot be imported, and the message says why."""
    with pytest.raises(CsvFileError) as error:
        parse(content)
    assert str(error.value).startswith(message)


def test_utf8_bom_and_crlf_are_accepted():
    """Excel's "CSV UTF-8" (a BOM, CRLF line ends) reads like plain UTF-8."""
    _, rows, _ = parse("\ufeffsku,name\r\nabc-1,Café\r\nabc-2,Crème\r\n".encode())
    assert rows == [("abc-1", "Café", "", NO_PRICE, "2"), ("abc-2", "Crème", "", NO_PRICE, "3")]


def test_quoted_fields_keep_commas_quotes_and_newlines_and_lines_stay_right():
    """Quoted fields may hold commas, quotes and newlines; later rows keep their real line numbers."""
    _, rows, errors = parse('sku,name,description\na,"Lamp, big","Says ""hi""\nand more"\n,B,x\n')
    assert rows == [("a", "Lamp, big", 'Says "hi"\nand more', NO_PRICE, "2")]
    assert errors[0].line == 4


def test_row_errors_name_line_column_and_value():
    """Empty SKU, over-long values and bad prices skip the row with a precise error."""
    content = "sku,name,price\n" + "\n".join(
        [",Lamp,1", f"{'x' * 65},Lamp,1", f"ok,{'n' * 256},1", "p1,Lamp,abc", "p2,Lamp,-1", "p3,Lamp,1.999",
         "p4,Lamp,12345678901", "p5,,1", "good,Lamp,19.9"]
    )
    _, rows, errors = parse(content)
    assert rows == [("good", "Lamp", "", "19.90", "10")]
    assert [(e.line, e.column, e.message) for e in errors] == [
        (2, "sku", "SKU is required."),
        (3, "sku", "SKU is longer than 64 characters."),
        (4, "name", "Name is longer than 255 characters."),
        (5, "price", "Price is not a number (write it like 19.99)."),
        (6, "price", "Price cannot be negative."),
        (7, "price", "Price has more than 2 decimals."),
        (8, "price", "Price is too large."),
        (9, "name", "Name is required."),
    ]
    assert errors[3].value == "abc"


def test_wrong_number_of_fields_is_a_row_error():
    """A row with too many or too few fields is skipped, the import goes on."""
    _, rows, errors = parse("sku,name\na,A,extra\nb\nc,C\n")
    assert [row[0] for row in rows] == ["c"]
    assert [(e.line, e.message) for e in errors] == [(2, "Expected 2 fields, found 3."), (3, "Expected 2 fields, found 1.")]


def test_blank_lines_are_ignored():
    """Empty lines are neither rows nor errors."""
    product_csv = ProductCsv(io.BytesIO(b"sku,name\n\na,A\n\n"))
    (batch,) = product_csv.batches(10)
    assert batch.rows_read == 1 and batch.errors == []


def test_batches_count_rows_and_bytes():
    """Each batch holds `size` rows read and says how far into the file it got."""
    data = b"sku,name\na,A\nb,B\nc,C\n"
    batches = list(ProductCsv(io.BytesIO(data)).batches(2))
    assert [batch.rows_read for batch in batches] == [2, 1]
    assert batches[-1].bytes_read == len(data)


def test_batches_may_start_small_and_double():
    """`first` sizes the first batch (the database starts sooner); each next one doubles, up to `size`."""
    data = "sku,name\n" + "".join(f"s{i},N\n" for i in range(20))
    batches = list(ProductCsv(io.BytesIO(data.encode())).batches(6, first=1))
    assert [batch.rows_read for batch in batches] == [1, 2, 4, 6, 6, 1]


def test_non_utf8_file_fails_naming_the_line():
    """A Latin-1 file fails with the encoding problem and the line it was found on."""
    with pytest.raises(CsvFileError, match=r"^Line 3: The file is not UTF-8 text"):
        parse("sku,name\na,A\nb,Caf\xe9\n".encode("latin-1"))


def test_binary_content_fails_the_file():
    """NUL bytes mean a binary file, not CSV text."""
    with pytest.raises(CsvFileError, match=r"^Line 2: The file is binary"):
        parse(b"sku,name\na\x00b,A\n")


@pytest.mark.parametrize(
    ("head", "problem"),
    [
        (b"", "The file is empty."),
        (b"PK\x03\x04\x00\x00", "This is not a CSV text file (it contains binary data)."),
        ("sku,name\nCafé,1\n".encode("latin-1"), "This is not a CSV text file: it is not UTF-8 text (save it as “CSV UTF-8”)."),
        ("sku,name\nCafé".encode()[:-1], None),  # a character cut in half by the sniff window
        (b"sku;name\na;A\n", "The columns are separated by semicolons, not commas: found “sku;name”, "
         "expected comma-separated columns such as “sku,name,description,price”."),
        (b"\xef\xbb\xbfSKU,Name,Colour\r\na,A,red\r\n", None),
        (b"sku,nam", None),  # the header's line is not complete yet: the import checks it
    ],
)
def test_sniff_recognises_files_that_are_not_csv_text(head, problem):
    """The upload check rejects empty, binary and non-UTF-8 files, and unusable headers, from their first bytes."""
    assert sniff_problem(head) == problem


def test_sniff_checks_the_header_of_a_file_that_is_only_a_header():
    """A whole file of one line without a newline has its header checked too."""
    assert "(missing: name; found: sku)" in sniff_problem(b"sku", whole_file=True)


def test_exported_active_column_is_known_and_not_warned_about():
    """`active` (in the catalogue's export) is left alone without an "unknown column" warning."""
    product_csv, rows, _ = parse("sku,name,description,price,active\na,A,,1.00,f\n")
    assert product_csv.warnings == []
    assert rows[0][:4] == ("a", "A", "", "1.00")


def test_line_numbers_stay_right_across_chunks(monkeypatch):
    """Rows are read a chunk at a time; a row spanning lines, a blank line and an error near
    chunk boundaries keep their real line numbers."""
    monkeypatch.setattr(parsing, "CHUNK_ROWS", 2)
    _, rows, errors = parse('sku,name,description\na,A,"two\nlines"\nb,B,x\n\nc,C,x\n,D,x\ne,E,x\n')
    assert [(row[0], row[4]) for row in rows] == [("a", "2"), ("b", "4"), ("c", "6"), ("e", "8")]
    assert [(e.line, e.column) for e in errors] == [(7, "sku")]


def test_line_numbers_count_every_kind_of_line_break_inside_quoted_fields(monkeypatch):
    """A quoted field's CRLF, lone CR and LF each move the next rows one line down, as a text
    editor counts the file's lines, in chunks that also hold rows of one line."""
    monkeypatch.setattr(parsing, "CHUNK_ROWS", 3)
    content = 'sku,name,description\r\na,A,"1\r\n2\r3\n4"\r\nb,B,x\r\nc,C,"\r\n"\r\n,D,x\r\ne,E,x\r\nf,F,"\n\n"\r\n,G,x\r\n'
    _, rows, errors = parse(content)
    assert [(row[0], row[4]) for row in rows] == [("a", "2"), ("b", "6"), ("c", "7"), ("e", "10"), ("f", "11")]
    assert [e.line for e in errors] == [9, 14]
