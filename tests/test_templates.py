"""Follow-up templates (`analysis.followup.templates`): every seed validates and renders
against real cases and the sample, sandbox escapes are refused, unknown placeholders and
syntax errors are reported by name and line, fallbacks and visible gaps, HTML escaped in
email only, SMS segments (GSM-7 and UCS-2), versions with restore, language fallback."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from analysis import store
from analysis.followup.templates import (
    CHANNELS,
    PLACEHOLDERS,
    PURPOSES,
    SEEDS,
    Template,
    TemplateError,
    context_for_case,
    find_template,
    get_template,
    list_templates,
    render,
    render_for_sending,
    restore_version,
    sample_context,
    save_template,
    seed_templates,
    shorten,
    sms_segments,
    template_versions,
)
from tests.case_stores import (
    MONDAY,
    PRICE,
    STAFF,
    add,
    case_of,
    response,
    sweep,
    team,
    themes,
)

EXTRA = {"link": "https://example.com/review/northgate", "eta": "Friday 10 January",
         "workaround": "ask at the side counter, which is quicker at lunchtime"}
COMPLAINT = ("The queue at lunch was endless, twenty minutes at least, and nobody came "
             "out to say why. My colleague gave up and went to the sandwich shop next door "
             "instead, which is a shame because the soup here is the best in town.")


@pytest.fixture
def cases(db):
    """Three cases from the sweep, each with an owner: a recovery about the queue (a
    named customer's long complaint), an advocacy thank-you about the staff, and a
    clarification about prices from a customer without a name."""
    themes(db)
    team(db)
    recovery, advocacy, passive = add(
        db,
        response("c1", "nps", 2, customer_name="Priya Shah", comment=COMPLAINT),
        response("c2", "nps", 10, theme=STAFF, sentiment="positive",
                 customer_name="Tom Reid", comment="Dani at the till remembered my order."),
        response("c3", "nps", 8, theme=PRICE, sentiment="neutral",
                 comment="Fine, but the prices crept up again."))
    sweep(db)
    return db, {"recovery": case_of(db, recovery), "advocacy": case_of(db, advocacy),
                "passive": case_of(db, passive)}


def saved(db, template: Template, *, actor: str = "mia", now=MONDAY) -> int:
    with store.write_transaction(db):
        return save_template(db, template, actor=actor, now=now)


def sms(body: str) -> Template:
    return Template(name="Text", purpose="acknowledge", channel="sms", body=body)


def email(body: str, subject: str = "Hello") -> Template:
    return Template(name="Mail", purpose="acknowledge", channel="email", subject=subject,
                    body=body)


# ------------------------------------------------------------------ seeds


def test_there_is_a_seed_template_for_every_purpose():
    assert {t.purpose for t in SEEDS} == set(PURPOSES)
    assert {t.channel for t in SEEDS} == set(CHANNELS)


def test_every_seed_template_validates_and_renders_for_real_cases_and_the_sample(cases):
    db, found = cases
    with store.write_transaction(db):
        ids = seed_templates(db, actor="setup", now=MONDAY)
    assert len(ids) == len(SEEDS)
    stored = list_templates(db)
    assert [t.name for t in stored] and len(stored) == len(SEEDS)
    contexts = [context_for_case(db, case["id"], extra=EXTRA) for case in found.values()]
    for template in stored:
        template.check()
        for context in [*contexts, sample_context()]:
            message = render_for_sending(template, context)
            assert message.missing == []
            assert message.body and "None" not in message.body
            assert "missing]" not in message.body + message.subject
            if template.channel == "email":
                assert message.subject
            if template.channel == "sms":
                assert message.segments == 1 and message.encoding == "GSM-7"


def test_seeds_without_any_values_still_render_with_their_fallbacks():
    for template in SEEDS:
        rendering = render(template, {})
        assert "None" not in rendering.body
        assert set(rendering.missing) <= {"case_id", "count"}   # always set for a case


def test_customer_messages_are_signed_by_the_owner_and_automatic_ones_say_so(cases):
    db, found = cases
    context = context_for_case(db, found["recovery"]["id"], extra=EXTRA)
    automatic = {"Acknowledge", "Acknowledge by text", "Resolved or shipped",
                 "Advocacy thank-you", "Internal alert", "Weekly digest"}
    for template in SEEDS:
        body = render(template, context).body
        assert "value your feedback" not in body.lower()
        if template.name in automatic:
            assert "automatic" in body.lower(), template.name
        if template.purpose not in ("internal alert", "weekly digest"):
            assert "Agent 0" in body, template.name   # the case's owner signs it
    nobody = render(SEEDS[0], {"customer_name": "Ann", "case_id": 7})
    assert nobody.body.endswith("<p>The customer care team</p>")


def test_the_seed_copy_names_the_problem_the_requests_and_one_review_link(cases):
    db, found = cases
    seeds = {t.purpose: t for t in SEEDS if t.channel != "sms"}
    recovery = context_for_case(db, found["recovery"]["id"], extra=EXTRA)
    apology = render(seeds["recovery apology"], recovery)
    assert "The queue at lunch was endless" in apology.body
    assert apology.subject == "I'm sorry about your visit to Northgate (Queue)"
    shipped = render(seeds["resolved or shipped"],
                     context_for_case(db, found["recovery"]["id"], extra={"count": 37}))
    assert "based on 37 requests" in shipped.body
    thanks = render(seeds["advocacy thank-you"],
                    context_for_case(db, found["advocacy"]["id"], extra=EXTRA))
    assert thanks.body.count("<a href=") == 1 and EXTRA["link"] in thanks.body
    assert "Dani at the till remembered my order." in thanks.body
    passive = render(seeds["clarification question"],
                     context_for_case(db, found["passive"]["id"]))
    assert "Hi there," in passive.body and "was it the price" in passive.body
    assert passive.body.rstrip().endswith("?") is False and "?" in passive.body


def test_seeding_again_adds_only_the_missing_names(cases):
    db, _ = cases
    with store.write_transaction(db):
        first = seed_templates(db, actor="setup", now=MONDAY)
        assert seed_templates(db, actor="setup", now=MONDAY) == []
        ack = find_template(db, "Acknowledge")
        edited = replace(ack, body=ack.body + "\n<p>P.S. Edited.</p>")
        save_template(db, edited, actor="mia", now=MONDAY)
        db.execute("DELETE FROM template_versions WHERE template_id = ?", [first[-1]])
        db.execute("DELETE FROM templates WHERE id = ?", [first[-1]])
        again = seed_templates(db, actor="setup", now=MONDAY)
    assert len(again) == 1 and get_template(db, again[0]).name == SEEDS[-1].name
    assert "P.S. Edited." in find_template(db, "Acknowledge").body   # edits are kept


# ------------------------------------------------------------------ context


def test_the_context_for_a_case_comes_from_its_feedback_theme_and_owner(cases):
    db, found = cases
    context = context_for_case(db, found["recovery"]["id"])
    assert context["customer_name"] == "Priya Shah"
    assert context["theme"] == "Queue" and context["location"] == "Northgate"
    assert context["owner"] == "Agent 0" and context["status"] == "new"
    assert context["case_id"] == found["recovery"]["id"] and context["count"] == 1
    assert context["issue"] == shorten(COMPLAINT) and len(context["issue"]) <= 140
    assert context["case"]["title"].startswith("Recover: Queue")
    assert context["feedback"]["comment"] == COMPLAINT
    assert context["link"] is None and context["eta"] is None


def test_later_feedback_joins_the_case_and_counts(cases):
    db, found = cases
    add(db, response("c1", "nps", 1, customer_name="Priya Shah",
                     comment="Again! The queue was worse today.",
                     at=MONDAY + timedelta(hours=1)))
    sweep(db, MONDAY + timedelta(hours=2))
    context = context_for_case(db, found["recovery"]["id"], extra={"link": EXTRA["link"]})
    assert context["count"] == 2 and context["issue"] == "Again! The queue was worse today."
    assert context["link"] == EXTRA["link"]
    assert context_for_case(db, found["recovery"]["id"], extra={"count": 40})["count"] == 40


def test_the_context_refuses_unknown_extras_and_unknown_cases(cases):
    db, found = cases
    with pytest.raises(TemplateError, match=r"^extra: unknown placeholder 'coupon'"):
        context_for_case(db, found["recovery"]["id"], extra={"coupon": "FREE"})
    with pytest.raises(TemplateError, match=r"^case: there is no case 999"):
        context_for_case(db, 999)


def test_the_issue_is_cut_at_a_word_boundary_with_an_ellipsis():
    short = shorten(COMPLAINT)
    assert len(short) <= 140 and short.endswith("…")
    assert COMPLAINT.startswith(short[:-1]) and COMPLAINT[len(short) - 1] == " "
    assert shorten("  two\n lines ") == "two lines"
    assert shorten("x" * 200).endswith("…") and len(shorten("x" * 200)) == 140


def test_the_editor_gets_a_description_for_every_placeholder():
    assert {"customer_name", "issue", "theme", "location", "owner", "status", "eta",
            "workaround", "link", "count", "case_id", "case", "feedback"} == set(PLACEHOLDERS)
    assert all(PLACEHOLDERS.values())
    assert set(sample_context()) == set(PLACEHOLDERS)


# ------------------------------------------------------------------ the sandbox


@pytest.mark.parametrize("source", [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ '{0.__class__}'.format(case) }}",
    "{{ '{0.__class__.__mro__}'.format(issue) }}",
    "{{ '{x.__class__}'.format_map({'x': feedback}) }}",
    "{{ \"%s\" % case.__class__ }}",
    "{{ \"%s\" % issue.__class__.__base__ }}",
    "{% set name = '__cl' ~ 'ass__' %}{{ case[name] }}",
    "{{ feedback['__class__'] }}",
    "{{ case | map(attribute='__class__') | list }}",
    "{{ 'x' * 10000000 }}",
    "{{ 9 ** 99999 }}",
    "{% include 'secrets.txt' %}",
])
def test_sandbox_escapes_are_refused(source):
    for template in (email(source), sms(source)):
        with pytest.raises(TemplateError, match=r"^body: not allowed: "):
            template.check()
        with pytest.raises(TemplateError, match=r"^body: not allowed: "):
            render(template, sample_context())


@pytest.mark.parametrize("name", ["cycler", "joiner", "namespace", "range", "lipsum", "dict"])
def test_jinja_globals_are_unknown_placeholders(name):
    with pytest.raises(TemplateError, match=rf"^body: unknown placeholder {name};"):
        sms(f"{{{{ {name}() }}}}").check()


def test_refused_filters_are_unknown():
    with pytest.raises(TemplateError, match=r"^body line 1: No filter named 'safe'"):
        email("{{ issue | safe }}").check()
    with pytest.raises(TemplateError, match=r"^body line 1: No filter named 'attr'"):
        sms("{{ case | attr('__class__') }}").check()


def test_the_sandbox_refuses_changing_the_context():
    with pytest.raises(TemplateError, match=r"^body: not allowed: "):
        sms("{% set names = ['a'] %}{{ names.append('b') }}").check()


def test_unknown_placeholders_and_fields_are_reported_by_name():
    with pytest.raises(TemplateError, match=r"^body: unknown placeholders coupon, first_name;"):
        sms("Hi {{ first_name }}, use {{ coupon }}").check()
    with pytest.raises(TemplateError, match=r"^subject: unknown placeholder ticket;"):
        email("Hi", subject="About {{ ticket }}").check()
    with pytest.raises(TemplateError, match=r"^body: unknown field case\.secret \(line 2\)"):
        sms("Hi\n{{ case.secret }}").check()
    sms("{% for word in (issue or '').split() %}{{ word }} {% endfor %}{% set n = 2 %}{{ n }}"
        ).check()   # loop and set variables are declared, not unknown


def test_a_syntax_error_names_its_line():
    with pytest.raises(TemplateError, match=r"^body line 3: unexpected '}'$"):
        email("<p>Hi,</p>\n<p>thanks</p>\n<p>{{ customer_name } }}</p>").check()
    with pytest.raises(TemplateError, match=r"^subject line 1: "):
        email("Hi", subject="{% if theme %}About {{ theme }}").check()


# ------------------------------------------------------------------ fallbacks and gaps


def test_a_fallback_is_used_when_the_value_is_empty():
    template = sms('Hi {{ customer_name | default("there") }}, about '
                   '{{ theme or "your visit" }}{% if eta %} (by {{ eta }}){% endif %}.')
    for empty in ({}, {"customer_name": None, "theme": ""}, {"customer_name": "   "}):
        rendering = render_for_sending(template, empty)
        assert rendering.body == "Hi there, about your visit." and rendering.missing == []
    filled = render(template, {"customer_name": "Ann", "theme": "Queue", "eta": "Friday"})
    assert filled.body == "Hi Ann, about Queue (by Friday)."


def test_a_missing_value_without_fallback_shows_a_gap_and_refuses_sending():
    template = email("<p>Hi {{ customer_name }}, case {{ case_id }}: {{ case.resolution_note }}"
                     "</p>", subject="Case {{ case_id }} for {{ customer_name }}")
    preview = render(template, {"customer_name": None, "case_id": 12, "case": {"id": 12}})
    assert preview.body == ("<p>Hi [customer_name missing], case 12: "
                            "[case.resolution_note missing]</p>")
    assert preview.subject == "Case 12 for [customer_name missing]"
    assert preview.missing == ["customer_name", "case.resolution_note"]
    assert "None" not in preview.body + preview.subject
    with pytest.raises(TemplateError, match=r"^unfilled placeholders: customer_name, "
                                            r"case.resolution_note$"):
        render_for_sending(template, {"customer_name": None, "case_id": 12})
    with pytest.raises(TemplateError, match=r"^unfilled placeholder: customer_name$"):
        render_for_sending(sms("Hi {{ customer_name }}"), {})


def test_a_value_that_cannot_be_missing_is_refused_on_save():
    with pytest.raises(TemplateError, match=r"^body: 'count' is undefined here; give it a "
                                            r"fallback"):
        sms("{{ count + 1 }} people").check()
    sms("{{ (count or 0) + 1 }} people").check()


def test_html_is_escaped_in_email_bodies_but_not_in_sms_or_subjects(db):
    themes(db)
    [fid] = add(db, response("c9", "nps", 1, customer_name="<b>Eve</b>",
                             comment="<script>alert('x')</script> cold & late"))
    sweep(db)
    context = context_for_case(db, case_of(db, fid)["id"])
    mail = render(email("<p>{{ issue }}</p>", subject="{{ customer_name }}: {{ issue }}"),
                  context)
    assert mail.body == ("<p>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; cold &amp; "
                         "late</p>")
    assert "<script>" not in mail.body
    assert mail.subject == "<b>Eve</b>: <script>alert('x')</script> cold & late"
    text = render(sms("{{ issue }}"), context)
    assert text.body == "<script>alert('x')</script> cold & late"
    hook = render(Template(name="Hook", purpose="internal alert", channel="webhook",
                           body="{{ issue }}"), context)
    assert hook.body == text.body and hook.segments is None


def test_a_subject_is_one_line():
    rendering = render(email("Hi", subject="About {{ issue }}"), {"issue": "one\ntwo\r\nthree"})
    assert rendering.subject == "About one two three"
    with pytest.raises(TemplateError, match=r"^subject: must be one line"):
        email("Hi", subject="One\nTwo").check()


def test_a_draft_without_a_name_or_purpose_can_be_previewed():
    draft = Template(name="", purpose="", channel="email", subject="",
                     body="<p>Hi {{ customer_name | default('there') }}</p>")
    assert render(draft, {}).body == "<p>Hi there</p>"
    with pytest.raises(TemplateError, match=r"^name: "):
        draft.check()


# ------------------------------------------------------------------ SMS


@pytest.mark.parametrize("text, expected", [
    ("a" * 160, ("GSM-7", 160, 1)),
    ("a" * 161, ("GSM-7", 161, 2)),
    ("a" * 306, ("GSM-7", 306, 2)),            # 2 x 153
    ("a" * 307, ("GSM-7", 307, 3)),
    ("€", ("GSM-7", 2, 1)),
    ("€" * 80, ("GSM-7", 160, 1)),
    ("€" + "a" * 159, ("GSM-7", 161, 2)),
    ("[]{}^~\\|", ("GSM-7", 16, 1)),
    ("Café, Ñoño @ £5", ("GSM-7", 15, 1)),     # the GSM alphabet's own accents
    ("🙂" + "a" * 68, ("UCS-2", 70, 1)),       # an emoji is two UTF-16 units
    ("🙂" + "a" * 69, ("UCS-2", 71, 2)),
    ("ā" * 134, ("UCS-2", 134, 2)),            # 2 x 67
    ("ā" * 135, ("UCS-2", 135, 3)),
    ("It’s", ("UCS-2", 4, 1)),                  # a curly apostrophe is not GSM
    ("", ("GSM-7", 0, 0)),
])
def test_sms_segments(text, expected):
    assert sms_segments(text) == expected


def test_an_extension_character_or_emoji_is_never_split_across_parts():
    assert sms_segments("a" * 152 + "€" + "a" * 152) == ("GSM-7", 306, 3)
    assert sms_segments("a" * 66 + "🙂" + "a" * 66) == ("UCS-2", 134, 3)


def test_an_sms_rendering_counts_its_segments_and_drops_the_subject():
    template = Template(name="Text", purpose="acknowledge", channel="sms",
                        subject="Ignored {{ nonsense", body="{{ issue }}")
    assert template.values()["subject"] == ""
    rendering = render(template, {"issue": "a" * 161})
    assert (rendering.subject, rendering.characters, rendering.segments,
            rendering.encoding) == ("", 161, 2, "GSM-7")
    assert render(template, {"issue": "Thanks 🙂"}).encoding == "UCS-2"


# ------------------------------------------------------------------ fields


@pytest.mark.parametrize("changes, message", [
    ({"name": "  "}, r"^name: a template needs a name"),
    ({"purpose": "spam"}, r"^purpose: must be one of acknowledge, "),
    ({"channel": "fax"}, r"^channel: must be one of email, sms, webhook"),
    ({"language": "English!"}, r"^language: must be a language code"),
    ({"theme_id": "Queue"}, r"^theme: must be a theme id"),
    ({"subject": ""}, r"^subject: an email needs a subject"),
    ({"body": " \n "}, r"^body: write the message; it is empty"),
    ({"body": "x" * 20_001}, r"^body: at most 20,000 characters"),
])
def test_a_bad_field_is_named(changes, message):
    with pytest.raises(TemplateError, match=message):
        replace(email("<p>Hi</p>"), **changes).check()
    assert issubclass(TemplateError, ValueError)


def test_names_are_unique_per_language_and_themes_must_exist(cases):
    db, _ = cases
    saved(db, email("<p>Hi</p>"))
    with pytest.raises(TemplateError, match=r"^name: there is already a template 'Mail' in "
                                            r"language 'en'"):
        saved(db, replace(email("<p>Other</p>"), name="mail"))
    saved(db, replace(email("<p>Bonjour</p>"), language="FR"))
    with pytest.raises(TemplateError, match=r"^theme: there is no theme 99"):
        saved(db, replace(email("<p>Hi</p>"), name="Themed", theme_id=99))
    themed = saved(db, replace(email("<p>Hi</p>"), name="Themed", theme_id=PRICE))
    assert get_template(db, themed).theme_id == PRICE
    assert [(t.name, t.language) for t in list_templates(db)] == [
        ("Mail", "en"), ("Mail", "fr"), ("Themed", "en")]


# ------------------------------------------------------------------ versions


def test_every_save_is_a_version_and_the_same_content_writes_nothing(cases):
    db, _ = cases
    first = email("<p>Hi {{ customer_name | default('there') }}</p>")
    template_id = saved(db, first, actor="mia")
    stored = get_template(db, template_id)
    assert (stored.version, stored.updated_by, stored.updated_at) == \
        (1, "mia", "2025-01-06T10:00:00Z")
    later = MONDAY + timedelta(hours=1)
    assert saved(db, replace(stored, body="<p>Hello {{ customer_name | default('there') }}"
                                          "</p>"), actor="sam", now=later) == template_id
    assert saved(db, replace(get_template(db, template_id)), actor="kim",
                 now=later + timedelta(hours=1)) == template_id       # identical: no-op
    assert saved(db, replace(get_template(db, template_id), body="  <p>Hello {{ customer_name"
                 " | default('there') }}</p>\n"), actor="kim") == template_id  # only spaces
    versions = template_versions(db, template_id)
    assert [(v["version"], v["saved_by"], v["saved_at"], v["note"]) for v in versions] == [
        (1, "mia", "2025-01-06T10:00:00Z", None), (2, "sam", "2025-01-06T11:00:00Z", None)]
    assert versions[0]["body"] == first.body
    now = get_template(db, template_id)
    assert now.version == 2 and now.updated_by == "sam" and now.body.startswith("<p>Hello")


def test_restoring_an_old_version_writes_a_new_version_with_its_content(cases):
    db, _ = cases
    template_id = saved(db, email("<p>One</p>", subject="First"))
    saved(db, replace(get_template(db, template_id), body="<p>Two</p>", subject="Second"))
    saved(db, replace(get_template(db, template_id), body="<p>Three</p>", purpose="status update"))
    with store.write_transaction(db):
        version = restore_version(db, template_id, 1, actor="lee",
                                  now=MONDAY + timedelta(days=1))
        assert restore_version(db, template_id, 4, actor="lee") == 4   # already that content
        with pytest.raises(TemplateError, match=r"^version: template \d+ has no version 9"):
            restore_version(db, template_id, 9, actor="lee")
    assert version == 4
    restored = get_template(db, template_id)
    assert (restored.body, restored.subject, restored.purpose, restored.version) == \
        ("<p>One</p>", "First", "acknowledge", 4)
    last = template_versions(db, template_id)[-1]
    assert (last["version"], last["saved_by"], last["note"], last["body"]) == \
        (4, "lee", "restored version 1", "<p>One</p>")
    assert len(template_versions(db, template_id)) == 4


def test_switching_a_template_off_is_not_a_version_and_hides_it(cases):
    db, _ = cases
    template_id = saved(db, email("<p>Hi</p>"))
    saved(db, replace(get_template(db, template_id), active=False), actor="sam")
    assert get_template(db, template_id).active is False
    assert len(template_versions(db, template_id)) == 1
    assert find_template(db, "Mail") is None
    assert list_templates(db, active_only=True) == []


def test_an_unknown_template_is_an_error(cases):
    db, _ = cases
    with pytest.raises(TemplateError, match=r"^template: there is no template 5"):
        get_template(db, 5)
    with pytest.raises(TemplateError, match=r"^template: there is no template 5"):
        saved(db, replace(email("<p>Hi</p>"), id=5))


# ------------------------------------------------------------------ languages


def test_a_language_falls_back_to_its_base_then_to_english(cases):
    db, _ = cases
    saved(db, email("<p>Hello</p>"))
    saved(db, replace(email("<p>Bonjour</p>"), language="fr"))
    saved(db, replace(email("<p>Olá</p>"), language="pt"))
    saved(db, replace(email("<p>Oi</p>"), language="pt-BR"))
    assert find_template(db, "Mail", "fr").body == "<p>Bonjour</p>"
    assert find_template(db, "Mail", "fr-CA").body == "<p>Bonjour</p>"
    assert find_template(db, "Mail", "pt_BR").body == "<p>Oi</p>"
    assert find_template(db, "Mail", "pt-PT").body == "<p>Olá</p>"
    assert find_template(db, "Mail", "de").body == "<p>Hello</p>"
    assert find_template(db, "Mail").language == "en"
    assert find_template(db, "Nothing", "de") is None


def test_saving_the_seed_copy_in_another_language_keeps_both(cases):
    db, _ = cases
    with store.write_transaction(db):
        seed_templates(db, actor="setup")
    ack = find_template(db, "Acknowledge")
    french = replace(ack, id=None, language="fr", subject="Nous avons lu votre avis",
                     body='<p>Bonjour {{ customer_name | default("") }},</p>'
                          "<p>Merci. {{ owner | default(\"L'équipe\") }}</p>")
    saved(db, french)
    rendering = render_for_sending(find_template(db, "Acknowledge", "fr"),
                                   {"customer_name": "Léa", "owner": "Sam"})
    assert rendering.body == "<p>Bonjour Léa,</p><p>Merci. Sam</p>"
    assert re.search(r"Hi there", render(find_template(db, "Acknowledge", "es"), {}).body)
