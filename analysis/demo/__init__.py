"""A realistic demo data set with known, injected truths (a spike, an improvement, a worse
location), for newcomers, tests and benchmarks."""

from analysis.demo.generator import (
    THEMES,
    WEEKDAYS,
    DemoResult,
    build_demo,
    generate_demo,
    load_truth,
    write_truth,
)

__all__ = ["THEMES", "WEEKDAYS", "DemoResult", "build_demo", "generate_demo", "load_truth",
           "write_truth"]
