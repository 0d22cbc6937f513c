"""The reading step against the faults of issue 25: huge tokens and binary bytes, unclosed and
stray quotes, repeated headers, files mixing UTF-8 and Windows-1252 lines."""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import time
from datetime import UTC, datetime

import pytest

from analysis import ingest
from analysis.ingest import csv_reader, decoding, frames, reading

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def run(db, tmp_path, name, data: bytes, **kwargs):
    path = tmp_path / name
    path.write_bytes(data)
    kwargs.setdefault("actor", "tester")
    kwargs.setdefault("now", NOW)
    return ingest.import_file(db, path, **kwargs)


def rejects(db, result):
    return ingest.rejects_frame(db, result.batch_id).to_dict("records")


def comments(db):
    return [r[0] for r in db.execute("SELECT comment FROM feedback ORDER BY id")]


def random_text_free_bytes(size: int, seed: int = 7) -> bytes:
    """Random bytes without a NUL (the cheap binary check's tell)."""
    return random.Random(seed).randbytes(size).replace(b"\x00", b"\x01")


# ----------------------------------------------------------------- huge tokens, binary bytes

def test_a_50_mb_line_without_a_line_break_is_refused_at_once_quoting_a_short_excerpt():
    started = time.perf_counter()
    with pytest.raises(ingest.ImportFileError) as raised:
        ingest.read_table(b"x" * 50_000_000, name="big.csv")
    assert time.perf_counter() - started < 10
    message = str(raised.value)
    assert message.startswith("big.csv: the first line is 50,000,000 characters long;")
    assert "(a 50,000,000-character line)" in message
    assert len(message) < 400


def test_check_upload_refuses_a_long_first_line_without_parsing(monkeypatch):
    def no_parsing(*args, **kwargs):
        raise AssertionError("parsed a file the upfront check should have refused")

    monkeypatch.setattr(reading, "read_csv", no_parsing)
    monkeypatch.setattr(reading, "_sniff_kind", no_parsing)
    with pytest.raises(ingest.ImportFileError, match="first line is 300,000 characters"):
        reading.check_upload(b"Date,Comment" + b"y" * 299_988 + b"\n2024-01-01,ok\n",
                             "wide.csv")


def test_a_first_line_just_under_the_header_limit_is_read():
    header = ",".join(f"c{i}" for i in range(10_000))[:decoding.HEADER_MAX_CHARS]
    frame = ingest.read_table(f"{header}\n".encode(), name="wide.csv")
    assert len(frame.columns) == header.count(",") + 1


def test_json_on_one_long_line_is_not_taken_for_a_long_header():
    items = [{"date": "2024-03-05", "comment": f"comment {i} " + "z" * 50} for i in range(3000)]
    data = json.dumps(items).encode()
    assert len(data) > decoding.HEADER_MAX_CHARS and b"\n" not in data
    reading.check_upload(data, "export.json")
    reading.check_upload(data, "export.txt")
    assert len(ingest.read_table(data, name="export.txt")) == 3000
    line = json.dumps({"date": "2024-03-05", "comment": "w" * 200_000}).encode() + b"\n"
    assert ingest.read_table(line, name="one.jsonl").loc[0, "comment"] == "w" * 200_000


@pytest.mark.parametrize("check", ["read_table", "check_upload"])
def test_random_bytes_without_nul_are_refused_as_not_text_in_a_short_message(check):
    data = random_text_free_bytes(20_000)
    with pytest.raises(ingest.ImportFileError, match="not a text file") as raised:
        if check == "read_table":
            ingest.read_table(data, name="noise.csv")
        else:
            reading.check_upload(data, "noise.csv")
    assert len(str(raised.value)) < 300


def test_random_bytes_are_refused_by_the_cli_in_a_short_message(db, tmp_path):
    with pytest.raises(ingest.ImportFileError, match="not a text file") as raised:
        run(db, tmp_path, "noise.csv", random_text_free_bytes(20_000, seed=3))
    assert len(str(raised.value)) < 300


def test_the_upfront_checks_read_only_the_start_of_the_file():
    # A well-formed start passes even when binary bytes follow far below: the checks cost
    # the first few KB, whatever the file's size.
    data = b"date,comment\n" + b"2024-03-05,fine\n" * 20_000 + random_text_free_bytes(50_000)
    reading.check_upload(data, "tail.csv")


def test_check_upload_refuses_a_file_over_the_size_limit(monkeypatch):
    monkeypatch.setenv("CLOSELOOP_MAX_UPLOAD_MB", "1")
    data = b"date,comment\n" + b"2024-03-05,fine\n" * 100_000
    with pytest.raises(ingest.ImportFileError, match="CLOSELOOP_MAX_UPLOAD_MB") as raised:
        reading.check_upload(data, "large.csv")
    assert "1.5 MB" in str(raised.value) and "1.0 MB" in str(raised.value)
    reading.check_upload(data, "large.csv", max_bytes=len(data))


def test_a_long_value_after_a_closing_quote_is_quoted_as_a_short_excerpt():
    data = b'date,comment\n2024-03-05,"x"' + b"y" * 1_000_000 + b"\n"
    frame = ingest.read_table(data, name="junk.csv")
    reason = frame.loc[0, ingest.READ_ERROR]
    assert "(a 1,000,003-character value)" in reason
    assert len(reason) < 400


def test_a_long_file_name_is_cut_in_messages():
    with pytest.raises(ingest.ImportFileError) as raised:
        ingest.read_table(b"", name="n" * 10_000 + ".csv")
    assert len(str(raised.value)) < 200


# ----------------------------------------------------------------- quotes

def test_an_unclosed_quote_rejects_only_its_row_and_the_rows_after_are_imported(db, tmp_path):
    data = (b"date,comment,nps,store,channel\n"
            b'2024-03-05,"oops,9,Paris,web\n'
            b"2024-03-06,fine,8,Lyon,app\n"
            b"2024-03-07,good,10,Nice,web\n")
    result = run(db, tmp_path, "quote.csv", data)
    assert (result.rows_read, result.imported, result.rejected) == (3, 2, 1)
    [reject] = rejects(db, result)
    assert reject["row_number"] == 1
    assert reject["reason"].startswith("an unclosed quote opens in this row (line 2, "
                                       "column 'comment')")
    assert json.loads(reject["raw"]) == '2024-03-05,"oops,9,Paris,web'
    assert comments(db) == ["fine", "good"]


def test_an_unclosed_quote_that_meets_a_later_quote_still_costs_one_row(db, tmp_path):
    data = (b"date,comment\n"
            b'2024-03-05,"oops\n'
            b'2024-03-06,"fine, really"\n'
            b"2024-03-07,good\n")
    result = run(db, tmp_path, "quote.csv", data)
    assert (result.rows_read, result.imported, result.rejected) == (3, 2, 1)
    assert rejects(db, result)[0]["reason"].startswith("an unclosed quote opens in this row "
                                                       "(line 2")
    assert comments(db) == ["fine, really", "good"]


def test_an_unclosed_quote_after_a_multiline_value_names_the_line_it_opens_on():
    data = (b'date,comment,store\n'
            b'2024-03-05,"two\nlines",Paris\n'
            b'2024-03-06,"never closed,Lyon\n'
            b'2024-03-07,after,Nice\n')
    frame = ingest.read_table(data, name="q.csv")
    assert frame["comment"].tolist() == ["two\nlines", "", "after"]
    assert frame[ingest.READ_ERROR].tolist()[1].startswith(
        "an unclosed quote opens in this row (line 4, column 'comment')")


def test_a_quoted_value_swallowing_lines_into_a_too_wide_row_gives_the_lines_back():
    # The stray quote pairs with the quote ending line 3, so csv reads one value spanning
    # two lines and the row comes out too narrow: line 3 is read again on its own.
    data = (b"date,comment,store\n"
            b'2024-03-05,"oops,Paris\n'
            b'2024-03-06,good,Lyon 5"\n')
    frame = ingest.read_table(data, name="q.csv")
    reason = frame.loc[0, ingest.READ_ERROR]
    assert reason.startswith("the row has 2 values but the header has 3 columns: the quote "
                             "that opens on line 2 (column 'comment') runs on to a later line")
    assert frame.loc[1, "store"] == 'Lyon 5"'


def test_text_after_a_closing_quote_is_rejected_naming_the_column(db, tmp_path):
    data = b'date,comment\n2024-03-05,"x"y\n2024-03-06,ok\n'
    result = run(db, tmp_path, "xy.csv", data)
    assert (result.rows_read, result.imported, result.rejected) == (2, 1, 1)
    [reject] = rejects(db, result)
    assert reject["reason"] == ("the value in column 'comment' has text after its closing "
                                "quote ('\"x\"y'); quote the whole value and double each "
                                "quote inside it")
    assert json.loads(reject["raw"]) == '2024-03-05,"x"y'
    assert comments(db) == ["ok"]


def test_a_quote_inside_an_unquoted_value_is_kept_as_written(monkeypatch):
    text = 'date,comment\n2024-03-05,a 12" pizza\n2024-03-06,he said "hi" twice\n'
    fast = csv_reader.read_csv(text, "q.csv")
    monkeypatch.setattr(csv_reader, "_read_csv_arrow", lambda *a: None)
    slow = csv_reader.read_csv(text, "q.csv")
    assert fast.equals(slow)
    assert fast["comment"].tolist() == ['a 12" pizza', 'he said "hi" twice']


@pytest.mark.parametrize("text", [
    'date,comment\n2024-03-05,"unclosed\n2024-03-06,x\n',
    'date,comment\n2024-03-05,"x"y\n',
    'date,comment\n2024-03-05,"a"\n2024-03-06,"b""c"d\n',
])
def test_the_fast_reader_hands_quote_faults_to_the_row_by_row_reader(text):
    assert csv_reader._read_csv_arrow(text, ",") is None


def test_the_fast_reader_keeps_well_quoted_files():
    text = 'date,comment\n2024-03-05,"a, ""b""\nc"\n2024-03-06,""\n2024-03-07,plain\n'
    frame = csv_reader._read_csv_arrow(text, ",")
    assert frame["comment"].tolist() == ['a, "b"\nc', "", "plain"]


def test_fast_and_row_by_row_readers_agree_when_every_value_is_quoted(monkeypatch):
    rng = random.Random(5)
    pieces = ["plain", 'say "hi"', "a;b", "line\nbreak", "", "  ", "tab\there", "x" * 300]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(["date", "comment", "store"])
    writer.writerows([["2024-03-05", rng.choice(pieces), rng.choice(pieces)]
                      for _ in range(2000)])
    text = buffer.getvalue()
    fast = csv_reader.read_csv(text, "all.csv")
    monkeypatch.setattr(csv_reader, "_read_csv_arrow", lambda *a: None)
    slow = csv_reader.read_csv(text, "all.csv")
    assert ingest.READ_ERROR not in fast
    assert fast.equals(slow) and len(fast) == 2000


@pytest.mark.parametrize("data,words", [
    (b'date,"comment\n2024-03-05,x\n', "an unclosed quote"),
    (b'date,"comment"s\n2024-03-05,x\n', "text after a closing quote in '\"comment\"s'"),
])
def test_a_quote_fault_in_the_header_row_refuses_the_file_naming_it(data, words):
    with pytest.raises(ingest.ImportFileError, match="cannot read the header row") as raised:
        ingest.read_table(data, name="h.csv")
    assert words in str(raised.value)


# ----------------------------------------------------------------- repeated headers and keys

def test_a_repeated_header_is_renamed_with_a_warning_naming_its_columns(db, tmp_path):
    data = b"Date,Comment,NPS,Comment,NPS\n2024-03-05,first,9,second,3\n"
    frame = ingest.read_table(data, name="dup.csv")
    assert list(frame.columns) == ["Date", "Comment", "NPS", "Comment.1", "NPS.1"]
    assert frame.attrs["warnings"] == [
        ("the header 'Comment' appears 2 times (columns 2 and 4); the second is read as "
         "'Comment.1' and is not imported unless you map it"),
        ("the header 'NPS' appears 2 times (columns 3 and 5); the second is read as "
         "'NPS.1' and is not imported unless you map it")]
    result = run(db, tmp_path, "dup.csv", data)
    assert result.warnings == frame.attrs["warnings"]
    assert comments(db) == ["first"]


def test_a_header_given_three_times_names_every_renamed_column():
    frame = ingest.read_table(b"date,note, note ,note\n2024-03-05,a,b,c\n", name="n.csv")
    assert list(frame.columns) == ["date", "note", "note.1", "note.2"]
    assert frame.attrs["warnings"] == [
        ("the header 'note' appears 3 times (columns 2, 3 and 4); the others are read as "
         "'note.1' and 'note.2' and are not imported unless you map them")]


def test_a_renamed_header_never_takes_the_name_of_a_column_the_file_has():
    frame = ingest.read_table(b"date,a,a,a.1\n2024-03-05,x,y,z\n", name="n.csv")
    assert list(frame.columns) == ["date", "a", "a.2", "a.1"]
    assert frame.loc[0].tolist() == ["2024-03-05", "x", "y", "z"]


def test_the_row_by_row_reader_warns_about_repeated_headers_too():
    frame = ingest.read_table(b"date,c,c\n2024-03-05,x,y\n2024-03-06,too,many,values\n",
                              name="n.csv")
    assert ingest.READ_ERROR in frame
    assert frame.attrs["warnings"] == [
        ("the header 'c' appears 2 times (columns 2 and 3); the second is read as 'c.1' and "
         "is not imported unless you map it")]


def test_json_keys_that_collide_once_stripped_are_renamed_with_a_warning():
    data = (b'{"date": "2024-03-05", "Comment": "a", " Comment ": "b"}\n'
            b'{"date": "2024-03-06", "Comment": "c"}\n'
            b'{"date": "2024-03-07", "Comment": "d", "Comment": "e"}\n')
    frame = ingest.read_table(data, name="k.jsonl")
    assert frame[["Comment", "Comment.1"]].values.tolist() == [["a", "b"], ["c", ""],
                                                                 ["d", "e"]]
    assert frame.attrs["warnings"] == [
        ("the key 'Comment' appears 2 times in row 1 (as 'Comment' and ' Comment '; spaces "
         "around a key are ignored); the second is read as 'Comment.1' and is not imported "
         "unless you map it"),
        ("the key 'Comment' appears 2 times in row 3 (as 'Comment' and 'Comment'; spaces "
         "around a key are ignored); the second is read as 'Comment.1' and is not imported "
         "unless you map it")]


def test_a_file_without_faults_has_an_empty_warning_list():
    for data, name in [(b"date,comment\n2024-03-05,x\n", "a.csv"),
                       (b'{"date": "2024-03-05"}\n', "a.jsonl"),
                       (b'[{"date": "2024-03-05"}]', "a.json")]:
        assert ingest.read_table(data, name=name).attrs["warnings"] == []


# ----------------------------------------------------------------- mixed encodings

MIXED = (b"Date,Comment\n"
         + "2024-03-05,Très bien\n".encode()
         + "2024-03-06,Très mal\n".encode("cp1252")
         + "2024-03-07,Déjà vu – “quoted”\n".encode()
         + "2024-03-08,Ça va merci\n".encode("cp1252"))


def test_a_file_mixing_utf8_and_cp1252_lines_decodes_each_line_and_names_the_rows(db,
                                                                                 tmp_path):
    frame = ingest.read_table(MIXED, name="mixed.csv")
    assert frame["Comment"].tolist() == ["Très bien", "Très mal", "Déjà vu – “quoted”",
                                         "Ça va merci"]
    assert frame.attrs["warnings"] == [
        ("2 rows (rows 2, 4) are not UTF-8 like the rest of the file: read as Windows-1252 "
         "(Latin-1), so check their accents")]
    result = run(db, tmp_path, "mixed.csv", MIXED)
    assert result.warnings == frame.attrs["warnings"]
    assert "Ã" not in "".join(comments(db))


def test_a_cp1252_line_inside_a_multiline_value_is_reported_as_its_row():
    data = (b"date,comment\n" + "2024-03-05,été\n".encode()
            + b'2024-03-06,"first line\n' + "second ligne çà\"\n".encode("cp1252")
            + b"2024-03-07,fin\n")
    frame = ingest.read_table(data, name="m.csv")
    assert frame["comment"].tolist() == ["été", "first line\nsecond ligne çà", "fin"]
    assert frame.attrs["warnings"][0].startswith("1 row (row 2) is not UTF-8")


def test_a_cp1252_header_in_a_utf8_file_is_named_in_the_warning():
    data = "Qualité,Date\n".encode("cp1252") + "très bien,2024-03-05\n".encode()
    frame = ingest.read_table(data, name="h.csv")
    assert list(frame.columns) == ["Qualité", "Date"]
    assert frame.attrs["warnings"][0].startswith("the header row is not UTF-8")


def test_mixed_json_lines_name_their_rows_not_their_lines():
    data = ('{"date": "2024-03-05", "text": "déjà"}\n\n'.encode()
            + '{"date": "2024-03-06", "text": "voilà"}\n'.encode("cp1252"))
    frame = ingest.read_table(data, name="m.jsonl")
    assert frame["text"].tolist() == ["déjà", "voilà"]
    assert frame.attrs["warnings"][0].startswith("1 row (row 2) is not UTF-8")


def test_a_pure_cp1252_file_is_decoded_whole_without_a_warning(monkeypatch):
    # "é", a no-break space and "»" happen to be valid UTF-8 (a CJK character): still cp1252.
    text = "Date;Commentaire\n05/03/2024;«\xa0Très déçu, café\xa0»\n06/03/2024;Sûr\n"
    frame = ingest.read_table(text.encode("cp1252"), name="fr.csv")
    assert frame["Commentaire"].tolist() == ["«\xa0Très déçu, café\xa0»", "Sûr"]
    assert frame.attrs["warnings"] == []


def test_bytes_cp1252_leaves_undefined_fall_back_to_latin1_one_by_one():
    data = b"date,comment\n2024-03-05,it\x92s \x81ok\n"  # 0x92 is cp1252's "’"
    frame = ingest.read_table(data, name="u.csv")
    assert frame.loc[0, "comment"] == "it’s \x81ok"


def test_a_utf8_file_is_never_decoded_line_by_line(monkeypatch):
    def per_line(*args):
        raise AssertionError("decoded line by line")

    monkeypatch.setattr(decoding, "_decode_lines", per_line)
    frame = ingest.read_table("date,comment\n2024-03-05,Très bien\n".encode(), name="u.csv")
    assert frame.loc[0, "comment"] == "Très bien"
    frame = ingest.read_table("date,comment\n2024-03-05,Très bien\n".encode("cp1252"),
                              name="l.csv")
    assert frame.loc[0, "comment"] == "Très bien"


# ----------------------------------------------------------------- what pages show

def test_the_preview_cuts_a_huge_cell_and_says_its_length():
    data = b"date,comment\n2024-03-05," + b"w" * 3_000_000 + b"\n2024-03-06,short\n"
    frame = ingest.read_table(data, name="huge.csv")
    preview = reading.preview_frame(frame)
    long_cell = preview.loc[0, "comment"]
    assert len(long_cell) < 600 and "(a 3,000,000-character value)" in long_cell
    assert preview.loc[1, "comment"] == "short"
    assert frame.loc[0, "comment"] == "w" * 3_000_000  # the data itself is whole


# ----------------------------------------------------------------- nesting and time

DEEP = b"[" * 100_000


def test_a_json_line_nested_too_deeply_is_rejected_and_the_other_lines_imported(db, tmp_path):
    data = (b'{"date": "2024-03-05", "comment": "before"}\n' + DEEP + b"\n"
            b'{"date": "2024-03-06", "comment": "after"}\n')
    result = run(db, tmp_path, "deep.jsonl", data)
    assert (result.rows_read, result.imported, result.rejected) == (3, 2, 1)
    [reject] = rejects(db, result)
    assert reject["row_number"] == 2
    assert reject["reason"].startswith("the line is nested too deeply to read")
    assert comments(db) == ["before", "after"]


def test_a_jsonl_file_of_one_deeply_nested_line_is_one_reject():
    frame = ingest.read_table(DEEP, name="deep.jsonl")
    assert frame[ingest.READ_ERROR].tolist() == [
        ("the line is nested too deeply to read (arrays or objects inside one another "
         "hundreds of levels deep)")]


@pytest.mark.parametrize("data", [
    DEEP,
    b'[{"date": "2024-03-05", "comment": ' + DEEP + b"}]",
])
def test_a_json_array_nested_too_deeply_is_refused_with_a_short_message(data):
    with pytest.raises(ingest.ImportFileError) as raised:
        ingest.read_table(data, name="deep.json")
    message = str(raised.value)
    assert message.startswith("deep.json: not readable as JSON: its arrays or objects are "
                              "nested inside one another hundreds of levels deep")
    assert len(message) < 200


@pytest.mark.parametrize("data", [b"[" * 5_000, b'{"comment": ' + b"[" * 5_000])
def test_a_csv_file_starting_like_deeply_nested_json_is_read_as_csv(data):
    frame = ingest.read_table(data + b"\n2024-03-05\n", name="deep.csv")
    assert list(frame.columns) == [data.decode()]
    assert frame.iloc[:, 0].tolist() == ["2024-03-05"]


@pytest.mark.parametrize("name", ["near.jsonl", "near.json"])
def test_values_nested_up_to_and_past_the_recursion_limit_are_imported_or_rejected(name):
    # json writes a value back as text a few frames deeper than it reads it, so some depth
    # near the limit reads but cannot be written: every depth must give a row or a reject.
    limit = sys.getrecursionlimit()
    outcomes = set()
    for depth in range(limit - 200, limit + 5):
        nested = "[" * depth + "]" * depth
        if name.endswith(".jsonl"):
            data = f'{{"date": "2024-03-05", "comment": {nested}}}\n'
        else:
            data = f'[{{"date": "2024-03-05", "comment": {nested}}}, {nested}]'
        try:
            frame = ingest.read_table(data.encode(), name=name)
        except ingest.ImportFileError as exc:
            assert "nested inside one another" in str(exc) and name.endswith(".json")
            outcomes.add("refused")
            continue
        if ingest.READ_ERROR in frame and frame[ingest.READ_ERROR].iloc[0]:
            assert "nested too deeply to read" in frame[ingest.READ_ERROR].iloc[0]
            outcomes.add("rejected")
        else:
            assert frame.loc[0, "comment"] == nested
            outcomes.add("imported")
    assert {"imported", "rejected"} <= outcomes


def test_a_header_repeated_many_times_is_renamed_in_linear_work_to_the_same_names():
    class Counted(str):
        formatted = 0

        def __format__(self, spec):
            Counted.formatted += 1
            return str.__format__(self, spec)

    n = 2_000
    names, repeats = frames.unique_labels([Counted("a")] * n)
    assert names == ["a"] + [f"a.{i}" for i in range(1, n)]
    assert repeats == {"a": list(range(n))}
    assert Counted.formatted < 10 * n  # n² / 2 when each repeat searched from "a.1" again
    started = time.perf_counter()
    assert len(set(frames.unique_labels(["a"] * 50_000)[0])) == 50_000
    assert time.perf_counter() - started < 5
    # the names are those of a search from "a.1" each time
    labels = ["a", "a", "a.1", "a", "a.3", "a", "a", "b", "a.1", "b"]
    assert frames.unique_labels(labels)[0] == [
        "a", "a.2", "a.1", "a.4", "a.3", "a.5", "a.6", "b", "a.1.1", "b.1"]


def test_a_file_of_unclosed_quotes_reads_in_linear_time_keeping_the_good_rows():
    rows = 60_000
    data = "date,comment\n" + "".join(f'2024-03-05,"oops {i}\n2024-03-06,fine {i}\n'
                                      for i in range(rows))
    started = time.perf_counter()
    frame = ingest.read_table(data.encode(), name="quotes.csv")
    assert time.perf_counter() - started < 6  # about 17 s when each restart rescans
    errors = frame[ingest.READ_ERROR]
    assert len(frame) == 2 * rows
    assert errors[::2].str.startswith("an unclosed quote opens in this row").all()
    assert (errors[1::2] == "").all()
    assert frame["comment"][1::2].tolist() == [f"fine {i}" for i in range(rows)]


def test_lines_that_each_reopen_a_quote_are_rejected_one_by_one_in_linear_time():
    # Each line closes the quote of the line above and opens another, so read from any of
    # them the row swallows every line down to 'end"': too wide, and read again line after
    # line unless the reader knows where it ends.
    block = 'x,"open\n' + 'a",""" b\n' * 988 + 'end"\n' + "good,row\n"
    started = time.perf_counter()
    frame = ingest.read_table(("h1,h2\n" + block * 60).encode(), name="chain.csv")
    assert time.perf_counter() - started < 6  # about 15 s when each line reads to 'end"'
    errors = frame[ingest.READ_ERROR]
    assert errors.iloc[:988].str.contains("probably an unclosed quote").all()
    assert errors.iloc[1].startswith("the row has 989 values but the header has 2 columns: "
                                     "the quote that opens on line 3 (column 'h2')")
    assert frame.iloc[988:990][["h1", "h2"]].values.tolist() == [['a"', '" b\nend'],
                                                                   ["good", "row"]]
    assert len(frame) == 60 * 990 and (frame["h1"] == "good").sum() == 60


def test_a_quoted_value_running_on_over_1_000_lines_is_taken_for_an_unclosed_quote():
    def file(lines_inside: int) -> bytes:
        return ('date,comment\n2024-03-04,"stray\n'  # sends the file to the row-by-row reader
                '2024-03-05,"' + "line\n" * lines_inside + 'end"\n2024-03-06,after\n').encode()

    kept = ingest.read_table(file(999), name="long.csv")  # 1,000 lines with 'end"'
    assert kept["comment"].tolist()[1:] == ["line\n" * 999 + "end", "after"]
    cut = ingest.read_table(file(1_000), name="long.csv")
    assert cut[ingest.READ_ERROR].iloc[1].startswith(
        "an unclosed quote opens in this row (line 3, column 'comment')")
    # the stray row, the cut row, its 999 other lines and 'end"' as rows, then 'after'
    assert len(cut) == 1 + 1 + 999 + 1 + 1
    assert cut["comment"].iloc[-1] == "after"
