"""What every command shares: the `cli` group (where expected failures become one `error:`
line and exit code 1), opening the store, the --db and --actor options, and JSON/CSV
output. The commands live in the modules beside this one, one per job."""

from __future__ import annotations

import sqlite3

import click

from analysis import store
from analysis.ingest.errors import ImportFileError
from analysis.messages import clip, excerpt
from analysis.settings import SettingsError, get_settings, prepare_offline_environment

_DB_PATH_KEY = "closeloop.db_path"


class _Cli(click.Group):
    """The one place where expected failures become `error: <one line>` and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (store.StoreError, ImportFileError) as exc:
            fail(ctx, str(exc))
        except sqlite3.Error as exc:
            # Writes outside write_transaction (job heartbeats, one-statement updates) and
            # reads meet the same read-only, full or busy store.
            error = store.store_error(exc, ctx.meta.get(_DB_PATH_KEY))
            if error is None:
                raise
            fail(ctx, str(error))
        except OSError as exc:
            fail(ctx, _os_error_message(exc))
        except SettingsError as exc:
            fail(ctx, str(exc))


def fail(ctx: click.Context, message: str) -> None:
    click.echo(f"error: {one_line(message)}", err=True)
    ctx.exit(1)


def one_line(message: str) -> str:
    # A scheduler's log keeps one line per failure; a library's message may span several.
    return clip(" ".join(message.splitlines()))


def _os_error_message(exc: OSError) -> str:
    if exc.filename is None:
        return str(exc)
    return f"{exc.strerror or exc}: {excerpt(str(exc.filename), 200, noun='path')}"


def open_db(db_path: str | None, *, migrate: bool = True):
    """The store, for reading; `store.ensure_writable` before a command writes."""
    click.get_current_context().meta[_DB_PATH_KEY] = db_path or get_settings().db_path
    return store.connect(db_path, migrate=migrate)


def open_db_for_writing(db_path: str | None, *, migrate: bool = True):
    db = open_db(db_path, migrate=migrate)
    store.ensure_writable(db)
    return db


db_option = click.option(
    # No dir_okay=False: click would print its usage text; store.connect says it in one line.
    "--db", "db_path", type=click.Path(), default=None,
    help="SQLite file (default: $CLOSELOOP_DB or data/closeloop.db).",
)
actor_option = click.option(
    "--actor", default=None, help="Who is acting, recorded with every write (default: $CLOSELOOP_ACTOR or 'system').",
)


@click.group(cls=_Cli)
def cli():
    """Closeloop: turn customer feedback into themes, trends and owned actions."""
    prepare_offline_environment()




def parse_now(value: str | None):
    """--now as an aware UTC datetime (ISO 8601; a naive value is UTC)."""
    from datetime import datetime, timezone

    if value is None:
        return store.utcnow()
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected an ISO 8601 date and time such as "
                                 f"2026-03-02T09:00:00Z, got {value[:40]!r}",
                                 param_hint="--now") from None
    return moment.replace(tzinfo=moment.tzinfo or timezone.utc).astimezone(timezone.utc)


def emit(rows: list[dict], fields: list[str], fmt: str) -> None:
    """Rows as a JSON array, or CSV (spreadsheet-safe) with `fields` as its columns."""
    if fmt == "json":
        import json

        click.echo(json.dumps(rows, indent=2, default=float))
        return
    import pandas as pd

    from analysis.reports.csv_safety import safe_frame

    frame = pd.DataFrame(rows, columns=fields)
    for column in ("n", "rank", "mentions", "theme_id"):  # whole numbers, blank when none
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    frame = safe_frame(frame)
    click.echo(frame.to_csv(index=False, lineterminator="\n"), nl=False)
