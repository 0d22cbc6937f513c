"""A realistic demo data set with known, injected truths (a spike, an improvement, a worse
location, a key driver), for newcomers, tests and benchmarks.

    model.py     the numbers: volumes, theme and sentiment chances, scores, injected effects
    corpus.toml  the words: templates, fillers, openers, names, hashtags (corpus.py reads it)
    text.py      one comment's text from its themes, sentiment and channel
    generator.py the sampling of rows, step by step (sample.py: what the steps hand on)
    truth.py     what was injected, the measured figures, a label per row; the truth file
    dataset.py   build_demo (rows and truth) and generate_demo (into a store)
"""

from analysis.demo.dataset import DemoResult, build_demo, generate_demo
from analysis.demo.model import THEMES, WEEKDAYS
from analysis.demo.truth import load_truth, write_truth

__all__ = ["THEMES", "WEEKDAYS", "DemoResult", "build_demo", "generate_demo", "load_truth",
           "write_truth"]
