from analysis.cli import cli

cli(prog_name="python -m analysis")
