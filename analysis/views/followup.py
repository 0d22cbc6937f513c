"""What the Templates page, the Case queue's "Write follow-up" and the Improvements page's
"Tell them by email" show, shaped from `analysis.followup`: the template list, the editor's
draft and its preview (gaps, SMS characters and segments, or the error naming the field and
line), versions, placeholders, the outbox with its reasons and events, and which template
suits a case. Reads only; nothing here writes. A real case's customer in a preview, and the
messages to customers in the outbox, are shown as the reader's role may see them
(`analysis.privacy.display`).

    draft = draft_from_form(values)                  # a Template, maybe invalid
    shown = preview(draft, sample_context())         # Preview: the rendering or the error
    outbox_table(list_outbox(db), "Europe/London")   # one row per message, newest first
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import sqlite_utils

from analysis.followup.followups import customer_email
from analysis.followup.outbox import list_outbox
from analysis.followup.templates import (
    CASE_FIELDS,
    DEFAULT_LANGUAGE,
    FEEDBACK_FIELDS,
    PLACEHOLDERS,
    PURPOSES,
    Rendering,
    Template,
    TemplateError,
    context_for_case,
    list_templates,
    render,
    sample_context,
)
from analysis.privacy.display import (
    customer_text,
    customer_value,
    hides_message,
    message_for_role,
    shows_customer_data,
)
from analysis.views.cases import case_label, cut, local_time

NEW = 0
"""The "new template" pick in the editor's select box."""
SAMPLE = 0
"""The "sample values" pick in the preview's case select box."""
OUTBOX_STATUSES = ("queued", "held", "sending", "sent", "failed", "dead", "cancelled")
STATUS_BADGES = {"queued": "🕓 queued", "held": "⏸️ held", "sending": "📤 sending",
                 "sent": "✅ sent", "failed": "🟠 failed (will retry)", "dead": "🔴 dead",
                 "cancelled": "— cancelled"}
RETRYABLE = ("failed", "dead", "held", "cancelled")
CANCELLABLE = ("queued", "held", "failed", "dead")
EXTRA_FIELDS = {"eta": "When it should be fixed (eta)",
                "workaround": "What they can do meanwhile (workaround)",
                "link": "A link (link)"}
"""The values a person types when writing (`extra`): placeholder -> label."""
SUGGESTED = {
    # case status -> purposes to suggest, best first (the route can reorder them)
    "new": ("acknowledge", "clarification question", "status update"),
    "acknowledged": ("status update", "clarification question", "acknowledge"),
    "in progress": ("status update", "clarification question"),
    "waiting on customer": ("clarification question", "status update"),
    "resolved": ("resolved or shipped", "recovery apology"),
    "followed up": ("resolved or shipped", "recovery apology"),
    "closed": ("resolved or shipped", "recovery apology"),
}
NO_TEMPLATES = ("No templates yet. Add the starter templates (one per purpose: acknowledge, "
                "status update, resolved or shipped, recovery apology, thank-you, "
                "clarification question, internal alert, weekly digest) and edit them, or "
                "write your own.")
NO_EMAIL_TEMPLATES = ("No email templates yet: add the starter templates on the Templates "
                      "page, then write the follow-up here.")
NOT_SENT_HINT = ("The outbox tries again after 1, 2, 4 ... minutes; the Templates page's "
                 "Outbox tab shows every message with its reason and can retry it.")


# --------------------------------------------------------------------------- templates

def template_label(template: Template) -> str:
    """A template in a select box: its name, channel and language (what does not change
    often: a select box keeps its pick by label)."""
    extra = "" if template.active else ", switched off"
    return f"{template.name} ({template.channel}, {template.language}{extra})"


def templates_table(templates: list[Template]) -> pd.DataFrame:
    return pd.DataFrame([{"template": t.id, "name": t.name, "purpose": t.purpose,
                          "channel": t.channel, "language": t.language, "version": t.version,
                          "active": t.active, "changed": t.updated_at or "",
                          "by": t.updated_by or ""} for t in templates],
                        columns=["template", "name", "purpose", "channel", "language",
                                 "version", "active", "changed", "by"])


def placeholders_table() -> pd.DataFrame:
    """Every name a template may use, with what it holds, then the fields of `case` and
    `feedback`."""
    rows = [{"placeholder": f"{{{{ {name} }}}}", "holds": text}
            for name, text in PLACEHOLDERS.items()]
    rows += [{"placeholder": f"{{{{ case.{name} }}}}", "holds": text}
             for name, text in CASE_FIELDS.items()]
    rows += [{"placeholder": f"{{{{ feedback.{name} }}}}", "holds": text}
             for name, text in FEEDBACK_FIELDS.items()]
    return pd.DataFrame(rows, columns=["placeholder", "holds"])


PLACEHOLDER_HELP = ("A value that is empty for a customer prints as a visible gap such as "
                    "\"[eta missing]\", and a message with a gap is never sent. Give it a "
                    "fallback: {{ customer_name | default(\"there\") }}, or put it inside "
                    "{% if eta %}...{% endif %}.")


def form_values(template: Template | None) -> dict:
    """The editor's starting values: the stored template, or a blank email."""
    if template is None:
        return {"name": "", "purpose": PURPOSES[0], "channel": "email",
                "language": DEFAULT_LANGUAGE, "theme_id": None, "active": True,
                "subject": "", "body": ""}
    return {"name": template.name, "purpose": template.purpose, "channel": template.channel,
            "language": template.language, "theme_id": template.theme_id,
            "active": template.active, "subject": template.subject, "body": template.body}


def draft_from_form(values: dict, template_id: int | None = None) -> Template:
    """The editor's values as a Template (not checked: `preview` and saving check it)."""
    theme = values.get("theme_id")
    return Template(name=str(values.get("name") or ""),
                    purpose=str(values.get("purpose") or ""),
                    channel=str(values.get("channel") or ""),
                    body=str(values.get("body") or ""),
                    subject=str(values.get("subject") or ""),
                    language=str(values.get("language") or ""),
                    theme_id=None if theme in (None, "", 0) else int(theme),
                    active=bool(values.get("active", True)), id=template_id)


@dataclass(frozen=True)
class Preview:
    rendering: Rendering | None
    """The message as it would read (gaps shown), or None when the draft has an error."""
    error: str | None
    """Why the draft cannot be rendered or saved: the field first, then the line."""
    channel: str

    @property
    def missing_text(self) -> str:
        found = self.rendering.missing if self.rendering else []
        return ", ".join(found)


def preview(draft: Template, context: dict) -> Preview:
    """Render the draft against a context; a TemplateError becomes `error` (the field, the
    line). The name and purpose are checked too, as saving would."""
    try:
        rendering = render(draft, context)
    except TemplateError as exc:
        return Preview(None, str(exc), draft.channel)
    try:
        draft.check()
    except TemplateError as exc:
        return Preview(rendering, str(exc), draft.channel)
    return Preview(rendering, None, draft.channel)


def sms_text(rendering: Rendering) -> str:
    """"152 characters, GSM-7: 1 SMS" (or the parts an SMS is split into)."""
    parts = rendering.segments or 0
    return (f"{rendering.characters:,} characters, {rendering.encoding}: {parts} SMS"
            + (" (sent as one long message in parts)" if parts > 1 else ""))


def email_html(body: str) -> str:
    """The rendered email body for st.html (sanitised by Streamlit: no script runs): the
    placeholders in it were autoescaped by the template sandbox, so a customer's "<b>" is
    text; only the template's own markup is markup."""
    return f'<div style="font-family: sans-serif; line-height: 1.45">{body}</div>'


def versions_table(versions: list[dict]) -> pd.DataFrame:
    """Newest first: who saved which version when, and what it said."""
    return pd.DataFrame([{"version": v["version"], "saved": v["saved_at"],
                          "by": v["saved_by"], "note": v["note"] or "",
                          "name": v["name"], "subject": cut(v["subject"], 120),
                          "body": cut(v["body"], 200)} for v in reversed(versions)],
                        columns=["version", "saved", "by", "note", "name", "subject",
                                 "body"])


def preview_cases(db: sqlite_utils.Database, limit: int = 50) -> dict[int, str]:
    """Cases a preview can be rendered against: the latest ones with feedback, id -> label,
    after the sample values."""
    found = {SAMPLE: "Sample values (a made-up case)"}
    for row in db.query(
            "SELECT c.id, c.title FROM cases c WHERE c.status != 'merged' AND EXISTS "
            "(SELECT 1 FROM case_feedback cf WHERE cf.case_id = c.id) ORDER BY c.id DESC "
            "LIMIT ?", [int(limit)]):
        found[row["id"]] = case_label(row)
    return found


@dataclass(frozen=True)
class PreviewValues:
    values: dict
    """The placeholders' values a preview renders with."""
    customer_key: str | None
    """The customer whose data `values` show in the clear (None: the sample, a case
    without a known customer, or a role that sees the customer hidden), for the audit of
    record views."""


def preview_values(db: sqlite_utils.Database, case_id: int, role: str | None) -> PreviewValues:
    """The values a template preview renders with: the sample's (`case_id` SAMPLE) or a
    real case's (`context_for_case`). A role that may not see customer data gets the
    customer's name hidden and their words (the issue, the feedback's comment, the
    resolution note) masked: the preview is a message to that one known customer."""
    if not case_id:
        return PreviewValues(sample_context(), None)
    values = context_for_case(db, int(case_id))
    if shows_customer_data(role):
        row = db.execute("SELECT customer_key FROM cases WHERE id = ?", [int(case_id)]).fetchone()
        return PreviewValues(values, row[0] if row else None)
    feedback = dict(values.get("feedback") or {})
    case = dict(values.get("case") or {})
    for fields in (values, feedback, case):
        if "customer_name" in fields:
            fields["customer_name"] = customer_value(fields["customer_name"], role)
        for name in ("issue", "comment", "resolution_note"):
            if name in fields:
                fields[name] = customer_text(fields[name], role, cut_at=_cut_at(fields[name]))
    return PreviewValues(values | {"feedback": feedback, "case": case}, None)


def _cut_at(text) -> int | None:
    """Where `templates.shorten` cut a text (it ends it with "…"), for the masks."""
    return len(text) if isinstance(text, str) and text.endswith("…") else None


def extra_values(values: dict) -> dict:
    """The typed eta / workaround / link, blanks left out (so a template's fallback
    applies)."""
    return {name: str(values[name]).strip() for name in EXTRA_FIELDS
            if values.get(name) and str(values[name]).strip()}


# --------------------------------------------------------------------------- outbox

def outbox_counts(db: sqlite_utils.Database) -> dict[str, int]:
    found = dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
    return {status: found.get(status, 0) for status in OUTBOX_STATUSES}


def outbox_rows(db: sqlite_utils.Database, role: str | None, *,
                status: str | None = None) -> list[dict]:
    """The newest messages (`list_outbox`), each as `role` may see it: a message to a
    customer has its recipient, subject and body hidden from a role that may not see
    customer data (`privacy.display.message_for_role`)."""
    return messages_for_role(list_outbox(db, status=status or None), role)


def messages_for_role(rows: list[dict], role: str | None) -> list[dict]:
    return [message_for_role(row, role) for row in rows]


def outbox_table(rows: list[dict], timezone: str) -> pd.DataFrame:
    """One row per message, newest first: the status in words, the reason it waits or
    failed, when it is tried next."""
    return pd.DataFrame([{
        "message": r["id"], "status": STATUS_BADGES.get(r["status"], r["status"]),
        "kind": r["kind"], "channel": r["channel"], "to": cut(r["recipient"], 120),
        "subject": cut(r["subject"], 120), "attempts": r["attempts"],
        "reason": cut(r["last_error"] or "", 500),
        "next try": local_time(r["next_attempt_at"], timezone)
        if r["status"] == "failed" and r["next_attempt_at"] else "",
        "send after": local_time(r["send_after"], timezone),
        "created": local_time(r["created_at"], timezone), "by": r["created_by"],
        "sent": local_time(r["sent_at"], timezone),
        "case": r["case_id"]} for r in rows],
        columns=["message", "status", "kind", "channel", "to", "subject", "attempts",
                 "reason", "next try", "send after", "created", "by", "sent", "case"])


def message_label(row: dict) -> str:
    return f"#{row['id']} {row['kind']} to {cut(row['recipient'], 60)}"


def events_table(events: list[dict], timezone: str) -> pd.DataFrame:
    def detail(d: dict) -> str:
        return "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in (d or {}).items()
                         if v not in ("", None))

    return pd.DataFrame([{"at": local_time(e["at"], timezone), "event": e["event"],
                          "detail": cut(detail(e["detail"]), 500)} for e in events],
                        columns=["at", "event", "detail"])


def events_for_role(events: list[dict], message: dict, role: str | None) -> list[dict]:
    """A message's events; when the message is hidden from `role` (one to a customer), the
    values of their details masked: a bounce can quote the address."""
    if not hides_message(message, role):
        return events
    return [{**e, "detail": {k: customer_text(v, role) for k, v in (e["detail"] or {}).items()}}
            for e in events]


def drain_text(result) -> str:
    """A drain's outcome in words."""
    if not (result.sent or result.failed or result.dead or result.interrupted):
        return "Nothing was due: no message sent."
    return f"Outbox: {result.summary()}."


# --------------------------------------------------------------------------- a case

@dataclass(frozen=True)
class FollowUpOptions:
    templates: dict[int, str]
    """Active email templates, id -> label, the suggested ones first."""
    suggested: int | None
    """The template to start with, for the case's status and route."""
    address: str | None
    """The customer's email address (their latest feedback's), or None."""
    messages: pd.DataFrame
    """The case's messages in the outbox, newest first."""


def suggested_purposes(status: str, route: str | None) -> tuple[str, ...]:
    """Purposes that suit a case, best first: a resolved recovery case's apology, a
    resolved improvement's "resolved or shipped", an open case's status update, ..."""
    found = list(SUGGESTED.get(status, ()))
    if route == "recovery" and "recovery apology" in found:
        found.remove("recovery apology")
        found.insert(0, "recovery apology")
    if route == "advocacy":
        found.insert(0, "advocacy thank-you")
    return tuple(dict.fromkeys(found))


def follow_up_options(db: sqlite_utils.Database, case: dict, timezone: str) -> FollowUpOptions:
    purposes = suggested_purposes(case["status"], case.get("route"))
    email = [t for t in list_templates(db, active_only=True) if t.channel == "email"]
    rank = {p: n for n, p in enumerate(purposes)}
    email.sort(key=lambda t: (rank.get(t.purpose, len(rank)), PURPOSES.index(t.purpose),
                              t.language != DEFAULT_LANGUAGE, t.name.casefold()))
    suggested = email[0].id if email else None
    messages = outbox_table(list_outbox(db, case_id=case["id"], limit=50), timezone)
    return FollowUpOptions(templates={t.id: template_label(t) for t in email},
                           suggested=suggested, address=customer_email(db, case["id"]),
                           messages=messages[["message", "status", "kind", "to", "subject",
                                              "reason", "created", "sent"]])


def tell_templates(db: sqlite_utils.Database) -> dict[int, str]:
    """Active email templates for "we changed it", "Resolved or shipped" ones first."""
    email = [t for t in list_templates(db, active_only=True) if t.channel == "email"]
    email.sort(key=lambda t: (t.purpose != "resolved or shipped",
                              t.name != "Resolved or shipped",
                              t.language != DEFAULT_LANGUAGE, t.name.casefold()))
    return {t.id: template_label(t) for t in email}


def tell_text(found: dict) -> str:
    """tell_requesters' {queued, held, skipped, already} in words."""
    return (f"{found['queued']:,} message(s) queued, {found['held']:,} held (contacted "
            f"recently: the Outbox tab of the Templates page lists them with the reason), "
            f"{found['skipped']:,} skipped (no email address, or a placeholder the template "
            f"needs is empty), {found.get('already', 0):,} told before (not queued again).")


def payload_text(body: str) -> str:
    """A webhook body, pretty-printed when it is JSON."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


def theme_options(db: sqlite_utils.Database) -> dict[int, str]:
    """Active themes a template can be written for, id -> name."""
    return dict(db.execute("SELECT id, name FROM themes WHERE status = 'active' "
                           "ORDER BY name COLLATE NOCASE, id").fetchall())


def follow_up_preview(db: sqlite_utils.Database, case_id: int, template_id: int,
                      extra: dict) -> Preview:
    """A follow-up as the customer would read it, gaps shown; or why it cannot render."""
    from analysis.followup.followups import preview_follow_up

    try:
        return Preview(preview_follow_up(db, case_id, template_id, extra=extra), None,
                       "email")
    except TemplateError as exc:
        return Preview(None, str(exc), "email")
