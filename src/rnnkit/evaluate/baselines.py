"""Baselines a careful practitioner compares a recurrent model against.

Classification: the majority class, and for text a bag-of-words logistic regression
trained on the same training split (for numeric or audio sequences, a logistic regression
on each sequence's per-feature mean and standard deviation). Forecasting: naive (the last value), seasonal naive
(the value one season earlier) and Holt-Winters exponential smoothing from statsmodels.

Forecast baselines are evaluated at the same forecast origins as the model: an origin
``o`` is the index of the first forecast step, so a forecast may use ``series[:o]`` only.
They return arrays shaped (origins, horizon, targets) in the data's own units.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

from rnnkit.errors import DataError

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- classification


def majority_class(train_labels: Sequence[int] | np.ndarray, count: int) -> np.ndarray:
    """Predict the most frequent training label ``count`` times (ties: the lowest label)."""
    labels = np.asarray(train_labels, dtype=np.int64)
    if labels.size == 0:
        raise DataError("the majority-class baseline needs at least one training label")
    winner = int(np.bincount(labels).argmax())
    return np.full(count, winner, dtype=np.int64)


_TOKEN = re.compile(r"[a-z0-9']+")


def bag_of_words_tokens(text: str) -> list[str]:
    """Lower-cased word tokens with HTML line breaks removed (IMDB reviews contain them)."""
    return _TOKEN.findall(text.replace("<br />", " ").lower())


class BagOfWordsLogistic:
    """Multinomial logistic regression on binary bag-of-words features, in torch.

    The vocabulary is the ``max_features`` most frequent training words that occur in
    at least ``min_df`` training documents. Training is full-batch L-BFGS on the mean
    cross-entropy plus ``l2`` times the squared weight norm, so the result is
    deterministic and needs no learning rate.
    """

    def __init__(self, *, max_features: int = 30000, min_df: int = 2, l2: float = 1e-4) -> None:
        self.max_features = max_features
        self.min_df = min_df
        self.l2 = l2
        self.vocab: dict[str, int] = {}
        self.weight: torch.Tensor | None = None  # (V, C)
        self.bias: torch.Tensor | None = None  # (C,)

    def _features(self, texts: Sequence[str]) -> torch.Tensor:
        rows: list[int] = []
        cols: list[int] = []
        for row, text in enumerate(texts):
            ids = {self.vocab[t] for t in bag_of_words_tokens(text) if t in self.vocab}
            rows.extend([row] * len(ids))
            cols.extend(sorted(ids))
        indices = torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1)
        values = torch.ones(indices.shape[1], dtype=torch.float32)
        return torch.sparse_coo_tensor(
            indices, values, (len(texts), len(self.vocab)), check_invariants=True
        ).coalesce()

    def fit(
        self, texts: Sequence[str], labels: Sequence[int] | np.ndarray, num_classes: int
    ) -> BagOfWordsLogistic:
        document_frequency: Counter[str] = Counter()
        for text in texts:
            document_frequency.update(set(bag_of_words_tokens(text)))
        kept = [(w, n) for w, n in document_frequency.items() if n >= self.min_df]
        kept.sort(key=lambda item: (-item[1], item[0]))
        self.vocab = {word: i for i, (word, _) in enumerate(kept[: self.max_features])}
        features = self._features(texts)  # (N, V) sparse
        target = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        weight = torch.zeros(len(self.vocab), num_classes, requires_grad=True)
        bias = torch.zeros(num_classes, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [weight, bias], lr=1.0, max_iter=200, history_size=10, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            logits = torch.sparse.mm(features, weight) + bias
            loss = torch.nn.functional.cross_entropy(logits, target)
            loss = loss + self.l2 * weight.pow(2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        self.weight, self.bias = weight.detach(), bias.detach()
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self.weight is None or self.bias is None:
            raise RuntimeError("fit the baseline before predicting")
        logits = torch.sparse.mm(self._features(texts), self.weight) + self.bias
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_proba(texts).argmax(axis=1)


class SummaryLogistic:
    """Multinomial logistic regression on each sequence's per-feature mean and standard
    deviation over time (e.g. of MFCCs: the classic bag-of-frames audio baseline).

    The 2F summary features are standardised with the training statistics; training is
    full-batch L-BFGS on the mean cross-entropy plus ``l2`` times the squared weights,
    deterministic like :class:`BagOfWordsLogistic`.
    """

    def __init__(self, *, l2: float = 1e-3) -> None:
        self.l2 = l2
        self.center: torch.Tensor | None = None  # (2F,)
        self.scale: torch.Tensor | None = None  # (2F,)
        self.weight: torch.Tensor | None = None  # (2F, C)
        self.bias: torch.Tensor | None = None  # (C,)

    @staticmethod
    def summary(sequences: Sequence[np.ndarray]) -> torch.Tensor:
        """``(N, 2F)``: each ``(T_i, F)`` sequence's mean and standard deviation over time."""
        rows = [np.concatenate([s.mean(axis=0), s.std(axis=0)]) for s in sequences]
        return torch.as_tensor(np.stack(rows), dtype=torch.float32)

    def fit(
        self, sequences: Sequence[np.ndarray], labels: Sequence[int] | np.ndarray, num_classes: int
    ) -> SummaryLogistic:
        if not len(sequences):
            raise DataError("the logistic baseline needs at least one training sequence")
        raw = self.summary(sequences)
        self.center, self.scale = raw.mean(0), raw.std(0).clamp(min=1e-6)
        features = (raw - self.center) / self.scale  # (N, 2F)
        target = torch.tensor(np.array(labels, dtype=np.int64))  # a copy: labels may be read-only
        weight = torch.zeros(features.shape[1], num_classes, requires_grad=True)
        bias = torch.zeros(num_classes, requires_grad=True)
        optimizer = torch.optim.LBFGS(
            [weight, bias], lr=1.0, max_iter=300, history_size=10, line_search_fn="strong_wolfe"
        )

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(features @ weight + bias, target)
            loss = loss + self.l2 * weight.pow(2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        self.weight, self.bias = weight.detach(), bias.detach()
        return self

    def predict_proba(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        if self.weight is None or self.bias is None:
            raise RuntimeError("fit the baseline before predicting")
        features = (self.summary(sequences) - self.center) / self.scale
        return torch.softmax(features @ self.weight + self.bias, dim=1).numpy()

    def predict(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        return self.predict_proba(sequences).argmax(axis=1)


# ----------------------------------------------------------------------------- forecasting


def _as_2d(series: np.ndarray) -> np.ndarray:
    values = np.asarray(series, dtype=np.float64)
    return values[:, None] if values.ndim == 1 else values


def _check_origins(length: int, origins: Sequence[int], need: int, name: str) -> np.ndarray:
    origins = np.asarray(origins, dtype=np.int64)
    if origins.size and (origins.min() < need or origins.max() > length):
        raise DataError(
            f"{name} needs forecast origins between {need} and {length} "
            f"(got {origins.min()}..{origins.max()})"
        )
    return origins


def naive_forecast(series: np.ndarray, origins: Sequence[int], horizon: int) -> np.ndarray:
    """Every step repeats the last observed value: ŷ[o + h] = y[o - 1]."""
    values = _as_2d(series)  # (T, K)
    origins = _check_origins(len(values), origins, 1, "the naive forecast")
    last = values[origins - 1]  # (N, K)
    return np.repeat(last[:, None, :], horizon, axis=1)  # (N, H, K)


def seasonal_naive_forecast(
    series: np.ndarray, origins: Sequence[int], horizon: int, season_length: int
) -> np.ndarray:
    """Every step repeats the value of the same season in the last observed cycle.

    ŷ[o + h] = y[o + h - m·(⌊h/m⌋ + 1)] for step h = 0, 1, ... and season length m.
    """
    values = _as_2d(series)
    origins = _check_origins(len(values), origins, season_length, "the seasonal naive forecast")
    steps = np.arange(horizon)
    lags = season_length * (steps // season_length + 1)  # (H,)
    index = origins[:, None] + steps[None, :] - lags[None, :]  # (N, H)
    return values[index]  # (N, H, K)


def holt_winters_forecast(
    series: np.ndarray,
    origins: Sequence[int],
    horizon: int,
    season_length: int,
    *,
    fit_end: int,
) -> np.ndarray:
    """Additive Holt-Winters (statsmodels ``ExponentialSmoothing``) for each target column.

    The smoothing parameters and initial states are estimated once, on ``series[:fit_end]``
    (the training part). With those held fixed, the smoothing filter runs once over the
    whole series; a forecast from origin ``o`` uses the states after observing
    ``series[:o]`` only: ŷ[o - 1 + h] = level[o-1] + h·trend[o-1] + season[o-1 - m + 1 +
    (h-1) mod m] for h = 1..horizon (statsmodels' forecast equation, which the tests
    check against refitting at each origin). The seasonal component is left out when the
    training part holds fewer than two full seasons.
    """
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    values = _as_2d(series)
    seasonal = "add" if season_length >= 2 and fit_end >= 2 * season_length else None
    need = season_length if seasonal else 2
    origins = _check_origins(len(values), origins, need, "the Holt-Winters forecast")
    periods = season_length if seasonal else None
    steps = np.arange(1, horizon + 1)  # (H,)
    last = origins - 1  # (N,) index of the last observed row
    out = np.empty((len(origins), horizon, values.shape[1]))
    for column in range(values.shape[1]):
        with warnings.catch_warnings():
            # statsmodels warns about convergence on short or flat series; the fit is
            # still a fair baseline, so the warning is not passed on to the user.
            warnings.simplefilter("ignore")
            params = (
                ExponentialSmoothing(
                    values[:fit_end, column],
                    trend="add",
                    seasonal=seasonal,
                    seasonal_periods=periods,
                    initialization_method="estimated",
                )
                .fit()
                .params
            )
            smoothed = ExponentialSmoothing(
                values[:, column],
                trend="add",
                seasonal=seasonal,
                seasonal_periods=periods,
                initialization_method="known",
                initial_level=params["initial_level"],
                initial_trend=params["initial_trend"],
                initial_seasonal=params["initial_seasons"] if seasonal else None,
            ).fit(
                smoothing_level=params["smoothing_level"],
                smoothing_trend=params["smoothing_trend"],
                smoothing_seasonal=params["smoothing_seasonal"] if seasonal else None,
                optimized=False,
            )
        level, trend = np.asarray(smoothed.level), np.asarray(smoothed.trend)
        forecast = level[last, None] + steps[None, :] * trend[last, None]  # (N, H)
        if seasonal:
            season = np.asarray(smoothed.season)
            offsets = (steps - 1) % season_length - season_length + 1  # (H,)
            forecast = forecast + season[last[:, None] + offsets[None, :]]
        out[:, :, column] = forecast
    return out
