"""From bytes to text: what the first bytes tell (empty, a workbook, binary, a first line
too long for a header row) and the encoding, line by line where a file mixes two.

Checks read the first few KB only, so a 50 MB file that is no CSV is refused at once.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from analysis.ingest.errors import ImportFileError
from analysis.messages import excerpt
from analysis.settings import get_settings

HEADER_MAX_CHARS = 100_000
"""A first line longer than this is not a CSV header row: the file is refused unparsed."""

_SAMPLE_BYTES = 8192  # what the binary check reads: enough for a stable share
# Random bytes decode to about 13% control characters, text to almost none.
_CONTROL_SHARE = 0.10
_JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # tab, line breaks, form feed are text
_LEADING_SPACE = re.compile(r"\s*")
LINE_BREAK = re.compile(r"[\r\n]")
_LINE_ENDING = re.compile(r"\r\n|\r|\n")
_UTF8_PAIR = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")  # the start of a UTF-8 character beyond ASCII
# Windows-1252 text can be valid UTF-8 by accident ("é", no-break space, "»" are the bytes of
# a CJK character), and then decodes to a script foreign to a Western file. A real UTF-8 line
# in a file mixed with Windows-1252 holds accents, Greek, Cyrillic, punctuation or emoji.
_UNLIKELY_UTF8 = re.compile("[\u0800-\u1dff\u1f00-\u1fff\u2c00-\ufefe\uff00-\uffff]")


def _latin1_for_undefined(exc: UnicodeDecodeError) -> tuple[str, int]:
    # cp1252 leaves five bytes undefined; Latin-1 maps every byte, so decoding never fails.
    return exc.object[exc.start:exc.end].decode("latin-1"), exc.end


_LATIN1 = "closeloop-latin1-for-undefined"
codecs.register_error(_LATIN1, _latin1_for_undefined)


def check_upload(data: bytes, name: str, *, max_bytes: int | None = None) -> None:
    """Refuse, before any parsing, a file the Import page should not try to read.

    Over the size limit (`max_bytes`, default the CLOSELOOP_MAX_UPLOAD_MB setting), empty,
    a workbook, binary, or a first line too long to be a header row. Reads the first few KB
    only (the whole file just to measure a first line it is about to refuse).
    """
    limit = get_settings().max_upload_bytes if max_bytes is None else max_bytes
    if len(data) > limit:
        raise ImportFileError(say(
            name, f"the file is {_megabytes(len(data))}; the Import page reads files up to "
                  f"{_megabytes(limit)} (setting CLOSELOOP_MAX_UPLOAD_MB); import a larger "
                  "file with `python -m analysis import FILE`"))
    check_content(data, name)


def say(name: str, message: str) -> str:
    label = name if len(name) <= 200 else excerpt(name, noun="file name")
    return f"{label}: {message}"


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB"


def load(source, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "upload"
    path = Path(source)
    name = name or path.name
    try:
        return path.read_bytes(), name
    except OSError as exc:
        raise ImportFileError(say(name, f"cannot read the file ({exc.strerror or exc})")
                              ) from exc


def check_content(data: bytes, name: str) -> None:
    """What the first bytes tell: empty, a workbook, binary, no header row."""
    if not data or data.isspace():  # isspace stops at the first other byte
        raise ImportFileError(say(name, "the file is empty"))
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(say(name, "this looks like an Excel workbook or a zip archive, "
                                         "not a CSV or JSON Lines file; save it as CSV first"))
    if not data.startswith(_UTF16_BOMS) and b"\x00" in data[:4096]:
        raise ImportFileError(say(name, "not a text file (it holds binary data); "
                                         "expected CSV or JSON Lines"))
    sample = _decode_sample(data[:_SAMPLE_BYTES])
    share = len(_CONTROL.findall(sample)) / max(len(sample), 1)
    if share > _CONTROL_SHARE:
        raise ImportFileError(say(
            name, f"not a text file ({share:.0%} of its first {len(sample):,} characters are "
                  "control characters: it holds binary data); expected CSV or JSON Lines"))
    _check_first_line(data, name)


def _check_first_line(data: bytes, name: str) -> None:
    """A CSV whose first line is too long for a header row is refused from its first bytes."""
    if Path(name).suffix.lower() in _JSON_SUFFIXES:
        return
    cut = (HEADER_MAX_CHARS + 1) * 4  # bytes enough for that many characters in any encoding
    head = _decode_sample(data[:cut])
    start = _LEADING_SPACE.match(head).end()
    if head[start:start + 1] in ("[", "{"):
        return  # JSON may hold the whole file on one line; read_table checks it once sniffed
    if len(data) <= cut:
        check_header_length(head, name)
    elif _first_line_too_long(head):
        check_header_length(decode(data, name)[0], name)  # measure it: refusing anyway


def _first_line_too_long(text: str) -> bool:
    start = _LEADING_SPACE.match(text).end()
    return (len(text) - start > HEADER_MAX_CHARS
            and not LINE_BREAK.search(text, start, start + HEADER_MAX_CHARS + 1))


def check_header_length(text: str, name: str) -> None:
    if not _first_line_too_long(text):
        return
    start = _LEADING_SPACE.match(text).end()
    found = LINE_BREAK.search(text, start)
    line = text[start:found.start() if found else len(text)]
    number = len(_LINE_ENDING.findall(text, 0, start)) + 1
    which = "the first line" if number == 1 else f"line {number:,}, the first that is not blank,"
    raise ImportFileError(say(
        name, f"{which} is {len(line):,} characters long; a header row is at most "
              f"{HEADER_MAX_CHARS:,}, so this is not a CSV file with a header row. "
              f"It starts {excerpt(line, noun='line')}"))


def _decode_sample(sample: bytes) -> str:
    """The first bytes of a file decoded as decode would (a character cut at the end is
    dropped)."""
    if sample.startswith(_UTF16_BOMS):
        return sample.decode("utf-16", errors="replace")
    sample = sample.removeprefix(codecs.BOM_UTF8)
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(sample)  # final=False
    except UnicodeDecodeError:
        return _decode_8bit(sample)[0]


def decode(data: bytes, name: str) -> tuple[str, list[tuple[int, int, int]]]:
    """The file's text, and the lines read as Windows-1252 in a file otherwise in UTF-8, as
    (line number, start, end) offsets into the text: empty when the file is in one encoding.
    """
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError as exc:
            raise ImportFileError(say(name, f"not valid UTF-16 text ({exc.reason})")) from exc
    data = data.removeprefix(codecs.BOM_UTF8)
    return _decode_8bit(data)


def _decode_8bit(data: bytes) -> tuple[str, list[tuple[int, int, int]]]:
    try:
        # UTF-8 first: it almost never decodes text written in another encoding by accident.
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        pass
    if not _UTF8_PAIR.search(data):  # no line can be UTF-8 beyond ASCII: one legacy encoding
        return data.decode("cp1252", errors=_LATIN1), []
    return _decode_lines(data)


def _decode_lines(data: bytes) -> tuple[str, list[tuple[int, int, int]]]:
    """UTF-8 where a line is UTF-8, Windows-1252 elsewhere: for a file stitched together
    from exports in two encodings.

    b"\\n" is the same byte in both and never part of a UTF-8 character, so the split cuts
    no character; a quoted value spanning lines is parsed later, from the decoded text.
    """
    pieces, fallback, offset, utf8_lines = [], [], 0, 0
    for number, line in enumerate(data.split(b"\n"), 1):
        piece = _utf8_line(line)
        if piece is None:
            piece = line.decode("cp1252", errors=_LATIN1)
            fallback.append((number, offset, offset + len(piece)))
        elif not line.isascii():
            utf8_lines += 1
        pieces.append(piece)
        offset += len(piece) + 1
    # Without one UTF-8 line beyond ASCII the file is simply Windows-1252: nothing to warn.
    return "\n".join(pieces), (fallback if utf8_lines else [])


def _utf8_line(line: bytes) -> str | None:
    if line.isascii():
        return line.decode("ascii")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _UNLIKELY_UTF8.search(text) else text
