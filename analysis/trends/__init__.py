"""Trends, spike alerts and root-cause triggers over theme x location series.

- `periods`: local days and ISO weeks (CLOSELOOP_TZ) in SQL;
- `series`: counts per period, theme and location; shares and scores with intervals;
- `trend`: is a series rising, falling or flat (test, estimate, interval, p-value);
- `spikes`: the volume-aware spike test with Benjamini-Hochberg across cells;
- `alerts`: alert episodes, acknowledge and snooze, the sweep step;
- `triggers`: root-cause rules and the tasks they open.
"""
