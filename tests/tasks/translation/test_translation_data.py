"""Translation data: filters per split, leak-free splits, two saved pipelines, batches."""

from __future__ import annotations

import torch

from rnnkit.data.text import TextPipeline
from rnnkit.tasks.translation.config import TranslationData
from rnnkit.tasks.translation.data import (
    SOURCE_DIR,
    TARGET_DIR,
    make_loader,
    pair_collate,
    prepare_pairs,
)


def write_folder(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    train_de = ["ein Hund", "zwei Hunde laufen schnell über die Wiese", "eine Katze"] * 4
    train_en = ["a dog", "two dogs run fast across the meadow", "a cat"] * 4
    texts = {
        "train": (train_de, train_en),
        "val": (["ein Vogel"], ["a bird"]),
        "test": (["ein sehr langer Satz mit vielen Wörtern hier"], ["a very long sentence"]),
    }
    for split, (de, en) in texts.items():
        (folder / f"{split}.de").write_text("\n".join(de) + "\n", encoding="utf-8")
        (folder / f"{split}.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    return folder


def test_shipped_splits_filter_only_training_and_pipelines_are_saved(tmp_path):
    folder = write_folder(tmp_path)
    data = TranslationData(
        dataset=str(folder), source_lang="de", target_lang="en", max_length=4, lowercase=True
    )
    prepared = prepare_pairs(data, preprocess_dir=tmp_path / "preprocess")
    assert len(prepared.splits["train"]) == 8  # the 7-word pairs are gone from training
    assert len(prepared.splits["test"]) == 1  # the long test sentence stays
    train = prepared.splits["train"]
    assert train.clean.source[0] == "ein hund" and train.raw.source[0] == "ein Hund"
    vocab = prepared.source_pipeline.vocab
    assert train.source_ids[0] == [vocab["ein"], vocab["hund"], vocab.eos_id]
    assert "über" not in vocab  # fitted on the filtered training pairs only
    for side in (SOURCE_DIR, TARGET_DIR):
        assert (tmp_path / "preprocess" / side / TextPipeline.FILE_NAME).is_file()
    again = prepare_pairs(data, preprocess_dir=tmp_path / "preprocess")
    assert again.target_pipeline.vocab == prepared.target_pipeline.vocab


def test_shared_vocabulary_covers_both_sides(tmp_path):
    folder = write_folder(tmp_path)
    data = TranslationData(
        dataset=str(folder), source_lang="de", target_lang="en", shared_vocab=True
    )
    prepared = prepare_pairs(data)
    assert prepared.source_pipeline is prepared.target_pipeline
    assert "hund" not in prepared.source_pipeline.vocab  # case kept
    assert {"Hund", "dog"} <= set(prepared.source_pipeline.vocab.itos)


def test_unsplit_table_is_filtered_then_split_without_shared_sentences(tmp_path):
    rows = [f"quelle {i % 40}\tziel {i}" for i in range(200)]  # sources repeat 5 times
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = TranslationData(dataset=str(path))
    prepared = prepare_pairs(data, seed=1)
    sizes = {name: len(split) for name, split in prepared.splits.items()}
    assert sum(sizes.values()) == 200 and sizes["test"] == 20 and sizes["val"] == 20
    sources = [set(prepared.splits[n].raw.source) for n in ("train", "val", "test")]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])


def test_collate_pads_and_shifts_the_target():
    batch = [
        (torch.tensor([5, 6, 3]), torch.tensor([7, 8])),
        (torch.tensor([9, 3]), torch.tensor([4])),
    ]
    source, lengths, target_in, target_out = pair_collate(batch, pad_id=0, bos_id=2, eos_id=3)
    assert source.tolist() == [[5, 6, 3], [9, 3, 0]]
    assert lengths.tolist() == [3, 2]
    assert target_in.tolist() == [[2, 7, 8], [2, 4, 0]]
    assert target_out.tolist() == [[7, 8, 3], [4, 3, 0]]


def test_loaders_cover_every_pair_once(tmp_path):
    folder = write_folder(tmp_path)
    data = TranslationData(dataset=str(folder), source_lang="de", target_lang="en", batch_size=5)
    prepared = prepare_pairs(data)
    loader = make_loader(prepared.splits["train"], prepared.target_pipeline, data, train=True)
    seen = sum(int(batch[1].numel()) for batch in loader)
    assert seen == len(prepared.splits["train"]) == 12
