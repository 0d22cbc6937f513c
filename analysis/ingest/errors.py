"""The error that stops a whole file (one bad row is a reject, not an error)."""


class ImportFileError(Exception):
    """The whole file cannot be imported (as opposed to one row, which becomes a reject)."""

