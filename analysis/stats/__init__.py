"""Statistical estimates and tests: every result carries its test, estimate, interval and
p-value (statsmodels style)."""
