"""Importing feedback files: read, map columns to feedback fields, validate, write.

    result = import_file(db, Path("survey.csv"), mapping=None, score_type=None,
                         source=None, actor="ana")
    print(result.summary_line())

The flow is `read_table` (bytes -> DataFrame of strings) -> `detect_mapping` (column names ->
feedback fields) -> `import_frame` (convert and validate every row, then write the batch,
its feedback rows and its rejects in one transaction).

Rules the rest of the app relies on:
- nothing the user gave is silently dropped: every data row is imported, counted as a
  duplicate, or kept in `import_rejects` with its row number, field, reason and raw values,
  so `rows_read == imported + duplicates + rejected`;
- only lines that are entirely blank are skipped (they hold no data and are not counted);
- `source` defaults to the file name's stem and, with `external_id`, identifies a response,
  so re-importing the same file (or an overlapping export of the same name) adds nothing;
- timestamps without an offset are in the settings' time zone (`CLOSELOOP_TZ`) and are
  stored in UTC; slashed dates are read day-first only when the column proves it
  (some first part above 12 and no second part above 12), otherwise month-first;
- an import is one `store.write_transaction`: it lands whole or not at all.

The package's modules, one step each: `reading` (bytes -> frame of strings, with
`decoding`, `csv_reader`, `json_reader` and `frames`), `mapping` (headers -> fields, score
scales), `dates` (timestamps -> UTC), `importing` (validate and write), `batches` (one row
per import), `feedback` (the one bulk insert and the stored-row checks). Other packages
import from `analysis.ingest`; `feedback` is the exception other doors (the demo, the
migration, `check`) use directly.
"""

from analysis.ingest.batches import recent_batches, rejects_frame
from analysis.ingest.dates import parse_dates
from analysis.ingest.errors import ImportFileError
from analysis.ingest.importing import ImportResult, import_file, import_frame
from analysis.ingest.mapping import (
    SCORE_TYPES,
    detect_mapping,
    infer_score_type,
    normalise_score_type,
    resolve_mapping,
)
from analysis.ingest.reading import (
    READ_ERROR,
    READ_RAW,
    bounded_frame,
    bounded_text,
    check_upload,
    data_columns,
    preview_frame,
    read_table,
)

__all__ = [
    "READ_ERROR", "READ_RAW", "SCORE_TYPES", "ImportFileError", "ImportResult", "bounded_frame",
    "bounded_text", "check_upload", "data_columns", "preview_frame",
    "detect_mapping", "import_file", "import_frame", "infer_score_type", "normalise_score_type",
    "parse_dates", "read_table", "recent_batches", "rejects_frame", "resolve_mapping",
]
