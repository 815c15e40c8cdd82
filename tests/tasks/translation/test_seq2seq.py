"""Seq2Seq: shapes, padding, the parallel and stepped decoders, teacher forcing, loss."""

from __future__ import annotations

import contextlib
import itertools

import pytest
import torch

from rnnkit.tasks.translation.config import TranslationModel
from rnnkit.tasks.translation.decode import DecodeSettings, greedy_decode
from rnnkit.tasks.translation.model import Seq2Seq, sequence_loss

PAD, BOS, EOS = 0, 2, 3


def model_for(**options) -> Seq2Seq:
    torch.manual_seed(0)
    defaults = {"hidden_size": 8, "embedding_size": 6}
    config = TranslationModel(**{**defaults, **options})
    return Seq2Seq(config, source_vocab_size=11, target_vocab_size=13, pad_id=PAD).eval()


def batch():
    source = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0], [5, 0, 0, 0]])  # (B=3, S=4) padded
    lengths = torch.tensor([4, 2, 1])
    target_in = torch.tensor([[BOS, 4, 5], [BOS, 6, 0], [BOS, 7, 8]])
    return source, lengths, target_in


VARIANTS = [
    {"attention": "bahdanau"},
    {"attention": "luong"},
    {"attention": "luong", "input_feeding": False},
    {"attention": "luong", "luong_score": "dot", "bidirectional": False},
    {"attention": "none"},
    {"attention": "none", "cell": "lstm", "num_layers": 2},
    {"attention": "bahdanau", "cell": "lstm", "num_layers": 2, "tie_embeddings": True},
    {"attention": "luong", "cell": "rnn", "bidirectional": False},
    {"attention": "bahdanau", "cell": "mingru"},
    {"attention": "none", "cell": "minlstm", "num_layers": 2},
    {"attention": "luong", "cell": "rglru"},
]


@pytest.mark.parametrize("options", VARIANTS)
def test_logits_have_the_target_shape_and_padding_does_not_leak(options):
    model = model_for(**options)
    source, lengths, target_in = batch()
    logits = model(source, lengths, target_in)
    assert logits.shape == (3, 3, 13)
    # Each sentence alone, without the padding of the batch, gives the same logits.
    for b in range(3):
        n = int(lengths[b])
        alone = model(source[b : b + 1, :n], lengths[b : b + 1], target_in[b : b + 1])
        torch.testing.assert_close(alone, logits[b : b + 1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "options",
    [
        {"attention": "luong", "input_feeding": False},
        {"attention": "none"},
        {"attention": "none", "cell": "mingru"},
        {"attention": "none", "cell": "rglru"},
    ],
)
def test_parallel_decoder_equals_the_stepped_one(options):
    model = model_for(**options)
    source, lengths, target_in = batch()
    parallel = model(source, lengths, target_in)
    encoded, state = model.encode(source, lengths)
    stepped = []
    for t in range(target_in.shape[1]):
        logits, state, _ = model.step(target_in[:, t], state, encoded)
        stepped.append(logits)
    torch.testing.assert_close(parallel, torch.stack(stepped, 1), atol=1e-5, rtol=1e-5)


def test_attention_weights_of_a_step_ignore_padding_and_sum_to_one():
    model = model_for(attention="bahdanau")
    source, lengths, _ = batch()
    encoded, state = model.encode(source, lengths)
    _, _, weights = model.step(torch.full((3,), BOS), state, encoded)
    assert weights.shape == (3, 4)
    assert torch.all(weights[1, 2:] == 0) and torch.all(weights[2, 1:] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))


def test_tied_embeddings_share_one_matrix():
    model = model_for(tie_embeddings=True)
    assert model.output.weight is model.target_embedding.weight
    untied = model_for()
    assert untied.output.weight is not untied.target_embedding.weight


def test_without_teacher_forcing_the_decoder_feeds_its_own_predictions():
    model = model_for(attention="luong")
    source, lengths, target_in = batch()
    changed = target_in.clone()
    changed[:, 1:] = 9
    free = model(source, lengths, target_in, teacher_forcing=0.0)
    torch.testing.assert_close(free, model(source, lengths, changed, teacher_forcing=0.0))
    assert not torch.allclose(model(source, lengths, target_in), model(source, lengths, changed))


def test_training_uses_the_configured_teacher_forcing_ratio():
    model = model_for(attention="bahdanau", teacher_forcing=0.0).train()
    source, lengths, target_in = batch()
    changed = target_in.clone()
    changed[:, 1:] = 9
    torch.testing.assert_close(model(source, lengths, target_in), model(source, lengths, changed))


def test_sequence_loss_ignores_padding_and_smooths_labels_as_defined():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 5)
    targets = torch.tensor([[1, 2, PAD], [3, PAD, PAD]])
    log_probs = torch.log_softmax(logits, -1)
    real = [(0, 0), (0, 1), (1, 0)]
    nll = [-log_probs[b, t, targets[b, t]] for b, t in real]
    assert sequence_loss(logits, targets, PAD).item() == pytest.approx(sum(nll).item() / 3)
    eps = 0.1
    smoothed = [
        (1 - eps) * -log_probs[b, t, targets[b, t]] + eps * -log_probs[b, t].mean() for b, t in real
    ]
    assert sequence_loss(logits, targets, PAD, eps).item() == pytest.approx(
        sum(smoothed).item() / 3, rel=1e-6
    )


def test_a_tiny_model_learns_to_reverse_short_sequences():
    torch.manual_seed(0)
    config = TranslationModel(hidden_size=32, embedding_size=16, attention="luong")
    model = Seq2Seq(config, 10, 10, pad_id=PAD)
    pairs = [list(p) for p in itertools.permutations([4, 5, 6, 7], 3)]  # 24 sources
    source = torch.tensor(pairs)
    lengths = torch.full((len(pairs),), 3)
    target = source.flip(1)
    target_in = torch.cat([torch.full((len(pairs), 1), BOS), target], 1)
    target_out = torch.cat([target, torch.full((len(pairs), 1), EOS)], 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(120):
        optimizer.zero_grad()
        loss = sequence_loss(model(source, lengths, target_in), target_out, PAD)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    model.eval()
    predicted = model(source, lengths, target_in).argmax(-1)
    assert torch.equal(predicted, target_out)


def test_config_refuses_options_that_do_not_fit_the_attention():
    with pytest.raises(ValueError, match="input_feeding feeds Luong's attentional vector"):
        TranslationModel(attention="bahdanau", input_feeding=True)
    with pytest.raises(ValueError, match="luong_score=dot needs"):
        TranslationModel(attention="luong", luong_score="dot", bidirectional=True)
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        TranslationModel(beam_size=0)
    assert TranslationModel(attention="luong").uses_input_feeding
    assert not TranslationModel(attention="luong", input_feeding=False).uses_input_feeding


# ----------------------------------------------------------------------------- decoder options

DECODER_OPTIONS = {"layer_norm": True, "zoneout": 0.3, "recurrent_dropout": 0.4, "weight_drop": 0.5}


@pytest.mark.parametrize(
    "options",
    [
        {"attention": "bahdanau"},
        {"attention": "luong", "cell": "lstm", "num_layers": 2},
        {"attention": "luong", "input_feeding": False},
        {"attention": "none", "cell": "rnn"},
    ],
)
def test_decoder_options_keep_stepping_equal_to_the_teacher_forced_pass(options):
    """Eval mode, float64: the logits of the teacher-forced pass (whole-sentence where the
    model allows it) are the logits of one step at a time, and greedy decoding's score is
    the teacher-forced log-probability of the tokens it chose."""
    model = model_for(**options, decoder=DECODER_OPTIONS).double()
    assert model.decoder.layer_norm and model.decoder.zoneout == 0.3
    assert model.decoder.recurrent_dropout == 0.4 and model.decoder.weight_drop == 0.5
    source, lengths, target_in = batch()
    forced = model(source, lengths, target_in)
    encoded, state = model.encode(source, lengths)
    stepped = []
    for t in range(target_in.shape[1]):
        logits, state, _ = model.step(target_in[:, t], state, encoded)
        stepped.append(logits)
    torch.testing.assert_close(forced, torch.stack(stepped, 1), rtol=0, atol=1e-12)

    settings = DecodeSettings(bos_id=BOS, eos_id=EOS, banned=(PAD, BOS), max_length_offset=4)
    for b, found in enumerate(greedy_decode(model, source, lengths, settings)):
        tokens = torch.tensor([[BOS, *found.tokens]])
        n = int(lengths[b])
        with torch.no_grad():
            logits = model(source[b : b + 1, :n], lengths[b : b + 1], tokens)
        log_probs = torch.log_softmax(logits, -1)
        chosen = torch.tensor([*found.tokens, EOS])
        forced_score = log_probs[0, torch.arange(len(chosen)), chosen].sum()
        assert found.score == pytest.approx(float(forced_score), abs=1e-5)


def test_decoder_options_change_the_decoder_and_only_it():
    plain, extended = model_for(), model_for(decoder={"layer_norm": True, "zoneout": 0.2})
    assert not plain.decoder.layer_norm and extended.decoder.layer_norm
    assert not extended.encoder.layer_norm and extended.encoder.zoneout == 0.0
    encoder_only = model_for(layer_norm=True)
    assert encoder_only.encoder.layer_norm and not encoder_only.decoder.layer_norm


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_training_steps_share_the_decoders_masks_as_a_whole_sentence_pass_does(cell):
    """Training mode, same seed: the decoder stepped (teacher forcing just under 1, which
    takes the stepped path) draws its recurrent-dropout and weight-drop masks once, so it
    gives the whole-sentence pass's logits; drawing per step would not."""
    model = model_for(
        attention="luong",
        input_feeding=False,
        cell=cell,
        decoder={"recurrent_dropout": 0.5, "weight_drop": 0.5},
    ).double()
    model.train()
    source, lengths, target_in = batch()
    torch.manual_seed(5)
    whole = model(source, lengths, target_in)  # the parallel path: one decoder call
    torch.manual_seed(5)
    stepped = model(source, lengths, target_in, teacher_forcing=1 - 1e-12)
    torch.testing.assert_close(stepped, whole, rtol=0, atol=1e-12)
    model._stepping = contextlib.nullcontext  # fresh masks at every step
    torch.manual_seed(5)
    assert not torch.allclose(model(source, lengths, target_in, teacher_forcing=1 - 1e-12), whole)


def test_decoder_options_are_refused_for_the_scan_cells():
    with pytest.raises(
        ValueError, match=r"decoder\.layer_norm is an option of cell lstm, gru or rnn"
    ):
        TranslationModel(cell="mingru", decoder={"layer_norm": True})
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        TranslationModel(decoder={"dropout": 0.1})
