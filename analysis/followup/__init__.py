"""Follow-up: the messages that close the loop with a customer (issue 22).

    templates.py  message templates per purpose, language and channel: validation,
                  sandboxed rendering with visible gaps, SMS segments, versions, seeds
    outbox.py     messages on their way out: queueing, idempotent retries, their events
    channels.py   delivery by email (SMTP) and signed webhooks
    delivery.py   what the sweep does with the outbox: alerts and case events in, due
                  messages out, sent follow-ups written on their case
"""
