"""Target transforms of a forecasting run: a pointwise transform, then a lag difference.

The K target columns go through two optional steps before the scaler sees them, both
fitted on the training part only and saved to ``preprocess/transform.json``:

    z_t = g(y_t)                g: identity, log, log1p or Box-Cox (lambda fitted)
    d_t = z_t - z_{t-lag}       when ``lag`` > 0 (the first ``lag`` rows have no value)

A forecast made in the transformed units (d-hat for the H steps after an origin o) is
turned back into the data's units by undoing the difference step by step (a step more
than ``lag`` after the origin builds on the forecast itself) and then g:

    z-hat_t = d-hat_t + (z_{t-lag} if t - lag < o else z-hat_{t-lag});   y-hat_t = g^-1(z-hat_t)

Box-Cox (Box & Cox 1964, J. R. Stat. Soc. B 26(2)) is
``(y^lambda - 1) / lambda`` (``log y`` at lambda 0), lambda chosen by maximum likelihood
(``scipy.stats.boxcox``) on the training rows of each target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnkit.errors import DataError, UserError

TRANSFORMS: tuple[str, ...] = ("none", "log", "log1p", "boxcox")

# The smallest value each transform accepts (exclusive), for the error message.
_LOWER_BOUND = {"log": 0.0, "boxcox": 0.0, "log1p": -1.0}


class TargetTransform:
    """Pointwise transform (``kind``) and ``lag`` differencing of the K target columns.

    Arrays are (T, K) series or (N, H, K) forecasts; the last axis is the targets.
    """

    def __init__(
        self,
        kind: str = "none",
        lag: int = 0,
        lambdas: Sequence[float] | None = None,
        columns: Sequence[str] = (),
    ) -> None:
        if kind not in TRANSFORMS:
            raise UserError(f"data.transform {kind!r} is not one of {', '.join(TRANSFORMS)}")
        if lag < 0:
            raise UserError(f"data.difference must be 0 (off) or a lag >= 1, got {lag}")
        self.kind = kind
        self.lag = int(lag)
        self.lambdas = None if lambdas is None else [float(x) for x in lambdas]
        self.columns = [str(c) for c in columns]

    @property
    def is_identity(self) -> bool:
        return self.kind == "none" and self.lag == 0

    # ------------------------------------------------------------------ fitting

    def fit(self, train: np.ndarray, *, index: Any = None) -> TargetTransform:
        """Fit Box-Cox's lambda per target on the training rows (T, K); other kinds
        have nothing to fit but still check that the values are in their domain."""
        matrix = _matrix(train)
        self._check_domain(matrix, index)
        if self.kind == "boxcox":
            from scipy import stats

            lambdas = []
            for j in range(matrix.shape[1]):
                column = matrix[:, j][np.isfinite(matrix[:, j])]
                if len(column) < 2 or np.ptp(column) == 0:
                    raise DataError(
                        f"Box-Cox needs a varying target to fit lambda; column "
                        f"{self._name(j)!r} is constant on the training part"
                    )
                _, lmbda = stats.boxcox(column.astype(np.float64))
                lambdas.append(float(lmbda))
            self.lambdas = lambdas
        return self

    def _check_domain(self, matrix: np.ndarray, index: Any) -> None:
        """A log or Box-Cox of a value outside its domain is a DataError naming the column
        and the first bad row (1-based, with its timestamp when there is one)."""
        bound = _LOWER_BOUND.get(self.kind)
        if bound is None:
            return
        bad = np.isfinite(matrix) & (matrix <= bound)
        if not bad.any():
            return
        row, column = (int(x) for x in np.argwhere(bad)[0])
        where = f"row {row + 1}"
        if index is not None and not isinstance(index[row], (int, np.integer)):
            where += f" ({index[row]})"
        raise DataError(
            f"data.transform {self.kind} needs values > {bound:g}: column "
            f"{self._name(column)!r}, {where} is {matrix[row, column]:g} (use log1p for "
            "zeros, or transform: none)"
        )

    def _name(self, column: int) -> str:
        return self.columns[column] if column < len(self.columns) else f"target {column}"

    # ------------------------------------------------------------------ forward

    def pointwise(self, values: np.ndarray, *, index: Any = None) -> np.ndarray:
        """g(y) for (..., K) values."""
        array = np.asarray(values, dtype=np.float64)
        self._check_domain(array.reshape(-1, array.shape[-1]), index)
        if self.kind == "log":
            return np.log(array)
        if self.kind == "log1p":
            return np.log1p(array)
        if self.kind == "boxcox":
            from scipy import special

            return special.boxcox(array, np.asarray(self._fitted_lambdas()))
        return array.copy()

    def inverse_pointwise(self, values: np.ndarray) -> np.ndarray:
        """g^-1(z) for (..., K) values; Box-Cox values outside the image of g are clipped
        to its edge first (a forecast may overshoot it), so the result is finite."""
        array = np.asarray(values, dtype=np.float64)
        if self.kind == "log":
            return np.exp(array)
        if self.kind == "log1p":
            return np.expm1(array)
        if self.kind == "boxcox":
            from scipy import special

            lambdas = np.asarray(self._fitted_lambdas())
            # y^lambda = 1 + lambda z must stay positive.
            edge = np.where(lambdas != 0, -1.0 / np.where(lambdas != 0, lambdas, 1.0), np.nan)
            margin = 1e-9 * np.maximum(1.0, np.abs(edge))
            low = np.where(lambdas > 0, edge + margin, -np.inf)
            high = np.where(lambdas < 0, edge - margin, np.inf)
            return special.inv_boxcox(np.clip(array, low, high), lambdas)
        return array.copy()

    def _fitted_lambdas(self) -> list[float]:
        if self.lambdas is None:
            raise RuntimeError("the Box-Cox transform is not fitted yet: call fit(train_values)")
        return self.lambdas

    def apply(self, values: np.ndarray, *, index: Any = None) -> np.ndarray:
        """(T, K) -> g, then the lag difference; the first ``lag`` rows become NaN."""
        transformed = self.pointwise(_matrix(values), index=index)
        if self.lag == 0:
            return transformed
        differenced = np.full_like(transformed, np.nan)
        differenced[self.lag :] = transformed[self.lag :] - transformed[: -self.lag]
        return differenced

    # ------------------------------------------------------------------ inverse

    def restore(self, forecast: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
        """Forecasts (N, H, K) in transformed units -> the data's units.

        ``before`` (N, lag, K) holds, for each forecast, the ``lag`` observed rows just
        before its origin in the data's units; it is needed only when ``lag`` > 0.
        """
        array = np.asarray(forecast, dtype=np.float64)
        if self.lag:
            if before is None or np.shape(before)[-2] < self.lag:
                raise DataError(
                    f"undoing a lag-{self.lag} difference needs the {self.lag} rows before "
                    "each forecast origin"
                )
            levels = self.pointwise(np.asarray(before, dtype=np.float64)[..., -self.lag :, :])
            steps = [levels[:, j] for j in range(self.lag)]  # z before the origin, oldest first
            for h in range(array.shape[1]):
                steps.append(array[:, h] + steps[h])
            array = np.stack(steps[self.lag :], axis=1)  # (N, H, K)
        return self.inverse_pointwise(array)

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        if self.kind == "boxcox":
            self._fitted_lambdas()
        return {
            "type": self.kind,
            "lag": self.lag,
            "lambdas": self.lambdas,
            "columns": self.columns,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetTransform:
        if not isinstance(data, dict) or data.get("type") not in TRANSFORMS:
            kind = data.get("type") if isinstance(data, dict) else data
            raise DataError(f"transform JSON of type {kind!r} is not one of {TRANSFORMS}")
        return cls(data["type"], int(data.get("lag", 0)), data.get("lambdas"), data["columns"])

    def __repr__(self) -> str:
        return f"TargetTransform({self.kind!r}, lag={self.lag}, lambdas={self.lambdas})"


def _matrix(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(len(array), -1) if array.ndim == 1 else array
