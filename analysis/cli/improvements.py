"""`python -m analysis` commands. Improvements (add, list, status, link, whom, tell) and their
impact."""

from __future__ import annotations

import click

from analysis import store
from analysis.cli.common import (
    actor_option,
    cli,
    db_option,
    emit,
    fail,
    open_db,
    open_db_for_writing,
    parse_now,
)
from analysis.settings import get_settings

STATUS_CHOICE = click.Choice(["proposed", "planned", "in progress", "shipped", "abandoned"])
IMPROVEMENT_FIELDS = ["id", "title", "status", "owner", "locations", "target", "theme_ids",
                      "metric", "effective_date", "rollout_end", "impact", "confidence",
                      "effort", "priority", "evidence", "customers", "updated_at",
                      "updated_by"]


@cli.group()
def improvements():
    """Changes made because of feedback: add them, list them (see `impact` for the test)."""


@improvements.command(name="add")
@db_option
@click.option("--title", required=True)
@click.option("--location", "locations", multiple=True, required=True,
              help="A location the change touches (repeat for several).")
@click.option("--theme", "theme_ids", multiple=True, type=int,
              help="Id of a theme the change targets (repeat for several).")
@click.option("--metric", type=click.Choice(["nps", "csat", "ces", "rating", "negative"]),
              default=None, help="The metric the change targets (instead of, or with, themes).")
@click.option("--effective", required=True, metavar="YYYY-MM-DD",
              help="The first day the change is in place (local date).")
@click.option("--rollout-end", default=None, metavar="YYYY-MM-DD",
              help="The last day of a gradual roll-out; the weeks between are left out.")
@click.option("--description", default="")
@click.option("--owner", default=None)
@click.option("--status", type=STATUS_CHOICE, default="shipped",
              show_default=True)
@actor_option
def improvements_add(db_path, title, locations, theme_ids, metric, effective, rollout_end,
                     description, owner, status, actor):
    """Tag a change; prints the new improvement's id."""
    from analysis.improvements.records import (
        Improvement,
        ImprovementError,
        add_improvement,
        parse_date,
    )

    db = open_db_for_writing(db_path)
    try:
        improvement = Improvement(
            title=title, locations=tuple(locations), theme_ids=tuple(theme_ids), metric=metric,
            effective_date=parse_date(effective, "effective date"),
            rollout_end=parse_date(rollout_end, "end of roll-out") if rollout_end else None,
            description=description, owner=owner, status=status)
        with store.write_transaction(db):
            improvement_id = add_improvement(db, improvement,
                                             actor=actor or get_settings().actor)
    except ImprovementError as exc:
        fail(click.get_current_context(), str(exc))
    click.echo(improvement_id)


@improvements.command(name="list")
@db_option
@click.option("--status", type=STATUS_CHOICE, default=None,
              help="Only improvements with this status (default: all).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def improvements_list(db_path, status, fmt):
    """Every improvement, newest effective date first, with its priority and evidence."""
    from analysis.improvements.records import list_improvements

    rows = list_improvements(open_db(db_path), status=status)
    if fmt == "csv":
        rows = [{**row, "locations": "; ".join(row["locations"]),
                 "theme_ids": "; ".join(map(str, row["theme_ids"]))} for row in rows]
        emit(rows, IMPROVEMENT_FIELDS, fmt)
        return
    emit(rows, IMPROVEMENT_FIELDS, fmt)


WHOM_FIELDS = ["customer_key", "customer_name", "customer_email", "linked_feedback",
               "last_feedback", "location", "message"]


@improvements.command(name="status")
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--status", required=True, type=STATUS_CHOICE)
@actor_option
def improvements_status(db_path, improvement_id, status, actor):
    """Move an improvement along (kept in its history); prints 'changed' or 'unchanged'."""
    from analysis.improvements.records import ImprovementError, set_status

    db = open_db_for_writing(db_path)
    try:
        with store.write_transaction(db):
            changed = set_status(db, improvement_id, status, actor=actor or get_settings().actor)
    except ImprovementError as exc:
        fail(click.get_current_context(), str(exc))
    click.echo("changed" if changed else "unchanged")


@improvements.command(name="link")
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--theme", "theme_id", type=int, default=None,
              help="Link the feedback of this theme (and its children).")
@click.option("--search", "words", default=None,
              help="Link the feedback whose comment holds these words (full-text search).")
@click.option("--location", "locations", multiple=True,
              help="Only feedback from this location (repeat; default: the improvement's).")
@click.option("--any-sentiment", is_flag=True,
              help="With --theme: every mention, not only the negative ones.")
@actor_option
def improvements_link(db_path, improvement_id, theme_id, words, locations, any_sentiment,
                      actor):
    """Link the feedback that asked for the change; prints how many were newly linked."""
    from analysis.improvements.records import (
        ImprovementError,
        feedback_for_search,
        feedback_for_theme,
        get_improvement,
        link_evidence,
    )

    ctx = click.get_current_context()
    if (theme_id is None) == (words is None):
        fail(ctx, "give exactly one of --theme ID or --search WORDS")
    db = open_db_for_writing(db_path)
    try:
        places = list(locations) or list(get_improvement(db, improvement_id).locations)
        if theme_id is not None:
            if db.execute("SELECT 1 FROM themes WHERE id = ?", [theme_id]).fetchone() is None:
                raise ImprovementError(f"theme: there is no theme {theme_id}")
            ids, via = feedback_for_theme(db, theme_id, places,
                                          negative_only=not any_sentiment), f"theme {theme_id}"
        else:
            ids, via = feedback_for_search(db, words, places), f"search {words.strip()[:60]!r}"
        with store.write_transaction(db):
            added = link_evidence(db, improvement_id, ids, via=via,
                                  actor=actor or get_settings().actor)
    except ImprovementError as exc:
        fail(ctx, str(exc))
    click.echo(added)


@improvements.command(name="whom")
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def improvements_whom(db_path, improvement_id, fmt):
    """Whom to tell: one row per customer whose linked feedback asked for the change, with
    the draft message ("We changed X, based on N requests like yours.")."""
    from analysis.improvements.records import ImprovementError, whom_to_tell

    try:
        rows = whom_to_tell(open_db(db_path), improvement_id)
    except ImprovementError as exc:
        fail(click.get_current_context(), str(exc))
    emit(rows, WHOM_FIELDS, fmt)


@improvements.command(name="tell")
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--template", "template_name", default="Resolved or shipped", show_default=True,
              help="The email template to write with (its `count` is the requests).")
@actor_option
def improvements_tell(db_path, improvement_id, template_name, actor):
    """Tell the customers who asked for a shipped change (through the outbox): prints how
    many messages were queued, held by the contact-frequency rule, and skipped."""
    import json

    from analysis.followup.followups import tell_requesters
    from analysis.followup.templates import TemplateError, find_template
    from analysis.improvements.records import ImprovementError

    ctx = click.get_current_context()
    db = open_db_for_writing(db_path)
    template = find_template(db, template_name)
    if template is None:
        fail(ctx, f"template: there is no template {template_name!r} (see `templates list`)")
    try:
        with store.write_transaction(db):
            found = tell_requesters(db, improvement_id, template.id,
                                    actor=actor or get_settings().actor)
    except (TemplateError, ImprovementError) as exc:
        fail(ctx, str(exc))
    click.echo(json.dumps(found))


@cli.command()
@db_option
@click.option("--id", "improvement_id", required=True, type=int)
@click.option("--window-weeks", type=click.IntRange(min=2, max=52), default=8,
              show_default=True, help="Complete weeks compared on each side of the change.")
@click.option("--comparison", multiple=True,
              help="A comparison location (repeat; default: every untouched location).")
@click.option("--now", "now_text", default=None, metavar="ISO-8601",
              help="Measure as if it were this moment (default: the clock).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True, help="csv: one row per method.")
def impact(db_path, improvement_id, window_weeks, comparison, now_text, fmt):
    """Did the change work? The headline (randomization inference) with effect, interval
    and p-value, every method's figures, n before and after, the smallest detectable effect
    and the warnings, as one JSON object."""
    import json

    from analysis.improvements.records import ImprovementError
    from analysis.improvements.report import impact_report

    now = parse_now(now_text)
    db = open_db(db_path)
    try:
        report = impact_report(db, improvement_id, window_weeks=window_weeks,
                               comparison=list(comparison) or None, now=now)
    except ImprovementError as exc:
        fail(click.get_current_context(), str(exc))
    found = report.as_dict()
    if fmt == "csv":
        fields = ["method", "label", "test", "effect", "ci_low", "ci_high", "p_value", "n_pre",
                  "n_post", "assumptions", "note"]
        emit(found["methods"], fields, fmt)
        return
    click.echo(json.dumps(found, indent=2, default=float))
