"""Sentiment quality: accuracy and macro-F1 of each method on labelled comments.

    .venv/bin/python bench/sentiment_quality.py [--rows 5000] [--seed 7] [--skip-demo]

Two label sources:
(a) the demo truth: analysis.demo generates responses from templates and records the
    sentiment each comment was written to carry (sarcasm included). It measures whether a
    method recovers what the generator meant; it is synthetic, so it flatters any method
    that learns the templates (the classifier most of all).
(b) 60 short customer-style comments written and hand-labelled by us, the Closeloop
    developers, for this bench: not real customers, not an independent annotation.

Methods: VADER; prototype zero-shot on all-MiniLM-L6-v2; the classifier trained on scores
(labels from the comments' own scores), judged against the truth by 5-fold out-of-fold
predictions on scored comments and on held-out comments without a score; the score alone;
score fused with each text method; and the whole `score_feedback` pipeline.

Human-readable lines first; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import analysis  # noqa: E402,F401  (sets the offline flags before any model import)
from analysis import store  # noqa: E402
from analysis.text import sentiment
from analysis.text.sentiment import LABELS  # noqa: E402

# (text, label). Written and labelled by us; about a fifth sarcastic, a fifth mixed.
HANDLABELLED: list[tuple[str, str]] = [
    ("Checkout took two minutes, brilliant", "positive"),
    ("The driver was polite and careful with the boxes", "positive"),
    ("Sorted my billing mess on the first call, thank you Priya", "positive"),
    ("Really pleased with the new opening hours", "positive"),
    ("Fresh bread, friendly faces, what more do you want", "positive"),
    ("Refund landed the same day. Impressed.", "positive"),
    ("Booking online was a breeze", "positive"),
    ("The nurse explained everything clearly and calmly", "positive"),
    ("Top marks for the engineer who came out", "positive"),
    ("My kids loved the play area", "positive"),
    ("Parking was a pain but the staff more than made up for it", "positive"),
    ("Bit pricey, but honestly worth every penny", "positive"),
    ("Didn't expect much, was pleasantly surprised", "positive"),
    ("Couldn't fault it", "positive"),
    ("No hassle at all, will use again", "positive"),
    ("Sat in the queue for forty minutes", "negative"),
    ("Rang three times, no one picked up", "negative"),
    ("Charged twice and still no refund", "negative"),
    ("The manager just shrugged", "negative"),
    ("Website logged me out halfway through paying", "negative"),
    ("Toilets were filthy", "negative"),
    ("Ordered a large, got a small, paid for a large", "negative"),
    ("Cancelled my appointment without telling me", "negative"),
    ("Never again.", "negative"),
    ("Chatbot went round in circles", "negative"),
    ("Food arrived cold and soggy", "negative"),
    ("Staff were lovely but the wait was unacceptable", "negative"),
    ("Nice shop, shame about the rude security guard", "negative"),
    ("Cheap, but you get what you pay for: it broke in a week", "negative"),
    ("Fantastic, a third missed delivery this month", "negative"),
    ("Oh brilliant, the app updated and now nothing works", "negative"),
    ("Love paying extra for a seat that doesn't recline", "negative"),
    ("Wow, only took them six weeks to reply", "negative"),
    ("Great job losing my parcel, again", "negative"),
    ("Thanks so much for hanging up on me", "negative"),
    ("Such amazing service, I only had to ask four times", "negative"),
    ("Perfect, another 'technical issue'", "negative"),
    ("Brilliant customer service, if you enjoy hold music", "negative"),
    ("Ten out of ten for making a simple return impossible", "negative"),
    ("Really helpful, said nobody ever", "negative"),
    ("It was fine", "neutral"),
    ("Collected my order at 3pm", "neutral"),
    ("Pretty standard, nothing to report", "neutral"),
    ("Okay I suppose", "neutral"),
    ("Average prices, average food", "neutral"),
    ("First time using the service", "neutral"),
    ("Same as last time", "neutral"),
    ("Does what it says", "neutral"),
    ("The store has moved to the high street", "neutral"),
    ("Some good, some bad", "neutral"),
    ("Quick visit, bought a charger", "neutral"),
    ("Not bad, not great", "neutral"),
    ("I paid by card", "neutral"),
    ("Delivery was on the day they said", "neutral"),
    ("Fairly typical experience", "neutral"),
    ("Staff were friendly enough but the wait was long", "neutral"),
    ("Good coffee, slow service", "neutral"),
    ("Returned a jumper, no questions asked, but no receipt either", "neutral"),
    ("Cleaner than last time, still not great", "neutral"),
    ("Met expectations", "neutral"),
]


def figures(truth: list[str], predicted: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    if not truth:
        return {"accuracy": None, "macro_f1": None, "n": 0}
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, labels=list(LABELS), average="macro",
                                         zero_division=0)), 4),
        "n": len(truth),
    }


def line(name: str, result: dict) -> None:
    if result["n"] == 0:
        print(f"  {name:<44} (no rows)")
        return
    f1 = "  -  " if result["macro_f1"] is None else f"{result['macro_f1']:.3f}"
    print(f"  {name:<44} accuracy {result['accuracy']:.3f}   macro-F1 {f1}   n={result['n']}")


def labels_of(results) -> list[str]:
    return [r.label for r in results]


def bench_demo(rows: int, seed: int, embedder, workdir: Path) -> tuple[dict, object]:
    """Figures on the demo truth; returns them and a classifier trained on all scored comments."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from analysis import demo
    from analysis.text.embeddings import embed_texts

    db = store.connect(workdir / "bench.db")
    truth_path = workdir / "truth.json"
    started = time.perf_counter()
    demo.generate_demo(db, rows=rows, seed=seed, truth_path=truth_path, actor="bench")
    truth_rows = json.loads(truth_path.read_text())["rows"]
    truth = {str(r["external_id"]): str(r.get("sentiment") or "").lower() for r in truth_rows}
    records = db.execute("""SELECT id, external_id, score_type, score, TRIM(comment)
                            FROM feedback WHERE TRIM(COALESCE(comment, '')) <> ''
                            ORDER BY id""").fetchall()
    kept = [r for r in records if truth.get(str(r[1])) in LABELS]
    print(f"Demo: {rows} responses generated (seed {seed}) in {time.perf_counter() - started:.0f}s; "
          f"{len(records)} with a comment, {len(kept)} with a truth label in {LABELS}.")
    texts = [r[4] for r in kept]
    y = [truth[str(r[1])] for r in kept]
    print(f"  truth labels: { {label: y.count(label) for label in LABELS} }; "
          f"{len(set(texts))} distinct comment texts")

    started = time.perf_counter()
    vectors = embed_texts(db, texts, embedder)
    print(f"  embedded in {time.perf_counter() - started:.0f}s")
    out: dict = {}
    vader = sentiment.vader_sentiment(texts)
    proto = sentiment.prototype_sentiment(vectors, embedder)
    out["vader"] = figures(y, labels_of(vader))
    out["prototype"] = figures(y, labels_of(proto))

    scored = [i for i, r in enumerate(kept) if r[3] is not None]
    unscored = [i for i, r in enumerate(kept) if r[3] is None]
    y_scored = [y[i] for i in scored]
    score_labels = np.array([sentiment.label_from_score(kept[i][2], kept[i][3]) for i in scored],
                            dtype=object)
    out["score_only"] = figures(y_scored, list(score_labels))
    out["fused_vader"] = figures(y_scored, [sentiment.fuse(vader[i], kept[i][2], kept[i][3]).label
                                            for i in scored])
    out["fused_prototype"] = figures(
        y_scored, [sentiment.fuse(proto[i], kept[i][2], kept[i][3]).label for i in scored])
    out["vader_on_scored"] = figures(y_scored, [vader[i].label for i in scored])
    out["prototype_on_scored"] = figures(y_scored, [proto[i].label for i in scored])

    classifier = None
    if len(scored) >= 50:
        model = LogisticRegression(class_weight="balanced", max_iter=1000)
        cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
        oof = cross_val_predict(model, vectors[scored], score_labels, cv=cv)
        # What the app shows (agreement with score labels) and what matters (the truth).
        out["classifier_cv_vs_score_labels"] = figures(list(score_labels), list(oof))
        out["classifier_cv_vs_truth"] = figures(y_scored, list(oof))
        classifier, report = sentiment.train_score_classifier(vectors[scored], list(score_labels))
        if classifier is not None and unscored:
            predicted = classifier.predict(vectors[unscored])
            out["classifier_heldout_unscored"] = figures([y[i] for i in unscored],
                                                         labels_of(predicted))
            out["vader_on_unscored"] = figures([y[i] for i in unscored],
                                               [vader[i].label for i in unscored])
            out["prototype_on_unscored"] = figures([y[i] for i in unscored],
                                                   [proto[i].label for i in unscored])

    started = time.perf_counter()
    summary = sentiment.score_feedback(db, embedder=embedder, actor="bench")
    stored = dict(db.execute("SELECT f.external_id, s.label FROM sentiment s "
                             "JOIN feedback f ON f.id = s.feedback_id").fetchall())
    out["pipeline_score_feedback"] = figures(y, [stored[str(r[1])] for r in kept])
    out["pipeline_method_for_unscored"] = summary.method
    out["pipeline_seconds"] = round(time.perf_counter() - started, 1)
    db.close()

    print(f"Demo truth, {len(kept)} comments ({len(scored)} with a score, "
          f"{len(unscored)} without):")
    for key, value in out.items():
        if isinstance(value, dict):
            line(key, value)
    print(f"  score_feedback used '{summary.method}' for comments without a score "
          f"({out['pipeline_seconds']}s with cached embeddings)")
    return out, classifier


def bench_handlabelled(embedder, classifier) -> dict:
    texts = [t for t, _ in HANDLABELLED]
    y = [label for _, label in HANDLABELLED]
    vectors = embedder.encode(texts)
    out = {
        "vader": figures(y, labels_of(sentiment.vader_sentiment(texts))),
        "prototype": figures(y, labels_of(sentiment.prototype_sentiment(vectors, embedder))),
    }
    if classifier is not None:
        out["classifier_trained_on_demo_scores"] = figures(y, labels_of(classifier.predict(vectors)))
    sarcastic = [i for i, (t, _) in enumerate(HANDLABELLED) if 29 <= i <= 39]
    vader_s = sentiment.vader_sentiment([texts[i] for i in sarcastic])
    proto_s = sentiment.prototype_sentiment(vectors[sarcastic], embedder)
    # One class only: accuracy is the share of sarcasm caught; macro-F1 means nothing here.
    out["sarcasm_only_vader"] = {**figures([y[i] for i in sarcastic], labels_of(vader_s)),
                                 "macro_f1": None}
    out["sarcasm_only_prototype"] = {**figures([y[i] for i in sarcastic], labels_of(proto_s)),
                                     "macro_f1": None}
    print(f"Hand-labelled by us (the developers, not customers; {len(texts)} comments, "
          f"{sum(1 for v in y if v == 'negative')} negative of which {len(sarcastic)} sarcastic, "
          f"{y.count('neutral')} neutral, {y.count('positive')} positive):")
    for key, value in out.items():
        line(key, value)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args(argv)

    from analysis.text.embeddings import default_embedder

    embedder = default_embedder()
    result: dict = {"embedder": embedder.name, "rows": args.rows, "seed": args.seed}
    classifier = None
    if not args.skip_demo:
        with tempfile.TemporaryDirectory() as workdir:
            result["demo"], classifier = bench_demo(args.rows, args.seed, embedder, Path(workdir))
    result["handlabelled"] = bench_handlabelled(embedder, classifier)
    result["handlabelled_note"] = "hand-labelled by the Closeloop developers, not by customers"
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
