"""`python -m analysis` ends every failure a user can meet with exit code 1 and one line,
`error: ...`, on stderr (no traceback); a bug still shows its traceback.

Real processes where the failure is real: a store without write permission (chmod, plus
`chattr +i` under root, whom permission bits do not stop), a read-only file system and a
genuinely full disk (a bind mount remounted read-only, and a small tmpfs, each inside
`unshare -m`, so the mount exists only for that one process and can never be left behind).
In-process (CliRunner) where the failure has to be injected.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from analysis import cli as cli_module
from analysis import store
from analysis.ingest.importing import ImportResult
from tests.stores import no_write_permission, write_csv

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() \
    else sys.executable
AS_ROOT = os.geteuid() == 0


# ------------------------------------------------------------------------------ helpers


def run_cli(*args: str, prefix: tuple[str, ...] = (), env: dict | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([*prefix, PYTHON, "-m", "analysis", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def assert_one_line_error(out, *words: str) -> str:
    """Exit code 1 and exactly one stderr line, `error: ...`, holding `words`."""
    stderr = out.stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert out.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), \
        (out.returncode, stderr)
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def private_mount_prefix(setup: str, folder: Path) -> tuple[str, ...]:
    """Run the command in its own mount namespace after `setup` (a shell line using "$1" for
    `folder`); the mount vanishes with the process. Skips where namespaces are refused."""
    unshare = ["unshare", "-m"] if AS_ROOT else ["unshare", "-r", "-m"]
    if subprocess.run([*unshare, "true"], capture_output=True, check=False).returncode:
        pytest.skip("no private mount namespace here (unshare -m refused)")
    return (*unshare, "sh", "-c", f'{setup} && shift && exec "$@"', "sh", str(folder))


READ_ONLY_MOUNT = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1"'


@pytest.fixture(params=["no write permission", "read-only file system"])
def read_only(request, filled_store):
    """Runs the CLI against `filled_store` made read-only one way or the other; yields a
    function taking the CLI's arguments."""
    folder = filled_store.parent
    if request.param == "no write permission":
        with no_write_permission(filled_store, folder):
            yield lambda *args: run_cli(*args)
    else:
        prefix = private_mount_prefix(READ_ONLY_MOUNT, folder)
        yield lambda *args: run_cli(*args, prefix=prefix)


def stored_counts(path: Path) -> tuple[int, int]:
    db = store.connect(path)
    try:
        return db["feedback"].count, store.revision(db)
    finally:
        db.close()


# ------------------------------------------------------------------------------ read-only


def test_export_works_on_a_read_only_store(read_only, filled_store, tmp_path):
    out_csv = tmp_path / "export.csv"
    out = read_only("export", "--db", str(filled_store), "--out", str(out_csv))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert out.stdout.strip() == f"exported 20 feedback rows to {out_csv}"
    assert len(out_csv.read_text(encoding="utf-8").splitlines()) == 21


@pytest.mark.parametrize("command", [
    ["import", "{csv}"], ["demo", "--rows", "50"], ["migrate"], ["themes", "--skip-sentiment"],
])
def test_writing_commands_refuse_a_read_only_store_in_one_line(read_only, filled_store,
                                                              tmp_path, command):
    args = [part.format(csv=write_csv(tmp_path / "new.csv", 3, "n")) for part in command]
    out = read_only(*args, "--db", str(filled_store))
    assert_one_line_error(out, "is read-only", str(filled_store))
    assert stored_counts(filled_store) == (20, 1)


def test_demo_if_empty_on_a_filled_read_only_store_is_not_an_error(read_only, filled_store):
    out = read_only("demo", "--if-empty", "--db", str(filled_store))
    assert out.returncode == 0 and "demo not generated" in out.stdout, out.stderr


# ------------------------------------------------------------------------------ disk full


def test_import_onto_a_full_disk_is_one_line_and_keeps_the_store_intact(filled_store,
                                                                         tmp_path):
    """A real full disk: a tmpfs with 64 KiB to spare, too little for the import's WAL."""
    size_k = filled_store.stat().st_size // 1024 + 64
    disk = tmp_path / "disk"
    disk.mkdir()
    err_file, check_file = tmp_path / "stderr.txt", tmp_path / "check.json"
    check = (f"import json, sys; from analysis import store; db = store.connect(sys.argv[1]); "
             f"json.dump([db['feedback'].count, store.revision(db), "
             f"db.execute('PRAGMA integrity_check').fetchone()[0]], "
             f"open({str(check_file)!r}, 'w'))")
    setup = (f'mount -t tmpfs -o size={size_k}k tmpfs "$1" && cp {filled_store} "$1"/closeloop.db'
             f' && ({PYTHON} -m analysis import {write_csv(tmp_path / "big.csv", 3000, "big")}'
             f' --db "$1"/closeloop.db 2>{err_file}; echo $? > {tmp_path / "rc"})'
             f' && {PYTHON} -c "{check}" "$1"/closeloop.db')
    out = subprocess.run([*private_mount_prefix(setup, disk), "true"], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    cli_result = subprocess.CompletedProcess([], int((tmp_path / "rc").read_text()),
                                             "", err_file.read_text())
    assert_one_line_error(cli_result, "is full", "nothing was written")
    assert json.loads(check_file.read_text()) == [20, 1, "ok"]


def test_import_past_the_size_limit_is_one_line(filled_store, tmp_path, monkeypatch):
    """SQLITE_FULL without a small file system: the connection's max_page_count is lowered."""
    real_connect = store.connect

    def tiny_connect(*args, **kwargs):
        db = real_connect(*args, **kwargs)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + 10}")
        return db

    monkeypatch.setattr(store, "connect", tiny_connect)
    result = CliRunner().invoke(cli_module.cli, [
        "import", str(write_csv(tmp_path / "big.csv", 3000, "big")), "--db", str(filled_store)])
    assert_one_line_error(as_process(result), "is full", str(filled_store))
    monkeypatch.undo()
    assert stored_counts(filled_store) == (20, 1)


def as_process(result) -> subprocess.CompletedProcess:
    """A CliRunner result in the shape assert_one_line_error reads; an exception other than
    the exit itself is re-raised, as a traceback would have shown it."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess([], result.exit_code, result.stdout, result.stderr)


# ------------------------------------------------------------------------------ busy


def test_import_into_a_store_locked_past_the_busy_timeout_is_one_line(filled_store, tmp_path):
    holder = store.connect(filled_store)
    holder.execute("BEGIN IMMEDIATE")
    try:
        out = run_cli("import", str(write_csv(tmp_path / "new.csv", 3, "n")),
                      "--db", str(filled_store), env={"CLOSELOOP_BUSY_TIMEOUT_MS": "200"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_one_line_error(out, "is busy", str(filled_store), "CLOSELOOP_BUSY_TIMEOUT_MS")
    assert stored_counts(filled_store) == (20, 1)


# ------------------------------------------------------------------------------ cannot open


def test_a_database_path_that_is_a_folder_is_one_line(tmp_path):
    out = run_cli("export", "--db", str(tmp_path), "--out", str(tmp_path / "x.csv"))
    assert_one_line_error(out, "is a folder, not a database file")


def test_a_database_path_set_by_environment_that_is_a_folder_is_one_line(tmp_path):
    out = run_cli("export", "--out", str(tmp_path / "x.csv"),
                  env={"CLOSELOOP_DB": str(tmp_path)})
    assert_one_line_error(out, "is a folder, not a database file")


def test_a_file_that_is_not_a_database_is_one_line(tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("my notes\n" * 500)
    out = run_cli("import", str(write_csv(tmp_path / "new.csv", 3, "n")), "--db", str(notes))
    assert_one_line_error(out, "is not a usable SQLite database (file is not a database)")
    assert notes.read_text() == "my notes\n" * 500


def test_a_database_folder_that_cannot_be_created_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = run_cli("migrate", "--db", str(blocker / "sub" / "closeloop.db"))
    assert_one_line_error(out, "cannot create the folder", "a-file/sub")


def test_an_export_into_a_missing_folder_is_one_line(filled_store, tmp_path):
    out = run_cli("export", "--db", str(filled_store), "--out", str(tmp_path / "no" / "x.csv"))
    assert_one_line_error(out, "No such file or directory")


# ------------------------------------------------------------------------------ import files


def test_an_unreadable_import_file_is_one_line(filled_store, tmp_path):
    """A socket file: it exists, it is not a folder, and no one (root neither) can read it."""
    path = tmp_path / "feedback.csv"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        out = run_cli("import", str(path), "--db", str(filled_store))
    assert_one_line_error(out, "feedback.csv: cannot read the file")


@pytest.mark.skipif(AS_ROOT, reason="root reads a chmod 000 file")
def test_an_import_file_without_read_permission_is_one_line(filled_store, tmp_path):
    path = write_csv(tmp_path / "secret.csv", 3, "s")
    path.chmod(0)
    out = run_cli("import", str(path), "--db", str(filled_store))
    assert_one_line_error(out, "secret.csv: cannot read the file (Permission denied)")


def test_an_empty_import_file_is_one_line(filled_store, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    out = run_cli("import", str(path), "--db", str(filled_store))
    assert_one_line_error(out, "empty.csv: the file is empty")


def test_import_prints_the_readers_warnings_after_the_summary(monkeypatch, db_path, tmp_path):
    from analysis import ingest

    def import_with_warnings(db, path, **kwargs):
        return ImportResult(batch_id=1, file_name=path.name, rows_read=2, imported=2,
                            duplicates=0, rejected=0,
                            warnings=["the header 'comment' appears twice; the first is used",
                                      "line 2 was not UTF-8;\nread as Windows-1252"])

    monkeypatch.setattr(ingest, "import_file", import_with_warnings)
    result = CliRunner().invoke(cli_module.cli, ["import", str(write_csv(
        tmp_path / "w.csv", 2, "w")), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("imported 2, duplicates skipped 0, rejected 0")
    assert result.stderr.splitlines() == [
        "warning: the header 'comment' appears twice; the first is used",
        "warning: line 2 was not UTF-8; read as Windows-1252",
    ]


# ------------------------------------------------------------------------------ settings


def test_a_bad_setting_is_one_line(tmp_path):
    result = CliRunner().invoke(cli_module.cli, ["export", "--out", str(tmp_path / "x.csv")],
                                env={"CLOSELOOP_JOB_STALE_SECONDS": "-5",
                                     "CLOSELOOP_DB": str(tmp_path / "s.db")})
    assert_one_line_error(as_process(result), "CLOSELOOP_JOB_STALE_SECONDS must be a whole "
                                              "number above 0, got '-5'")


def test_a_bad_setting_is_one_line_from_a_new_process(tmp_path):
    out = run_cli("export", "--out", str(tmp_path / "x.csv"),
                  env={"CLOSELOOP_JOB_STALE_SECONDS": "-5", "CLOSELOOP_DB": str(tmp_path / "s.db")})
    assert_one_line_error(out, "CLOSELOOP_JOB_STALE_SECONDS")


def test_a_busy_timeout_that_is_no_number_names_the_setting(tmp_path):
    out = run_cli("export", "--out", str(tmp_path / "x.csv"),
                  env={"CLOSELOOP_BUSY_TIMEOUT_MS": "abc", "CLOSELOOP_DB": str(tmp_path / "s.db")})
    assert_one_line_error(out, "CLOSELOOP_BUSY_TIMEOUT_MS must be a whole number above 0")


# ------------------------------------------------------------------------------ bugs


def test_a_sqlite_store_failure_outside_a_transaction_is_one_line(monkeypatch, filled_store,
                                                                 tmp_path):
    from analysis.reports import export

    def failing_export(db, out_path, **kwargs):
        error = sqlite3.OperationalError("disk I/O error")
        error.sqlite_errorcode = 10  # SQLITE_IOERR
        raise error

    monkeypatch.setattr(export, "export_feedback", failing_export)
    result = CliRunner().invoke(cli_module.cli, ["export", "--db", str(filled_store),
                                                 "--out", str(tmp_path / "x.csv")])
    assert_one_line_error(as_process(result), "disk I/O error", str(filled_store))


@pytest.mark.parametrize("bug", [RuntimeError("a bug"), ValueError("a bug, not a setting"),
                                 sqlite3.OperationalError("no such column: x")])
def test_an_unexpected_error_keeps_its_traceback(monkeypatch, filled_store, tmp_path, bug):
    from analysis.reports import export

    def broken_export(db, out_path, **kwargs):
        raise bug

    monkeypatch.setattr(export, "export_feedback", broken_export)
    result = CliRunner().invoke(cli_module.cli, ["export", "--db", str(filled_store),
                                                 "--out", str(tmp_path / "x.csv")])
    assert result.exception is bug
    assert "error:" not in result.stderr


@pytest.mark.parametrize("variable, value, words", [
    ("CLOSELOOP_TZ", "Mars/Base", "CLOSELOOP_TZ must be an IANA time zone"),
    ("CLOSELOOP_TZ", "../etc", "CLOSELOOP_TZ must be an IANA time zone"),
    ("CLOSELOOP_ACTOR", " ", "CLOSELOOP_ACTOR must name who acts"),
])
def test_a_bad_time_zone_or_blank_actor_is_one_line(tmp_path, variable, value, words):
    path = tmp_path / "f.csv"
    path.write_text("date,comment\n2024-05-01,fine\n", encoding="utf-8")
    out = run_cli("import", str(path), "--db", str(tmp_path / "s.db"), env={variable: value})
    assert_one_line_error(out, words)
