"""Closeloop's logic: store, import, demo data, metrics, sentiment and themes.

Nothing here imports Streamlit; the pages and the CLI (`python -m analysis`) both call
these functions.
"""

from analysis.settings import prepare_offline_environment

# Offline flags must be set before any model library is imported anywhere in the process.
prepare_offline_environment()
