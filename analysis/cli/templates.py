"""`python -m analysis` commands. Follow-up templates: preview, list, seed."""

from __future__ import annotations

import click

from analysis import store
from analysis.cli.common import (
    actor_option,
    cli,
    db_option,
    emit,
    one_line,
    open_db,
    open_db_for_writing,
)
from analysis.settings import get_settings


@cli.group()
def templates():
    """Follow-up templates: preview one against a case, list them, add the starter set."""


@templates.command(name="preview")
@db_option
@click.option("--name", default=None, help="A stored template's name.")
@click.option("--text", default=None, help="A template body to try (email unless --channel).")
@click.option("--subject", default="Preview", show_default=True,
              help="With --text: the subject to try.")
@click.option("--channel", type=click.Choice(["email", "sms", "webhook"]), default="email",
              show_default=True, help="With --text: the channel it is written for.")
@click.option("--language", default="en", show_default=True,
              help="With --name: the language variant (falls back to en).")
@click.option("--case", "case_id", type=int, default=None,
              help="Render against this case (default: a sample case).")
def templates_preview(db_path, name, text, subject, channel, language, case_id):
    """Print the message as it would be sent; a refused, invalid or unfilled template is an
    error on standard error with exit code 2."""
    from analysis.followup.templates import (
        Template,
        TemplateError,
        context_for_case,
        find_template,
        render_for_sending,
        sample_context,
    )

    ctx = click.get_current_context()
    if (name is None) == (text is None):
        click.echo("error: give exactly one of --name NAME or --text TEXT", err=True)
        ctx.exit(2)
    db = open_db(db_path)
    try:
        if name is not None:
            template = find_template(db, name, language)
            if template is None:
                raise TemplateError(f"name: there is no template {name!r}")
        else:
            template = Template(name="preview", purpose="status update", channel=channel,
                                subject=subject, body=text)
            template.check()
        context = context_for_case(db, case_id) if case_id is not None else sample_context()
        rendering = render_for_sending(template, context)
    except TemplateError as exc:
        click.echo(f"error: {one_line(str(exc))}", err=True)
        ctx.exit(2)
    if rendering.subject:
        click.echo(f"Subject: {rendering.subject}\n")
    click.echo(rendering.body)
    if rendering.segments is not None:
        click.echo(f"\n({rendering.characters} characters, {rendering.encoding}, "
                   f"{rendering.segments} SMS segment(s))", err=True)


@templates.command(name="list")
@db_option
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
def templates_list(db_path, fmt):
    """Every template with its purpose, channel, language and version."""
    from analysis.followup.templates import list_templates

    fields = ["id", "name", "purpose", "channel", "language", "theme_id", "version",
              "active", "updated_at", "updated_by", "subject"]
    rows = [{k: getattr(t, k) for k in fields} for t in list_templates(open_db(db_path))]
    emit(rows, fields, fmt)


@templates.command(name="seed")
@db_option
@actor_option
def templates_seed(db_path, actor):
    """Add the starter template of each purpose that is missing; prints how many."""
    from analysis.followup.templates import seed_templates

    db = open_db_for_writing(db_path)
    with store.write_transaction(db):
        added = seed_templates(db, actor=actor or get_settings().actor)
    click.echo(len(added))
