"""Audio input: reading, resampling, features against librosa, normalisation, masking, cache."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from rnnkit.data import audio
from rnnkit.data.audio import AudioFeatures, FeatureNorm, FeatureSettings, SpecAugment
from rnnkit.errors import ConfigError, DataError


def _sine(freq: float, rate: int, seconds: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def _noise(samples: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(samples)).astype(np.float32)


def _features(settings: FeatureSettings, wave: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out, counts = AudioFeatures(settings)(torch.from_numpy(wave)[None])
    assert counts.tolist() == [out.shape[1]]
    return out[0].numpy()


# ----------------------------------------------------------------------------- reading


def test_stereo_file_at_another_rate_is_mixed_down_and_resampled(tmp_path):
    rate = 16000
    left, right = _sine(440, rate, 0.5), _sine(440, rate, 0.5, phase=0.3)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), rate, subtype="FLOAT")

    wave, read_rate = audio.read_audio(path)
    assert read_rate == rate
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-6)

    resampled = audio.load_audio(path, 8000)
    assert resampled.shape == (4000,) and resampled.dtype == np.float32
    # The mixdown of two 440 Hz sines is a 440 Hz sine: compare with it sampled at 8 kHz,
    # away from the filter's edge effects.
    t = np.arange(4000) / 8000
    expected = 0.25 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 440 * t + 0.3))
    np.testing.assert_allclose(resampled[200:-200], expected[200:-200], atol=2e-3)


def test_resample_44100_to_16000_keeps_a_tone_and_the_duration():
    wave = _sine(1000, 44100, 1.0)
    out = audio.resample(wave, 44100, 16000)
    assert out.shape == (16000,)
    expected = _sine(1000, 16000, 1.0)
    np.testing.assert_allclose(out[500:-500], expected[500:-500], atol=2e-3)
    assert audio.resample(wave, 44100, 44100) is wave


def test_flac_reads_like_the_wav_it_was_made_from(tmp_path):
    wave = _sine(300, 8000, 0.3)
    soundfile.write(tmp_path / "a.wav", wave, 8000, subtype="PCM_16")
    soundfile.write(tmp_path / "a.flac", wave, 8000, subtype="PCM_16")
    from_wav, _ = audio.read_audio(tmp_path / "a.wav")
    from_flac, rate = audio.read_audio(tmp_path / "a.flac")
    assert rate == 8000
    # Both hold 16-bit samples (the encoders may round a sample differently).
    np.testing.assert_allclose(from_flac, from_wav, atol=1.01 / 32768)
    np.testing.assert_allclose(from_flac, wave, atol=1.01 / 32768)


def test_write_wav_round_trips_as_16_bit_pcm(tmp_path):
    wave = _sine(200, 8000, 0.2)
    audio.write_wav(tmp_path / "out.wav", wave, 8000)
    info = soundfile.info(tmp_path / "out.wav")
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    np.testing.assert_allclose(audio.read_audio(tmp_path / "out.wav")[0], wave, atol=2 / 32768)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]  # no temporary left behind


def test_a_text_file_is_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("hello, this is text", encoding="utf-8")
    with pytest.raises(DataError, match=r"notes\.wav: not an audio file"):
        audio.read_audio(path)


def test_a_truncated_wav_is_corrupt(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(good, np.zeros(800), 8000, subtype="PCM_16")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(good.read_bytes()[:30])  # RIFF header cut before the data chunk
    with pytest.raises(
        DataError, match=r"bad\.wav: corrupt or unreadable audio file \(.*data"
    ) as err:
        audio.read_audio(bad)
    assert "\n" not in str(err.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"missing\.wav: no such audio file"):
        audio.read_audio(tmp_path / "missing.wav")


def test_a_clip_shorter_than_one_frame_is_named(tmp_path):
    path = tmp_path / "click.wav"
    soundfile.write(path, np.zeros(100), 8000, subtype="PCM_16")  # 12.5 ms < 25 ms
    settings = FeatureSettings(sample_rate=8000)
    with pytest.raises(DataError, match=r"click\.wav: clip of 100 samples \(12\.5 ms\) is shorter"):
        audio.extract_features([path], settings, use_cache=False)


# ----------------------------------------------------------------------------- settings


def test_settings_frames_and_errors():
    s = FeatureSettings(sample_rate=8000, frame_ms=25, hop_ms=10)
    assert (s.n_fft, s.hop_length) == (200, 80)
    assert [s.num_frames(n) for n in (199, 200, 279, 280)] == [0, 1, 1, 2]
    with pytest.raises(ConfigError, match="unknown audio feature kind 'fbank'"):
        FeatureSettings(kind="fbank")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="mel band 0-5000 Hz is not inside 0-4000 Hz"):
        FeatureSettings(sample_rate=8000, f_max=5000)
    with pytest.raises(ConfigError, match="n_mfcc=50 must be between 1 and n_mels=40"):
        FeatureSettings(kind="mfcc", n_mfcc=50)
    assert FeatureSettings(n_mels=40).key() != FeatureSettings(n_mels=41).key()
    # Keys that do not change the values do not change the cache key.
    assert FeatureSettings(n_mfcc=13).key() == FeatureSettings(n_mfcc=20).key()
    assert FeatureSettings("mfcc", n_mfcc=13).key() != FeatureSettings("mfcc", n_mfcc=20).key()
    assert FeatureSettings("raw", n_mels=20).key() == FeatureSettings("raw", n_mels=40).key()


# ----------------------------------------------------------------------------- features


def test_filterbank_and_dct_match_librosa_and_scipy():
    librosa = pytest.importorskip("librosa")
    from scipy.fft import dct

    ours = audio.mel_filterbank(16000, 400, 40, 20.0, 7600.0).numpy()
    theirs = librosa.filters.mel(sr=16000, n_fft=400, n_mels=40, fmin=20.0, fmax=7600.0)
    np.testing.assert_allclose(ours, theirs.T, atol=1e-6)

    x = np.random.default_rng(1).standard_normal((3, 40)).astype(np.float32)
    expected = dct(x, type=2, norm="ortho", axis=-1)[:, :13]
    np.testing.assert_allclose(x @ audio.dct_matrix(40, 13).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_log_mel_and_mfcc_match_librosa(rate):
    librosa = pytest.importorskip("librosa")
    wave = _noise(rate // 2) + _sine(440, rate, 0.5)
    s = FeatureSettings(kind="log_mel", sample_rate=rate, n_mels=32, f_min=30.0)
    power = librosa.feature.melspectrogram(
        y=wave, sr=rate, n_fft=s.n_fft, hop_length=s.hop_length, center=False,
        n_mels=32, fmin=30.0, power=2.0,
    )  # fmt: skip
    db = librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None)  # (M, T)
    np.testing.assert_allclose(_features(s, wave), db.T, atol=2e-3)

    m = FeatureSettings(kind="mfcc", sample_rate=rate, n_mels=32, n_mfcc=13, f_min=30.0)
    mfcc = librosa.feature.mfcc(S=db, n_mfcc=13, dct_type=2, norm="ortho")
    np.testing.assert_allclose(_features(m, wave), mfcc.T, atol=5e-3)


def test_raw_features_are_the_frames():
    librosa = pytest.importorskip("librosa")
    wave = _noise(1000)
    s = FeatureSettings(kind="raw", sample_rate=8000, frame_ms=10, hop_ms=5)
    frames = librosa.util.frame(wave, frame_length=80, hop_length=40)  # (80, T)
    np.testing.assert_array_equal(_features(s, wave), frames.T)


def test_padding_does_not_change_a_clips_frames_and_counts_follow_lengths():
    s = FeatureSettings(kind="mfcc", sample_rate=8000)
    short, long = _noise(2000, seed=1), _noise(3000, seed=2)
    batch = torch.zeros(2, 3000)
    batch[0, :2000], batch[1] = torch.from_numpy(short), torch.from_numpy(long)
    with torch.no_grad():
        out, counts = AudioFeatures(s)(batch, torch.tensor([2000, 3000]))
    assert counts.tolist() == [s.num_frames(2000), s.num_frames(3000)] == [23, 36]
    np.testing.assert_allclose(out[0, :23].numpy(), _features(s, short), atol=1e-4)
    np.testing.assert_allclose(out[1].numpy(), _features(s, long), atol=1e-4)


def test_features_follow_the_module_to_another_dtype_and_have_gradients():
    s = FeatureSettings(kind="log_mel", sample_rate=8000, n_mels=20)
    module = AudioFeatures(s).double()
    wave = torch.from_numpy(_noise(1600)).double()[None].requires_grad_()
    out, _ = module(wave)
    assert out.dtype == torch.float64
    out.sum().backward()
    assert wave.grad is not None and torch.isfinite(wave.grad).all()


# ----------------------------------------------------------------------------- normalisation


def test_global_norm_is_fitted_on_the_given_clips_only():
    rng = np.random.default_rng(0)
    train = [rng.normal(3.0, 2.0, (n, 4)).astype(np.float32) for n in (50, 70, 30)]
    norm = FeatureNorm.fit(train)
    stacked = np.concatenate(train)
    np.testing.assert_allclose(norm.mean.numpy(), stacked.mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.std.numpy(), stacked.std(0), rtol=1e-5)
    out = norm(torch.from_numpy(stacked)[None])[0].numpy()
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1.0, atol=1e-4)

    again = FeatureNorm.from_dict(norm.to_dict())
    assert again.mode == "global"
    torch.testing.assert_close(again.mean, norm.mean)
    torch.testing.assert_close(again.std, norm.std)
    with pytest.raises(DataError, match="training split has no frames"):
        FeatureNorm.fit([])


def test_utterance_norm_ignores_padding():
    rng = np.random.default_rng(1)
    clip = rng.normal(5.0, 3.0, (20, 3)).astype(np.float32)
    padded = torch.zeros(1, 32, 3)
    padded[0, :20] = torch.from_numpy(clip)
    out = FeatureNorm("utterance", 3)(padded, torch.tensor([20]))[0, :20].numpy()
    expected = (clip - clip.mean(0)) / (clip.std(0) + 1e-5)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    with pytest.raises(ConfigError, match="unknown normalisation 'batch'"):
        FeatureNorm("batch", 3)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- SpecAugment


def test_spec_augment_masks_bands_and_spans_inside_each_clip():
    torch.manual_seed(0)
    x = torch.ones(64, 50, 20)
    lengths = torch.randint(10, 51, (64,))
    augment = SpecAugment(freq_masks=1, freq_width=5, time_masks=1, time_width=8).train()
    out = augment(x, lengths)
    for row, length in zip(out, lengths.tolist(), strict=True):
        zero_features = (row == 0).all(dim=0)  # (F,): masked in every frame
        zero_frames = (row == 0).all(dim=1)  # (T,)
        assert int(zero_features.sum()) <= 5
        assert int(zero_frames.sum()) <= min(8, int(0.2 * length))
        if zero_frames.any():
            assert int(zero_frames.nonzero().max()) < length  # never in the padding
        # Masked values are zero, everything else untouched.
        assert set(row.unique().tolist()) <= {0.0, 1.0}
    assert (out == 0).any(), "64 clips with masks of up to 5 bands: some must be masked"
    assert torch.equal(augment.eval()(x, lengths), x)
    assert torch.equal(SpecAugment(0, 5, 0, 8).train()(x, lengths), x)
    with pytest.raises(ConfigError, match="freq_width must be >= 0, got -1"):
        SpecAugment(freq_width=-1)


# ----------------------------------------------------------------------------- cache


def test_features_are_cached_by_file_hash_and_settings(tmp_path, monkeypatch):
    clips = []
    for i in range(3):
        clips.append(tmp_path / f"c{i}.wav")
        soundfile.write(clips[-1], _noise(2400, seed=i), 8000, subtype="PCM_16")
    s = FeatureSettings(kind="mfcc", sample_rate=8000)
    cache = tmp_path / "cache"
    first = audio.extract_features(clips, s, cache_dir=cache)
    folder = audio.feature_cache_dir(s, cache)
    assert sorted(p.stem for p in folder.glob("*.npy")) == sorted(
        audio.file_sha256(c) for c in clips
    )

    # A second run reads the cache: loading audio is not needed any more.
    def no_loading(*args, **kwargs):
        raise AssertionError("audio was decoded although its features are cached")

    monkeypatch.setattr(audio, "load_audio", no_loading)
    second = audio.extract_features(clips, s, cache_dir=cache)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    monkeypatch.undo()

    # An edited file and other settings are featurised afresh.
    soundfile.write(clips[0], _noise(3200, seed=9), 8000, subtype="PCM_16")
    edited = audio.extract_features(clips[:1], s, cache_dir=cache)[0]
    assert edited.shape[0] == s.num_frames(3200) != first[0].shape[0]
    other = FeatureSettings(kind="log_mel", sample_rate=8000)
    assert audio.extract_features(clips[:1], other, cache_dir=cache)[0].shape[1] == 40
    assert audio.feature_cache_dir(other, cache) != folder
