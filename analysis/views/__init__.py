"""What pages show, shaped for them (tables, series, wording), without Streamlit."""
