"""Small stores and files that several test modules build the same way."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
from pathlib import Path

import pytest


def write_csv(path: Path, rows: int, prefix: str) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "received_at", "location", "nps", "comment"])
        for i in range(rows):
            writer.writerow([f"{prefix}{i}", "2025-03-01T10:00:00Z", "North", i % 11,
                             f"{prefix} comment {i} about the long queue at the desk " * 3])
    return path


@contextlib.contextmanager
def no_write_permission(*paths: Path):
    """Take write permission away from `paths` (files and folders), for root too."""
    modes = {path: path.stat().st_mode & 0o777 for path in paths}
    frozen: list[Path] = []
    try:
        for path in paths:
            path.chmod(0o555 if path.is_dir() else 0o444)
            if os.geteuid() == 0:
                if subprocess.run(["chattr", "+i", str(path)], capture_output=True,
                                  check=False).returncode:
                    pytest.skip("running as root and chattr +i is not supported here, so no "
                                "file can be made read-only")
                frozen.append(path)
        yield
    finally:
        for path in frozen:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        for path, mode in modes.items():
            path.chmod(mode)


def seed_truth_themes(db, truth: dict, *, now: str = "2025-01-01T00:00:00Z") -> dict[str, int]:
    """Themes and assignments straight from a demo truth's labels (one child theme per true
    theme, no parents): stores where the right answer is known, without fitting a model.
    Returns theme name -> id."""
    from analysis import store as store_module

    ids = dict(db.execute("SELECT external_id, id FROM feedback").fetchall())
    with store_module.write_transaction(db):
        theme_ids = {}
        for name in truth["themes"]:
            theme_ids[name] = db.execute(
                "INSERT INTO themes (name, created_at, created_by, updated_at) "
                "VALUES (?, ?, 'test', ?)", [name, now, now]).lastrowid
        db.conn.executemany(
            "INSERT INTO theme_assignments (feedback_id, theme_id, probability, is_primary, "
            "origin, assigned_at) VALUES (?, ?, 1.0, ?, 'analyst', ?)",
            [(ids[row["external_id"]], theme_ids[name], int(k == 0), now)
             for row in truth["rows"] if row["external_id"] in ids
             for k, name in enumerate(row["themes"])])
    return theme_ids


def seed_truth_sentiment(db, truth: dict, *, now: str = "2025-01-01T00:00:00Z") -> None:
    """Sentiment straight from a demo truth's labels (method 'truth'), as seed_truth_themes
    does for themes."""
    from analysis import store as store_module

    ids = dict(db.execute("SELECT external_id, id FROM feedback").fetchall())
    with store_module.write_transaction(db):
        db.conn.executemany(
            "INSERT INTO sentiment (feedback_id, label, score, confidence, method, scored_at) "
            "VALUES (?, ?, ?, 1.0, 'truth', ?)",
            [(ids[row["external_id"]], row["sentiment"],
              {"negative": -0.5, "neutral": 0.0, "positive": 0.5}[row["sentiment"]], now)
             for row in truth["rows"] if row["external_id"] in ids])
