from __future__ import annotations

import pytest
import torch

from rnnkit.tasks.classification.config import ClassificationModel as ModelConfig
from rnnkit.tasks.classification.model import SequenceClassifier, valid_mask


def _config(**changes: object) -> ModelConfig:
    base = {"hidden_size": 8, "embedding_size": 6, "num_layers": 1}
    base.update(changes)
    return ModelConfig(**base)


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_the_logits(pooling: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(
        3, _config(pooling=pooling, bidirectional=bidirectional), vocab_size=20
    ).eval()
    short = torch.tensor([[5, 6, 7]])
    batch = torch.tensor([[5, 6, 7, 0, 0], [1, 2, 3, 4, 5]])
    alone = model(short, torch.tensor([3]))
    padded = model(batch, torch.tensor([3, 5]))
    assert padded.shape == (2, 3)
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)


def test_last_pooling_is_the_final_state_of_torch_lstm() -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(2, _config(pooling="last"), input_size=4).eval()
    reference = torch.nn.LSTM(6, 8, batch_first=True)
    reference.load_state_dict(model.recurrent.state_dict())
    x = torch.randn(2, 5, 4)
    with torch.no_grad():
        _, (h_n, _) = reference(model.inputs(x))
        expected = model.head(h_n[-1])
        torch.testing.assert_close(model(x), expected)


def test_numeric_inputs_and_gradients() -> None:
    model = SequenceClassifier(4, _config(cell="gru", pooling="mean"), input_size=3)
    logits = model(torch.randn(5, 7, 3), torch.tensor([7, 6, 3, 1, 2]))
    assert logits.shape == (5, 4)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.head.parameters())


def test_exactly_one_input_kind() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SequenceClassifier(2, _config(), vocab_size=10, input_size=3)


def test_valid_mask() -> None:
    assert valid_mask(torch.tensor([1, 3]), 3).tolist() == [
        [True, False, False],
        [True, True, True],
    ]


def test_output_dropout_is_one_mask_per_sequence_before_pooling() -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(2, _config(pooling="mean", output_dropout=0.5), input_size=3)
    outputs, pooled = [], []
    model.recurrent.register_forward_hook(lambda module, args, out: outputs.append(out[0]))
    model.head_dropout.register_forward_hook(lambda module, args, out: pooled.append(args[0]))
    x = torch.randn(32, 6, 3)
    model(x)
    undropped = outputs[0].mean(1)  # (B, H): the mean pooling of the recurrent outputs
    # Each unit of each sequence is dropped at every step or kept (scaled) at every step,
    # so its mean over the steps is either 0 or 2x the undropped mean.
    ratio = pooled[0] / undropped
    assert set(ratio.round(decimals=4).flatten().tolist()) == {0.0, 2.0}
    model.eval()
    outputs.clear()
    pooled.clear()
    model(x)
    torch.testing.assert_close(pooled[0], outputs[0].mean(1))
