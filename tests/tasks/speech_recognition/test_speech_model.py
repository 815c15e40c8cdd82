"""The CTC acoustic model: shapes, lengths, padding, the loss against torch, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnkit.nn
from rnnkit.tasks.speech_recognition.decode import greedy_decode
from rnnkit.tasks.speech_recognition.model import ConvSubsampling, SpeechRecognizer, ctc_loss


def bilstm(hidden: int, layers: int):
    def build(size: int) -> torch.nn.Module:
        return rnnkit.nn.LSTM(size, hidden, layers, batch_first=True, bidirectional=True)

    return build


@pytest.mark.parametrize("layers", [0, 1, 2])
def test_subsampled_lengths_match_the_convolution(layers):
    conv = ConvSubsampling(5, 8, layers)
    for length in (1, 2, 7, 8, 33):
        out, out_lengths = conv(torch.randn(1, length, 5), torch.tensor([length]))
        assert out.shape[1] == int(out_lengths[0]), (layers, length)
        assert out.shape[2] == (8 if layers else 5)


def test_padding_does_not_change_a_sequences_output():
    torch.manual_seed(0)
    model = SpeechRecognizer(6, 5, bilstm(8, 2), subsampling_layers=1).eval()
    short = torch.randn(1, 9, 6)
    padded = torch.cat([short, torch.randn(1, 7, 6)], dim=1)  # padding of random values
    batch = torch.cat([padded, torch.randn(1, 16, 6)])
    alone, alone_lengths = model(short, torch.tensor([9]))
    together, lengths = model(batch, torch.tensor([9, 16]))
    assert lengths.tolist() == [5, 8] and alone_lengths.tolist() == [5]
    torch.testing.assert_close(together[0, :5], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together.exp().sum(-1), torch.ones(2, 8))


def test_ctc_loss_is_torchs_and_ignores_impossible_targets():
    torch.manual_seed(1)
    log_probs = torch.randn(3, 10, 4).log_softmax(-1)
    lengths = torch.tensor([10, 7, 2])
    targets = torch.tensor([[1, 2, 3], [2, 2, 0], [1, 2, 3]])
    target_lengths = torch.tensor([3, 2, 3])  # the third needs 3 frames, has 2
    loss = ctc_loss(log_probs, lengths, targets, target_lengths)
    per_item = F.ctc_loss(
        log_probs.transpose(0, 1), targets, lengths, target_lengths, reduction="none"
    )
    assert torch.isinf(per_item[2])
    expected = (per_item[:2] / target_lengths[:2]).sum() / 3  # the infinite one counts 0
    torch.testing.assert_close(loss, expected)


def test_a_tiny_model_learns_to_transcribe_a_toy_task():
    # Two "words" as feature patterns; utterances of 1-3 words with silence between.
    torch.manual_seed(0)
    patterns = {1: torch.tensor([3.0, 0.0, 0.0]), 2: torch.tensor([0.0, 3.0, 0.0])}

    def utterance(words):
        frames = [torch.zeros(2, 3)]
        for word in words:
            frames += [patterns[word].repeat(4, 1), torch.zeros(2, 3)]
        x = torch.cat(frames)
        return x + 0.1 * torch.randn_like(x)

    data = [
        [int(w) for w in torch.randint(1, 3, (int(torch.randint(1, 4, ())),))] for _ in range(64)
    ]
    xs = [utterance(words) for words in data]
    lengths = torch.tensor([len(x) for x in xs])
    batch = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)
    targets = torch.nn.utils.rnn.pad_sequence([torch.tensor(w) for w in data], batch_first=True)
    target_lengths = torch.tensor([len(w) for w in data])

    model = SpeechRecognizer(
        3, 3, lambda size: rnnkit.nn.GRU(size, 16, batch_first=True, bidirectional=True)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(60):
        log_probs, out_lengths = model(batch, lengths)
        loss = ctc_loss(log_probs, out_lengths, targets, target_lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        log_probs, out_lengths = model(batch, lengths)
    decoded = greedy_decode(log_probs, out_lengths)
    correct = sum(d == w for d, w in zip(decoded, data, strict=True))
    assert correct >= 60, f"{correct}/64 transcribed exactly, loss {loss.item():.3f}"
