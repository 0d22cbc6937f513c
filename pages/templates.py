"""Templates: the messages that close the loop, and the outbox they leave through.

Three tabs. Templates: the list; the editor (name, purpose, channel, language, theme,
subject, body) with a live preview against a sample or a real case (missing values show as
"[eta missing]" gaps; an SMS shows its characters, encoding and parts), the validation
message naming the field and line (nothing is saved while there is one), the placeholders
with what they hold, every saved version with restore, and a test send to your own address.
Outbox: every message with its status, the reason it waits or failed, its events; retry,
cancel, and "Send due messages now" (the worker does the same every minute). Follow-up
settings: the review link and delay for happy customers.

Thin page: what is shown comes from `analysis.views.followup`; writes go through
`analysis.followup` inside write transactions, by the person picked as "who am I" (shared
with the Case queue) or `current_actor()`. Template text is the staff's own; the preview of
an email is the sandbox's output (customer values autoescaped) through st.html, which
Streamlit sanitises (no script runs). Names, addresses and reasons are shown through
st.dataframe, st.text and widget options.
Customer data (`analysis.privacy.display`): a role that may not see it previews a real case
with the customer's name hidden and words masked, and sees the outbox's messages to
customers without recipient, subject or body; whoever does see them has the view recorded
in the audit of record views (once a browser session; hidden when it cannot be recorded).
Speed: reads are cached (bounded, keyed by the store's file and revision).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import streamlit as st

from analysis import store
from analysis.cases import people as people_mod
from analysis.followup import delivery, outbox
from analysis.followup import followups as followups_mod
from analysis.followup import templates as tpl
from analysis.auth.permissions import PermissionDenied
from analysis.privacy import shown_customer_keys
from analysis.settings import SettingsError, delivery_settings, get_settings
from analysis.views import followup as views
from analysis.views.cases import markdown_safe, person_label
from pages import (
    current_actor,
    current_role,
    db_key,
    flash,
    page_start,
    recorded_view,
    require_write,
    show_flash,
    who_am_i,
)

CACHE = {"ttl": timedelta(hours=1), "show_spinner": False}
FLASH_AT = "tpl_flash_at"   # which section a write's message belongs next to
PICK = "tpl_pick"
ME = "tpl_me"   # "who am I": the pick is shared with the Case queue (pages.who_am_i)
TEST_TO = "tpl_test_to"
FIELDS = ("name", "purpose", "channel", "language", "theme_id", "active", "subject", "body")


# Every read is cached, bounded and keyed on the store's file and revision (every write
# changes it), so nothing shown is older than the last write.
@st.cache_data(max_entries=8, **CACHE)
def _templates(key) -> list[tpl.Template]:
    return tpl.list_templates(store.connect(key[0]))


@st.cache_data(max_entries=16, **CACHE)
def _versions(key, template_id: int) -> list[dict]:
    return tpl.template_versions(store.connect(key[0]), template_id)


@st.cache_data(max_entries=8, **CACHE)
def _preview_cases(key) -> dict[int, str]:
    return views.preview_cases(store.connect(key[0]))


@st.cache_data(max_entries=32, **CACHE)
def _preview_values(key, case_id: int, role) -> views.PreviewValues:
    return views.preview_values(store.connect(key[0]), case_id, role)


@st.cache_data(max_entries=8, **CACHE)
def _people(key) -> list[dict]:
    return people_mod.people(store.connect(key[0]))


@st.cache_data(max_entries=8, **CACHE)
def _themes(key) -> dict[int, str]:
    return views.theme_options(store.connect(key[0]))


@st.cache_data(max_entries=16, **CACHE)
def _outbox(key, status: str, role) -> list[dict]:
    return views.outbox_rows(store.connect(key[0]), role, status=status)


@st.cache_data(max_entries=8, **CACHE)
def _counts(key) -> dict[str, int]:
    return views.outbox_counts(store.connect(key[0]))


@st.cache_data(max_entries=32, **CACHE)
def _events(key, message_id: int) -> list[dict]:
    return outbox.message_events(store.connect(key[0]), message_id)


@st.cache_data(max_entries=8, **CACHE)
def _follow_up_settings(key) -> followups_mod.FollowUpSettings:
    return followups_mod.follow_up_settings(store.connect(key[0]))


# ----------------------------------------------------------------------------- writes
# Widget callbacks: they run before the script reruns, so the page redraws at once. A
# refusal (TemplateError / OutboxError name the field) or a store failure becomes one
# message next to the section it came from.

def _actor() -> str:
    return current_actor()


def _write(section: str, action, success: str, db, failure: str = "Not saved.") -> bool:
    st.session_state[FLASH_AT] = section
    try:
        require_write()   # a callback: the session and the role checked again on the server
        with store.write_transaction(db):
            action()
    except (ValueError, store.StoreError, PermissionDenied) as exc:
        flash("error", failure, str(exc))
        return False
    if success:
        flash("success", success)
    return True


def _suffix(template_id: int | None) -> str:
    return "new" if not template_id else str(template_id)


def _forget_form(suffix: str) -> None:
    """Drop the editor's values, so that it is drawn again from the store."""
    for name in list(st.session_state):
        if str(name).startswith("tpl_f_") and str(name).endswith(f"_{suffix}"):
            del st.session_state[name]
    st.session_state.pop(f"tpl_base_{suffix}", None)


def _form_values(suffix: str) -> dict:
    return {name: st.session_state.get(f"tpl_f_{name}_{suffix}") for name in FIELDS}


def _extra() -> dict:
    return views.extra_values({name: st.session_state.get(f"tpl_x_{name}")
                               for name in views.EXTRA_FIELDS})


def _context(db) -> dict:
    """The preview's values: the sample or a case's, with what was typed as eta,
    workaround and link."""
    case_id = st.session_state.get("tpl_case", views.SAMPLE)
    return views.preview_values(db, int(case_id or 0), current_role()).values | _extra()


def _seed(db) -> None:
    added: list[list[int]] = []
    if _write("list", lambda: added.append(tpl.seed_templates(
            db, actor=_actor(), now=store.utcnow())), "", db, "No template added."):
        flash("success", f"{len(added[0])} starter template(s) added: edit them to sound "
                         "like you." if added[0] else "The starter templates are all there "
                                                      "already.")
        if added[0]:
            st.session_state[PICK] = added[0][0]


def _save(db, template_id: int | None) -> None:
    suffix = _suffix(template_id)
    state = st.session_state
    draft = views.draft_from_form(_form_values(suffix), template_id or None)
    note = str(state.get(f"tpl_f_note_{suffix}") or "").strip() or None
    state[FLASH_AT] = "editor"
    current = base = None
    if template_id:
        current = tpl.get_template(db, template_id)
        base = state.get(f"tpl_base_{suffix}")
        if base is not None and current.version != base:
            flash("error", "Not saved: someone saved this template since you opened it.",
                  f"Version {current.version} by {current.updated_by} at "
                  f"{current.updated_at}. Copy your changes, load the latest version, "
                  "and apply them again.")
            return
    saved: list[int] = []
    if not _write("editor", lambda: saved.append(tpl.save_template(
            db, draft, actor=_actor(), now=store.utcnow(), note=note)), "", db):
        return
    after = tpl.get_template(db, saved[0])
    if current is not None and after.version == current.version:
        flash("success", "Nothing to save: the template already says this."
              if after.active == current.active else
              f"Template switched {'on' if after.active else 'off'}.")
    else:
        flash("success", f"Template saved as version {after.version}.")
    _forget_form(suffix)
    state[PICK] = saved[0]


def _reload(template_id: int) -> None:
    _forget_form(_suffix(template_id))


def _restore(db, template_id: int) -> None:
    version = st.session_state.get(f"tpl_version_{template_id}")
    if version is None:
        st.session_state[FLASH_AT] = "versions"
        flash("error", "Nothing restored: choose the version.")
        return
    after: list[int] = []
    if _write("versions", lambda: after.append(tpl.restore_version(
            db, template_id, int(version), actor=_actor(), now=store.utcnow())),
            "", db, "Not restored."):
        flash("success", f"Version {version} restored as version {after[0]}."
              if after[0] != version else f"Version {version} is the current content.")
        _forget_form(_suffix(template_id))


def _test_send(db, template_id: int | None) -> None:
    state = st.session_state
    state[FLASH_AT] = "test"
    address = str(state.get(TEST_TO) or "").strip()
    if "@" not in address or len(address.split()) != 1:
        flash("error", "Nothing sent: type the email address to send the test to.")
        return
    draft = views.draft_from_form(_form_values(_suffix(template_id)), template_id or None)
    if draft.channel != "email":
        flash("error", "Nothing sent: test sends are for email templates.")
        return
    try:
        shown = views.preview(draft, _context(db))
    except tpl.TemplateError as exc:   # the picked case is gone
        flash("error", "Nothing sent.", str(exc))
        return
    if shown.rendering is None:
        flash("error", "Nothing sent: the template has an error.", shown.error or "")
        return
    now = store.utcnow()
    rendering = shown.rendering
    version = tpl.get_template(db, template_id).version if template_id else None
    # Previewed against a real case, the test carries that customer's data: tied to the
    # case, so the outbox hides it from the roles that may not see customer data.
    case_id = int(st.session_state.get("tpl_case", views.SAMPLE) or 0) or None
    queued: list[int] = []

    def queue():
        queued.append(outbox.queue_message(
            db, kind="test", channel="email", recipient=address,
            subject=f"[Test] {rendering.subject}",
            # Always HTML: the outbox sends a body as HTML when it starts with a tag.
            body=f"<div>{rendering.body}</div>",
            key=f"test-{template_id or 'draft'}-{uuid.uuid4().hex}", actor=_actor(),
            case_id=case_id, template_id=template_id or None, template_version=version,
            now=now)[0])

    if not _write("test", queue, "", db, "Nothing sent."):
        return
    _drain(db, now, queued[0], "Test sent.", f"To {address}: [Test] {rendering.subject}")


def _drain(db, now, message_id: int | None, success: str, detail: str = "") -> None:
    """Send what is due now (as the worker does every minute); the outcome of `message_id`
    (or of the whole drain) becomes the message shown."""
    try:
        require_write()
        result = outbox.drain_outbox(db, now=now, on_sent=delivery.on_message_sent)
    except (SettingsError, store.StoreError, ValueError, PermissionDenied) as exc:
        flash("error", "Not sent.", str(exc))
        return
    others = views.drain_text(result)
    if message_id is None:
        kind = "error" if result.errors and not result.sent else "success"
        flash(kind, others if kind == "success" else "Not everything could be sent.",
              "\n".join([others, *result.errors[:5]]) if result.errors else "")
        return
    row = db.execute("SELECT status, last_error FROM outbox WHERE id = ?",
                     [message_id]).fetchone()
    if row and row[0] == "sent":
        flash("success", success, "\n".join(filter(None, [detail, others])))
    else:
        flash("error", "Not sent.", "\n".join(filter(None, [
            f"Message #{message_id} is {row[0] if row else 'gone'}: "
            f"{(row[1] if row else '') or 'not due yet'}", views.NOT_SENT_HINT])))


def _drain_now(db) -> None:
    st.session_state[FLASH_AT] = "outbox"
    _drain(db, store.utcnow(), None, "")


def _retry(db, message_id: int) -> None:
    _write("outbox", lambda: outbox.retry_message(db, message_id, actor=_actor(),
                                                  now=store.utcnow()),
           f"Message #{message_id} is queued again: it goes with the next send.", db,
           "Not retried.")


def _cancel(db, message_id: int) -> None:
    _write("outbox", lambda: outbox.cancel_message(db, message_id, actor=_actor(),
                                                   now=store.utcnow()),
           f"Message #{message_id} cancelled: it will not be sent.", db, "Not cancelled.")


def _save_settings(db) -> None:
    state = st.session_state
    settings = followups_mod.FollowUpSettings(
        review_link=str(state.get("tpl_s_link") or "").strip(),
        review_delay_days=int(state.get("tpl_s_delay") or 3),
        review_template=str(state.get("tpl_s_template") or ""),
        report_recipients=tuple(line.strip() for line in str(
            state.get("tpl_s_recipients") or "").splitlines() if line.strip()))
    _write("settings", lambda: followups_mod.save_follow_up_settings(
        db, settings, actor=_actor(), now=store.utcnow()), "Follow-up settings saved.", db)


def _test_to_me(person: dict | None) -> None:
    if person:
        st.session_state[TEST_TO] = person["email"]


# ----------------------------------------------------------------------------- sections

def _flash_here(section: str) -> None:
    if st.session_state.get(FLASH_AT) == section:
        st.session_state.pop(FLASH_AT, None)
        show_flash()


def _who_am_i(key) -> None:
    """"Who am I" (the Case queue's pick, remembered for the session): writes are recorded
    under that person's email, and the test send goes to it."""
    state = st.session_state
    everyone = _people(key)
    active = {p["id"]: person_label(p) for p in everyone if p["active"]}
    person = who_am_i(active, everyone, key=ME, on_pick=_test_to_me,
                      help="There is no sign-in here: pick yourself, so that your changes "
                           "are recorded under your email and test sends go to you.")
    if TEST_TO not in state:
        mine = person["email"] if person else current_actor()
        state[TEST_TO] = mine if "@" in str(mine) else ""


def _list_section(db, key, templates: list[tpl.Template]) -> None:
    read_only = store.is_read_only(db)
    if not templates:
        st.info(views.NO_TEMPLATES)
        st.button("Add starter templates", key="tpl_seed", on_click=_seed, args=(db,),
                  type="primary", icon=":material/library_add:", disabled=read_only)
        _flash_here("list")
        return
    st.dataframe(views.templates_table(templates), hide_index=True, key="tpl_list",
                 column_config={"template": st.column_config.NumberColumn(format="%d"),
                                "active": st.column_config.CheckboxColumn("active")})
    missing = {s.name.lower() for s in tpl.SEEDS} - {
        t.name.lower() for t in templates if t.language == tpl.DEFAULT_LANGUAGE}
    if missing:
        st.button(f"Add the {len(missing)} missing starter template(s)", key="tpl_seed",
                  on_click=_seed, args=(db,), disabled=read_only,
                  icon=":material/library_add:")
    _flash_here("list")


def _pick(templates: list[tpl.Template]) -> int:
    state = st.session_state
    labels = {views.NEW: "New template", **{t.id: views.template_label(t) for t in templates}}
    if state.get(PICK) not in labels:
        state[PICK] = templates[0].id if templates else views.NEW
    return st.selectbox("Template to edit", list(labels), key=PICK, format_func=labels.get)


def _editor(db, key, template: tpl.Template | None) -> tpl.Template:
    """The editor's widgets; returns the draft they hold."""
    state = st.session_state
    suffix = _suffix(template.id if template else None)
    for name, value in views.form_values(template).items():
        state.setdefault(f"tpl_f_{name}_{suffix}", value)
    state.setdefault(f"tpl_base_{suffix}", template.version if template else None)
    themes = {0: "Any theme", **_themes(key)}
    theme_key = f"tpl_f_theme_id_{suffix}"
    if state.get(theme_key) in (None, ""):
        state[theme_key] = 0
    if state[theme_key] not in themes:
        themes[state[theme_key]] = f"Theme #{state[theme_key]} (not active)"
    one, two, three, four = st.columns([3, 2, 1, 1])
    one.text_input("Name", key=f"tpl_f_name_{suffix}", max_chars=tpl.MAX_NAME)
    two.selectbox("Purpose", list(tpl.PURPOSES), key=f"tpl_f_purpose_{suffix}")
    three.selectbox("Channel", list(tpl.CHANNELS), key=f"tpl_f_channel_{suffix}")
    four.text_input("Language", key=f"tpl_f_language_{suffix}", max_chars=20,
                    help="A code such as en, fr or pt-br. A customer's language falls back "
                         "to its base (pt), then to en.")
    one, two = st.columns([3, 1], vertical_alignment="bottom")
    one.selectbox("For a theme (optional)", list(themes), key=theme_key,
                  format_func=lambda t: themes.get(t, f"Theme #{t}"))
    two.checkbox("Active", key=f"tpl_f_active_{suffix}",
                 help="Switched off, it is kept (with its versions) but not offered.")
    channel = state.get(f"tpl_f_channel_{suffix}")
    if channel == "sms":
        st.caption("An SMS has no subject.")
    else:
        st.text_input("Subject", key=f"tpl_f_subject_{suffix}", max_chars=tpl.MAX_SUBJECT)
    st.text_area("Body" + (" (HTML)" if channel == "email" else ""),
                 key=f"tpl_f_body_{suffix}", height=280, max_chars=tpl.MAX_BODY,
                 help="Placeholders in double braces, e.g. {{ customer_name }}; the list "
                      "is below. Press Ctrl+Enter (or click away) to update the preview.")
    return views.draft_from_form(_form_values(suffix), template.id if template else None)


def _preview_section(db, key, draft: tpl.Template) -> views.Preview | None:
    st.markdown("**Preview**")
    cases = _preview_cases(key)
    if st.session_state.get("tpl_case") not in cases:
        st.session_state["tpl_case"] = views.SAMPLE
    st.selectbox("Preview with", list(cases), key="tpl_case", format_func=cases.get,
                 help="A real case fills the placeholders from its feedback, theme and "
                      "owner; values it lacks show as gaps.")
    columns = st.columns(len(views.EXTRA_FIELDS))
    for column, (name, label) in zip(columns, views.EXTRA_FIELDS.items(), strict=True):
        column.text_input(label, key=f"tpl_x_{name}", max_chars=300,
                          help="What you would type when writing the message.")
    if not draft.body.strip():
        st.caption("Write the message to see its preview.")
        return None
    case_id = int(st.session_state.get("tpl_case") or 0)
    try:
        found = _preview_values(key, case_id, current_role())
        base = found.values
        if not recorded_view(db, [found.customer_key], f"template preview of case #{case_id}"):
            base = views.preview_values(db, case_id, None).values  # as for no customer data
    except tpl.TemplateError as exc:
        st.error(markdown_safe(exc), icon=":material/error:")
        return None
    shown = views.preview(draft, base | _extra())
    if shown.error:
        st.error(markdown_safe(shown.error), icon=":material/error:")
        st.caption("Nothing can be saved until this is fixed.")
    rendering = shown.rendering
    if rendering is None:
        return shown
    if rendering.missing:
        st.warning(markdown_safe(
            f"Gaps: {shown.missing_text}. They show as \"[name missing]\"; a message with a "
            "gap is never sent. Give the placeholder a fallback, or fill it in when "
            "writing."), icon=":material/warning:")
    if draft.channel == "sms":
        one, two, three = st.columns(3)
        one.metric("Characters", f"{rendering.characters:,}")
        two.metric("Encoding", rendering.encoding or "")
        three.metric("SMS parts", f"{rendering.segments or 0}")
        st.caption(views.sms_text(rendering) + ". GSM-7: 160 characters in one SMS, 153 per "
                   "part; any other character (an emoji, a curly quote) makes it UCS-2: 70, "
                   "then 67 per part.")
        st.text(rendering.body)
        return shown
    if rendering.subject:
        st.text(f"Subject: {rendering.subject}")
    if draft.channel == "email":
        with st.container(border=True, key="tpl_preview_box"):
            st.html(views.email_html(rendering.body))
        with st.expander("The HTML as sent"):
            st.code(rendering.body, language="html", wrap_lines=True)
    else:
        st.code(views.payload_text(rendering.body), language=None, wrap_lines=True)
    return shown


def _placeholders_section() -> None:
    with st.expander("Placeholders you can use", icon=":material/data_object:"):
        st.caption(views.PLACEHOLDER_HELP)
        st.dataframe(views.placeholders_table(), hide_index=True, key="tpl_placeholders")


def _save_section(db, template: tpl.Template | None) -> None:
    suffix = _suffix(template.id if template else None)
    read_only = store.is_read_only(db)
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.text_input("What changed (optional, kept with the version)",
                    key=f"tpl_f_note_{suffix}", max_chars=200)
    right.button("Save template" if template is None else "Save as a new version",
                 key=f"tpl_save_{suffix}", on_click=_save,
                 args=(db, template.id if template else None), type="primary",
                 disabled=read_only)
    _flash_here("editor")
    if template is not None:
        base = st.session_state.get(f"tpl_base_{suffix}")
        if base is not None and base != template.version:
            st.warning(f"Someone saved version {template.version} of this template since "
                       f"you opened version {base}.", icon=":material/sync_problem:")
            st.button("Load the latest version (drops your changes)",
                      key=f"tpl_reload_{suffix}", on_click=_reload, args=(template.id,))


def _test_section(db, draft: tpl.Template, shown: views.Preview | None) -> None:
    st.markdown("**Send a test**")
    read_only = store.is_read_only(db)
    if draft.channel != "email":
        st.caption("Test sends are for email templates; an SMS or a webhook goes out "
                   "through its webhook (CLOSELOOP_WEBHOOKS).")
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.text_input("Send the preview to", key=TEST_TO, max_chars=254,
                    placeholder="you@example.org",
                    help="Your own address: the preview above, gaps and all, with "
                         "\"[Test]\" before the subject.")
    right.button("Send test", key="tpl_test_send", on_click=_test_send,
                 args=(db, draft.id), icon=":material/send:",
                 disabled=read_only or shown is None or shown.rendering is None)
    _flash_here("test")


def _versions_section(db, key, template: tpl.Template) -> None:
    i = template.id
    versions = _versions(key, i)
    with st.expander(f"Versions ({len(versions)})", icon=":material/history:"):
        st.dataframe(views.versions_table(versions), hide_index=True,
                     key=f"tpl_versions_{i}")
        numbers = [v["version"] for v in reversed(versions)]
        older = [n for n in numbers if n != template.version]
        if not older:
            st.caption("Only one version so far: every save adds one, and any can be "
                       "restored here.")
            return
        pick_key = f"tpl_version_{i}"
        if st.session_state.get(pick_key) not in older:
            st.session_state[pick_key] = older[0]
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        picked = left.selectbox("Version", older, key=pick_key,
                                format_func=lambda n: f"Version {n}")
        right.button("Restore this version", key=f"tpl_restore_{i}", on_click=_restore,
                     args=(db, i), disabled=store.is_read_only(db))
        old = next(v for v in versions if v["version"] == picked)
        st.text(f"Subject: {old['subject']}" if old["subject"] else "(no subject)")
        st.code(old["body"], language="html" if old["channel"] == "email" else None,
                wrap_lines=True)
    _flash_here("versions")


def _templates_tab(db, key) -> None:
    templates = _templates(key)
    _list_section(db, key, templates)
    st.divider()
    picked = _pick(templates)
    template = next((t for t in templates if t.id == picked), None)
    st.subheader("New template" if template is None else "Edit template")
    if template is not None:
        st.caption(f"Version {template.version}, saved by {template.updated_by} at "
                   f"{template.updated_at}.")
    draft = _editor(db, key, template)
    _placeholders_section()
    shown = _preview_section(db, key, draft)
    _save_section(db, template)
    _test_section(db, draft, shown)
    if template is not None:
        _versions_section(db, key, template)


def _delivery_caption() -> None:
    try:
        settings = delivery_settings()
    except SettingsError as exc:
        st.error(markdown_safe(exc), icon=":material/error:")
        return
    if settings.can_email:
        st.caption(markdown_safe(
            f"Email goes out through {settings.smtp_host}:{settings.smtp_port} "
            f"({settings.smtp_security}) from {settings.smtp_from}."))
    else:
        st.warning("Email is not set up: messages wait here, and a send marks them dead "
                   "with the reason. Set CLOSELOOP_SMTP_HOST and CLOSELOOP_SMTP_FROM (or "
                   "\\[smtp\\] in .streamlit/secrets.toml).", icon=":material/warning:")
    if settings.webhooks:
        st.caption(markdown_safe("Webhooks: " + ", ".join(sorted(settings.webhooks)) + "."))


def _outbox_tab(db, key) -> None:
    read_only = store.is_read_only(db)
    counts = _counts(key)
    for column, status in zip(st.columns(len(counts)), counts, strict=True):
        column.metric(status.capitalize(), f"{counts[status]:,}")
    _delivery_caption()
    st.button("Send due messages now", key="tpl_ob_drain", on_click=_drain_now, args=(db,),
              icon=":material/send:", disabled=read_only,
              help="What the worker does every minute: send every message that is due, "
                   "and retry failed ones whose time has come.")
    _flash_here("outbox")
    status = st.selectbox("Status", ["", *views.OUTBOX_STATUSES], key="tpl_ob_status",
                          format_func=lambda s: views.STATUS_BADGES.get(s, "Every status"))
    rows = _outbox(key, status, current_role())
    if not recorded_view(db, shown_customer_keys(rows), "outbox messages"):
        rows = views.messages_for_role(rows, None)  # as for a role without customer data
    if not rows:
        st.info("No message" + (f" is {status}." if status else " yet: follow-ups, review "
                                "requests, alerts and tests wait here until they are sent."))
        return
    tz = get_settings().timezone
    st.dataframe(views.outbox_table(rows, tz), hide_index=True, key="tpl_outbox",
                 column_config={"message": st.column_config.NumberColumn(format="%d"),
                                "case": st.column_config.NumberColumn(format="%d")})
    st.caption(f"The newest {len(rows):,} messages. Times in {tz}.")
    labels = {r["id"]: views.message_label(r) for r in rows}
    if st.session_state.get("tpl_ob_pick") not in labels:
        st.session_state["tpl_ob_pick"] = rows[0]["id"]
    picked = st.selectbox("Open message", list(labels), key="tpl_ob_pick",
                          format_func=labels.get)
    message = next(r for r in rows if r["id"] == picked)
    st.text("\n".join([f"Status: {message['status']}", f"To: {message['recipient']}",
                       f"Subject: {message['subject'] or ''}",
                       f"Attempts: {message['attempts']}"]
                      + ([f"Reason: {message['last_error']}"] if message["last_error"] else [])))
    left, right, _ = st.columns([1, 1, 3])
    left.button("Retry", key="tpl_ob_retry", on_click=_retry, args=(db, picked),
                icon=":material/replay:",
                disabled=read_only or message["status"] not in views.RETRYABLE)
    right.button("Cancel", key="tpl_ob_cancel", on_click=_cancel, args=(db, picked),
                 icon=":material/cancel:",
                 disabled=read_only or message["status"] not in views.CANCELLABLE)
    events = views.events_for_role(_events(key, picked), message, current_role())
    st.dataframe(views.events_table(events, tz), hide_index=True, key="tpl_ob_events")
    with st.expander("The message"):
        if message["channel"] == "email" and message["body"].lstrip().startswith("<"):
            st.html(views.email_html(message["body"]))
        else:
            st.code(views.payload_text(message["body"]), language=None, wrap_lines=True)


def _settings_tab(db, key) -> None:
    state = st.session_state
    saved = _follow_up_settings(key)
    thanks = [t.name for t in _templates(key)
              if t.purpose == "advocacy thank-you" and t.channel == "email" and t.active]
    names = ["", *dict.fromkeys(thanks + ([saved.review_template]
                                          if saved.review_template else []))]
    state.setdefault("tpl_s_link", saved.review_link)
    state.setdefault("tpl_s_delay", saved.review_delay_days
                     if saved.review_delay_days in (3, 4, 5) else 3)
    state.setdefault("tpl_s_template", saved.review_template)
    state.setdefault("tpl_s_recipients", "\n".join(saved.report_recipients))
    if state["tpl_s_template"] not in names:
        state["tpl_s_template"] = ""
    st.caption("Happy customers (a thank-you task) get a review request a few days after "
               "their score, unless they were contacted too recently (the contact-frequency "
               "rule: the message is held with the reason). No link, no request.")
    with st.form("tpl_settings_form"):
        st.text_input("Review link", key="tpl_s_link", max_chars=500,
                      placeholder="https://g.page/r/...")
        one, two = st.columns(2)
        one.selectbox("Days after the score", [3, 4, 5], key="tpl_s_delay")
        two.selectbox("Template", names, key="tpl_s_template",
                      format_func=lambda n: n or "The first active advocacy thank-you")
        st.text_area("Weekly report and alert digest recipients (one email a line)",
                     key="tpl_s_recipients", height=100,
                     help="They get the weekly report every Monday and a daily digest of new "
                          "spike alerts, through the outbox.")
        st.form_submit_button("Save settings", key="tpl_s_save", on_click=_save_settings,
                              args=(db,), disabled=store.is_read_only(db))
    _flash_here("settings")


# ----------------------------------------------------------------------------- page

def render() -> None:
    db, _ = page_start()
    key = db_key(db)
    st.title("Templates")
    if FLASH_AT not in st.session_state:
        show_flash()
    _who_am_i(key)
    templates, sent, settings = st.tabs(["Templates", "Outbox", "Follow-up settings"])
    with templates:
        _templates_tab(db, key)
    with sent:
        _outbox_tab(db, key)
    with settings:
        _settings_tab(db, key)


render()
