"""Small stores and files that several test modules build the same way."""

from __future__ import annotations

import csv
from pathlib import Path


def write_csv(path: Path, rows: int, prefix: str) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "received_at", "location", "nps", "comment"])
        for i in range(rows):
            writer.writerow([f"{prefix}{i}", "2025-03-01T10:00:00Z", "North", i % 11,
                             f"{prefix} comment {i} about the long queue at the desk " * 3])
    return path
