"""Closeloop's domain rules, each written once: score scales and their bands, NPS groups,
what counts as a comment, how days become weeks and months, and the shared filters.

Every module that needs a rule imports it from here; SQL fragments are built from the same
tables as the Python checks, so the two cannot drift apart.
"""
