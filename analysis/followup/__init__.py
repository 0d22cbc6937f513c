"""Follow-up: the messages that close the loop with a customer (issue 22).

    templates.py  message templates per purpose, language and channel: validation,
                  sandboxed rendering with visible gaps, SMS segments, versions, seeds
    outbox.py     messages on their way out: queueing, idempotent retries, their events
    channels.py   delivery by email (SMTP) and signed JSON webhooks (SMS through a gateway's)
    delivery.py   the sweep's outbox step: staff alerts and case events in, due messages out,
                  a sent follow-up written on its case
"""
