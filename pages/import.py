"""Import page: upload a survey or review export, check the column mapping, import.

Thin: the flow after upload is a function of the bytes held in st.session_state["upload"]
({"name": str, "data": bytes}), so reruns keep the file and tests can set it directly.
User text (file names, column names, cells, error messages) is shown only through
dataframes, select boxes, st.text and st.code, never as Markdown, and always cut to a bounded
length first: one 50 MB value must not reach the browser.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from analysis import ingest, store
from analysis.ingest.feedback import FEEDBACK_FIELDS
from analysis.messages import clip
from analysis.reports.csv_safety import to_safe_csv
from pages import current_actor, page_start

NOT_IN_FILE = "(not in file)"
FROM_FILE = "(from the file / column name)"
FIELD_LABELS = {
    "received_at": "Date (required)",
    "comment": "Comment",
    "score": "Score",
    "score_type": "Score type column",
    "external_id": "Response id",
    "location": "Location",
    "segment": "Segment",
    "channel": "Channel",
    "touchpoint": "Touchpoint",
    "customer_id": "Customer id",
    "customer_name": "Customer name",
    "customer_email": "Customer email",
}
MAPPED_FIELDS = [f for f in FIELD_LABELS if f in FEEDBACK_FIELDS]
REJECTS_SHOWN = 1000  # the download holds them all


def _remember_upload() -> None:
    uploaded = st.session_state.get("import_uploader")
    if uploaded is None:
        st.session_state.pop("upload", None)
    else:
        st.session_state["upload"] = {"name": uploaded.name, "data": uploaded.getvalue()}
    st.session_state.pop("import_result", None)


def _read(upload: dict):
    """The parsed upload, parsed once per file (reruns reuse it)."""
    digest = hashlib.sha256(upload["data"]).hexdigest()
    cached = st.session_state.get("_import_parsed")
    if not cached or cached[0] != digest:
        try:
            ingest.check_upload(upload["data"], upload["name"])
            cached = (digest, ingest.read_table(upload["data"], name=upload["name"]), None)
        except ingest.ImportFileError as exc:
            cached = (digest, None, str(exc))
        st.session_state["_import_parsed"] = cached
    return cached


def _show_error(message: str) -> None:
    st.error("This file cannot be imported:", icon=":material/error:")
    st.code(clip(message, 2000), language=None, wrap_lines=True)


def _show_warnings(title: str, warnings: list[str]) -> None:
    if warnings:
        st.warning(title, icon=":material/warning:")
        st.code(clip("\n".join(warnings), 4000), language=None, wrap_lines=True)


def _mapping_form(frame, digest: str) -> tuple[dict, str | None, str]:
    columns = ingest.data_columns(frame)
    detected = ingest.detect_mapping(columns)
    options = [NOT_IN_FILE] + columns
    st.subheader("Columns")
    st.caption("Which column holds each field. Pre-filled from the column names.")
    mapping = {}
    grid = st.columns(3)
    for i, field in enumerate(MAPPED_FIELDS):
        default = detected.get(field)
        with grid[i % 3]:
            choice = st.selectbox(FIELD_LABELS[field], options,
                                  index=options.index(default) if default else 0,
                                  format_func=lambda c: ingest.bounded_text(c, 120),
                                  key=f"import_map_{field}_{digest[:12]}")
        mapping[field] = None if choice == NOT_IN_FILE else choice
    types = [FROM_FILE] + list(ingest.SCORE_TYPES)
    inferred = ingest.infer_score_type(mapping.get("score"))
    left, right = st.columns(2)
    with left:
        score_type = st.selectbox(
            "Score type", types, key=f"import_score_type_{digest[:12]}",
            help="Scale of the score column when the file does not say "
                 f"(from the column name: {inferred or 'unknown'}).")
    with right:
        source = st.text_input("Source name", value=Path(st.session_state["upload"]["name"]).stem,
                               key=f"import_source_{digest[:12]}",
                               help="Identifies the system the file came from; with the "
                                    "response id it recognises re-imported rows.")
    return mapping, (None if score_type == FROM_FILE else score_type), source


def _show_result(db, result: dict) -> None:
    st.subheader("Result")
    a, b, c, d = st.columns(4)
    a.metric("Rows read", result["rows_read"])
    b.metric("Imported", result["imported"])
    c.metric("Duplicates skipped", result["duplicates"])
    d.metric("Rejected", result["rejected"])
    st.text(result["summary"])
    _show_warnings("Imported with warnings:", result.get("warnings", []))
    if result["rejected"]:
        rejects = ingest.rejects_frame(db, result["batch_id"])
        st.dataframe(ingest.bounded_frame(rejects.head(REJECTS_SHOWN)), hide_index=True,
                     width="stretch")
        if len(rejects) > REJECTS_SHOWN:
            st.caption(f"The first {REJECTS_SHOWN:,} of {len(rejects):,} rejected rows; "
                       "the download holds them all.")
        st.download_button("Download rejected rows (CSV)", data=to_safe_csv(rejects),
                           file_name=f"rejects-batch-{result['batch_id']}.csv",
                           mime="text/csv", key="import_rejects_download")


def render() -> None:
    db, _ = page_start()
    st.title("Import feedback")
    st.write("Upload a survey or review export (CSV or JSON Lines). Check which column holds "
             "each field, then import. Rows that cannot be imported are listed with the "
             "reason; rows already in the store are skipped.")
    st.file_uploader("File", type=["csv", "tsv", "txt", "jsonl", "ndjson", "json"],
                     key="import_uploader", on_change=_remember_upload)

    upload = st.session_state.get("upload")
    if upload:
        digest, frame, error = _read(upload)
        st.text(f"File: {ingest.bounded_text(upload['name'], 200)} ({len(upload['data']):,} bytes)")
        if error:
            _show_error(error)
        else:
            st.subheader("Preview")
            _show_warnings("Read with warnings:", frame.attrs.get("warnings", []))
            st.dataframe(ingest.preview_frame(frame), hide_index=True, width="stretch")
            st.text(f"{len(frame):,} rows")
            mapping, score_type, source = _mapping_form(frame, digest)
            read_only = store.is_read_only(db)
            if read_only:
                st.info("The database is read-only: importing is switched off.",
                        icon=":material/lock:")
            if st.button("Import", type="primary", key="import_button", disabled=read_only):
                try:
                    result = ingest.import_frame(
                        db, frame, file_name=upload["name"], mapping=mapping,
                        score_type=score_type, source=source or None,
                        actor=current_actor(), file_sha256=digest)
                except ingest.ImportFileError as exc:
                    st.session_state.pop("import_result", None)
                    _show_error(str(exc))
                else:
                    st.session_state["import_result"] = {
                        "batch_id": result.batch_id, "rows_read": result.rows_read,
                        "imported": result.imported, "duplicates": result.duplicates,
                        "rejected": result.rejected, "summary": result.summary_line(),
                        "warnings": list(result.warnings)}
            if st.session_state.get("import_result"):
                _show_result(db, st.session_state["import_result"])

    st.subheader("Recent imports")
    batches = ingest.recent_batches(db)
    if batches.empty:
        st.info("No imports yet.")
    else:
        st.dataframe(ingest.bounded_frame(batches), hide_index=True, width="stretch")


render()
