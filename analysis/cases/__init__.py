"""Cases: every negative voice becomes a case with an owner and a deadline.

    policy.py    the rules kept in the store: route bands, SLA policies, calendars, settings
    calendar.py  the business-hours clock (time zone, opening hours, holidays, closed days)
    priority.py  the documented priority score, every part with its points
    people.py    people, teams, routing rules, assignment by capacity, escalation contacts
    sla.py       due times and the state of each stage
    records.py   opening, the lifecycle, assignment, notes, merge/unmerge, the queue's reads
    sweep.py     the sweep step: intake, root-cause tasks, assignment, SLA and escalation
    worker.py    the sweep worker holding a lease (`python -m analysis worker`)
"""
