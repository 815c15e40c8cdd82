"""Word vectors made here: word2vec (gensim) on English text of the offline mirror, written
as a word2vec/fastText ``.vec`` text file for ``model.pretrained_embeddings``.

The text is kept apart from every evaluation set of the recipes:

* IMDB reviews of the *train* split only (``<br />`` removed), so an IMDB classifier that
  uses the vectors has never seen its test reviews, not even unlabelled;
* WikiText-2 train (``@-@``, ``@,@``, ``@.@`` joined back, ``<unk>`` dropped, headings skipped);
* Penn Treebank train (lower-case, numbers as ``N``; ``<unk>`` dropped);
* the words of UD English-EWT's train split (never dev or test).

Raw text (IMDB) is tokenised in the manner of UD English: punctuation split off, ``n't``
and clitics (``'s``, ``'ll``, ...) apart, hyphens apart, numbers and URLs whole; case is
kept, since capitals tell proper nouns from common ones.

    RNNKIT_MIRROR=../shared/data nice -n 10 .venv/bin/python benchmarks/word_vectors.py \\
        --out vectors/en-mirror-100d.vec.gz --dim 100

Needs gensim (``pip install -e .[vectors]``); rnnkit itself does not import it.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import rnnkit.data
from rnnkit.data import conll

log = logging.getLogger("word_vectors")

# One token per match, tried in order: URLs and e-mail addresses, numbers with separators,
# dotted abbreviations, the stem before "n't" and "n't" itself (do|n't, ca|n't), clitics,
# words, runs of dots or dashes, any other single symbol.
TOKEN = re.compile(
    r"""https?://\S+|www\.\S+
    |[\w.+-]+@[\w-]+\.[\w.]+
    |\d+(?:[.,:/]\d+)+
    |(?:[^\W\d_]\.){2,}
    |\w+(?=n't\b)|n't\b
    |'(?:s|m|d|ll|re|ve)\b
    |\w+
    |\.{2,}|-{2,}
    |[^\w\s]""",
    re.VERBOSE | re.IGNORECASE,
)
BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
WIKI_JOIN = re.compile(r" @([,.])@ ")


def tokenize(text: str) -> list[str]:
    """UD-like tokens of raw English text."""
    return TOKEN.findall(BREAK.sub(" ", text))


def imdb_sentences(cache_dir: str | None) -> Iterator[list[str]]:
    (root,) = rnnkit.data.get("imdb", cache_dir=cache_dir)
    (train,) = root.glob("*/train")  # <archive>/aclImdb/train
    for label in ("pos", "neg"):
        for path in sorted((train / label).glob("*.txt")):
            yield tokenize(path.read_text(encoding="utf-8"))


def _split_file(name: str, suffix: str, cache_dir: str | None) -> Path:
    paths = rnnkit.data.get(name, cache_dir=cache_dir)
    (path,) = [p for p in paths if p.name.endswith(suffix)]
    return path


def wikitext_sentences(cache_dir: str | None) -> Iterator[list[str]]:
    path = _split_file("wikitext-2", "train.tokens", cache_dir)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith(" = "):
            continue  # paragraph breaks and headings
        line = WIKI_JOIN.sub(r"\1", line).replace("@-@", "-")
        yield [t for t in line.split() if t != "<unk>"]


def ptb_sentences(cache_dir: str | None) -> Iterator[list[str]]:
    path = _split_file("ptb", "ptb.train.txt", cache_dir)
    for line in path.read_text(encoding="utf-8").splitlines():
        yield [t for t in line.split() if t != "<unk>"]


def ewt_sentences(cache_dir: str | None) -> Iterator[list[str]]:
    path = _split_file("ud-english-ewt", "train.conllu.xz", cache_dir)
    for sentence in conll.read_tagged(path, tag_column="upos"):
        yield list(sentence.tokens)


CORPORA = {
    "imdb": imdb_sentences,
    "wikitext-2": wikitext_sentences,
    "ptb": ptb_sentences,
    "ud-ewt-train": ewt_sentences,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help=".vec, .vec.gz or .vec.xz")
    parser.add_argument("--corpora", default=",".join(CORPORA), help="comma-separated")
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--window", type=int, default=3, help="small windows: more syntactic")
    parser.add_argument("--min-count", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from gensim.models import Word2Vec  # an optional extra: imported only here

    started = time.perf_counter()
    sentences: list[list[str]] = []
    for name in args.corpora.split(","):
        before = len(sentences)
        sentences.extend(s for s in CORPORA[name](args.cache_dir) if s)
        tokens = sum(len(s) for s in sentences[before:])
        log.info("%s: %d sentences, %d tokens", name, len(sentences) - before, tokens)
    read = time.perf_counter() - started
    model = Word2Vec(
        sentences,
        vector_size=args.dim,
        window=args.window,
        min_count=args.min_count,
        sg=0 if args.cbow else 1,
        negative=5,
        epochs=args.epochs,
        workers=args.workers,
        seed=args.seed,
    )
    trained = time.perf_counter() - started - read
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # gensim writes "count dim" then one word per line, most frequent first.
    plain = args.out.with_suffix("") if args.out.suffix in (".gz", ".xz") else args.out
    model.wv.save_word2vec_format(str(plain), binary=False)
    if plain != args.out:
        if args.out.suffix == ".gz":
            with open(plain, "rb") as src, gzip.open(args.out, "wb") as dst:
                dst.write(src.read())
        else:
            import lzma

            with open(plain, "rb") as src, lzma.open(args.out, "wb") as dst:
                dst.write(src.read())
        plain.unlink()
    log.info(
        "%d words x %d dims -> %s; reading %.0f s, training %.0f s (%d worker%s)",
        len(model.wv),
        args.dim,
        args.out,
        read,
        trained,
        args.workers,
        "" if args.workers == 1 else "s",
    )


if __name__ == "__main__":
    main()
