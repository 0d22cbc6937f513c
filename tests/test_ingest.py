"""The importer: reading files, mapping columns, validating rows, writing one batch."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis import ingest, store
from analysis.cli import cli
from analysis.ingest import feedback

DATA = Path(__file__).resolve().parent / "data"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def run(db, path, **kwargs):
    kwargs.setdefault("actor", "tester")
    kwargs.setdefault("now", NOW)
    return ingest.import_file(db, path, **kwargs)


def counts(db):
    return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("import_batches", "import_rejects", "feedback")}


def rejects(db, batch_id):
    return ingest.rejects_frame(db, batch_id).to_dict("records")


def feedback_rows(db):
    return [dict(r) for r in db.query("SELECT * FROM feedback ORDER BY id")]


def assert_balanced(result):
    assert result.rows_read == result.imported + result.duplicates + result.rejected


# ----------------------------------------------------------------- rejections

def test_score_outside_its_scale_is_rejected_naming_the_scale(db, tmp_path):
    path = write(tmp_path, "nps.csv", "date,nps,comment\n2024-03-05,11,too high\n"
                                      "2024-03-05,10,fine\n")
    result = run(db, path)
    assert (result.imported, result.rejected) == (1, 1)
    [reject] = rejects(db, result.batch_id)
    assert reject["row_number"] == 1
    assert reject["field"] == "score"
    assert reject["reason"] == "score 11 is outside the NPS scale 0-10"
    assert json.loads(reject["raw"]) == {"date": "2024-03-05", "nps": "11", "comment": "too high"}


@pytest.mark.parametrize("score_type,score,scale", [
    ("csat", "0", "CSAT scale 1-5"), ("ces", "8", "CES scale 1-7"),
    ("rating", "6", "rating scale 1-5"), ("nps", "-1", "NPS scale 0-10"),
])
def test_each_scale_is_checked(db, tmp_path, score_type, score, scale):
    path = write(tmp_path, "s.csv", f"date,score,comment\n2024-03-05,{score},x\n")
    result = run(db, path, score_type=score_type)
    assert rejects(db, result.batch_id)[0]["reason"] == f"score {score} is outside the {scale}"


def test_score_that_is_not_a_number_is_rejected(db, tmp_path):
    path = write(tmp_path, "s.csv", "date,score,comment\n2024-03-05,nine,x\n2024-03-05,9,y\n")
    result = run(db, path, score_type="nps")
    [reject] = rejects(db, result.batch_id)
    assert (reject["field"], reject["reason"]) == ("score", "the score 'nine' is not a number")
    assert result.imported == 1


def test_unparseable_date_is_rejected_quoting_the_value(db, tmp_path):
    path = write(tmp_path, "d.csv", "date,comment\nsoon-ish,hello\n,empty date\n2024-03-05,ok\n")
    result = run(db, path)
    got = rejects(db, result.batch_id)
    assert [(r["row_number"], r["field"]) for r in got] == [(1, "received_at"),
                                                             (2, "received_at")]
    assert got[0]["reason"] == "cannot read the date 'soon-ish'"
    assert "empty" in got[1]["reason"]
    assert result.imported == 1


def test_empty_comment_without_score_is_rejected_but_score_alone_is_kept(db, tmp_path):
    path = write(tmp_path, "c.csv", "date,nps,comment\n2024-03-05,,  \n2024-03-06,7,\n")
    result = run(db, path)
    [reject] = rejects(db, result.batch_id)
    assert reject == {"row_number": 1, "field": "comment",
                      "reason": "the comment is empty and there is no score",
                      "raw": json.dumps({"date": "2024-03-05", "nps": "", "comment": "  "})}
    [row] = feedback_rows(db)
    assert (row["score"], row["score_type"], row["comment"]) == (7.0, "nps", None)


def test_unknown_score_type_value_is_rejected_and_row_level_type_wins(db, tmp_path):
    path = write(tmp_path, "t.csv",
                 "date,score,score_type,comment\n"
                 "2024-03-05,4,CSAT,row says csat\n"
                 "2024-03-05,4,smiley,unknown\n"
                 "2024-03-05,9,,file says nps\n")
    result = run(db, path, score_type="nps")
    [reject] = rejects(db, result.batch_id)
    assert reject["field"] == "score_type"
    assert reject["reason"] == "unknown score type 'smiley' (expected nps, csat, ces or rating)"
    assert [(r["score_type"], r["score"]) for r in feedback_rows(db)] == [("csat", 4.0),
                                                                          ("nps", 9.0)]


def test_bad_json_line_is_a_reject_not_a_crash(db, tmp_path):
    lines = ['{"date": "2024-03-05", "comment": "good"}',
             '{"date": "2024-03-06", "comment": broken}',
             '',
             '[1, 2]',
             '{"date": "2024-03-07", "comment": "also good", "nps": 9}']
    path = write(tmp_path, "r.jsonl", "\n".join(lines) + "\n")
    result = run(db, path, score_type="nps")
    assert (result.rows_read, result.imported, result.rejected) == (4, 2, 2)
    got = rejects(db, result.batch_id)
    assert got[0]["row_number"] == 2
    assert got[0]["reason"].startswith("the line is not valid JSON")
    assert json.loads(got[0]["raw"]) == lines[1]
    assert got[1]["reason"] == "the line is a JSON array, not an object"


def test_csv_row_with_wrong_number_of_values_is_rejected(db, tmp_path):
    path = write(tmp_path, "w.csv", "date,comment\n2024-03-05,ok\n2024-03-05,a,b\n")
    result = run(db, path)
    [reject] = rejects(db, result.batch_id)
    assert reject["reason"] == "the row has 3 values but the header has 2 columns"
    assert json.loads(reject["raw"]) == ["2024-03-05", "a", "b"]
    assert_balanced(result)


# ----------------------------------------------------------------- encodings and formats

def test_utf8_with_bom_keeps_the_first_header(db, tmp_path):
    path = write(tmp_path, "bom.csv", "\ufeffDate,Comment\n2024-03-05,Très bien\n")
    frame = ingest.read_table(path)
    assert list(frame.columns) == ["Date", "Comment"]
    assert run(db, path).imported == 1
    assert feedback_rows(db)[0]["comment"] == "Très bien"


def test_latin1_file_with_accents_is_decoded(db, tmp_path):
    path = write(tmp_path, "l1.csv", "Date;Commentaire;Magasin\n05/03/2024;Très déçu, café froid;Orléans\n",
                 encoding="latin-1")
    frame = ingest.read_table(path)
    assert frame.loc[0, "Commentaire"] == "Très déçu, café froid"
    result = run(db, path, mapping={"comment": "Commentaire", "location": "Magasin"})
    assert result.imported == 1
    assert feedback_rows(db)[0]["location"] == "Orléans"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path, delimiter):
    text = delimiter.join(["Date", "Comment", "Store"]) + "\n" + delimiter.join(
        ["2024-03-05", '"Hello, world; really | yes"', "Paris"]) + "\n"
    frame = ingest.read_table(text.encode(), name="upload.txt")
    assert list(frame.columns) == ["Date", "Comment", "Store"]
    assert frame.loc[0, "Comment"] == "Hello, world; really | yes"


def test_utf16_export_with_bom_is_read(tmp_path):
    frame = ingest.read_table("Date\tComment\n2024-03-05\tgood\n".encode("utf-16"),
                              name="excel.txt")
    assert frame.to_dict("records") == [{"Date": "2024-03-05", "Comment": "good"}]


def test_jsonl_is_sniffed_from_content_and_values_become_strings():
    data = b'{"created_at": "2024-03-05T10:00:00Z", "rating": 4, "text": "ok", "tags": ["a"]}\n'
    frame = ingest.read_table(data, name="export.txt")
    assert frame.to_dict("records") == [{"created_at": "2024-03-05T10:00:00Z", "rating": "4",
                                         "text": "ok", "tags": '["a"]'}]


def test_json_array_file_is_read():
    frame = ingest.read_table(b'[{"date": "2024-03-05", "comment": "x"}]', name="a.json")
    assert frame.to_dict("records") == [{"date": "2024-03-05", "comment": "x"}]


@pytest.mark.parametrize("data,name,words", [
    (b"", "empty.csv", "empty"),
    (b"PK\x03\x04\x14\x00\x06\x00", "book.csv", "Excel"),
    (b"\x00\x01\x02binary", "blob.csv", "binary"),
    (b"a,b\n", "sheet.xlsx", "unknown format"),
])
def test_unusable_files_raise_import_file_error(data, name, words):
    with pytest.raises(ingest.ImportFileError, match=words) as excinfo:
        ingest.read_table(data, name=name)
    assert name in str(excinfo.value) or "format" in str(excinfo.value)


def test_missing_file_raises_import_file_error(db, tmp_path):
    with pytest.raises(ingest.ImportFileError, match="nope.csv"):
        run(db, tmp_path / "nope.csv")


# ----------------------------------------------------------------- dates

def test_date_formats_and_time_zones_become_utc():
    values = ["2024-03-05T14:22:00+01:00", "2024-03-05T14:22:00Z", "2024-03-05 14:22",
              "03/22/23", "Mar 5, 2024", "1709648520", "Tue, 05 Mar 2024 14:22:00 +0100",
              "3/5/2024 2:22 PM", "20240305", "5 March 2024"]
    assert ingest.parse_dates(values, tz="UTC") == [
        "2024-03-05T13:22:00Z", "2024-03-05T14:22:00Z", "2024-03-05T14:22:00Z",
        "2023-03-22T00:00:00Z", "2024-03-05T00:00:00Z", "2024-03-05T14:22:00Z",
        "2024-03-05T13:22:00Z", "2024-03-05T14:22:00Z", "2024-03-05T00:00:00Z",
        "2024-03-05T00:00:00Z"]


def test_naive_timestamps_are_in_the_settings_time_zone(db, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TZ", "America/New_York")
    path = write(tmp_path, "tz.csv", "date,comment\n2024-03-05 14:22,winter\n"
                                     "2024-07-05 14:22,summer\n2024-07-05T14:22:00Z,utc\n")
    run(db, path)
    assert [r["received_at"] for r in feedback_rows(db)] == [
        "2024-03-05T19:22:00Z", "2024-07-05T18:22:00Z", "2024-07-05T14:22:00Z"]


def test_day_first_only_when_the_column_proves_it():
    assert ingest.parse_dates(["13/03/2024", "05/03/2024"], tz="UTC") == [
        "2024-03-13T00:00:00Z", "2024-03-05T00:00:00Z"]
    assert ingest.parse_dates(["03/13/2024", "05/03/2024"], tz="UTC") == [
        "2024-03-13T00:00:00Z", "2024-05-03T00:00:00Z"]
    assert ingest.parse_dates(["05.03.2024"], tz="UTC") == ["2024-03-05T00:00:00Z"]


def test_dates_missing_a_day_month_or_year_are_not_guessed():
    assert ingest.parse_dates(["14:22", "March", "hello", ""], tz="UTC") == [None] * 4


def test_digits_of_other_scripts_are_read_or_rejected_never_a_crash():
    # An Arabic-Indic "epoch" once reached pandas' number parser, which raised.
    assert ingest.parse_dates(["\u0661\u0667\u0660\u0669\u0666\u0664\u0668\u0665\u0662\u0660",
                               "\u0662\u0660\u0662\u0664-\u0660\u0663-\u0660\u0665",
                               "2024-03-05T14:22:00\u00a0+01:00"], tz="UTC") == [
        None, "2024-03-05T00:00:00Z", "2024-03-05T13:22:00Z"]


def test_vectorised_dates_match_store_to_iso():
    moment = datetime(2024, 3, 5, 14, 22, 7, 999000, tzinfo=timezone.utc)
    assert ingest.parse_dates([moment.isoformat()], tz="UTC") == [store.to_iso(moment)]


# ----------------------------------------------------------------- duplicates and batches

def test_reimporting_the_same_file_imports_nothing(db, tmp_path):
    path = write(tmp_path, "survey.csv", "Response ID,Date,NPS,Comment\n"
                                         "r1,2024-03-05,9,great\nr2,2024-03-06,3,slow\n")
    first = run(db, path)
    second = run(db, path)
    assert (first.imported, first.duplicates) == (2, 0)
    assert (second.imported, second.duplicates, second.rejected) == (0, 2, 0)
    assert counts(db)["feedback"] == 2
    assert second.summary_line() == f"imported 0, duplicates skipped 2, rejected 0 " \
                                    f"(batch {second.batch_id}, survey.csv)"


def test_duplicates_inside_one_file_are_counted(db, tmp_path):
    path = write(tmp_path, "dup.csv", "Date,Comment,Store\n2024-03-05,Slow  service,Paris\n"
                                      "2024-03-05,slow service,Paris\n2024-03-05,fast,Paris\n")
    result = run(db, path)
    assert (result.imported, result.duplicates, result.rejected) == (2, 1, 0)


def test_batch_row_records_counts_mapping_hash_and_actor(db, tmp_path):
    path = write(tmp_path, "b.csv", "Date,Comment,NPS\n2024-03-05,ok,9\n2024-03-05,,\n")
    result = run(db, path, actor="ana")
    batch = db["import_batches"].get(result.batch_id)
    assert batch["actor"] == "ana"
    assert batch["source"] == "b"
    assert batch["score_type"] == "nps"
    assert json.loads(batch["mapping"]) == {"received_at": "Date", "score": "NPS",
                                            "comment": "Comment"}
    assert len(batch["file_sha256"]) == 64
    assert (batch["rows_read"], batch["imported"], batch["duplicates"], batch["rejected"]) == (
        2, 1, 0, 1)
    assert batch["started_at"] == batch["finished_at"] == "2025-06-01T12:00:00Z"
    row = feedback_rows(db)[0]
    assert (row["import_batch"], row["created_by"], row["source"]) == (result.batch_id, "ana", "b")


def test_crash_mid_import_leaves_the_store_as_before(db, tmp_path, monkeypatch):
    path = write(tmp_path, "ok.csv", "Date,Comment\n2024-03-05,one\n")
    run(db, path)
    before = counts(db)

    def half_then_crash(database, columns, **kwargs):
        half = {f: values[: len(values) // 2] for f, values in columns.items()}
        feedback.insert_feedback_columns(database, half, **kwargs)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest.importing, "insert_feedback_columns", half_then_crash)
    big = write(tmp_path, "big.csv", "Date,Comment\n" + "".join(
        f"2024-03-05,comment {i}\n" for i in range(50)) + "bad date,x\n")
    with pytest.raises(RuntimeError):
        run(db, big)
    assert counts(db) == before
    assert not db.conn.in_transaction


def test_crash_while_writing_rejects_rolls_back_the_feedback_too(db, tmp_path, monkeypatch):
    before = counts(db)
    path = write(tmp_path, "r.csv", "Date,Comment\n2024-03-05,kept?\nnot a date,x\n")
    real_executemany = db.conn.executemany

    class Conn:
        def __getattr__(self, name):
            return getattr(real_conn, name)

        def executemany(self, sql, rows):
            if "import_rejects" in sql:
                raise RuntimeError("crash while writing rejects")
            return real_executemany(sql, rows)

    real_conn = db.conn
    monkeypatch.setattr(db, "conn", Conn())
    with pytest.raises(RuntimeError):
        run(db, path)
    monkeypatch.undo()
    assert counts(db) == before


def test_imported_rows_carry_the_same_keys_as_rows_inserted_one_by_one(db, tmp_path):
    # The importer inserts column-wise; its keys must be exactly feedback.dedup_key's and
    # feedback.customer_key's, or a re-import would no longer find what is stored.
    path = write(tmp_path, "k.csv", "id,Date,NPS,Comment,Store,Email,Customer ID\n"
                                    "r1,2024-03-05,9,Great  Staff,Paris, Ana@X.com ,\n"
                                    ",2024-03-05 10:00,,Straße zu,Köln,,C-7\n"
                                    ",2024-03-06,3,,Nice,,\n")
    run(db, path)
    stored = feedback_rows(db)
    assert len(stored) == 3
    for row in stored:
        assert row["dedup_key"] == feedback.dedup_key(row)
        assert row["customer_key"] == feedback.customer_key(row["customer_id"],
                                                            row["customer_email"])


def schema(db):
    return sorted(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall())


def bulk_csv(tmp_path, name, rows, start=0):
    return write(tmp_path, name, "id,Date,Store,NPS,Comment\n" + "".join(
        f"r{i},2024-03-{i % 28 + 1:02d} {i % 24:02d}:00,Store {i % 5},{i % 11},comment {i}\n"
        for i in range(start, start + rows)) + "x,not a date,Store 1,5,bad\n")


def test_a_large_import_into_a_small_store_rebuilds_the_indexes_exactly(db, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(feedback, "BULK_INDEX_MIN_ROWS", 20)
    before = schema(db)
    statements = []
    db.conn.set_trace_callback(statements.append)
    result = run(db, bulk_csv(tmp_path, "bulk.csv", 300))
    db.conn.set_trace_callback(None)
    assert (result.imported, result.rejected) == (300, 1)
    assert any(s.startswith("DROP INDEX") for s in statements), "the bulk path was not taken"
    assert schema(db) == before
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    db.execute("INSERT INTO feedback_fts(feedback_fts, rank) VALUES('integrity-check', 1)")
    assert db.execute("SELECT COUNT(*) FROM feedback_fts WHERE feedback_fts MATCH 'comment'"
                      ).fetchone()[0] == 300
    plan = db.execute("EXPLAIN QUERY PLAN SELECT COUNT(*) FROM feedback WHERE location = ?",
                      ["Store 1"]).fetchall()
    assert "idx_feedback_location" in str(plan)


def test_a_small_import_into_a_larger_store_updates_the_indexes_in_place(db, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(feedback, "BULK_INDEX_MIN_ROWS", 20)
    run(db, bulk_csv(tmp_path, "first.csv", 300))
    statements = []
    db.conn.set_trace_callback(statements.append)
    result = run(db, bulk_csv(tmp_path, "second.csv", 100, start=300))
    db.conn.set_trace_callback(None)
    assert result.imported == 100
    assert not any(s.startswith("DROP INDEX") for s in statements)


def test_a_bulk_import_that_fails_midway_keeps_every_index(db, tmp_path, monkeypatch):
    monkeypatch.setattr(feedback, "BULK_INDEX_MIN_ROWS", 20)
    run(db, write(tmp_path, "ok.csv", "Date,Comment\n2024-03-05,one\n"))
    before, before_counts = schema(db), counts(db)
    real_executemany = db.conn.executemany

    class Conn:
        def __getattr__(self, name):
            return getattr(real_conn, name)

        def executemany(self, sql, rows):
            if sql.startswith("INSERT INTO feedback"):
                # Half the rows go in, with the indexes dropped, then the disk fills up.
                rows = list(rows)
                real_executemany(sql, rows[: len(rows) // 2])
                assert "idx_feedback_received" not in str(schema(db))
                raise RuntimeError("disk full")
            return real_executemany(sql, rows)

    real_conn = db.conn
    monkeypatch.setattr(db, "conn", Conn())
    with pytest.raises(RuntimeError, match="disk full"):
        run(db, bulk_csv(tmp_path, "bulk.csv", 300))
    monkeypatch.undo()
    assert schema(db) == before
    assert counts(db) == before_counts
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


# ----------------------------------------------------------------- mapping

def test_detect_mapping_on_typical_headers():
    assert ingest.detect_mapping(
        ["Response ID", "Recorded Date", "How likely are you to recommend us? (0-10)",
         "Verbatim", "Store", "Customer Email", "Segment", "Channel", "Journey stage"]) == {
        "external_id": "Response ID", "received_at": "Recorded Date", "location": "Store",
        "segment": "Segment", "channel": "Channel", "touchpoint": "Journey stage",
        "customer_email": "Customer Email",
        "score": "How likely are you to recommend us? (0-10)", "comment": "Verbatim"}
    assert ingest.detect_mapping(["review_id", "created_at", "rating", "text", "Branch"]) == {
        "external_id": "review_id", "received_at": "created_at", "location": "Branch",
        "score": "rating", "comment": "text"}
    cfpb = ingest.detect_mapping(["Date received", "Product", "Consumer complaint narrative",
                                  "Company", "Submitted via", "Complaint ID"])
    assert cfpb == {"external_id": "Complaint ID", "received_at": "Date received",
                    "channel": "Submitted via", "comment": "Consumer complaint narrative"}
    assert ingest.detect_mapping(["TIMESTAMP", "CSAT", "Feedback", "customer_id", "Plan",
                                  "score_type"]) == {
        "received_at": "TIMESTAMP", "segment": "Plan", "customer_id": "customer_id",
        "score_type": "score_type", "score": "CSAT", "comment": "Feedback"}


def test_score_type_is_inferred_from_the_score_column_name():
    assert ingest.infer_score_type("NPS") == "nps"
    assert ingest.infer_score_type("likelihood to recommend") == "nps"
    assert ingest.infer_score_type("CSAT score") == "csat"
    assert ingest.infer_score_type("CES") == "ces"
    assert ingest.infer_score_type("Star rating") == "rating"
    assert ingest.infer_score_type("Score") is None


def test_score_without_a_known_scale_raises(db, tmp_path):
    path = write(tmp_path, "s.csv", "Date,Score,Comment\n2024-03-05,4,x\n")
    with pytest.raises(ingest.ImportFileError, match="--score-type"):
        run(db, path)
    assert counts(db)["import_batches"] == 0


def test_map_with_a_missing_column_raises_naming_it(db, tmp_path):
    path = write(tmp_path, "m.csv", "Date,Comment\n2024-03-05,x\n")
    with pytest.raises(ingest.ImportFileError, match="'Narrative'.*m.csv"):
        run(db, path, mapping={"comment": "Narrative"})
    with pytest.raises(ingest.ImportFileError, match="'colour' is not a feedback field"):
        run(db, path, mapping={"colour": "Comment"})


def test_file_without_a_date_column_raises(db, tmp_path):
    path = write(tmp_path, "nodate.csv", "Comment,Store\nx,Paris\n")
    with pytest.raises(ingest.ImportFileError, match="no date column"):
        run(db, path)


def test_field_mapped_to_none_is_not_imported(db, tmp_path):
    path = write(tmp_path, "n.csv", "Date,Comment,Store\n2024-03-05,x,Paris\n")
    result = run(db, path, mapping={"location": None})
    assert "location" not in result.mapping
    assert feedback_rows(db)[0]["location"] is None


def test_customer_key_from_normalised_email_or_id(db, tmp_path):
    path = write(tmp_path, "c.csv", "Date,Comment,Email,Customer ID\n"
                                    "2024-03-05,a, Ana@Example.COM ,\n"
                                    "2024-03-06,b,ana@example.com,C-7\n")
    run(db, path)
    assert [r["customer_key"] for r in feedback_rows(db)] == ["email:ana@example.com",
                                                              "id:C-7"]


def test_source_defaults_to_the_file_stem_and_can_be_given(db, tmp_path):
    path = write(tmp_path, "google_reviews.csv", "id,date,text\n1,2024-03-05,x\n")
    run(db, path)
    run(db, path, source="trustpilot")
    assert [r["source"] for r in feedback_rows(db)] == ["google_reviews", "trustpilot"]


# ----------------------------------------------------------------- CLI and real data

def test_cli_prints_the_one_summary_line(db_path, tmp_path):
    path = write(tmp_path, "cli.csv", "Date,NPS,Comment\n2024-03-05,9,good\n2024-03-05,12,x\n")
    result = CliRunner().invoke(cli, ["import", str(path), "--db", str(db_path),
                                      "--actor", "ops"])
    assert result.exit_code == 0, result.output
    assert result.output == "imported 1, duplicates skipped 0, rejected 1 (batch 1, cli.csv)\n"


def test_cli_reports_a_missing_mapped_column_as_an_error(db_path, tmp_path):
    path = write(tmp_path, "cli.csv", "Date,Comment\n2024-03-05,x\n")
    result = CliRunner().invoke(cli, ["import", str(path), "--db", str(db_path),
                                      "--map", "comment=Narrative"])
    assert result.exit_code == 1
    assert "error:" in result.output and "'Narrative'" in result.output


def test_cfpb_slice_imports_with_exact_counts(db_path):
    path = DATA / "cfpb_sample.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    empty = [i + 1 for i, r in enumerate(rows) if not r["Consumer complaint narrative"].strip()]
    distinct_ids = len({r["Complaint ID"] for r in rows})
    expected_imported = len({r["Complaint ID"] for r in rows
                             if r["Consumer complaint narrative"].strip()})

    args = ["import", str(path), "--db", str(db_path),
            "--map", "received_at=Date received", "--map", "comment=Consumer complaint narrative",
            "--map", "location=Company", "--map", "external_id=Complaint ID",
            "--map", "channel=Submitted via", "--map", "segment=Product"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        f"imported {expected_imported}, duplicates skipped "
        f"{len(rows) - len(empty) - expected_imported}, rejected {len(empty)} "
        f"(batch 1, cfpb_sample.csv)")

    db = store.connect(db_path)
    got = ingest.rejects_frame(db, 1)
    assert got["row_number"].tolist() == empty
    assert set(got["reason"]) <= {"the comment is empty and there is no score"}
    first = db.execute("SELECT * FROM feedback ORDER BY id LIMIT 1").fetchone()
    first = dict(zip([d[0] for d in db.execute("SELECT * FROM feedback LIMIT 0").description],
                     first))
    assert first["external_id"] == rows[0]["Complaint ID"]
    assert first["received_at"] == datetime.strptime(rows[0]["Date received"], "%m/%d/%y"
                                                     ).strftime("%Y-%m-%dT00:00:00Z")
    assert first["location"] == rows[0]["Company"]
    assert first["segment"] == rows[0]["Product"]
    assert first["source"] == "cfpb_sample"
    assert distinct_ids == len(rows)
    # Importing again finds every complaint already there.
    again = CliRunner().invoke(cli, args)
    assert again.output.startswith(f"imported 0, duplicates skipped {expected_imported},")


def test_cfpb_rows_with_an_empty_narrative_are_rejected(db, tmp_path):
    with (DATA / "cfpb_sample.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header, rows = next(reader), list(reader)
    narrative = header.index("Consumer complaint narrative")
    for i in (0, 7, 99):
        rows[i][narrative] = "  "
    path = tmp_path / "cfpb_blanked.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header] + rows)
    result = run(db, path, mapping={"received_at": "Date received",
                                    "comment": "Consumer complaint narrative",
                                    "location": "Company", "external_id": "Complaint ID"})
    assert (result.imported, result.duplicates, result.rejected) == (len(rows) - 3, 0, 3)
    got = ingest.rejects_frame(db, result.batch_id)
    assert got["row_number"].tolist() == [1, 8, 100]
    assert set(got["field"]) == {"comment"}


def test_csv_row_with_too_few_values_is_rejected(db, tmp_path):
    path = write(tmp_path, "short.csv", "date,comment,store\n2024-03-05,ok,Paris\n2024-03-05,cut\n")
    result = run(db, path)
    [reject] = rejects(db, result.batch_id)
    assert (reject["row_number"], reject["reason"]) == (
        2, "the row has 2 values but the header has 3 columns")
    assert json.loads(reject["raw"]) == ["2024-03-05", "cut"]
    assert result.imported == 1


def test_blank_lines_are_skipped_and_quoted_newlines_kept(tmp_path):
    frame = ingest.read_table(b'date,comment\n\n2024-03-05,"line one\nline two"\n\n',
                              name="q.csv")
    assert frame.to_dict("records") == [{"date": "2024-03-05", "comment": "line one\nline two"}]


def test_fast_and_row_by_row_csv_readers_agree(monkeypatch):
    text = (DATA / "cfpb_sample.csv").read_text(encoding="utf-8")
    text += '07/01/23,x,,,,"multi\r\nline ""quoted""",,Company,ST,,,,Web,,,,,999\r\n'
    fast = ingest.csv_reader.read_csv(text, "cfpb.csv")
    assert ingest.READ_ERROR not in fast
    monkeypatch.setattr(ingest.csv_reader, "_read_csv_arrow", lambda *a: None)
    slow = ingest.csv_reader.read_csv(text, "cfpb.csv")
    assert fast.equals(slow)
    assert fast.iloc[-1]["Consumer complaint narrative"] == 'multi\r\nline "quoted"'
    assert len(fast) == 401


def test_header_only_file_records_an_empty_batch(db, tmp_path):
    result = run(db, write(tmp_path, "h.csv", "Date,Comment\n"))
    assert (result.rows_read, result.imported, result.rejected) == (0, 0, 0)
    assert ingest.recent_batches(db).loc[0, "file_name"] == "h.csv"


def test_file_where_no_line_is_json_raises(db, tmp_path):
    with pytest.raises(ingest.ImportFileError, match="no row could be read"):
        run(db, write(tmp_path, "x.jsonl", "not json\n{bad\n"))
