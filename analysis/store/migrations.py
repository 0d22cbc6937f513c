"""Schema of the Closeloop store, as sqlite-utils migrations applied in order.

Never edit a migration that has shipped: add a new one. The pending ones run together in
one BEGIN IMMEDIATE transaction (each in a savepoint), so a failed upgrade leaves the
previous schema intact; a migration uses literals, never settings or live code, so that it
does the same on every store.

Design rules the later capabilities rely on (see ROADMAP):
- every row that a person or job writes records `actor` and a UTC time;
- history is kept: theme changes are rows in `theme_events`, not overwrites;
- themes have stable ids (`themes.id`) that survive refits; `theme_assignments` is what
  pages join on, so no page needs a loaded model;
- feedback keeps a `customer_key` (customer id, or normalised email) to link a customer's
  responses.
"""

from __future__ import annotations

import json

from sqlite_utils.migrations import Migrations

closeloop = Migrations("closeloop")


def _run(db, statements: list[str]) -> None:
    # Not executescript(): it COMMITs first, which would break the migration's transaction.
    for statement in statements:
        db.execute(statement)


@closeloop()
def m001_foundation(db):
    _run(db, [
        """CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        """INSERT INTO store_meta (key, value) VALUES ('revision', '0')""",
        """CREATE TABLE import_batches (
            id INTEGER PRIMARY KEY,
            file_name TEXT NOT NULL,
            source TEXT NOT NULL,
            file_sha256 TEXT,
            mapping TEXT NOT NULL DEFAULT '{}',   -- JSON: field -> column used
            score_type TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            rows_read INTEGER NOT NULL DEFAULT 0,
            imported INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            actor TEXT NOT NULL
        )""",
        """CREATE TABLE import_rejects (
            id INTEGER PRIMARY KEY,
            batch_id INTEGER NOT NULL REFERENCES import_batches(id) ON DELETE CASCADE,
            row_number INTEGER NOT NULL,           -- 1-based data row in the file (header excluded)
            field TEXT,                            -- the field at fault, when there is one
            reason TEXT NOT NULL,
            raw TEXT NOT NULL                      -- the row exactly as read, JSON
        )""",
        """CREATE INDEX idx_import_rejects_batch ON import_rejects(batch_id, row_number)""",
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            external_id TEXT,
            source TEXT NOT NULL,
            received_at TEXT NOT NULL,             -- UTC, YYYY-MM-DDTHH:MM:SSZ
            location TEXT,
            segment TEXT,
            channel TEXT,
            touchpoint TEXT,
            customer_id TEXT,
            customer_name TEXT,
            customer_email TEXT,
            customer_key TEXT,                     -- customer_id, else lower-cased email
            score_type TEXT CHECK (score_type IN ('nps', 'csat', 'ces', 'rating')),
            score REAL,
            comment TEXT,
            import_batch INTEGER REFERENCES import_batches(id),
            dedup_key TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            CHECK (score IS NULL OR score_type IS NOT NULL),
            CHECK (
                score IS NULL
                OR (score_type = 'nps' AND score BETWEEN 0 AND 10)
                OR (score_type = 'csat' AND score BETWEEN 1 AND 5)
                OR (score_type = 'ces' AND score BETWEEN 1 AND 7)
                OR (score_type = 'rating' AND score BETWEEN 1 AND 5)
            )
        )""",
        """CREATE INDEX idx_feedback_received ON feedback(received_at)""",
        """CREATE INDEX idx_feedback_location ON feedback(location, received_at)""",
        """CREATE INDEX idx_feedback_customer ON feedback(customer_key, received_at)""",
        """CREATE INDEX idx_feedback_batch ON feedback(import_batch)""",
        """CREATE INDEX idx_feedback_score ON feedback(score_type, received_at, score)""",
    ])
    # Full-text search on comments, kept current by triggers (sqlite-utils' FTS5 recipe).
    db["feedback"].enable_fts(["comment"], fts_version="FTS5", create_triggers=True,
                              tokenize="porter")


@closeloop()
def m002_sentiment_and_themes(db):
    _run(db, [
        """CREATE TABLE sentiment (
            feedback_id INTEGER PRIMARY KEY REFERENCES feedback(id) ON DELETE CASCADE,
            label TEXT NOT NULL CHECK (label IN ('negative', 'neutral', 'positive')),
            score REAL NOT NULL CHECK (score BETWEEN -1 AND 1),
            confidence REAL NOT NULL CHECK (confidence BETWEEN 0 AND 1),
            method TEXT NOT NULL,                  -- e.g. vader, prototype, classifier, fused
            scored_at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_sentiment_label ON sentiment(label)""",
        # One row per sentiment scoring run: which method won and how well it did, so the
        # app can show the classifier's cross-validated accuracy next to its labels.
        """CREATE TABLE sentiment_runs (
            id INTEGER PRIMARY KEY,
            method TEXT NOT NULL,
            n_scored INTEGER NOT NULL,
            n_training INTEGER NOT NULL DEFAULT 0,
            cv_accuracy REAL,
            cv_macro_f1 REAL,
            details TEXT NOT NULL DEFAULT '{}',    -- JSON
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        )""",
        # Keyed by text, not feedback id: identical comments share one vector, and a
        # re-import or a new model version never recomputes what is already known.
        """CREATE TABLE embeddings (
            model TEXT NOT NULL,
            text_sha1 TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,                  -- float32, little-endian
            PRIMARY KEY (model, text_sha1)
        )""",
        """CREATE TABLE theme_models (
            id INTEGER PRIMARY KEY,
            version TEXT NOT NULL UNIQUE,
            path TEXT NOT NULL,                    -- folder holding the saved model
            params TEXT NOT NULL,                  -- JSON
            n_documents INTEGER NOT NULL,
            n_themes INTEGER NOT NULL,
            is_active INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL
        )""",
        """CREATE TABLE themes (
            id INTEGER PRIMARY KEY,                -- stable across refits
            name TEXT NOT NULL,
            auto_name TEXT,                        -- the model's own label, kept for reference
            keywords TEXT NOT NULL DEFAULT '[]',   -- JSON list
            is_seed INTEGER NOT NULL DEFAULT 0,    -- analyst-defined (seed taxonomy)
            seed_terms TEXT NOT NULL DEFAULT '[]', -- JSON list of words/phrases guiding the model
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'merged', 'retired')),
            merged_into INTEGER REFERENCES themes(id),
            name_locked INTEGER NOT NULL DEFAULT 0,-- renamed by an analyst: refits keep the name
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE theme_events (
            id INTEGER PRIMARY KEY,
            theme_id INTEGER NOT NULL REFERENCES themes(id),
            event TEXT NOT NULL,                   -- created, renamed, merged, retired, seeded, ...
            detail TEXT NOT NULL DEFAULT '{}',     -- JSON
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_theme_events_theme ON theme_events(theme_id, at)""",
        # Which model topic became which stable theme, per model version.
        """CREATE TABLE model_topics (
            model_id INTEGER NOT NULL REFERENCES theme_models(id) ON DELETE CASCADE,
            topic INTEGER NOT NULL,
            theme_id INTEGER NOT NULL REFERENCES themes(id),
            PRIMARY KEY (model_id, topic)
        )""",
        """CREATE TABLE theme_assignments (
            feedback_id INTEGER NOT NULL REFERENCES feedback(id) ON DELETE CASCADE,
            theme_id INTEGER NOT NULL REFERENCES themes(id),
            probability REAL NOT NULL,
            is_primary INTEGER NOT NULL DEFAULT 0,
            origin TEXT NOT NULL,                  -- fit, transform, outlier_reduction, analyst
            model_id INTEGER REFERENCES theme_models(id),
            assigned_at TEXT NOT NULL,
            PRIMARY KEY (feedback_id, theme_id)
        )""",
        """CREATE INDEX idx_theme_assignments_theme ON theme_assignments(theme_id, is_primary)""",
        # Analyst corrections outlive refits: they are re-applied after every assignment.
        """CREATE TABLE theme_corrections (
            id INTEGER PRIMARY KEY,
            feedback_id INTEGER NOT NULL REFERENCES feedback(id) ON DELETE CASCADE,
            wrong_theme_id INTEGER REFERENCES themes(id),
            right_theme_id INTEGER REFERENCES themes(id),   -- NULL: the comment has no theme
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_theme_corrections_feedback ON theme_corrections(feedback_id, at)""",
        # Theme audits: an analyst confirmed (or corrected) the automatic theme of a comment.
        """CREATE TABLE theme_audits (
            id INTEGER PRIMARY KEY,
            feedback_id INTEGER NOT NULL REFERENCES feedback(id) ON DELETE CASCADE,
            theme_id INTEGER REFERENCES themes(id),
            was_correct INTEGER NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE TABLE near_duplicates (
            feedback_id INTEGER PRIMARY KEY REFERENCES feedback(id) ON DELETE CASCADE,
            canonical_id INTEGER NOT NULL REFERENCES feedback(id) ON DELETE CASCADE,
            similarity REAL NOT NULL
        )""",
        """CREATE INDEX idx_near_duplicates_canonical ON near_duplicates(canonical_id)""",
        """CREATE TABLE comment_map (
            feedback_id INTEGER PRIMARY KEY REFERENCES feedback(id) ON DELETE CASCADE,
            model_id INTEGER NOT NULL REFERENCES theme_models(id) ON DELETE CASCADE,
            x REAL NOT NULL,
            y REAL NOT NULL
        )""",
        # Long jobs (refit, embedding) report progress here so any page or process can show it.
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
            progress REAL NOT NULL DEFAULT 0,
            message TEXT NOT NULL DEFAULT '',
            started_at TEXT NOT NULL,
            finished_at TEXT,
            actor TEXT NOT NULL
        )""",
    ])


@closeloop()
def m003_theme_centroids_and_coverage(db):
    _run(db, [
        # Each theme's centroid in embedding space from the last model that produced it: a
        # refit matches its new topics against these to keep theme ids stable. Merged themes
        # keep their centroid, so a later topic that matches a merged source lands on its
        # target.
        """CREATE TABLE theme_centroids (
            theme_id INTEGER PRIMARY KEY REFERENCES themes(id),
            model_id INTEGER NOT NULL REFERENCES theme_models(id),
            embedder TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,                  -- float32, little-endian
            updated_at TEXT NOT NULL
        )""",
        # Which comments a model has already looked at, themed or not: an unthemed comment has
        # no assignment row, and without this every refresh would try it again.
        """CREATE TABLE theme_coverage (
            feedback_id INTEGER PRIMARY KEY REFERENCES feedback(id) ON DELETE CASCADE,
            model_id INTEGER NOT NULL REFERENCES theme_models(id) ON DELETE CASCADE,
            considered_at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_theme_coverage_model ON theme_coverage(model_id)""",
        """CREATE INDEX idx_jobs_kind ON jobs(kind, started_at)""",
    ])


@closeloop()
def m004_job_heartbeats(db):
    _run(db, [
        # A running job stamps heartbeat_at on every progress tick and from a small thread
        # during long steps; a 'running' row whose heartbeat stops is a job whose process
        # died (kill -9, restart), and readers mark it failed instead of trusting it forever.
        """ALTER TABLE jobs ADD COLUMN heartbeat_at TEXT""",
        # Which process runs it: pid and host for people; pid_scope (boot id and pid
        # namespace) says whether a pid can be checked from here, so a job whose process is
        # gone on this machine is noticed at once instead of after the stale threshold.
        """ALTER TABLE jobs ADD COLUMN pid INTEGER""",
        """ALTER TABLE jobs ADD COLUMN host TEXT""",
        """ALTER TABLE jobs ADD COLUMN pid_scope TEXT""",
        # Who ended the job: its own actor when it finished, or whoever noticed it had died.
        """ALTER TABLE jobs ADD COLUMN finished_by TEXT""",
        """UPDATE jobs SET heartbeat_at = COALESCE(finished_at, started_at)""",
        """CREATE INDEX idx_jobs_running ON jobs(kind, status)""",
    ])


@closeloop()
def m005_reject_implausible_stored_rows(db):
    # Before the importer checked dates, a row dated 9999-12-31T23:00-05:00 was stored as
    # year 10000 and broke every page. Rows whose date is no real moment move to the
    # rejects with their reason and the whole row, in a batch of their own. Frozen on
    # purpose: literals only, no settings, no clock, no live code, so that this migration
    # does the same on every store whatever later versions change. Policy checks (the
    # earliest plausible date, score steps) are `python -m analysis check`'s, on request.
    broken = "NOT (COALESCE(strftime('%Y-%m-%dT%H:%M:%SZ', julianday(received_at)) " \
             "= received_at, 0) AND received_at >= '0001')"
    cursor = db.execute(f"SELECT * FROM feedback WHERE {broken} ORDER BY id")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r)) for r in cursor.fetchall()]
    if not rows:
        return
    at = db.execute("SELECT strftime('%Y-%m-%dT%H:%M:%SZ', 'now')").fetchone()[0]
    batch_id = db.execute(
        "INSERT INTO import_batches (file_name, source, mapping, started_at, finished_at, "
        "rows_read, rejected, actor) VALUES ('(rows already stored)', 'store check', '{}', "
        "?, ?, ?, ?, 'migration m005')", [at, at, len(rows), len(rows)]).lastrowid
    db.conn.executemany(
        "INSERT INTO import_rejects (batch_id, row_number, field, reason, raw) "
        "VALUES (?, ?, 'received_at', ?, ?)",
        [(batch_id, number, f"the stored date {str(row['received_at'])[:60]!r} is not a real "
          "UTC date and time (found in the store by migration m005)",
          json.dumps(row, ensure_ascii=False, default=str))
         for number, row in enumerate(rows, start=1)])
    db.conn.executemany("DELETE FROM feedback WHERE id = ?", [(row["id"],) for row in rows])


@closeloop()
def m006_parent_themes(db):
    _run(db, [
        # Two levels of theme in one table, so that renames, merges, events and centroids
        # work alike for both: a parent is a theme row with is_parent = 1, and every child
        # names its parent. Assignments stay on children only; a parent's comments are its
        # children's (the view below), so a page at either level is one join.
        """ALTER TABLE themes ADD COLUMN is_parent INTEGER NOT NULL DEFAULT 0""",
        """ALTER TABLE themes ADD COLUMN parent_id INTEGER REFERENCES themes(id)""",
        # An analyst moved this child to its parent: refits keep it there.
        """ALTER TABLE themes ADD COLUMN parent_locked INTEGER NOT NULL DEFAULT 0""",
        """CREATE INDEX idx_themes_parent ON themes(parent_id)""",
        # A comment mentions a parent when it mentions any of its children: one row per
        # (comment, parent), however many of its children the comment mentions.
        """CREATE VIEW parent_theme_assignments AS
            SELECT ta.feedback_id AS feedback_id, t.parent_id AS theme_id,
                   MAX(ta.probability) AS probability, MAX(ta.is_primary) AS is_primary
            FROM theme_assignments ta JOIN themes t ON t.id = ta.theme_id
            WHERE t.parent_id IS NOT NULL
            GROUP BY ta.feedback_id, t.parent_id""",
    ])


@closeloop()
def m007_parent_assignments_of_active_children(db):
    # A refit re-applies analyst corrections, and a correction can point at a child theme
    # that the same refit retired: its comment then counted under the parent and as
    # Unthemed at once. Only active children make up a parent.
    _run(db, [
        """DROP VIEW parent_theme_assignments""",
        """CREATE VIEW parent_theme_assignments AS
            SELECT ta.feedback_id AS feedback_id, t.parent_id AS theme_id,
                   MAX(ta.probability) AS probability, MAX(ta.is_primary) AS is_primary
            FROM theme_assignments ta JOIN themes t ON t.id = ta.theme_id
            WHERE t.parent_id IS NOT NULL AND t.status = 'active'
            GROUP BY ta.feedback_id, t.parent_id""",
    ])


@closeloop()
def m008_alerts_triggers_and_tasks(db):
    _run(db, [
        # A spike alert is an episode: one row from the period a cell (theme x location, or
        # a theme over all locations when location is NULL) first crosses until it is back
        # to baseline. The row carries the latest period's figures; every period of the
        # episode is a row in alert_periods, every change an alert_events row.
        """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            theme_id INTEGER NOT NULL REFERENCES themes(id),
            location TEXT,                         -- NULL: all locations together
            granularity TEXT NOT NULL CHECK (granularity IN ('day', 'week')),
            first_period TEXT NOT NULL,            -- YYYY-MM-DD, first period of the episode
            period_start TEXT NOT NULL,            -- latest period of the episode
            period_end TEXT NOT NULL,              -- its last day (inclusive)
            observed INTEGER NOT NULL,
            volume INTEGER NOT NULL,               -- commented feedback in the cell's period
            expected REAL NOT NULL,
            share REAL NOT NULL,
            baseline_share REAL NOT NULL,
            ratio REAL,
            p_value REAL NOT NULL,
            q_value REAL NOT NULL,
            peak_ratio REAL,
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            review TEXT NOT NULL DEFAULT 'new'
                CHECK (review IN ('new', 'acknowledged', 'snoozed')),
            reviewed_by TEXT,
            reviewed_at TEXT,
            snoozed_until TEXT,
            note TEXT,
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            UNIQUE (theme_id, location, granularity, first_period)
        )""",
        """CREATE INDEX idx_alerts_cell ON alerts(granularity, theme_id, location, status)""",
        """CREATE INDEX idx_alerts_status ON alerts(status, opened_at)""",
        """CREATE TABLE alert_periods (
            alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
            period_start TEXT NOT NULL,
            observed INTEGER NOT NULL,
            volume INTEGER NOT NULL,
            expected REAL NOT NULL,
            p_value REAL NOT NULL,
            q_value REAL NOT NULL,
            crossed INTEGER NOT NULL,              -- 1: significant in this period
            evaluated_at TEXT NOT NULL,
            PRIMARY KEY (alert_id, period_start)
        )""",
        """CREATE TABLE alert_events (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
            event TEXT NOT NULL,                   -- opened, updated, closed, acknowledged, ...
            detail TEXT NOT NULL DEFAULT '{}',     -- JSON
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_alert_events_alert ON alert_events(alert_id, at)""",
        # Which periods a sweep has evaluated, so that a sweep at the same `now` is a no-op
        # and a replay (--since) knows where it stands.
        """CREATE TABLE sweep_periods (
            step TEXT NOT NULL,
            granularity TEXT NOT NULL,
            period_start TEXT NOT NULL,
            complete INTEGER NOT NULL,             -- 0: evaluated while still running
            cells_tested INTEGER NOT NULL,
            evaluated_at TEXT NOT NULL,
            PRIMARY KEY (step, granularity, period_start)
        )""",
        # Settings an analyst changes in the app (alert sensitivity, minimum history): one
        # row per change, the newest wins, so history is kept.
        """CREATE TABLE app_settings (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            value TEXT NOT NULL,                   -- JSON
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_app_settings_key ON app_settings(key, id)""",
        # Root-cause triggers: "a theme's share above 15% at a location for 2 consecutive
        # weeks". Edits are versions (trigger_rule_events keeps the old values).
        """CREATE TABLE trigger_rules (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            share_above REAL NOT NULL CHECK (share_above > 0 AND share_above < 1),
            consecutive INTEGER NOT NULL CHECK (consecutive >= 1),
            granularity TEXT NOT NULL DEFAULT 'week' CHECK (granularity IN ('day', 'week')),
            min_volume INTEGER NOT NULL DEFAULT 20 CHECK (min_volume >= 1),
            -- 1: count only the theme's negative mentions (a root cause is a problem's;
            -- "staff were friendly" above 15% needs no investigation)
            negative_only INTEGER NOT NULL DEFAULT 1,
            theme_id INTEGER REFERENCES themes(id),    -- NULL: every theme
            location TEXT,                             -- NULL: every location
            due_days INTEGER NOT NULL DEFAULT 7 CHECK (due_days >= 0),
            enabled INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        )""",
        """CREATE TABLE trigger_rule_events (
            id INTEGER PRIMARY KEY,
            rule_id INTEGER NOT NULL REFERENCES trigger_rules(id),
            event TEXT NOT NULL,                   -- created, changed, disabled, enabled
            detail TEXT NOT NULL DEFAULT '{}',     -- JSON: the values before and after
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        # Work items that are not cases: a root-cause investigation opened by a trigger. The
        # case queue lists them beside cases.
        """CREATE TABLE tasks (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,                    -- root_cause
            title TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',     -- JSON: the figures that fired it
            rule_id INTEGER REFERENCES trigger_rules(id),
            theme_id INTEGER REFERENCES themes(id),
            location TEXT,
            episode_start TEXT,                    -- first period of the run that fired it
            owner TEXT,
            due_at TEXT,
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (kind, rule_id, theme_id, location, episode_start)
        )""",
        """CREATE TABLE task_events (
            id INTEGER PRIMARY KEY,
            task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
            event TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        # The playbook's default trigger, on complaints.
        """INSERT INTO trigger_rules (name, share_above, consecutive, granularity, min_volume,
                due_days, created_at, created_by, updated_at, updated_by)
           VALUES ('Theme above 15% at a location for 2 weeks running', 0.15, 2, 'week', 20,
                   7, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'migration m008',
                   strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'migration m008')""",
    ])


@closeloop()
def m009_sweep_runs(db):
    _run(db, [
        # One row per sweep run, so a page can say when the scheduler last ran (a sweep that
        # finds nothing new writes nothing else).
        """CREATE TABLE sweep_runs (
            id INTEGER PRIMARY KEY,
            now TEXT NOT NULL,                     -- the moment the sweep ran as
            since TEXT,                            -- a replay's first day
            summary TEXT NOT NULL DEFAULT '{}',    -- JSON: step -> its one-line summary
            actor TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_sweep_runs_finished ON sweep_runs(finished_at)""",
        # m008's default rule counts negative mentions; its name now says so, and its
        # creation is in its history like any rule's.
        """UPDATE trigger_rules
           SET name = 'Complaints about a theme above 15% at a location for 2 weeks running'
           WHERE created_by = 'migration m008'
             AND name = 'Theme above 15% at a location for 2 weeks running'""",
        """INSERT INTO trigger_rule_events (rule_id, event, detail, actor, at)
           SELECT id, 'created', json_object('after', json_object(
                      'name', name, 'share_above', share_above, 'consecutive', consecutive,
                      'granularity', granularity, 'min_volume', min_volume,
                      'negative_only', negative_only, 'due_days', due_days)),
                  created_by, created_at
           FROM trigger_rules WHERE created_by = 'migration m008'
             AND id NOT IN (SELECT rule_id FROM trigger_rule_events)""",
    ])


@closeloop()
def m010_improvements(db):
    _run(db, [
        # A change made because of feedback. Targets: themes (improvement_themes) and/or a
        # metric; the impact test measures the metric when set, else the themes' share.
        # Priority parts are NULL until someone sets them (the page shows the defaults).
        """CREATE TABLE improvements (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            owner TEXT,
            status TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN
                ('proposed', 'planned', 'in progress', 'shipped', 'abandoned')),
            metric TEXT CHECK (metric IS NULL OR metric IN
                ('nps', 'csat', 'ces', 'rating', 'negative')),
            effective_date TEXT NOT NULL,          -- YYYY-MM-DD, local (CLOSELOOP_TZ)
            rollout_end TEXT,                      -- YYYY-MM-DD: the roll-out's last day
            impact REAL,                           -- score points if it works
            confidence REAL CHECK (confidence IS NULL OR confidence BETWEEN 0 AND 1),
            effort REAL CHECK (effort IS NULL OR effort > 0),   -- person-weeks
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        )""",
        """CREATE INDEX idx_improvements_status ON improvements(status, effective_date)""",
        """CREATE TABLE improvement_locations (
            improvement_id INTEGER NOT NULL REFERENCES improvements(id),
            location TEXT NOT NULL,
            PRIMARY KEY (improvement_id, location)
        )""",
        """CREATE TABLE improvement_themes (
            improvement_id INTEGER NOT NULL REFERENCES improvements(id),
            theme_id INTEGER NOT NULL REFERENCES themes(id),
            PRIMARY KEY (improvement_id, theme_id)
        )""",
        # The feedback that asked for it: whom to tell once it ships.
        """CREATE TABLE improvement_evidence (
            improvement_id INTEGER NOT NULL REFERENCES improvements(id),
            feedback_id INTEGER NOT NULL REFERENCES feedback(id),
            via TEXT NOT NULL,                     -- 'theme 12', 'search "queue"', 'hand'
            added_by TEXT NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (improvement_id, feedback_id)
        )""",
        """CREATE INDEX idx_improvement_evidence_feedback ON improvement_evidence(feedback_id)""",
        """CREATE TABLE improvement_events (
            id INTEGER PRIMARY KEY,
            improvement_id INTEGER NOT NULL REFERENCES improvements(id),
            event TEXT NOT NULL,                   -- created, changed, evidence added, ...
            detail TEXT NOT NULL DEFAULT '{}',     -- JSON: the values before and after
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_improvement_events ON improvement_events(improvement_id, id)""",
    ])


@closeloop()
def m011_cases(db):
    _run(db, [
        # People and teams, minimal until sign-in (issue 24 adds accounts).
        """CREATE TABLE teams (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            lead_id INTEGER REFERENCES people(id),      -- escalation level 1
            manager_id INTEGER REFERENCES people(id),   -- escalation level 2
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        )""",
        """CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            team_id INTEGER REFERENCES teams(id),
            role TEXT NOT NULL DEFAULT 'agent' CHECK (role IN ('agent', 'team lead', 'manager')),
            capacity INTEGER NOT NULL DEFAULT 25 CHECK (capacity >= 0),   -- open cases at most
            active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        )""",
        # Ordered conditions (NULL: any); the first active match wins.
        """CREATE TABLE routing_rules (
            id INTEGER PRIMARY KEY,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            theme_id INTEGER REFERENCES themes(id),
            sentiment TEXT CHECK (sentiment IS NULL OR sentiment IN
                ('negative', 'neutral', 'positive')),
            location TEXT,
            segment TEXT,
            channel TEXT,
            route TEXT CHECK (route IS NULL OR route IN
                ('recovery', 'improvement', 'advocacy', 'root cause')),
            priority TEXT CHECK (priority IS NULL OR priority IN
                ('critical', 'high', 'medium', 'low')),
            team_id INTEGER REFERENCES teams(id),
            person_id INTEGER REFERENCES people(id),
            active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            CHECK (team_id IS NOT NULL OR person_id IS NOT NULL)
        )""",
        """CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            type TEXT NOT NULL CHECK (type IN ('case', 'clarification', 'thank you',
                                               'root cause')),
            route TEXT NOT NULL CHECK (route IN ('recovery', 'improvement', 'advocacy',
                                                 'root cause')),
            title TEXT NOT NULL,
            customer_key TEXT,
            theme_id INTEGER REFERENCES themes(id),
            location TEXT,
            segment TEXT,
            priority TEXT NOT NULL CHECK (priority IN ('critical', 'high', 'medium', 'low')),
            priority_score REAL NOT NULL,
            priority_reasons TEXT NOT NULL DEFAULT '[]',   -- JSON: [{part, points, why}]
            status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'acknowledged',
                'in progress', 'waiting on customer', 'resolved', 'followed up', 'closed',
                'merged')),
            owner_id INTEGER REFERENCES people(id),
            team_id INTEGER REFERENCES teams(id),
            opened_at TEXT NOT NULL,
            acknowledged_at TEXT,
            resolved_at TEXT,
            followed_up_at TEXT,
            closed_at TEXT,
            ack_due TEXT,                          -- UTC, on the case's clock, pauses added
            resolve_due TEXT,
            followup_due TEXT,
            paused_at TEXT,                        -- waiting on the customer since
            paused_minutes REAL NOT NULL DEFAULT 0,   -- clock minutes spent waiting before
            escalation_level INTEGER NOT NULL DEFAULT 0,
            resolution_category TEXT CHECK (resolution_category IS NULL OR resolution_category
                IN ('refund issued', 'service recovery provided', 'operational change made',
                    'no action warranted', 'duplicate', 'other')),
            resolution_note TEXT,
            merged_into INTEGER REFERENCES cases(id),
            task_id INTEGER UNIQUE REFERENCES tasks(id),
            version INTEGER NOT NULL DEFAULT 1,    -- optimistic lock: every change adds one
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        )""",
        # One open case per customer, type and theme: later feedback joins it.
        """CREATE UNIQUE INDEX idx_cases_one_open ON cases(type, customer_key,
            COALESCE(theme_id, 0)) WHERE customer_key IS NOT NULL AND status IN
            ('new', 'acknowledged', 'in progress', 'waiting on customer')""",
        """CREATE INDEX idx_cases_status ON cases(status, resolve_due)""",
        """CREATE INDEX idx_cases_owner ON cases(owner_id, status)""",
        """CREATE INDEX idx_cases_customer ON cases(customer_key)""",
        """CREATE TABLE case_feedback (
            case_id INTEGER NOT NULL REFERENCES cases(id),
            feedback_id INTEGER NOT NULL REFERENCES feedback(id),
            origin_case_id INTEGER NOT NULL,       -- the case it first joined: unmerge
            joined_at TEXT NOT NULL,
            PRIMARY KEY (case_id, feedback_id)
        )""",
        """CREATE INDEX idx_case_feedback_feedback ON case_feedback(feedback_id)""",
        # Every feedback the sweep has looked at, and what became of it (idempotence).
        """CREATE TABLE case_intake (
            feedback_id INTEGER PRIMARY KEY REFERENCES feedback(id),
            route TEXT,
            outcome TEXT NOT NULL,                 -- opened, joined, no route, too old
            case_id INTEGER REFERENCES cases(id),
            decided_at TEXT NOT NULL
        )""",
        """CREATE TABLE case_events (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            event TEXT NOT NULL,                   -- opened, status, assigned, note, ...
            from_status TEXT,
            to_status TEXT,
            detail TEXT NOT NULL DEFAULT '{}',     -- JSON
            note TEXT,
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_case_events_case ON case_events(case_id, id)""",
        """CREATE INDEX idx_case_events_event ON case_events(event, at)""",
        # Messages to staff (escalations, critical cases) until the outbox (issue 22).
        """CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            case_id INTEGER REFERENCES cases(id),
            recipient TEXT,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            created_at TEXT NOT NULL
        )""",
        # Messages to customers (follow-ups, review requests): the contact-frequency rule.
        """CREATE TABLE customer_contacts (
            id INTEGER PRIMARY KEY,
            customer_key TEXT NOT NULL,
            kind TEXT NOT NULL,
            channel TEXT,
            case_id INTEGER REFERENCES cases(id),
            detail TEXT NOT NULL DEFAULT '{}',
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_customer_contacts ON customer_contacts(customer_key, at)""",
        # One sweep worker per store: the lease expires, so a crashed worker is replaced.
        """CREATE TABLE worker_leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            acquired_at TEXT NOT NULL,
            renewed_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
    ])


@closeloop()
def m012_followups(db):
    _run(db, [
        # The current text of each template; every save is also a template_versions row.
        """CREATE TABLE templates (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            purpose TEXT NOT NULL CHECK (purpose IN ('acknowledge', 'status update',
                'resolved or shipped', 'recovery apology', 'advocacy thank-you',
                'clarification question', 'internal alert', 'weekly digest')),
            theme_id INTEGER REFERENCES themes(id),
            language TEXT NOT NULL DEFAULT 'en',
            channel TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
            subject TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL,
            version INTEGER NOT NULL DEFAULT 1,
            active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            UNIQUE (name, language)
        )""",
        """CREATE TABLE template_versions (
            template_id INTEGER NOT NULL REFERENCES templates(id),
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            purpose TEXT NOT NULL,
            theme_id INTEGER,
            language TEXT NOT NULL,
            channel TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            saved_at TEXT NOT NULL,
            saved_by TEXT NOT NULL,
            note TEXT,                             -- e.g. 'restored version 3'
            PRIMARY KEY (template_id, version)
        )""",
        # Messages on their way out. The idempotency key makes a retry after a crash
        # between sending and recording a no-op at the receiver and in the store.
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,                    -- follow-up, review request, alert, event
            channel TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
            recipient TEXT NOT NULL,               -- an address, a number, or a webhook name
            subject TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL,
            case_id INTEGER REFERENCES cases(id),
            customer_key TEXT,
            template_id INTEGER REFERENCES templates(id),
            template_version INTEGER,
            status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sending',
                'sent', 'failed', 'dead', 'held', 'cancelled')),
            send_after TEXT NOT NULL,              -- UTC: scheduled messages wait until then
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            sent_at TEXT,
            updated_at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_outbox_due ON outbox(status, send_after)""",
        """CREATE TABLE outbox_events (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES outbox(id),
            event TEXT NOT NULL,                   -- queued, attempt, sent, failed, dead, ...
            detail TEXT NOT NULL DEFAULT '{}',
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_outbox_events ON outbox_events(message_id, id)""",
    ])


@closeloop()
def m013_privacy(db):
    _run(db, [
        # One row per erased customer (issue 24): the SHA-256 of the customer key, never the
        # key or the email, and how many rows of each kind were cleared.
        """CREATE TABLE erasures (
            id INTEGER PRIMARY KEY,
            customer_key_hash TEXT NOT NULL,
            feedback_rows INTEGER NOT NULL DEFAULT 0,
            cases INTEGER NOT NULL DEFAULT 0,
            messages INTEGER NOT NULL DEFAULT 0,
            anonymised_comments INTEGER NOT NULL DEFAULT 1 CHECK (anonymised_comments IN (0, 1)),
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_erasures_hash ON erasures(customer_key_hash)""",
        # Who looked at a customer's record, and what they looked at.
        """CREATE TABLE record_views (
            id INTEGER PRIMARY KEY,
            customer_key_hash TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            what TEXT
        )""",
        """CREATE INDEX idx_record_views_hash ON record_views(customer_key_hash, at)""",
    ])


@closeloop()
def m014_accounts(db):
    _run(db, [
        # Sign-in (issue 24): an account belongs to a person of the case queue. The password
        # is kept only as an argon2id hash.
        """CREATE TABLE accounts (
            person_id INTEGER PRIMARY KEY REFERENCES people(id),
            app_role TEXT NOT NULL CHECK (app_role IN ('admin', 'manager', 'analyst',
                                                       'viewer')),
            password_hash TEXT,
            must_change_password INTEGER NOT NULL DEFAULT 0 CHECK (must_change_password
                IN (0, 1)),
            failed_attempts INTEGER NOT NULL DEFAULT 0,   -- wrong passwords since the last success
            locked_until TEXT,                     -- UTC; no sign-in before then
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by TEXT NOT NULL
        )""",
        # The SHA-256 of each session token, never the token itself.
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id),
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,              -- the absolute limit; idle is checked too
            ended_at TEXT
        )""",
        """CREATE INDEX idx_sessions_person ON sessions(person_id, ended_at)""",
        """CREATE TABLE sign_in_events (
            id INTEGER PRIMARY KEY,
            email TEXT,                            -- as typed (an unknown user has no person)
            person_id INTEGER REFERENCES people(id),
            outcome TEXT NOT NULL CHECK (outcome IN ('signed in', 'wrong password', 'locked',
                'unknown user', 'signed out', 'expired')),
            at TEXT NOT NULL
        )""",
        """CREATE INDEX idx_sign_in_events_person ON sign_in_events(person_id, at)""",
    ])
