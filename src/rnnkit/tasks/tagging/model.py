"""The tagger: word and character features -> bidirectional recurrent stack -> tags.

    words (B, T) --embedding (word dropout: ids -> <unk>)--> (B, T, E)
        [+ a trained embedding of the training words (B, T, Et), with frozen vectors]
    chars (B, T, W) --per distinct word: char embedding (Ec) -> BiLSTM final states
                      (2·Hc) or CNN + max over characters (Hc)--> (B, T, C)
    concat (B, T, E [+ Et] + C) --locked dropout--> recurrent stack (rnnkit.nn, lengths)
        --> (B, T, D·H) --locked dropout--> linear --> emissions (B, T, K)
    emissions --softmax per token | linear-chain CRF (rnnkit.nn.CRF)--> tags (B, T)

This is the BiLSTM tagger with character features of Plank, Søgaard and Goldberg (2016,
"Multilingual Part-of-Speech Tagging with Bidirectional LSTM Models and Auxiliary
Loss") and, with ``crf``, the BiLSTM-CRF of Lample et al. (2016, "Neural Architectures
for Named Entity Recognition"); the CNN character encoder is that of Ma and Hovy
(2016, "End-to-end Sequence Labeling via Bi-directional LSTM-CNNs-CRF").

Padded positions never count: the recurrent stack gets the true lengths, the
character encoder sees only real words, the loss is taken over real tokens only, and
decoding writes ``pad`` (0) at padded positions.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.nn import LSTM
from rnnkit.nn.crf import CRF
from rnnkit.nn.regularization import LockedDropout, check_probability
from rnnkit.tasks.stack import make_recurrent, valid_mask
from rnnkit.tasks.tagging.config import TaggingConfig, TaggingModel

PAD_ID, UNK_ID = 0, 1  # in both the word and the character vocabularies


class CharEncoder(nn.Module):
    """One vector per word from its characters: a BiLSTM's final states or a max-pooled CNN.

    ``forward(chars)`` takes (N, W) character ids, 0 after each word's end, and returns
    (N, output_size). A word of characters it never saw still gets a vector from the
    ones it did (``<unk>`` for the rest), which is what lets the tagger guess the tag of
    an unseen word from its shape (suffixes, capitals, digits).
    """

    def __init__(
        self, num_chars: int, embedding_size: int, hidden_size: int, kind: str, kernel_size: int
    ) -> None:
        super().__init__()
        if kind not in ("lstm", "cnn"):
            raise ValueError(f"char encoder {kind!r}: use lstm or cnn")
        self.kind = kind
        self.embedding = nn.Embedding(num_chars, embedding_size, padding_idx=PAD_ID)
        if kind == "lstm":
            self.lstm = LSTM(embedding_size, hidden_size, batch_first=True, bidirectional=True)
            self.output_size = 2 * hidden_size
        else:
            # Odd or even kernels: pad so that every character is a window's centre.
            self.conv = nn.Conv1d(embedding_size, hidden_size, kernel_size, padding="same")
            self.output_size = hidden_size

    def forward(self, chars: Tensor) -> Tensor:
        lengths = (chars != PAD_ID).sum(1).clamp(min=1)  # (N,)
        if self.kind == "lstm":
            return self._lstm_by_length(chars, lengths)
        embedded = self.embedding(chars)  # (N, W, Ec)
        features = self.conv(embedded.transpose(1, 2)).transpose(1, 2)  # (N, W, Hc)
        real = valid_mask(lengths, chars.shape[1])  # (N, W)
        return features.masked_fill(~real[..., None], float("-inf")).amax(1)  # (N, Hc)

    def _lstm_by_length(self, chars: Tensor, lengths: Tensor) -> Tensor:
        # Words of one length run together without padding: a dozen unpadded calls are
        # faster on a CPU than one padded call with lengths, and give the same states.
        out = chars.new_zeros(chars.shape[0], self.output_size, dtype=self.embedding.weight.dtype)
        for length in lengths.unique().tolist():
            rows = (lengths == length).nonzero().squeeze(1)  # (n,)
            embedded = self.embedding(chars[rows, :length])  # (n, L, Ec)
            _, (h_n, _) = self.lstm(embedded)  # h_n (2, n, Hc)
            # Forward direction's state after the last character, backward's after the first.
            out = out.index_copy(0, rows, torch.cat([h_n[0], h_n[1]], dim=1))  # (N, 2·Hc)
        return out


class Tagger(nn.Module):
    """Per-token tag scores for sentences of word ids and character ids.

    Args:
        num_words: size of the word vocabulary (0 = padding, 1 = ``<unk>``).
        num_chars: size of the character vocabulary (0 = padding, 1 = ``<unk>``).
        num_tags: number of tags K.
        config: the ``model:`` section (:class:`TaggingModel`).
        num_training_words: the first ids that are training words (the rest came from
            pretrained vectors); the size of the trained table when
            ``config.trained_embedding_size`` is set.
    """

    def __init__(
        self,
        num_words: int,
        num_chars: int,
        num_tags: int,
        config: TaggingModel,
        num_training_words: int | None = None,
    ) -> None:
        super().__init__()
        self.num_tags = num_tags
        self.word_dropout = check_probability("word dropout", config.word_dropout)
        self.words = nn.Embedding(num_words, config.embedding_size, padding_idx=PAD_ID)
        # Frozen pretrained vectors: no gradient, so the optimizer leaves them as loaded.
        self.words.weight.requires_grad_(not config.freeze_embeddings)
        features = config.embedding_size
        self.trained_words: nn.Embedding | None = None
        if config.trained_embedding_size:
            size = num_words if num_training_words is None else num_training_words
            self.trained_words = nn.Embedding(
                size, config.trained_embedding_size, padding_idx=PAD_ID
            )
            # Zero: at the start every word is its pretrained vector alone.
            nn.init.zeros_(self.trained_words.weight)
            features += config.trained_embedding_size
        self.chars: CharEncoder | None = None
        if config.char_encoder != "none":
            self.chars = CharEncoder(
                num_chars,
                config.char_embedding_size,
                config.char_hidden_size,
                config.char_encoder,
                config.char_kernel_size,
            )
            features += self.chars.output_size
        self.input_dropout = LockedDropout(config.input_dropout, batch_first=True)
        self.recurrent = make_recurrent(config, features, config.bidirectional)
        self.output_dropout = LockedDropout(config.output_dropout, batch_first=True)
        directions = 2 if config.bidirectional else 1
        self.head = nn.Linear(directions * config.hidden_size, num_tags)
        self.crf = CRF(num_tags) if config.crf else None

    def forward(self, words: Tensor, chars: Tensor, lengths: Tensor) -> Tensor:
        """Emissions (B, T, K) for words (B, T), chars (B, T, W) and lengths (B,)."""
        steps = words.shape[1]
        mask = valid_mask(lengths.to(words.device), steps)  # (B, T)
        if self.training and self.word_dropout > 0:
            # Unknown-word practice: a dropped word is looked up as <unk>, so the
            # <unk> vector and the character features learn to stand for rare words.
            dropped = torch.rand(words.shape, device=words.device) < self.word_dropout
            words = words.masked_fill(dropped & mask, UNK_ID)
        inputs = self.words(words)  # (B, T, E)
        if self.trained_words is not None:
            known = words < self.trained_words.num_embeddings
            trained = self.trained_words(words.masked_fill(~known, UNK_ID))  # (B, T, Et)
            inputs = torch.cat([inputs, trained], dim=2)  # (B, T, E+Et)
        if self.chars is not None:
            inputs = torch.cat([inputs, self._char_features(chars, mask)], dim=2)  # (B, T, E+C)
        inputs = self.input_dropout(inputs)
        lengths = lengths.to("cpu", torch.long)
        # A batch of sentences of one length (frequent with length buckets) needs no
        # lengths: the layer then runs its faster unpadded path, with the same result.
        if bool((lengths == steps).all()):
            outputs, _ = self.recurrent(inputs)  # (B, T, D·H)
        else:
            outputs, _ = self.recurrent(inputs, lengths=lengths)  # (B, T, D·H)
        return self.head(self.output_dropout(outputs))  # (B, T, K)

    def _char_features(self, chars: Tensor, mask: Tensor) -> Tensor:
        # Encode each distinct spelling in the batch once (a batch repeats "the", ",",
        # "." many times), then scatter the vectors back to the positions.
        real_words = chars[mask]  # (N, W) the real positions only
        distinct, where = torch.unique(real_words, dim=0, return_inverse=True)  # (U, W), (N,)
        encoded = self.chars(distinct)  # (U, C)
        out = encoded.new_zeros(*mask.shape, encoded.shape[1])  # (B, T, C)
        out[mask] = encoded[where]
        return out

    def loss(self, words: Tensor, chars: Tensor, lengths: Tensor, tags: Tensor) -> Tensor:
        """Mean loss per real token: cross-entropy, or the CRF's negative log-likelihood.

        The CRF's sentence-level negative log-likelihood is divided by the number of
        real tokens too, so both outputs train at the same learning rates.
        """
        emissions = self(words, chars, lengths)  # (B, T, K)
        mask = valid_mask(lengths.to(words.device), words.shape[1])  # (B, T)
        if self.crf is not None:
            return self.crf(emissions, tags, mask) / mask.sum()
        return F.cross_entropy(emissions[mask], tags[mask])

    @torch.no_grad()
    def decode(self, words: Tensor, chars: Tensor, lengths: Tensor, pad: int = 0) -> Tensor:
        """The predicted tag ids (B, T): Viterbi with a CRF, per-token argmax without."""
        emissions = self(words, chars, lengths)  # (B, T, K)
        mask = valid_mask(lengths.to(words.device), words.shape[1])
        if self.crf is not None:
            return self.crf.decode(emissions, mask, pad=pad)
        return emissions.argmax(-1).masked_fill(~mask, pad)


def build_model(config: TaggingConfig, info: dict[str, Any]) -> Tagger:
    """The tagger a run's config and ``preprocess/info.json`` describe."""
    return Tagger(
        info["num_words"],
        info["num_chars"],
        info["num_tags"],
        config.model,
        info.get("num_training_words"),  # absent in runs made before it
    )
