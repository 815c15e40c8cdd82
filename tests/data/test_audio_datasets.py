"""Audio datasets: class folders, transcripts, FSDD splits and connected digits."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile

from rnnkit.data import audio_datasets, sources
from rnnkit.data.audio_datasets import DIGIT_WORDS, ConnectedDigits
from rnnkit.errors import DataError


def _tone(path: Path, freq: float = 440.0, seconds: float = 0.1, rate: int = 8000) -> Path:
    t = np.arange(round(rate * seconds)) / rate
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * freq * t), rate, subtype="PCM_16")
    return path


@pytest.fixture
def mini_fsdd(tmp_path) -> Path:
    """Two speakers, ten digits, recordings 0-6: FSDD's naming on 140 short tones."""
    folder = tmp_path / "recordings"
    for speaker in ("ann", "bob"):
        for digit in range(10):
            for index in range(7):
                _tone(folder / f"{digit}_{speaker}_{index}.wav", 200 + 50 * digit, 0.05)
    (folder / "README.txt").write_text("not a recording", encoding="utf-8")
    return folder


# ----------------------------------------------------------------------------- class folders


def test_label_folders_are_audio_classes(tmp_path):
    for label in ("no", "yes"):
        for i in range(3):
            _tone(tmp_path / "words" / label / f"{i}.wav")
    loaded = sources.load(str(tmp_path / "words"))
    assert loaded.kind == "audio_classes"
    frame = loaded.splits["all"]
    assert list(frame.columns) == ["path", "label", "speaker"]
    assert frame["label"].tolist() == ["no"] * 3 + ["yes"] * 3
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in frame["path"])
    assert loaded.meta["task"] == "classification"


def test_split_folders_are_read_per_split(tmp_path):
    for split in ("train", "valid", "test"):
        for label in ("a", "b"):
            _tone(tmp_path / split / label / "x.flac")
    kind, splits = audio_datasets.read_audio_folder(tmp_path)
    assert kind == "audio_classes"
    assert sorted(splits) == ["test", "train", "val"]
    assert splits["val"]["label"].tolist() == ["a", "b"]


def test_an_empty_label_folder_is_named(tmp_path):
    _tone(tmp_path / "yes" / "0.wav")
    (tmp_path / "no").mkdir()
    with pytest.raises(DataError, match=r"no: label folder 'no' has no audio files"):
        audio_datasets.read_audio_classes(tmp_path)


def test_a_non_audio_file_in_a_label_folder_is_named(tmp_path):
    _tone(tmp_path / "yes" / "0.wav")
    _tone(tmp_path / "no" / "0.wav")
    (tmp_path / "no" / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(DataError, match=r"notes\.txt: not an audio file in the label folder 'no'"):
        audio_datasets.read_audio_classes(tmp_path)


# ----------------------------------------------------------------------------- transcripts


def test_transcripts_are_read_beside_their_file(tmp_path):
    _tone(tmp_path / "a.wav")
    _tone(tmp_path / "clips" / "b.wav")
    (tmp_path / "transcripts.tsv").write_text(
        "# file\ttext\na.wav\tone  two\n\nclips/b.wav\tthree\n", encoding="utf-8"
    )
    loaded = sources.load(str(tmp_path))
    assert loaded.kind == "transcribed_audio"
    assert loaded.meta["task"] == "speech_recognition"
    frame = loaded.splits["all"]
    assert frame["text"].tolist() == ["one two", "three"]
    assert frame["path"].tolist() == [str(tmp_path / "a.wav"), str(tmp_path / "clips" / "b.wav")]


def test_split_transcript_folders(tmp_path):
    for split in ("train", "test"):
        _tone(tmp_path / split / "a.wav")
        (tmp_path / split / "transcripts.tsv").write_text(f"a.wav\t{split}\n", encoding="utf-8")
    kind, splits = audio_datasets.read_audio_folder(tmp_path)
    assert kind == "transcribed_audio"
    assert {name: frame["text"].tolist() for name, frame in splits.items()} == {
        "train": ["train"],
        "test": ["test"],
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a.wav one two\n", r"transcripts\.tsv:1: expected <file><TAB><text>"),
        ("a.wav\t  \n", r"transcripts\.tsv:1: 'a\.wav' has an empty transcript"),
        ("a.wav\tok\nb.wav\tno\n", r"transcripts\.tsv:2: no audio file 'b\.wav'"),
        ("# only a comment\n", r"transcripts\.tsv: no transcribed clips"),
    ],
)
def test_bad_transcript_lines_are_named(tmp_path, content, message):
    _tone(tmp_path / "a.wav")
    (tmp_path / "transcripts.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        audio_datasets.read_transcripts(tmp_path / "transcripts.tsv")


# ----------------------------------------------------------------------------- FSDD


def test_fsdd_names_give_labels_speakers_and_the_official_split(mini_fsdd):
    recordings = audio_datasets.read_fsdd(mini_fsdd.parent)
    assert len(recordings) == 140  # README.txt is not a recording
    row = recordings.iloc[0]
    assert Path(row["path"]).name == "0_ann_0.wav"
    assert (row["label"], row["speaker"], row["index"]) == ("0", "ann", 0)

    split = audio_datasets.fsdd_official_split(recordings)
    assert (len(split["train"]), len(split["test"])) == (40, 100)
    test_indices = {int(Path(p).stem.split("_")[2]) for p in split["test"]["path"]}
    assert test_indices == {0, 1, 2, 3, 4}
    assert not set(split["train"]["path"]) & set(split["test"]["path"])


def test_leave_one_speaker_out(mini_fsdd):
    recordings = audio_datasets.read_fsdd(mini_fsdd)
    split = audio_datasets.speaker_split(recordings, "bob")
    assert set(split["test"]["speaker"]) == {"bob"} and set(split["train"]["speaker"]) == {"ann"}
    assert len(split["train"]) + len(split["test"]) == 140
    with pytest.raises(
        DataError, match="unknown speaker 'carl': the dataset's speakers are ann, bob"
    ):
        audio_datasets.speaker_split(recordings, "carl")


def test_no_recordings_is_an_error(tmp_path):
    with pytest.raises(DataError, match="holds no FSDD recordings"):
        audio_datasets.read_fsdd(tmp_path)


def _digest(folder: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha.update(path.relative_to(folder).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def test_connected_digits_are_deterministic_and_keep_test_recordings_apart(mini_fsdd, tmp_path):
    recordings = audio_datasets.read_fsdd(mini_fsdd)
    spec = ConnectedDigits(train_utterances=12, test_utterances=6, seed=3)
    first = audio_datasets.make_connected_digits(recordings, tmp_path / "a", spec)
    second = audio_datasets.make_connected_digits(recordings, tmp_path / "b", spec)
    assert _digest(first) == _digest(second)
    other = audio_datasets.make_connected_digits(
        recordings, tmp_path / "c", dataclasses.replace(spec, seed=4)
    )
    assert _digest(other) != _digest(first)

    splits = audio_datasets.read_transcribed_folder(first)
    assert {k: len(v) for k, v in splits.items()} == {"train": 12, "test": 6}
    used = {}
    for split in ("train", "test"):
        rows = (first / split / "sources.tsv").read_text(encoding="utf-8").splitlines()
        frame = splits[split]
        texts = {Path(p).name: text for p, text in zip(frame["path"], frame["text"], strict=True)}
        used[split] = set()
        for row in rows:
            name, recordings_used = row.split("\t")
            names = recordings_used.split()
            # The transcript spells the digits of the recordings it joins, all one speaker's.
            words = [DIGIT_WORDS[int(n.split("_")[0])] for n in names]
            assert texts[name] == " ".join(words)
            assert 2 <= len(names) <= 6
            assert len({n.split("_")[1] for n in names}) == 1
            assert name.endswith(f"-{names[0].split('_')[1]}.wav")
            used[split] |= set(names)
    assert all(int(n.split("_")[2].removesuffix(".wav")) < 5 for n in used["test"])
    assert all(int(n.split("_")[2].removesuffix(".wav")) >= 5 for n in used["train"])


def test_connected_utterance_is_its_clips_with_pauses_and_light_noise(mini_fsdd, tmp_path):
    recordings = audio_datasets.read_fsdd(mini_fsdd)
    spec = ConnectedDigits(train_utterances=1, test_utterances=1, snr_db=30.0)
    folder = audio_datasets.make_connected_digits(recordings, tmp_path / "u", spec)
    name, used = (folder / "test" / "sources.tsv").read_text(encoding="utf-8").split("\t")
    wave, rate = soundfile.read(folder / "test" / name, dtype="float32")
    assert rate == 8000
    speech = sum(soundfile.info(mini_fsdd / n).frames for n in used.split())
    low = speech + round(8000 * (2 * 0.05 + 0.05 * (len(used.split()) - 1)))
    high = speech + round(8000 * (2 * 0.2 + 0.3 * (len(used.split()) - 1)))
    assert low <= len(wave) <= high
    # The leading silence (at least 50 ms) holds only the noise, 30 dB below the speech.
    speech_rms = 0.3 / np.sqrt(2)  # every clip is a 0.3-amplitude tone
    noise = wave[:400]
    assert noise.std() == pytest.approx(speech_rms * 10 ** (-30 / 20), rel=0.15)
    assert (folder / ".complete").read_text(encoding="utf-8") == spec.key()


# ----------------------------------------------------------------------------- the mirror


@pytest.mark.data
def test_fsdd_from_the_mirror(tmp_path):
    loaded = sources.load("fsdd", cache_dir=tmp_path)
    assert loaded.kind == "audio_classes"
    train, test = loaded.splits["train"], loaded.splits["test"]
    assert (len(train), len(test)) == (2700, 300)
    both = [*train["path"], *test["path"]]
    assert len(set(both)) == 3000
    speakers = sorted(set(train["speaker"]) | set(test["speaker"]))
    assert speakers == ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]
    assert test.groupby(["speaker", "label"]).size().eq(5).all()  # 6 x 10 x 5
    assert sorted(set(train["label"])) == [str(d) for d in range(10)]
    rates = {soundfile.info(p).samplerate for p in both[::97]}
    assert rates == {8000}


@pytest.mark.data
def test_fsdd_connected_from_the_mirror(tmp_path, monkeypatch):
    small = functools.partial(ConnectedDigits, train_utterances=30, test_utterances=10)
    monkeypatch.setattr(audio_datasets, "ConnectedDigits", small)
    loaded = sources.load("fsdd-connected", cache_dir=tmp_path)
    assert loaded.kind == "transcribed_audio"
    assert {k: len(v) for k, v in loaded.splits.items()} == {"train": 30, "test": 10}
    words = {w for text in loaded.splits["train"]["text"] for w in text.split()}
    assert words <= set(DIGIT_WORDS)
    [folder] = sources.resolve("fsdd-connected", cache_dir=tmp_path)
    assert (folder / "test" / "transcripts.tsv").is_file()


def test_catalog_entries_for_fsdd():
    from rnnkit.data import catalog

    fsdd, connected = catalog.lookup("fsdd"), catalog.lookup("fsdd-connected")
    assert (fsdd.task, fsdd.kind) == ("classification", "audio_classes")
    assert (connected.task, connected.kind) == ("speech_recognition", "transcribed_audio")
    assert fsdd.files == connected.files  # the utterances are made from the recordings
    mirrored = fsdd.files[0].alternatives[0]
    assert mirrored.mirror_path == "fsdd/recordings.tar.xz"
    assert mirrored.sha256 == "7afcb0ece0b0ba3b43fd499930a8b58c0c23ba2063ee0e04a46acd2d201dd58d"
    assert mirrored.size == 13_500_748
    assert fsdd.splits == ("train", "test") and fsdd.licence_short == "CC BY-SA 4.0"
