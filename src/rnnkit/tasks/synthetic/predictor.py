"""Inference for the synthetic tasks: the model's outputs for given sequences."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rnnkit.errors import UserError
from rnnkit.tasks.predictor import Predictor


class SequencePredictor(Predictor):
    """``predict(sequences)``: for adding, the predicted sum of each (T, 2) sequence; for
    copy, the predicted symbol at every step of each (T, 10) one-hot sequence."""

    @torch.no_grad()
    def predict(self, inputs: Any) -> list[Any]:
        batch = np.asarray(inputs, dtype=np.float32)
        if batch.ndim == 2:
            batch = batch[None]
        width = self.info["input_size"]
        if batch.ndim != 3 or batch.shape[-1] != width:
            raise UserError(
                f"inputs of shape {batch.shape} do not fit: give sequences of shape "
                f"(steps, {width}) or a batch (n, steps, {width})"
            )
        self.model.eval()
        outputs = self.model(torch.from_numpy(batch))
        if self.info["output_size"] == 1:
            return [float(v) for v in outputs.squeeze(-1)]
        return [row.tolist() for row in outputs.argmax(-1)]
