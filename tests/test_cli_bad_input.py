"""Issue 25's bad inputs through `python -m analysis import`, as a script or scheduler meets
them: the good rows land, each bad one is a reject with its reason, warnings go to stderr, a
file that cannot be imported is one line, and the stored dates never break a later command.
"""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner

from analysis import cli as cli_module
from tests.test_cli_errors import assert_one_line_error, run_cli


def cli_import(tmp_path, name: str, data: bytes, *extra: str):
    path = tmp_path / name
    path.write_bytes(data)
    return CliRunner().invoke(cli_module.cli, ["import", str(path), "--db",
                                               str(tmp_path / "s.db"), *extra])


def rejects(tmp_path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "s.db") as conn:
        return conn.execute("SELECT row_number, field, reason FROM import_rejects "
                            "ORDER BY batch_id, row_number").fetchall()


@pytest.mark.parametrize("name, data, summary, reason", [
    ("year10000.csv", b"date,comment\n9999-12-31T23:00:00-05:00,far\n2024-01-02,good\n",
     "imported 1, duplicates skipped 0, rejected 1", "is in the future"),
    ("year1.csv", b"date,comment\n0001-01-01T00:00:00+01:00,early\n2024-01-02,good\n",
     "imported 1, duplicates skipped 0, rejected 1", "is before 2000-01-01"),
    ("offset.csv", b"date,comment\n2024-01-03T10:00:00-25:00,a\n2024-01-04T10:00:00+9900,b\n"
                   b"2024-01-05,good\n",
     "imported 1, duplicates skipped 0, rejected 2", "outside -14:00 to +14:00"),
    ("quote.csv", b'date,comment,nps\n2024-05-04,"never closed,9\n2024-05-05,after,8\n'
                  b"2024-05-06,again,10\n",
     "imported 2, duplicates skipped 0, rejected 1", "an unclosed quote opens in this row"),
    ("stray.csv", b'date,comment\n2024-05-04,"x"y\n2024-05-05,fine\n',
     "imported 1, duplicates skipped 0, rejected 1", "comment"),
    ("partial.csv", b"date,comment\n2024,year only\n3000-01-01,future\n2024-05-05,fine\n",
     "imported 1, duplicates skipped 0, rejected 2", "has no day"),
    ("nps.csv", b'date,comment,nps\n2024-05-01,a,7.5\n2024-05-02,b,1e1\n2024-05-03,c,"9,5"\n'
                b"2024-05-04,d,9\n",
     "imported 1, duplicates skipped 0, rejected 3", "NPS scores are whole numbers"),
])
def test_bad_values_are_rejects_and_the_good_rows_land(tmp_path, name, data, summary, reason):
    result = cli_import(tmp_path, name, data)
    assert result.exit_code == 0, result.output
    assert summary in result.stdout
    assert any(reason in r[2] for r in rejects(tmp_path)), rejects(tmp_path)


@pytest.mark.parametrize("name, data, warning", [
    ("dupes.csv", b"date,Comment,NPS,Comment,NPS\n2024-05-01,a,9,b,3\n",
     "warning: the header 'Comment' appears 2 times"),
    ("mixed.csv", "date,comment\n2024-05-01,Très bien\n".encode()
     + "2024-05-02,Très mal\n".encode("cp1252"),
     "warning: 1 row (row 2) is not UTF-8 like the rest of the file"),
])
def test_reader_warnings_go_to_stderr_after_the_summary(tmp_path, name, data, warning):
    result = cli_import(tmp_path, name, data)
    assert result.exit_code == 0
    assert result.stdout.startswith("imported ")
    assert warning in result.stderr
    assert "TrÃ¨s" not in result.stdout + result.stderr


def test_a_50_mb_line_is_one_short_line_on_stderr(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_bytes(b"y" * 50_000_000)
    out = run_cli("import", str(path), "--db", str(tmp_path / "s.db"))
    line = assert_one_line_error(out, "the first line is 50,000,000 characters long")
    assert len(line) < 500


def test_random_bytes_are_one_short_line_on_stderr(tmp_path):
    import random

    path = tmp_path / "noise.csv"
    rng = random.Random(3)
    path.write_bytes(bytes(rng.randrange(1, 256) for _ in range(200_000)))  # no NUL byte
    out = run_cli("import", str(path), "--db", str(tmp_path / "s.db"))
    line = assert_one_line_error(out, "not a text file")
    assert len(line) < 500


def test_export_works_after_a_store_held_an_out_of_range_date(tmp_path):
    db_path = tmp_path / "s.db"
    cli_import(tmp_path, "ok.csv", b"date,comment\n2024-05-01,fine\n")
    with sqlite3.connect(db_path) as conn:  # as a hand edit (or an old version) could leave it
        conn.execute("UPDATE feedback SET received_at = '10000-01-01T04:00:00Z'")
    out = run_cli("export", "--db", str(db_path), "--out", str(tmp_path / "out.csv"))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr


def test_export_keeps_a_row_whose_stored_date_is_unreadable_so_it_can_be_fixed(tmp_path):
    db_path = tmp_path / "s.db"
    cli_import(tmp_path, "ok.csv", b"date,comment\n2024-05-01,fine\n2024-05-02,broken later\n")
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE feedback SET received_at = '10000-01-01T04:00:00Z' "
                     "WHERE comment = 'broken later'")
    out = run_cli("export", "--db", str(db_path), "--out", str(tmp_path / "out.csv"))
    assert out.stdout.startswith("exported 2 feedback rows")
    assert "10000-01-01T04:00:00Z" in (tmp_path / "out.csv").read_text(encoding="utf-8")


def test_check_lists_stored_rows_that_break_todays_rules_and_moves_them_on_request(tmp_path):
    db_path = tmp_path / "s.db"
    cli_import(tmp_path, "ok.csv", b"date,comment,nps\n2024-05-01,a,9\n2024-05-02,b,7\n"
                                   b"2024-05-03,c,8\n")
    with sqlite3.connect(db_path) as conn:  # as an older version could have stored them
        conn.execute("UPDATE feedback SET received_at = '1990-01-01T00:00:00Z' "
                     "WHERE comment = 'a'")
        conn.execute("UPDATE feedback SET score = 7.5 WHERE comment = 'b'")
    runner = CliRunner()
    listed = runner.invoke(cli_module.cli, ["check", "--db", str(db_path)])
    assert listed.exit_code == 0
    assert "is before 2000-01-01" in listed.stdout and "between the steps" in listed.stdout
    assert listed.stdout.rstrip().endswith(
        "2 stored row(s) break today's import rules; --move puts them in the rejects")
    moved = runner.invoke(cli_module.cli, ["check", "--db", str(db_path), "--move"])
    assert moved.stdout.rstrip().endswith("moved 2 stored row(s) to the rejects")
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT comment FROM feedback").fetchall() == [("c",)]
        reasons = [r[0] for r in conn.execute("SELECT reason FROM import_rejects "
                                              "WHERE reason LIKE '%analysis check%'")]
    assert len(reasons) == 2
