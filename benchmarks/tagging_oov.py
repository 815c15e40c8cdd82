"""Tagging accuracy on the words a trained tagger never saw in training.

Tags a split of the run's dataset with the saved model (``rnnkit.load``) and reports the
token accuracy overall, on words that occur in the training split, and on the others
(out-of-vocabulary for training); with pretrained vectors the unseen words are split
again by whether the saved vocabulary holds them (the vectors file gave them a row).

    RNNKIT_MIRROR=../shared/data .venv/bin/python benchmarks/tagging_oov.py RUN_DIR [--split test]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import rnnkit
from rnnkit.tasks import load_run_config
from rnnkit.tasks.tagging.prepare import load_sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--split", default="test", choices=("val", "test"))
    args = parser.parse_args()
    config = load_run_config(args.run_dir)
    sentences = load_sentences(config.data, config.seed)
    seen = {token for s in sentences["train"] for token in s.tokens}
    predictor = rnnkit.load(args.run_dir)
    target = sentences[args.split]
    tagged = predictor.tag([list(s.tokens) for s in target])
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for sentence, pairs in zip(target, tagged, strict=True):
        for token, gold, (_, predicted) in zip(sentence.tokens, sentence.tags, pairs, strict=True):
            if token in seen:
                group = "seen in training"
            elif token in predictor.vocab.words:
                group = "unseen, in the vocabulary (vectors)"
            else:
                group = "unseen, <unk>"
            for name in ("all", group, *(["unseen"] if token not in seen else [])):
                total[name] += 1
                correct[name] += gold == predicted
    print(f"{args.run_dir} ({args.split})")
    for name in ("all", "seen in training", "unseen", *sorted(k for k in total if "," in k)):
        if total[name]:
            share = 100 * correct[name] / total[name]
            print(f"  {name:38s} {share:6.2f}  ({correct[name]} of {total[name]} tokens)")


if __name__ == "__main__":
    main()
