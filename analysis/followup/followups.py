"""Writing to a customer about their case: render a template against the case, refuse an
unfilled placeholder, and queue the message; and the review requests the sweep schedules for
happy customers a few days after their score.

    preview = preview_follow_up(db, case_id, template_id, extra={"eta": "Friday"})
    message_id = write_follow_up(db, case_id, template_id, actor="mia@example.org")
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

import sqlite_utils

from analysis.app_settings import read_app_setting, write_app_setting
from analysis.cases.records import event, get_case, may_contact
from analysis.followup.outbox import queue_message
from analysis.followup.templates import (
    Rendering,
    TemplateError,
    context_for_case,
    get_template,
    list_templates,
    render,
    render_for_sending,
)
from analysis.store.clock import from_iso, to_iso, utcnow

SETTINGS_KEY = "follow-up settings"


@dataclass(frozen=True)
class FollowUpSettings:
    review_link: str = ""
    """Where happy customers are asked to leave a review; no review requests without it."""
    review_delay_days: int = 3
    """Days after the good score that the review request goes out (3-5)."""
    review_template: str = ""
    """Name of the template to use (default: the first active advocacy thank-you)."""
    report_recipients: tuple[str, ...] = ()
    """Who gets the weekly report and the digest of new alerts by email."""

    def check(self) -> FollowUpSettings:
        for address in self.report_recipients:
            if not isinstance(address, str) or "@" not in address or " " in address.strip():
                raise TemplateError(f"report recipients: {str(address)[:60]!r} is not an "
                                    f"email address")
        if self.review_link and not self.review_link.startswith(("https://", "http://")):
            raise TemplateError(f"review link: must be a web address, got "
                                f"{self.review_link[:60]!r}")
        if isinstance(self.review_delay_days, bool) or self.review_delay_days not in (3, 4, 5):
            raise TemplateError(f"review delay: 3, 4 or 5 days, got {self.review_delay_days!r}")
        return self


def follow_up_settings(db: sqlite_utils.Database) -> FollowUpSettings:
    saved = read_app_setting(db, SETTINGS_KEY, {}) or {}
    known = {k: v for k, v in saved.items() if k in FollowUpSettings.__dataclass_fields__}
    if "report_recipients" in known:
        known["report_recipients"] = tuple(known["report_recipients"])
    return FollowUpSettings(**known)


def save_follow_up_settings(db: sqlite_utils.Database, settings: FollowUpSettings, *,
                            actor: str, now: datetime | None = None) -> None:
    settings = replace(settings, report_recipients=tuple(
        a.strip() for a in settings.report_recipients if isinstance(a, str) and a.strip())
        if all(isinstance(a, str) for a in settings.report_recipients)
        else settings.report_recipients)
    values = asdict(settings.check()) | {"report_recipients": list(settings.report_recipients)}
    write_app_setting(db, SETTINGS_KEY, values, actor=actor, now=now)


def customer_email(db: sqlite_utils.Database, case_id: int) -> str | None:
    row = db.execute(
        """SELECT f.customer_email FROM case_feedback cf JOIN feedback f ON f.id = cf.feedback_id
           WHERE cf.case_id = ? AND f.customer_email IS NOT NULL AND f.customer_email != ''
           ORDER BY f.received_at DESC LIMIT 1""", [case_id]).fetchone()
    return row[0] if row else None


def preview_follow_up(db: sqlite_utils.Database, case_id: int, template_id: int, *,
                      extra: dict | None = None) -> Rendering:
    """The message as it would read, gaps shown ("[eta missing]")."""
    return render(get_template(db, template_id), context_for_case(db, case_id, extra=extra))


def write_follow_up(db: sqlite_utils.Database, case_id: int, template_id: int, *,
                    actor: str, extra: dict | None = None, now: datetime | None = None,
                    send_after: datetime | None = None) -> int:
    """Queue the rendered message to the case's customer (inside the caller's transaction);
    returns the outbox id. The same message for the same case twice is one message.
    TemplateError when a placeholder would be empty or the customer has no address."""
    now = now or utcnow()
    case = get_case(db, case_id)
    template = get_template(db, template_id)
    if template.channel != "email":
        raise TemplateError(f"channel: follow-ups to customers go by email; template "
                            f"{template.name!r} is for {template.channel}")
    address = customer_email(db, case_id)
    if not address:
        raise TemplateError("recipient: the customer left no email address on this case")
    rendering = render_for_sending(template, context_for_case(db, case_id, extra=extra))
    digest = hashlib.sha256(f"{rendering.subject}\n{rendering.body}".encode()).hexdigest()[:16]
    message_id, new = queue_message(
        db, kind="follow-up", channel="email", recipient=address, subject=rendering.subject,
        body=rendering.body, key=f"case-{case_id}-follow-up-{digest}", case_id=case_id,
        customer_key=case["customer_key"], template_id=template.id,
        template_version=template.version, send_after=send_after, actor=actor, now=now)
    if new:
        event(db, case_id, "follow-up queued", actor=actor, at=to_iso(now),
              detail={"message": message_id, "template": template.name,
                      "version": template.version, "subject": rendering.subject})
    return message_id


def schedule_review_requests(db: sqlite_utils.Database, *, now: datetime,
                             actor: str) -> int:
    """For each thank-you task without one: a review request, `review_delay_days` after the
    good score, held (with the reason) when the customer was contacted too recently. None
    without a review link, a template or an email address."""
    settings = follow_up_settings(db)
    if not settings.review_link:
        return 0
    templates = [t for t in list_templates(db, purpose="advocacy thank-you", active_only=True)
                 if t.channel == "email"
                 and (not settings.review_template or t.name == settings.review_template)]
    if not templates:
        return 0
    template = templates[0]
    rows = db.execute(
        """SELECT c.id, c.customer_key, MAX(f.received_at) FROM cases c
           JOIN case_feedback cf ON cf.case_id = c.id JOIN feedback f ON f.id = cf.feedback_id
           WHERE c.type = 'thank you' AND c.status != 'merged'
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = c.id
                             AND o.kind = 'review request')
           GROUP BY c.id""").fetchall()
    queued = 0
    for case_id, customer_key, received in rows:
        address = customer_email(db, case_id)
        if not address:
            continue
        try:
            rendering = render_for_sending(template, context_for_case(
                db, case_id, extra={"link": settings.review_link}))
        except TemplateError:
            continue   # e.g. no name and no fallback: leave it to a person
        allowed, why = may_contact(db, customer_key, now=now) if customer_key \
            else (True, "")
        queue_message(db, kind="review request", channel="email", recipient=address,
                      subject=rendering.subject, body=rendering.body,
                      key=f"case-{case_id}-review-request", case_id=case_id,
                      customer_key=customer_key, template_id=template.id,
                      template_version=template.version,
                      send_after=from_iso(received) + timedelta(days=settings.review_delay_days),
                      hold_reason=None if allowed else f"held by the contact-frequency rule: "
                                                       f"{why}", actor=actor, now=now)
        queued += 1
    return queued


def tell_requesters(db: sqlite_utils.Database, improvement_id: int, template_id: int, *,
                    actor: str, now: datetime | None = None) -> dict:
    """"We changed X, based on N requests": one message per customer whose linked feedback
    asked for a shipped improvement (analysis/improvements `whom_to_tell`), held with the
    reason when the contact-frequency rule says so. Returns {queued, held, skipped, already}:
    the skipped have no email or leave a placeholder empty; already: told before (one
    message per customer and improvement, however often this runs). Inside a transaction."""
    from analysis.improvements.records import (
        describe_target,
        evidence_counts,
        get_improvement,
        theme_names,
        whom_to_tell,
    )

    now = now or utcnow()
    improvement = get_improvement(db, improvement_id)
    if improvement.status != "shipped":
        raise TemplateError(f"improvement: tell the customers once it has shipped (it is "
                            f"{improvement.status})")
    template = get_template(db, template_id)
    if template.channel != "email":
        raise TemplateError(f"channel: template {template.name!r} is for {template.channel}")
    count = evidence_counts(db, improvement_id)["evidence"]
    names = theme_names(db, improvement.theme_ids)
    theme = ", ".join(names.values()) or describe_target(improvement, names)
    found = {"queued": 0, "held": 0, "skipped": 0, "already": 0}
    for person in whom_to_tell(db, improvement_id):
        if not person["customer_email"]:
            found["skipped"] += 1
            continue
        context = {"customer_name": person["customer_name"], "count": count, "theme": theme,
                   "location": person["location"], "status": "shipped",
                   "issue": None, "owner": None, "eta": None,
                   "workaround": improvement.title,
                   "link": None, "case_id": None, "case": {}, "feedback": {}}
        try:
            rendering = render_for_sending(template, context)
        except TemplateError:
            found["skipped"] += 1
            continue
        allowed, why = may_contact(db, person["customer_key"], now=now)
        _, new = queue_message(db, kind="improvement shipped", channel="email",
                      recipient=person["customer_email"], subject=rendering.subject,
                      body=rendering.body, customer_key=person["customer_key"],
                      key=f"improvement-{improvement_id}-tell-{person['customer_key']}",
                      template_id=template.id, template_version=template.version,
                      hold_reason=None if allowed else
                      f"held by the contact-frequency rule: {why}", actor=actor, now=now)
        found["already" if not new else "queued" if allowed else "held"] += 1
    return found


DIGEST_WATERMARK_KEY = "alert digest watermark"


def queue_alert_digest(db: sqlite_utils.Database, *, now: datetime, actor: str) -> int:
    """One email per report recipient listing the spike alerts opened since the last digest
    (at most one digest a day); returns how many were queued. Inside a transaction."""
    from html import escape

    from analysis.trends.alerts import describe_alert, list_alerts

    recipients = follow_up_settings(db).report_recipients
    if not recipients:
        return 0
    last = read_app_setting(db, DIGEST_WATERMARK_KEY) or {}
    if last.get("sent_at") and now - from_iso(last["sent_at"]) < timedelta(days=1):
        return 0
    seen = int(last.get("alert_id") or 0)
    new = [a for a in list_alerts(db, status="all") if a["id"] > seen]
    if not new:
        return 0
    new.sort(key=lambda a: a["id"])
    day = to_iso(now)[:10]
    items = "".join(f"<li>{escape(describe_alert(a))}</li>" for a in new[:50])
    more = f"<p>And {len(new) - 50} more on the Trends page.</p>" if len(new) > 50 else ""
    body = (f"<p>{len(new)} new spike alert{'s' if len(new) != 1 else ''} since the last "
            f"digest:</p><ul>{items}</ul>{more}<p>This digest is sent automatically by "
            f"Closeloop.</p>")
    for address in recipients:
        queue_message(db, kind="alert digest", channel="email", recipient=address,
                      subject=f"Closeloop: {len(new)} new spike alert(s), {day}", body=body,
                      key=f"alert-digest-{day}-{address}", actor=actor, now=now)
    write_app_setting(db, DIGEST_WATERMARK_KEY,
                      {"alert_id": new[-1]["id"], "sent_at": to_iso(now)}, actor=actor,
                      now=now)
    return len(recipients)


def queue_weekly_report(db: sqlite_utils.Database, *, now: datetime, actor: str) -> int:
    """The last complete week's report, once, to each report recipient (the HTML file as
    the email's body); returns how many messages were queued. Inside a transaction."""
    from analysis.reports.weekly import default_week, render_html, week_label, weekly_report
    from analysis.settings import get_settings

    recipients = follow_up_settings(db).report_recipients
    if not recipients:
        return 0
    label = week_label(default_week(now, get_settings().timezone))
    keys = {address: f"weekly-report-{label}-{address}" for address in recipients}
    waiting = [a for a, key in keys.items() if db.execute(
        "SELECT 1 FROM outbox WHERE idempotency_key = ?", [key]).fetchone() is None]
    if not waiting:
        return 0
    if not db.execute("SELECT 1 FROM feedback LIMIT 1").fetchone():
        return 0   # nothing to report on yet
    body = render_html(weekly_report(db, week=label, now=now))
    for address in waiting:
        queue_message(db, kind="weekly report", channel="email", recipient=address,
                      subject=f"Closeloop weekly report, {label}", body=body,
                      key=keys[address], actor=actor, now=now)
    return len(waiting)
