"""The feedback loop measured: how much a person's profile improves what moodlens reads on them.

    python benchmarks/bench_personal.py [--model crowd] [--people 10] [--markdown FILE]

On JAFFE (10 people, about 3 posed photos of each of the 7 expressions; see jaffe.py), end to end
through the code the CLI uses (the shipped detector, then the classifier, then
``moodlens.personal.Profile``), per person and leave-one-out: a photo is never both fitted and
scored. Accuracy of

    (a) the plain model;
    (b) a baseline only: one neutral photo of that person (another one when the scored photo is
        neutral);
    (c) that baseline and one correction per other expression (the first photo of each);
    (d) all that person's other photos: the neutral ones as baseline, the others as corrections.

It prints the per-person table, the totals, and the confusion matrices of (a) and (d); with
``--markdown`` it writes them to a file as well (docs/personal.md includes the output).
``--widths`` adds rows for other prototype widths, to show how much the figures depend on that
constant (the shipped width is PersonalSettings' default).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from common import machine
from jaffe import JAFFE, Photo, analyse, read_jaffe
from moodlens.evaluation import compute_metrics
from moodlens.labels import LABELS, NUM_CLASSES
from moodlens.personal import PersonalSettings, Profile, Sample

NEUTRAL = LABELS.index("neutral")
CONDITIONS = ("a", "b", "c", "d")
TITLES = {
    "a": "(a) plain model",
    "b": "(b) + baseline (1 neutral photo)",
    "c": "(c) + 1 correction per expression",
    "d": "(d) + all other photos",
}


def samples_for(
    condition: str, scored: int, own: list[int], labels: np.ndarray, probs: np.ndarray
) -> list[Sample]:
    """The samples condition ``condition`` may use to score photo ``scored`` (never itself)."""
    others = [j for j in own if j != scored and not np.isnan(probs[j, 0])]
    neutral = [j for j in others if labels[j] == NEUTRAL]
    if condition == "d":
        chosen = others
    else:
        chosen = neutral[:1]
        if condition == "c":
            for k in range(NUM_CLASSES):
                first = [j for j in others if labels[j] == k and k != NEUTRAL][:1]
                chosen += first
    return [
        Sample("neutral", probs[j])
        if labels[j] == NEUTRAL
        else Sample("correction", probs[j], label=LABELS[int(labels[j])])
        for j in chosen
    ]


def predict(condition: str, probs: np.ndarray, photos: list[Photo], settings: PersonalSettings) -> np.ndarray:
    """Predicted label per photo (-1 where no single face was found)."""
    labels = np.array([p.label for p in photos])
    people: dict[str, list[int]] = {}
    for i, photo in enumerate(photos):
        people.setdefault(photo.person, []).append(i)
    out = np.full(len(photos), -1)
    for i, photo in enumerate(photos):
        if np.isnan(probs[i, 0]):
            continue
        if condition == "a":
            out[i] = int(probs[i].argmax())
            continue
        profile = Profile.fit(
            photo.person, samples_for(condition, i, people[photo.person], labels, probs), settings
        )
        out[i] = int(profile.apply(probs[i]).argmax())
    return out


def table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def confusion(truth: np.ndarray, predicted: np.ndarray, title: str) -> str:
    found = predicted >= 0
    matrix = compute_metrics(truth[found], predicted[found]).confusion
    rows = [[f"{title}: truth \\ read", *LABELS, "no face"]]
    for k, label in enumerate(LABELS):
        rows.append([label, *[str(v) for v in matrix[k]], str(int(((truth == k) & ~found).sum()))])
    return table(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="crowd", help="a shipped model name or an .onnx path")
    parser.add_argument("--jaffe", type=Path, default=JAFFE)
    parser.add_argument("--people", type=int, default=0, help="only the first N people (0: all)")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument(
        "--widths", type=float, nargs="*", default=[], help="other prototype widths to report"
    )
    args = parser.parse_args(argv)
    if not args.jaffe.exists():
        print(
            f"JAFFE not found at {args.jaffe}; see ../shared/data/README.md (or set MOODLENS_JAFFE)",
            file=sys.stderr,
        )
        return 2

    import moodlens

    photos = read_jaffe(args.jaffe, args.people)
    analyzer = moodlens.Analyzer(classifier=moodlens.load_classifier(args.model))
    probs, faces = analyse(analyzer, photos)
    truth = np.array([p.label for p in photos])
    settings = PersonalSettings()
    predicted = {c: predict(c, probs, photos, settings) for c in CONDITIONS}

    people = sorted({p.person for p in photos})
    person_of = np.array([p.person for p in photos])

    def accuracy(pred: np.ndarray, mask: np.ndarray | None = None) -> float:
        keep = np.ones(len(truth), bool) if mask is None else mask
        return float((pred[keep] == truth[keep]).mean())

    rows = [["person", "photos", *[TITLES[c] for c in CONDITIONS]]]
    worse: list[str] = []
    for person in people:
        mask = person_of == person
        accs = {c: accuracy(predicted[c], mask) for c in CONDITIONS}
        rows.append([person, str(int(mask.sum())), *[f"{100 * accs[c]:.1f}%" for c in CONDITIONS]])
        worse += [f"{person} in ({c})" for c in ("c", "d") if accs[c] < accs["a"]]
    totals = {c: accuracy(predicted[c]) for c in CONDITIONS}
    rows.append(["**all**", str(len(photos)), *[f"**{100 * totals[c]:.1f}%**" for c in CONDITIONS]])
    gain = 100 * (totals["b"] - totals["a"])
    summary = (
        f"model {args.model}, {len(photos)} photos of {len(people)} people, "
        f"{int((faces == 1).sum())} with exactly one face found; prototype width {settings.width}; {machine()}\n"
        f"(b) - (a): {gain:+.1f} points; people made worse than (a) in (c) or (d): {', '.join(worse) or 'none'}"
    )
    extra: list[list[str]] = []
    for width in args.widths:
        other = PersonalSettings(width=width)
        extra.append(
            [f"width {width}", *[f"{100 * accuracy(predict(c, probs, photos, other)):.1f}%" for c in "bcd"]]
        )
    parts = [summary, table(rows)]
    if extra:
        parts.append(table([["setting", TITLES["b"], TITLES["c"], TITLES["d"]], *extra]))
    parts += [confusion(truth, predicted["a"], "(a)"), confusion(truth, predicted["d"], "(d)")]
    text = "\n\n".join(parts)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
