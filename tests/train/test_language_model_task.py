"""Language-model task: streams, truncated BPTT, evaluation, the run directory."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from rnnkit.engine import api
from rnnkit.errors import DataError, UserError
from rnnkit.tasks import get_spec, load_config
from rnnkit.tasks.language_model.model import LanguageModel, LanguageModelConfig
from rnnkit.tasks.language_model.task import LanguageModelTask, StreamChunks, stream_loss


def test_a_corpus_too_short_for_the_batch_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"too short for batch_size=8"):
        StreamChunks(torch.arange(10), batch_size=8, bptt=4)


def test_chunks_cover_each_stream_in_order_with_shifted_targets() -> None:
    chunks = StreamChunks(torch.arange(40), batch_size=2, bptt=6)  # streams of 20
    batches = list(chunks)
    assert len(batches) == len(chunks) == 4  # 19 predictions: 6 + 6 + 6 + 1
    inputs = torch.cat([x for x, _ in batches])
    targets = torch.cat([y for _, y in batches])
    assert inputs[:, 0].tolist() == list(range(19))
    assert targets[:, 0].tolist() == list(range(1, 20))
    assert inputs[:, 1].tolist() == list(range(20, 39))


def test_shard_gives_each_process_its_own_streams() -> None:
    ids = torch.arange(48)
    shards = []
    for rank in range(2):
        chunks = StreamChunks(ids, batch_size=2, bptt=4)
        chunks.shard(rank, 2)
        shards.append(torch.cat([x for x, _ in chunks]))
    # 4 streams of 12: rank 0 reads streams 0-1, rank 1 streams 2-3.
    assert shards[0][0].tolist() == [0, 12]
    assert shards[1][0].tolist() == [24, 36]


def test_resumed_chunks_continue_after_the_consumed_ones() -> None:
    chunks = StreamChunks(torch.arange(60), batch_size=3, bptt=4)
    everything = list(chunks)
    chunks.consumed = 2
    state = chunks.state_dict()
    again = StreamChunks(torch.arange(60), batch_size=3, bptt=4)
    again.load_state_dict(state)
    rest = list(again)
    assert len(rest) == len(everything) - 2
    assert torch.equal(rest[0][0], everything[2][0])
    assert len(list(again)) == len(everything)  # the next epoch is whole again


def test_jitter_is_reproducible_and_covers_the_stream() -> None:
    lengths = []
    for _ in range(2):
        chunks = StreamChunks(torch.arange(2000), batch_size=2, bptt=20, jitter=True, seed=5)
        lengths.append([x.size(0) for x, _ in chunks])
    assert lengths[0] == lengths[1]
    assert sum(lengths[0]) == 999
    assert len(set(lengths[0])) > 3
    assert min(lengths[0][:-1]) >= 5
    # Every epoch has the unjittered number of chunks (ceil(999 / 20)), drawn afresh:
    # the training loop fixes an epoch's length from the first epoch's.
    chunks = StreamChunks(torch.arange(2000), batch_size=2, bptt=20, jitter=True, seed=5)
    epochs = []
    for epoch in range(4):
        chunks.epoch = epoch
        epochs.append([x.size(0) for x, _ in chunks])
        assert len(chunks) == len(epochs[-1]) == 50 and sum(epochs[-1]) == 999
    assert len({tuple(e) for e in epochs}) == 4


def test_stream_loss_carries_state_like_one_long_sequence() -> None:
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=11, embedding_size=6, hidden_size=5))
    ids = torch.randint(0, 11, (41,))
    loss, count = stream_loss(model, StreamChunks(ids, batch_size=1, bptt=7))
    # Reference: the whole stream in one pass, no chunking at all.
    with torch.no_grad():
        logits, _ = model(ids[:-1].view(-1, 1))
        expected = F.cross_entropy(logits.view(-1, 11), ids[1:])
    assert count == 40
    assert loss == pytest.approx(float(expected), rel=1e-5)


def test_truncated_bptt_carries_values_and_cuts_gradients(make_config, tmp_path: Path) -> None:
    config = load_config(make_config())
    task = LanguageModelTask()
    prepared = task.prepare(config, tmp_path)
    model = get_spec("language_model").build_model(config, prepared.info)
    module = task.build_module(config, model, prepared)
    batches = iter(prepared.train)
    first, second = next(batches), next(batches)
    module.step_loss(first, 1)
    carried = module._train_state
    carried[0].retain_grad()
    loss = module.step_loss(second, 2)
    # The second chunk started from the first chunk's final state...
    with torch.no_grad():
        _, state = model(torch.cat([first[0], second[0]]))
    assert torch.allclose(module._train_state[0], state[0], atol=1e-6)
    # ...but its graph stops at the boundary: no gradient reaches the carried state.
    assert carried[0].grad_fn is not None
    loss.backward()
    assert carried[0].grad is None


def test_train_writes_the_run_directory(make_config, tmp_path: Path) -> None:
    run_dir = api.train(make_config(), run_dir=tmp_path / "run")
    for name in [
        "config.yaml",
        "model.safetensors",
        "metrics.json",
        "checkpoints/last.ckpt",
        "preprocess/info.json",
        "preprocess/vocab.json",
        "preprocess/text_pipeline.json",
        "csv/metrics.csv",
    ]:
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) == {"val", "test", "baselines"}
    val = metrics["val"]
    assert set(val) == {"loss", "perplexity", "bpc"}
    assert val["perplexity"] == pytest.approx(math.exp(val["loss"]))
    assert val["bpc"] == pytest.approx(val["loss"] / math.log(2))
    # The pattern in the corpus is learnable: the LSTM beats character frequencies.
    assert val["loss"] < metrics["baselines"]["unigram"]["loss"] - 0.3
    # The validation loss logged during training is the one metrics.json reports.
    logged = (run_dir / "csv/metrics.csv").read_text().splitlines()
    header = logged[0].split(",")
    last_val = [line.split(",")[header.index("val/loss")] for line in logged[1:]]
    last_val = [float(v) for v in last_val if v]
    assert last_val[-1] == pytest.approx(val["loss"], rel=1e-5)


def test_same_seed_same_numbers(make_config, tmp_path: Path) -> None:
    first = api.train(make_config(max_epochs=1), run_dir=tmp_path / "a")
    second = api.train(make_config(max_epochs=1), run_dir=tmp_path / "b")
    assert json.loads((first / "metrics.json").read_text()) == json.loads(
        (second / "metrics.json").read_text()
    )


def test_evaluate_reloads_the_run_and_matches_training(make_config, tmp_path: Path) -> None:
    run_dir = api.train(make_config(max_epochs=1), run_dir=tmp_path / "run")
    trained = json.loads((run_dir / "metrics.json").read_text())["test"]
    (run_dir / "metrics.json").unlink()
    result = api.evaluate(run_dir, "test")
    assert result["test"] == pytest.approx(trained)
    assert json.loads((run_dir / "metrics.json").read_text())["test"] == pytest.approx(trained)


def test_a_table_is_not_a_corpus(make_config, tmp_path: Path) -> None:
    table = tmp_path / "series.csv"
    table.write_text("date,value\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n")
    raw = make_config()
    raw["data"]["dataset"] = str(table)
    with pytest.raises(DataError, match=r"series\.csv' is a \w+ dataset; a language model needs"):
        LanguageModelTask().prepare(load_config(raw), tmp_path / "run")


def test_jittered_chunks_scale_the_objective_but_log_the_per_token_loss(
    make_config, tmp_path: Path
) -> None:
    raw = make_config(log_every_n_steps=1)  # a log at every step, this one included
    raw["data"]["bptt_jitter"] = True
    config = load_config(raw)
    task = LanguageModelTask()
    prepared = task.prepare(config, tmp_path)
    model = get_spec("language_model").build_model(config, prepared.info)
    module = task.build_module(config, model, prepared)
    logged = {}
    module.log = lambda name, value, **kwargs: logged.__setitem__(name, value.item())
    inputs, targets = next(iter(prepared.train))
    short_inputs, short_targets = inputs[:3], targets[:3]  # a 3-step chunk, bptt is 12
    objective = module.step_loss((short_inputs, short_targets), batch_idx=0)
    with torch.no_grad():
        logits, _ = model(short_inputs, None)
        per_token = F.cross_entropy(logits.flatten(0, 1), short_targets.flatten())
    assert logged["train/loss"] == pytest.approx(float(per_token), rel=1e-5)
    assert float(objective) == pytest.approx(float(per_token) * 3 / 12, rel=1e-5)
