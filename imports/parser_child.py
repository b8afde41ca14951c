"""What runs in the import's parser process (imports.parser_process starts it): parse the CSV
file on stdin and send the header, then each batch with its payloads, as pickles on stdout.

The process starts for every import, before the database can write a row, so this module
imports only what parsing needs: no Django, and none of the parent's pipes and threads.
"""

import gc
import os
import pickle
import signal
import sys
from dataclasses import dataclass

from imports.parsing import CsvFileError, ProductCsv
from imports.payloads import SkuRouter

# Parsing makes millions of lists and tuples that form no reference cycles: at the collector's
# default threshold (700 allocations) it would run thousands of times per file.
GC_THRESHOLD = 100_000
# The child's command line: `python -c` skips runpy, which `python -m` would import first.
COMMAND = "import sys; from imports.parser_child import main; main(*map(int, sys.argv[1:]))"
END = "end"


@dataclass(frozen=True)
class Header:
    columns: dict[str, int]
    warnings: list[str]


@dataclass(frozen=True)
class Crash:
    traceback: str


def main(batch_rows: int, first_rows: int, events: int) -> None:
    """Parse stdin, send pickled messages to stdout, until the end of the file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal; the parent stops us
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    out = sys.stdout.buffer

    def send(message) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        product_csv = ProductCsv(sys.stdin.buffer)
        send(Header(product_csv.columns, product_csv.warnings))
        router = SkuRouter(events=bool(events))
        for batch in product_csv.batches(batch_rows, first=first_rows):
            send((batch, router.payloads(batch)))
        send(END)
    except BrokenPipeError:
        # The importing process stopped reading: it is done with this file. (Python would
        # report the pipe again when it flushes stdout at exit.)
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    except CsvFileError as error:
        send(error)
    except Exception:
        import traceback  # only for a crash: most imports never load it

        send(Crash(traceback.format_exc()))
