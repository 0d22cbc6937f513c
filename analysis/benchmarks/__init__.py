"""Cross-location benchmarks and key drivers.

- `metrics`: per group (location, segment, channel, touchpoint) sufficient statistics of
  NPS, CSAT, CES, mean rating, negative share and theme shares, with 95% intervals;
- `ranking`: each group against the rest of the network (difference, interval, p-value,
  Benjamini-Hochberg), empirical-Bayes shrinkage, labels and ranks, funnel limits;
- `drivers`: the score points each theme costs (regression adjusted for location and
  segment, robust errors) and each location's opportunity.
"""
