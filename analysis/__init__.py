"""Closeloop's logic: store, import, demo data, metrics, sentiment and themes.

Nothing here imports Streamlit; the pages and the CLI (`python -m analysis`) both call
these functions. Importing the package touches nothing: `settings.prepare_offline_environment()`
is called by the CLI, by app.py, and right before a model library is first imported.
"""
