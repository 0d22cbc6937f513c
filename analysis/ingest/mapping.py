"""Which column of a file holds which feedback field, and which scale a score is on."""

from __future__ import annotations

import re

from analysis.domain.scores import SCORE_TYPES
from analysis.ingest.errors import ImportFileError
from analysis.ingest.feedback import FEEDBACK_FIELDS
from analysis.ingest.frames import RESERVED
from analysis.messages import excerpt, excerpts


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", str(name).casefold())


# Exact names (normalised: lower case, letters and digits only), best first.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "received_at": ("receivedat", "date", "recordeddate", "datereceived", "createdat",
                    "created", "timestamp", "submitted", "submittedat", "submitteddate",
                    "responsedate", "reviewdate", "surveydate", "feedbackdate", "datetime",
                    "enddate", "completedat", "completed", "time", "startdate"),
    "comment": ("comment", "comments", "text", "review", "reviewtext", "feedback",
                "feedbacktext", "verbatim", "consumercomplaintnarrative", "narrative",
                "body", "message", "content", "response", "openended", "reason", "remarks"),
    "score": ("score", "nps", "npsscore", "rating", "stars", "starrating", "csat",
              "csatscore", "ces", "cesscore", "likelihoodtorecommend", "recommend", "ltr",
              "overallrating", "satisfaction", "effort", "value"),
    "location": ("location", "store", "branch", "site", "storename", "branchname",
                 "locationname", "sitename", "outlet", "shop", "restaurant", "hotel"),
    "external_id": ("externalid", "id", "responseid", "complaintid", "reviewid",
                    "feedbackid", "surveyresponseid", "recordid", "ticketid", "uuid"),
    "segment": ("segment", "tier", "plan", "customersegment", "customertier",
                "customertype", "membership"),
    "channel": ("channel", "submittedvia", "source", "medium", "platform", "via"),
    "touchpoint": ("touchpoint", "journeystage", "stage", "journey", "journeystep", "step"),
    "customer_id": ("customerid", "clientid", "userid", "accountid", "memberid", "custid"),
    "customer_name": ("customername", "name", "fullname", "clientname", "reviewername",
                      "author", "username", "reviewer"),
    "customer_email": ("customeremail", "email", "emailaddress", "mail", "clientemail",
                       "useremail"),
    "score_type": ("scoretype", "surveytype", "metric", "scale", "scoretypename"),
}
# Second pass for headers like "How likely are you to recommend us? (0-10)".
_CONTAINS: dict[str, tuple[str, ...]] = {
    "received_at": ("date", "timestamp", "time"),
    "comment": ("comment", "feedback", "narrative", "verbatim", "review", "text"),
    "score": ("recommend", "score", "rating", "nps", "csat", "stars"),
    "customer_email": ("email",),
}


def detect_mapping(columns) -> dict[str, str]:
    """Guess which column holds which feedback field from the usual export headers.

    Exact names (case and punctuation ignored) first, then names that contain a telling
    word; a column serves one field. `source` and "Company" columns are never guessed.
    """
    columns = [c for c in columns if c not in RESERVED]
    normalised = {c: _norm(c) for c in columns}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for field_name, names in _SYNONYMS.items():
        for wanted in names:
            hit = next((c for c in columns if c not in used and normalised[c] == wanted), None)
            if hit is not None:
                mapping[field_name] = hit
                used.add(hit)
                break
    for field_name, words in _CONTAINS.items():
        if field_name in mapping:
            continue
        for word in words:
            hit = next((c for c in columns if c not in used and word in normalised[c]
                        and not normalised[c].endswith("id")), None)
            if hit is not None:
                mapping[field_name] = hit
                used.add(hit)
                break
    return {f: mapping[f] for f in FEEDBACK_FIELDS if f in mapping}


_SCORE_TYPE_WORDS = {
    "nps": "nps", "netpromoter": "nps", "netpromoterscore": "nps", "recommend": "nps",
    "likelihoodtorecommend": "nps", "ltr": "nps",
    "csat": "csat", "satisfaction": "csat", "customersatisfaction": "csat",
    "ces": "ces", "effort": "ces", "customereffort": "ces", "customereffortscore": "ces",
    "rating": "rating", "ratings": "rating", "stars": "rating", "star": "rating",
    "starrating": "rating", "review": "rating", "reviews": "rating",
}


def infer_score_type(column: str | None) -> str | None:
    """The scale a score column's name announces ("NPS", "CSAT score", "Star rating"), if any."""
    if not column:
        return None
    words = [w for w in re.split(r"[^0-9a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
                                  .casefold()) if w]
    for word in words:
        if word in _SCORE_TYPE_WORDS:
            return _SCORE_TYPE_WORDS[word]
    joined = "".join(words)
    for key in ("netpromoter", "likelihoodtorecommend", "customersatisfaction",
                "customereffort", "starrating"):
        if key in joined:
            return _SCORE_TYPE_WORDS[key]
    return None


def normalise_score_type(value: str | None) -> str | None:
    """'NPS', 'Net Promoter', 'stars' ... -> one of SCORE_TYPES; None when unknown."""
    key = _norm(value or "")
    if key in SCORE_TYPES:
        return key
    return _SCORE_TYPE_WORDS.get(key) or ({"5star": "rating", "starrating": "rating",
                                           "customereffortscore": "ces",
                                           "customersatisfactionscore": "csat"}).get(key)


def resolve_mapping(columns, mapping: dict[str, str | None] | None, *,
                    file_name: str) -> dict[str, str]:
    """Detected mapping overridden by the given one; a given field mapped to None or ""
    means "not in the file". Raises ImportFileError for unknown fields or columns."""
    columns = [c for c in columns if c not in RESERVED]
    given = dict(mapping or {})
    for field_name in given:
        if field_name not in FEEDBACK_FIELDS:
            raise ImportFileError(
                f"{excerpt(field_name)} is not a feedback field; fields are: "
                + ", ".join(FEEDBACK_FIELDS))
    for field_name, column in given.items():
        if column and column not in columns:
            raise ImportFileError(
                f"column {excerpt(column)} (mapped to {field_name}) is not in {file_name}; "
                f"its columns are: " + excerpts(columns))
    taken = {c for c in given.values() if c}
    detected = detect_mapping([c for c in columns if c not in taken])
    resolved = {f: c for f, c in detected.items() if f not in given}
    resolved.update({f: c for f, c in given.items() if c})
    return {f: resolved[f] for f in FEEDBACK_FIELDS if f in resolved}

