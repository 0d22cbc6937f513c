"""Message templates: one per name and language, for a purpose (acknowledge, status update,
...) and a channel (email, sms, webhook), rendered in Jinja2's sandbox. Every save is a
template_versions row (who, when, the whole content), so any version can be restored.

    template_id = save_template(db, Template(name="Acknowledge", purpose="acknowledge",
        channel="email", subject="We've read your feedback",
        body="<p>Hi {{ customer_name | default('there') }}, ...</p>"), actor="mia")
    preview = render(get_template(db, template_id), context_for_case(db, case_id))
    preview.body       # a missing value shows as "[customer_name missing]", never "None"
    message = render_for_sending(template, context)   # TemplateError while anything is missing

Rendering, decided here:
- Email bodies are HTML (send them with `channels.send_email(..., html=True)`, which adds
  the plain-text part): autoescape is on, so a customer's "<script>" arrives as text.
  Email subjects, SMS and webhook bodies are plain text: no escaping (an SMS showing
  "&amp;" would be wrong); a subject is also made one line (no header injection). In
  plain text a line holding only a {% tag %} leaves no blank line (trim_blocks,
  lstrip_blocks); in HTML, where a line break is a space, line breaks are kept as written.
- A placeholder whose value is None or blank is left out of the context, so it is
  undefined: `{{ x | default("...") }}`, `{{ x or "..." }}` and `{% if x %}` are its
  fallbacks. Printed without one it is a visible gap "[x missing]" and is listed in
  `Rendering.missing`; any other use of it (arithmetic, a method) is an error, as with
  StrictUndefined. The same holds for the fields of `case` and `feedback`.
- The environment is Jinja2's ImmutableSandboxedEnvironment (a SandboxedEnvironment that
  also refuses to change lists and dicts) with none of Jinja's default globals (no range,
  cycler, joiner, namespace, lipsum, dict), without the `safe`, `attr`, `random` and
  `pprint` filters, and with `*` and `**` capped. Attributes starting with "_", `self`,
  `{% include %}` and the like are refused when the template is saved; whatever gets past
  that meets the sandbox, whose SecurityError becomes TemplateError("body: not allowed: ").

Writes run inside the caller's `store.write_transaction`.
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache

import jinja2
import sqlite_utils
from jinja2 import meta, nodes
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from analysis.store.clock import to_iso, utcnow

PURPOSES = ("acknowledge", "status update", "resolved or shipped", "recovery apology",
            "advocacy thank-you", "clarification question", "internal alert", "weekly digest")
CHANNELS = ("email", "sms", "webhook")
DEFAULT_LANGUAGE = "en"
"""Every template name should exist in this language; other languages fall back to it."""
ISSUE_CHARACTERS = 140
"""How much of the customer's own words `issue` quotes, cut at a word boundary."""
MAX_NAME = 80
MAX_SUBJECT = 300
MAX_BODY = 20_000
MAX_OUTPUT = 100_000
"""No `*` in a template may build a string or list longer than this."""

PLACEHOLDERS: dict[str, str] = {
    "customer_name": "the customer's name, from their latest feedback",
    "issue": f"the customer's own words, shortened to about {ISSUE_CHARACTERS} characters "
             "at a word boundary with '…'",
    "theme": "the case's theme, e.g. Queue",
    "location": "the location the feedback is about",
    "owner": "the name of the person who owns the case",
    "status": "the case's status, e.g. in progress",
    "eta": "when it should be fixed, as you write it (e.g. Friday 14 March)",
    "workaround": "what the customer can do until it is fixed",
    "link": "a link: the public review page, the case, the full digest",
    "count": "how many customers asked (the case's feedback, or the change's requests)",
    "case_id": "the case number",
    "case": "the case's plain fields: case.title, case.priority, case.opened_at, ...",
    "feedback": "the latest feedback's plain fields: feedback.comment, feedback.score, ...",
}
"""Every name a template may use, with what it holds (for the editor)."""
CASE_FIELDS: dict[str, str] = {
    "id": "the case number", "title": "the case's title", "type": "case, clarification, "
    "thank you or root cause", "route": "recovery, improvement, advocacy or root cause",
    "status": "its status", "priority": "critical, high, medium or low",
    "theme": "its theme's name", "location": "its location", "segment": "its segment",
    "owner": "its owner's name", "opened_at": "when it was opened (UTC)",
    "acknowledged_at": "when it was acknowledged (UTC)",
    "resolved_at": "when it was resolved (UTC)",
    "resolution_category": "how it was resolved (refund issued, ...)",
    "resolution_note": "the note written when it was resolved",
}
FEEDBACK_FIELDS: dict[str, str] = {
    "id": "the feedback's number", "received_at": "when it arrived (UTC)",
    "location": "where", "segment": "the customer's segment", "channel": "how it came in",
    "touchpoint": "the touchpoint", "score_type": "nps, csat, ces or rating",
    "score": "the score", "comment": "the whole comment",
    "customer_name": "the customer's name",
}
_CONTAINERS = {"case": CASE_FIELDS, "feedback": FEEDBACK_FIELDS}
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


class TemplateError(ValueError):
    """A template that cannot be saved or a message that cannot be rendered; the message
    starts with the field (name, purpose, channel, subject, body, language, theme)."""


@dataclass(frozen=True)
class Template:
    name: str
    purpose: str
    channel: str
    body: str
    subject: str = ""
    language: str = DEFAULT_LANGUAGE
    theme_id: int | None = None
    active: bool = True
    id: int | None = field(default=None, compare=False)
    version: int | None = field(default=None, compare=False)
    updated_at: str | None = field(default=None, compare=False)
    updated_by: str | None = field(default=None, compare=False)

    def check(self) -> Template:
        """Raise TemplateError naming the first field that is wrong; see `values`."""
        self.values()
        return self

    def values(self) -> dict:
        """The content columns, normalised (an SMS has no subject: it is dropped), after
        checking every field (see `parts` for the subject and body)."""
        name = " ".join(str(self.name or "").split())
        if not name:
            raise TemplateError("name: a template needs a name")
        if len(name) > MAX_NAME:
            raise TemplateError(f"name: at most {MAX_NAME} characters, got {len(name)}")
        if self.purpose not in PURPOSES:
            raise TemplateError(f"purpose: must be one of {', '.join(PURPOSES)}, got "
                                f"{str(self.purpose)[:40]!r}")
        if self.theme_id is not None and (isinstance(self.theme_id, bool)
                                          or not isinstance(self.theme_id, int)):
            raise TemplateError(f"theme: must be a theme id, got {str(self.theme_id)[:40]!r}")
        language = str(self.language or "").strip().lower().replace("_", "-")
        if not _LANGUAGE.match(language):
            raise TemplateError(f"language: must be a language code like en, fr or pt-br, "
                                f"got {str(self.language)[:40]!r}")
        subject, body = self.parts()
        if self.channel == "email" and not subject:
            raise TemplateError("subject: an email needs a subject")
        return {"name": name, "purpose": self.purpose, "theme_id": self.theme_id,
                "language": language, "channel": self.channel, "subject": subject,
                "body": body}

    def parts(self) -> tuple[str, str]:
        """(subject, body) as they render: the channel checked, an SMS's subject dropped,
        both parts parsed, checked for unknown placeholders and refused constructs, and
        rendered against the sample context and an empty one. All a preview needs (a
        draft without a name can be previewed)."""
        if self.channel not in CHANNELS:
            raise TemplateError(f"channel: must be one of {', '.join(CHANNELS)}, got "
                                f"{str(self.channel)[:40]!r}")
        subject = "" if self.channel == "sms" else str(self.subject or "").strip()
        if "\n" in subject or "\r" in subject:
            raise TemplateError("subject: must be one line")
        if len(subject) > MAX_SUBJECT:
            raise TemplateError(f"subject: at most {MAX_SUBJECT} characters, got "
                                f"{len(subject)}")
        body = str(self.body or "").strip()
        if not body:
            raise TemplateError("body: write the message; it is empty")
        if len(body) > MAX_BODY:
            raise TemplateError(f"body: at most {MAX_BODY:,} characters, got {len(body):,}")
        if subject:
            _checked(subject, False, "subject")
        _checked(body, self.channel == "email", "body")
        return subject, body


@dataclass(frozen=True)
class Rendering:
    subject: str
    body: str
    missing: list[str]
    """Placeholders printed without a fallback whose value was empty, in order of use."""
    segments: int | None
    """SMS parts the body needs; None for email and webhook."""
    characters: int
    """The body's length; for SMS in the encoding's units (GSM-7 septets, UCS-2 units)."""
    encoding: str | None = None
    """SMS only: GSM-7 or UCS-2."""


# ------------------------------------------------------------------ the sandbox


_missing: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "template_missing", default=None)


class _Fields(dict):
    """The plain fields of `case` or `feedback`; knows its name for the gap's label."""

    def __init__(self, label: str, values: dict):
        super().__init__(values)
        self._label = label


class _Gap(Undefined):
    """An empty placeholder. Printed, it is a visible gap "[name missing]" and is noted as
    missing; as a condition it is false, so `{% if x %}` is a fallback; anything else
    (arithmetic, a method, an attribute) fails as with StrictUndefined. An unsafe
    attribute from the sandbox fails whatever is done with it."""

    __slots__ = ()

    def _label(self) -> str:
        owner = getattr(self._undefined_obj, "_label", None)
        name = self._undefined_name or "value"
        return f"{owner}.{name}" if owner else name

    def _unsafe(self) -> bool:
        return self._undefined_exception is not jinja2.UndefinedError

    def __str__(self) -> str:
        if self._unsafe():
            self._fail_with_undefined_error()
        label = self._label()
        found = _missing.get()
        if found is not None and label not in found:
            found.append(label)
        return f"[{label} missing]"

    def __bool__(self) -> bool:
        if self._unsafe():
            self._fail_with_undefined_error()
        return False

    def __iter__(self):
        if self._unsafe():
            self._fail_with_undefined_error()
        return iter(())

    def __len__(self) -> int:
        if self._unsafe():
            self._fail_with_undefined_error()
        return 0


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**"])

    def call_binop(self, context, operator, left, right):
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise SecurityError("exponent above 64")
        if operator == "*":
            for sized, times in ((left, right), (right, left)):
                if (isinstance(sized, (str, list, tuple)) and isinstance(times, int)
                        and len(sized) * times > MAX_OUTPUT):
                    raise SecurityError(f"result longer than {MAX_OUTPUT:,}")
        return super().call_binop(context, operator, left, right)


def _environment(autoescape: bool) -> _Environment:
    # Text keeps its lines, so a line holding only {% if %} leaves no blank line behind;
    # in HTML line breaks are only spaces, and eating the one after "{% endif %}" would
    # glue two words together.
    env = _Environment(autoescape=autoescape, undefined=_Gap, trim_blocks=not autoescape,
                       lstrip_blocks=not autoescape,
                       finalize=lambda value: "" if value is None else value)
    env.globals.clear()
    for unsafe in ("safe", "attr", "random", "pprint"):
        env.filters.pop(unsafe, None)
    return env


_HTML = _environment(True)
_TEXT = _environment(False)
_REFUSED_NODES = {nodes.Extends: "{% extends %}", nodes.Include: "{% include %}",
                  nodes.Import: "{% import %}", nodes.FromImport: "{% from ... import %}"}


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool, part: str) -> jinja2.Template:
    """Parse, check and compile one part; TemplateError names the part (and line)."""
    env = _HTML if html else _TEXT
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(f"{part} line {error.lineno}: {error.message}") from None
    for node in tree.find_all(nodes.Node):
        if type(node) in _REFUSED_NODES:
            raise TemplateError(f"{part}: not allowed: {_REFUSED_NODES[type(node)]} "
                                f"(line {node.lineno})")
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise TemplateError(f"{part}: not allowed: attribute {node.attr!r} "
                                f"(line {node.lineno})")
        if (isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const)
                and isinstance(node.arg.value, str) and node.arg.value.startswith("_")):
            raise TemplateError(f"{part}: not allowed: item {node.arg.value!r} "
                                f"(line {node.lineno})")
        if (isinstance(node, nodes.Keyword) and node.key == "attribute"
                and isinstance(node.value, nodes.Const) and isinstance(node.value.value, str)
                and any(p.startswith("_") for p in node.value.value.split("."))):
            raise TemplateError(f"{part}: not allowed: attribute {node.value.value!r} "
                                f"(line {node.lineno})")
        if isinstance(node, nodes.Name) and node.name == "self":
            raise TemplateError(f"{part}: not allowed: self (line {node.lineno})")
    try:
        unknown = sorted(meta.find_undeclared_variables(tree) - set(PLACEHOLDERS))
    except jinja2.TemplateSyntaxError as error:   # e.g. an unknown or refused filter
        raise TemplateError(f"{part} line {error.lineno}: {error.message}") from None
    if unknown:
        raise TemplateError(f"{part}: unknown placeholder{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(unknown)}; known: {', '.join(PLACEHOLDERS)}")
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            key = node.attr
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            key = node.arg.value
        else:
            continue
        if isinstance(node.node, nodes.Name) and node.node.name in _CONTAINERS \
                and key not in _CONTAINERS[node.node.name]:
            raise TemplateError(f"{part}: unknown field {node.node.name}.{key} "
                                f"(line {node.lineno}); known: "
                                f"{', '.join(_CONTAINERS[node.node.name])}")
    try:
        return env.from_string(tree)
    except jinja2.TemplateSyntaxError as error:   # e.g. an unknown or refused filter
        raise TemplateError(f"{part} line {error.lineno}: {error.message}") from None


@lru_cache(maxsize=512)
def _checked(source: str, html: bool, part: str) -> None:
    """Compile and check one part, then render it with the sample context and with an
    empty one (everything missing): both must work (gaps are fine, errors are not)."""
    _compiled(source, html, part)
    for context in (sample_context(), {}):
        _render_part(source, html, part, context)


def _render_part(source: str, html: bool, part: str, context: dict) -> tuple[str, list[str]]:
    compiled = _compiled(source, html, part)
    found: list[str] = []
    token = _missing.set(found)
    try:
        text = compiled.render(_prepared(context))
    except SecurityError as error:
        raise TemplateError(f"{part}: not allowed: {error}") from None
    except jinja2.UndefinedError as error:
        raise TemplateError(f"{part}: {error.message} here; give it a fallback, e.g. "
                            "| default(\"...\"), or put it inside {% if ... %}") from None
    except TemplateError:
        raise
    except Exception as error:  # noqa: BLE001 - a template is code: 1/0, int("x"), ...
        raise TemplateError(f"{part}: cannot render: {error}") from None
    finally:
        _missing.reset(token)
    if len(text) > MAX_OUTPUT:
        raise TemplateError(f"{part}: the message is longer than {MAX_OUTPUT:,} characters")
    return text, found


def _plain(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)   # a score of 2.0 reads "2"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def _prepared(context: dict) -> dict:
    """Only the known placeholders, as plain values; None and blanks left out (undefined,
    so their fallbacks apply), and `case` / `feedback` as plain dicts likewise."""
    out = {}
    for name in PLACEHOLDERS:
        value = context.get(name)
        if name in _CONTAINERS:
            fields = value if isinstance(value, dict) else {}
            out[name] = _Fields(name, {k: v for k, v in ((k, _plain(fields.get(k)))
                                                         for k in _CONTAINERS[name])
                                       if v is not None})
            continue
        value = _plain(value)
        if value is not None:
            out[name] = value
    return out


# ------------------------------------------------------------------ rendering


def render(template: Template, context: dict) -> Rendering:
    """The message for the preview: missing values are visible gaps, listed in `missing`."""
    source_subject, source_body = template.parts()
    subject, missing = "", []
    if source_subject:
        subject, missing = _render_part(source_subject, False, "subject", context)
        subject = " ".join(subject.split())
    body, found = _render_part(source_body, template.channel == "email", "body", context)
    body = body.strip()
    missing += [name for name in found if name not in missing]
    if template.channel == "sms":
        encoding, characters, segments = sms_segments(body)
        return Rendering(subject="", body=body, missing=missing, segments=segments,
                         characters=characters, encoding=encoding)
    return Rendering(subject=subject, body=body, missing=missing, segments=None,
                     characters=len(body))


def render_for_sending(template: Template, context: dict) -> Rendering:
    """The message to send; TemplateError("unfilled placeholder: ...") while any
    placeholder used without a fallback is empty."""
    rendering = render(template, context)
    if rendering.missing:
        raise TemplateError(f"unfilled placeholder{'s' if len(rendering.missing) > 1 else ''}"
                            f": {', '.join(rendering.missing)}")
    return rendering


def shorten(text: str | None, limit: int = ISSUE_CHARACTERS) -> str:
    """The text on one line, at most `limit` characters, cut at a word boundary with '…'."""
    text = " ".join(str(text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"


# ------------------------------------------------------------------ SMS


GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
"""The GSM 03.38 default alphabet: one septet each."""
GSM_EXTENSION = frozenset("\f^{}\\[~]|€")
"""The GSM 03.38 extension table: an escape plus the character, two septets each."""


def sms_segments(text: str) -> tuple[str, int, int]:
    """(encoding, characters, segments) for an SMS: GSM-7 when every character is in the
    GSM alphabet (160 septets in one message, 153 per part once split; an extension
    character such as € or [ is two and never split), else UCS-2 (70 UTF-16 units in one,
    67 per part; an emoji is two, never split). Empty text: 0 segments."""
    if all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text):
        encoding, single, part = "GSM-7", 160, 153
        units = [2 if ch in GSM_EXTENSION else 1 for ch in text]
    else:
        encoding, single, part = "UCS-2", 70, 67
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    total = sum(units)
    if total <= single:
        return encoding, total, 1 if total else 0
    segments, used = 1, 0
    for size in units:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return encoding, total, segments


# ------------------------------------------------------------------ contexts


def sample_context() -> dict:
    """A plausible case for the editor's preview and the check on save."""
    comment = ("We waited over twenty minutes at the counter at lunchtime and nobody told "
               "us why. The food was lovely once it came, but my son had to go back to school "
               "before his sandwich arrived.")
    case = {"id": 1042, "title": "Recover: Queue (NPS 3) at Harbour Street", "type": "case",
            "route": "recovery", "status": "in progress", "priority": "high",
            "theme": "Queue", "location": "Harbour Street", "segment": "Families",
            "owner": "Sam Patel", "opened_at": "2025-03-03T12:40:00Z",
            "acknowledged_at": "2025-03-03T13:05:00Z", "resolved_at": None,
            "resolution_category": None, "resolution_note": None}
    feedback = {"id": 88211, "received_at": "2025-03-03T12:31:00Z",
                "location": "Harbour Street", "segment": "Families", "channel": "web",
                "touchpoint": "counter", "score_type": "nps", "score": 3, "comment": comment,
                "customer_name": "Alex Morgan"}
    return {"customer_name": "Alex Morgan", "issue": shorten(comment), "theme": "Queue",
            "location": "Harbour Street", "owner": "Sam Patel", "status": "in progress",
            "eta": "Friday 14 March",
            "workaround": "order ahead in the app and your food is ready when you arrive",
            "link": "https://example.com/review/harbour-street", "count": 12,
            "case_id": 1042, "case": case, "feedback": feedback}


def context_for_case(db: sqlite_utils.Database, case_id: int, *,
                     extra: dict | None = None) -> dict:
    """The placeholders for a stored case: customer_name and issue from its latest feedback
    that has them, the theme's and owner's names, location, status, case_id, count (the
    case's feedback); link, eta and workaround (and any override, e.g. count for "based on
    N requests") come from `extra`."""
    rows = list(db.query("SELECT * FROM cases WHERE id = ?", [int(case_id)]))
    if not rows:
        raise TemplateError(f"case: there is no case {case_id}")
    case = rows[0]
    feedback = list(db.query(
        """SELECT f.id, f.received_at, f.location, f.segment, f.channel, f.touchpoint,
                  f.score_type, f.score, f.comment, f.customer_name
           FROM case_feedback cf JOIN feedback f ON f.id = cf.feedback_id
           WHERE cf.case_id = ? ORDER BY f.received_at DESC, f.id DESC""", [int(case_id)]))
    theme = owner = None
    if case["theme_id"] is not None:
        row = db.execute("SELECT name FROM themes WHERE id = ?", [case["theme_id"]]).fetchone()
        theme = row[0] if row else None
    if case["owner_id"] is not None:
        row = db.execute("SELECT name FROM people WHERE id = ?", [case["owner_id"]]).fetchone()
        owner = row[0] if row else None
    name = next((f["customer_name"].strip() for f in feedback
                 if (f["customer_name"] or "").strip()), None)
    comment = next((f["comment"] for f in feedback if (f["comment"] or "").strip()), None)
    case_fields = {k: case.get(k) for k in CASE_FIELDS} | {"theme": theme, "owner": owner}
    context = {"customer_name": name, "issue": shorten(comment) if comment else None,
               "theme": theme, "location": case["location"], "owner": owner,
               "status": case["status"], "eta": None, "workaround": None, "link": None,
               "count": len(feedback), "case_id": case["id"], "case": case_fields,
               "feedback": dict(feedback[0]) if feedback else {}}
    for key, value in (extra or {}).items():
        if key not in PLACEHOLDERS:
            raise TemplateError(f"extra: unknown placeholder {str(key)[:40]!r}; known: "
                                f"{', '.join(PLACEHOLDERS)}")
        context[key] = value
    return context


# ------------------------------------------------------------------ storing

_CONTENT = ("name", "purpose", "theme_id", "language", "channel", "subject", "body")


def _from_row(row: dict) -> Template:
    return Template(name=row["name"], purpose=row["purpose"], channel=row["channel"],
                    body=row["body"], subject=row["subject"], language=row["language"],
                    theme_id=row["theme_id"], active=bool(row["active"]), id=row["id"],
                    version=row["version"], updated_at=row["updated_at"],
                    updated_by=row["updated_by"])


def get_template(db: sqlite_utils.Database, template_id: int) -> Template:
    rows = list(db.query("SELECT * FROM templates WHERE id = ?", [int(template_id)]))
    if not rows:
        raise TemplateError(f"template: there is no template {template_id}")
    return _from_row(rows[0])


def list_templates(db: sqlite_utils.Database, *, purpose: str | None = None,
                   active_only: bool = False) -> list[Template]:
    """Every template (or those for one purpose), by purpose, name and language."""
    where, params = [], []
    if purpose is not None:
        where.append("purpose = ?")
        params.append(purpose)
    if active_only:
        where.append("active = 1")
    found = [_from_row(r) for r in db.query(
        f"SELECT * FROM templates {'WHERE ' + ' AND '.join(where) if where else ''} "
        "ORDER BY name, language", params)]
    return sorted(found, key=lambda t: PURPOSES.index(t.purpose))


def find_template(db: sqlite_utils.Database, name: str,
                  language: str = DEFAULT_LANGUAGE) -> Template | None:
    """The active template `name` in `language`, else in its base language (pt for pt-br),
    else in the default language (en); None when there is none."""
    language = str(language or DEFAULT_LANGUAGE).strip().lower().replace("_", "-")
    tried = list(dict.fromkeys([language, language.split("-")[0], DEFAULT_LANGUAGE]))
    for candidate in tried:
        rows = list(db.query("SELECT * FROM templates WHERE name = ? AND language = ? "
                             "AND active = 1", [name, candidate]))
        if rows:
            return _from_row(rows[0])
    return None


def save_template(db: sqlite_utils.Database, template: Template, *, actor: str,
                  now: datetime | None = None, note: str | None = None) -> int:
    """Store a new template (no id) or an edit of one (its id); each save is a new
    version, kept with its author and time. Saving the same content writes nothing.
    Returns the id."""
    values = template.values()
    if values["theme_id"] is not None and db.execute(
            "SELECT 1 FROM themes WHERE id = ?", [values["theme_id"]]).fetchone() is None:
        raise TemplateError(f"theme: there is no theme {values['theme_id']}")
    current = get_template(db, template.id) if template.id is not None else None
    clash = db.execute(
        "SELECT id, name FROM templates WHERE name = ? COLLATE NOCASE AND language = ? "
        "AND id IS NOT ?", [values["name"], values["language"], template.id]).fetchone()
    if clash:
        raise TemplateError(f"name: there is already a template {clash[1]!r} in language "
                            f"{values['language']!r} (template {clash[0]})")
    stamp = to_iso(now or utcnow())
    active = int(bool(template.active))
    if current is None:
        row = values | {"version": 1, "active": active, "updated_at": stamp,
                        "updated_by": actor}
        template_id = db.execute(
            f"INSERT INTO templates ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            list(row.values())).lastrowid
        _version(db, template_id, 1, values, actor, stamp, note)
        return template_id
    same_content = {k: values[k] for k in _CONTENT} == \
        {k: getattr(current, k) for k in _CONTENT}
    if same_content:
        if bool(active) != current.active:   # switching on or off is not a new version
            db.execute("UPDATE templates SET active = ?, updated_at = ?, updated_by = ? "
                       "WHERE id = ?", [active, stamp, actor, current.id])
        return current.id
    version = current.version + 1
    changes = values | {"version": version, "active": active, "updated_at": stamp,
                        "updated_by": actor}
    db.execute(f"UPDATE templates SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
               [*changes.values(), current.id])
    _version(db, current.id, version, values, actor, stamp, note)
    return current.id


def _version(db, template_id: int, version: int, values: dict, actor: str, stamp: str,
             note: str | None) -> None:
    row = {"template_id": template_id, "version": version, **values, "saved_at": stamp,
           "saved_by": actor, "note": note}
    db.execute(f"INSERT INTO template_versions ({', '.join(row)}) VALUES "
               f"({', '.join('?' * len(row))})", list(row.values()))


def template_versions(db: sqlite_utils.Database, template_id: int) -> list[dict]:
    """Every saved version, oldest first: its content, who saved it, when, and any note."""
    return list(db.query(
        "SELECT version, name, purpose, theme_id, language, channel, subject, body, saved_at, "
        "saved_by, note FROM template_versions WHERE template_id = ? ORDER BY version",
        [int(template_id)]))


def restore_version(db: sqlite_utils.Database, template_id: int, version: int, *,
                    actor: str, now: datetime | None = None) -> int:
    """Save the content of an old version as a new version (noted "restored version N");
    returns the template's version afterwards (unchanged if it already had that content)."""
    current = get_template(db, template_id)
    rows = list(db.query("SELECT * FROM template_versions WHERE template_id = ? AND "
                         "version = ?", [int(template_id), int(version)]))
    if not rows:
        raise TemplateError(f"version: template {template_id} has no version {version}")
    old = rows[0]
    restored = replace(current, **{k: old[k] for k in _CONTENT})
    save_template(db, restored, actor=actor, now=now, note=f"restored version {int(version)}")
    return get_template(db, template_id).version


# ------------------------------------------------------------------ seeds


def _email(name: str, purpose: str, subject: str, body: str) -> Template:
    return Template(name=name, purpose=purpose, channel="email", subject=subject,
                    body="\n".join(line.strip() for line in body.strip().splitlines()))


_SIGNATURE = '<p>{{ owner | default("The customer care team") }}</p>'

SEEDS: tuple[Template, ...] = (
    _email("Acknowledge", "acknowledge",
           "We've read your feedback{% if location %} about {{ location }}{% endif %}",
           """
           <p>Hi {{ customer_name | default("there") }},</p>
           {% if issue %}
           <p>You told us: &ldquo;{{ issue }}&rdquo; Thank you for taking the time to
           write it down; that kind of detail is what lets us fix things.</p>
           {% endif %}
           <p>{{ owner | default("Someone from our customer care team") }} is now looking
           after this{% if theme %} ({{ theme | lower }}{% if location %} at {{ location }}{% endif %}){% endif %}
           and will write to you personally {% if eta %}by {{ eta }}{% else %}as soon as
           there is something real to tell you{% endif %}. If you want to add anything,
           just reply: it goes straight to them (case {{ case_id }}).</p>
           <p>This first reply is automatic, so that you hear from us straight away.
           Everything after it comes from a person.</p>
           """ + _SIGNATURE),
    Template(name="Acknowledge by text", purpose="acknowledge", channel="sms",
             body="Hi {{ customer_name | default(\"there\") }}, thanks for telling us"
                  "{% if theme %} about the {{ theme | lower }}{% endif %}. We're looking "
                  "into it and will text you back. Automatic message from "
                  "{{ owner | default(\"the customer care team\") }}, case {{ case_id }}."),
    _email("Status update", "status update",
           "An update on your case {{ case_id }}{% if theme %}: {{ theme | lower }}"
           "{% endif %}",
           """
           <p>Hi {{ customer_name | default("there") }},</p>
           <p>A quick update on what you raised{% if issue %} (&ldquo;{{ issue }}&rdquo;){% endif %}:
           your case is now <strong>{{ status | default("being worked on") }}</strong>.</p>
           {% if workaround %}
           <p>Until it is fixed properly, this should help: {{ workaround }}.</p>
           {% endif %}
           {% if eta %}
           <p>We expect to have it sorted by {{ eta }}. If that changes, I will tell you
           before the date, not after.</p>
           {% else %}
           <p>I don't have a firm date yet and would rather not guess; I will write again
           as soon as I do.</p>
           {% endif %}
           <p>You can reply to this email at any time; it comes straight to me.</p>
           """ + _SIGNATURE),
    _email("Resolved or shipped", "resolved or shipped",
           "You asked, we changed it{% if theme %}: {{ theme | lower }}{% endif %}"
           "{% if location %} at {{ location }}{% endif %}",
           """
           <p>Hi {{ customer_name | default("there") }},</p>
           <p>{% if issue %}When you wrote &ldquo;{{ issue }}&rdquo;, you{% else %}You{% endif %}
           were not the only one. We have made a change{% if location %} at {{ location }}{% endif %},
           based on {{ count }} request{{ "" if count == 1 else "s" }} like yours{% if theme %} about the {{ theme | lower }}{% endif %}.</p>
           {% if workaround %}
           <p>What is different now: {{ workaround }}.</p>
           {% endif %}
           {% if link %}
           <p>The details are here: <a href="{{ link }}">{{ link }}</a></p>
           {% endif %}
           <p>Next time you visit, we would love to know whether it made a difference;
           just reply to this email.</p>
           <p>This message was sent automatically to everyone who asked for this change.
           Replies reach {{ owner | default("our customer care team") }}.</p>
           """ + _SIGNATURE),
    _email("Recovery apology", "recovery apology",
           # Theme names are phrases from the comments ("Wait was endless"): quoted as a
           # topic, never spliced into a sentence.
           "I'm sorry about your visit{% if location %} to {{ location }}{% endif %}"
           "{% if theme %} ({{ theme }}){% endif %}",
           """
           <p>Hi {{ customer_name | default("there") }},</p>
           {% if issue %}
           <p>You wrote: &ldquo;{{ issue }}&rdquo; That should not have happened, and I am
           sorry it did.</p>
           {% else %}
           <p>I am sorry that your visit fell short{% if theme %} (you told us about:
           {{ theme }}){% endif %}.</p>
           {% endif %}
           <p>I have read your message in full{% if location %} and shared it with the team at {{ location }}{% endif %}.
           {% if workaround %}Here is what we are doing about it: {{ workaround }}.{% else %}I am finding out what went wrong so that it does not happen to you again.{% endif %}</p>
           <p>I would like to put this right. Reply to this email and it comes straight to
           me.{% if eta %} Either way, I will write again by {{ eta }}.{% endif %}</p>
           """ + _SIGNATURE),
    _email("Advocacy thank-you", "advocacy thank-you",
           "Thank you{% if customer_name %}, {{ customer_name }}{% endif %}: that made our "
           "day",
           """
           <p>Hi {{ customer_name | default("there") }},</p>
           <p>{% if issue %}&ldquo;{{ issue }}&rdquo; Thank you.{% else %}Thank you for your kind words.{% endif %}
           We have passed them on to the team{% if location %} at {{ location }}{% endif %};
           it means a lot to the people who were working that day.</p>
           {% if link %}
           <p>If you have a minute, would you say the same in a public review? It helps
           other people find us: <a href="{{ link }}">{{ link }}</a></p>
           {% endif %}
           <p>This thank-you was sent automatically, but it is meant: replies reach
           {{ owner | default("our customer care team") }}.</p>
           """ + _SIGNATURE),
    _email("Clarification question", "clarification question",
           "One question about your visit{% if location %} to {{ location }}{% endif %}",
           """
           <p>Hi {{ customer_name | default("there") }},</p>
           <p>Thank you for writing to us.{% if issue %} You said: &ldquo;{{ issue }}&rdquo;{% endif %}
           It sounds as if things were fine but not quite great, and I would like to
           understand the difference.</p>
           <p>What is the one thing that would have made it great rather than fine{% if theme %}: was it the {{ theme | lower }}, or something else{% endif %}?
           A one-line reply is plenty; it comes straight to me and I read every one.</p>
           """ + _SIGNATURE),
    Template(name="Internal alert", purpose="internal alert", channel="webhook",
             subject="{% if case_id %}{{ case.priority | default(\"new\") | capitalize }} "
                     "case {{ case_id }}{% else %}Alert{% endif %}: "
                     "{{ theme | default(\"feedback\") }}"
                     "{% if location %} at {{ location }}{% endif %}",
             body="""
{% if case_id %}{{ case.priority | default("new") | capitalize }} case {{ case_id }}{% else %}Alert{% endif %}{% if theme %} about {{ theme }}{% endif %}{% if location %} at {{ location }}{% endif %}.
{% if count and count > 1 %}
{{ count }} customers have raised this.
{% endif %}
{% if issue %}
Customer said: "{{ issue }}"
{% endif %}
{% if case_id %}
Status: {{ status | default("new") }}. Owner: {{ owner | default("nobody yet, please pick it up") }}.
{% endif %}
{% if link %}
Open it: {{ link }}
{% endif %}
Sent automatically by Closeloop.
"""),
    _email("Weekly digest", "weekly digest",
           "Your week in feedback{% if location %} at {{ location }}{% endif %}",
           """
           <p>Hi {{ owner | default("team") }},</p>
           <p>Here is your week{% if location %} at {{ location }}{% endif %} in one minute.</p>
           <ul>
           <li><strong>{{ count | default(0) }}</strong> customer{{ "" if count == 1 else "s" }} asked us for something.</li>
           {% if theme %}
           <li>What came up most: <strong>{{ theme }}</strong>{% if issue %}, for example &ldquo;{{ issue }}&rdquo;{% endif %}</li>
           {% endif %}
           </ul>
           {% if link %}
           <p>Every open case, with who owns it: <a href="{{ link }}">{{ link }}</a></p>
           {% endif %}
           <p>This digest is sent automatically each week by Closeloop.</p>
           """),
)
"""One starting template per purpose (and an SMS acknowledgement), in the default language."""


def seed_templates(db: sqlite_utils.Database, *, actor: str,
                   now: datetime | None = None) -> list[int]:
    """Add the seed templates whose names are missing (in the default language); returns
    the ids added. Running it again adds nothing and changes nothing."""
    have = {r[0].lower() for r in db.execute("SELECT name FROM templates WHERE language = ?",
                                             [DEFAULT_LANGUAGE])}
    return [save_template(db, seed, actor=actor, now=now) for seed in SEEDS
            if seed.name.lower() not in have]
