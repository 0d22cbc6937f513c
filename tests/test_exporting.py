"""Safe CSV exports: formula injection neutralised, numbers intact, Excel-friendly encoding."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from analysis.reports.csv_safety import neutralise, to_safe_csv


def read_back(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("value", ['=HYPERLINK("http://evil","x")', "+1+cmd", "-2+3",
                                   "@SUM(A1)", "\t=1+1", "\r=1+1", "  =1+1"])
def test_formula_like_text_gets_a_leading_quote(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["hello", "", "a=b", "1+1", "-3", "+4.5", "-0.25e3", None, 7, -7.5])
def test_ordinary_text_and_numbers_are_unchanged(value):
    assert neutralise(value) == value


def test_to_safe_csv_neutralises_every_text_cell_and_keeps_numbers():
    frame = pd.DataFrame({
        "comment": ["=cmd|' /C calc'!A0", "fine, thanks", None, "@evil"],
        "score": [-1, 5, 9, 10],
        "ratio": [-0.5, 1.0, None, 2.5],
        "=header": ["x", "y", "z", "w"],
    })
    rows = read_back(to_safe_csv(frame))
    assert rows[0] == ["comment", "score", "ratio", "'=header"]
    assert rows[1] == ["'=cmd|' /C calc'!A0", "-1", "-0.5", "x"]
    assert rows[2] == ["fine, thanks", "5", "1.0", "y"]
    assert rows[3] == ["", "9", "", "z"]
    assert rows[4] == ["'@evil", "10", "2.5", "w"]


def test_arrow_string_columns_and_non_ascii_round_trip():
    frame = pd.DataFrame({"text": pd.array(["Très déçu", "-moins bien"], dtype="str")})
    assert read_back(to_safe_csv(frame)) == [["text"], ["Très déçu"], ["'-moins bien"]]


def test_empty_frame_gives_just_the_header():
    assert read_back(to_safe_csv(pd.DataFrame({"a": [], "b": []}))) == [["a", "b"]]


def test_the_input_frame_is_not_modified():
    frame = pd.DataFrame({"c": ["=1"]})
    to_safe_csv(frame)
    assert frame.loc[0, "c"] == "=1"
