"""Feature extraction speed on FSDD clips: rnnkit's torch features against librosa's,
from the files and from the .npy feature cache.

Rows (clips per second, median of ``--repeats`` rounds over the same ``--clips`` files):

* ``librosa``: read + resample with rnnkit, then ``librosa.feature.melspectrogram`` /
  ``mfcc`` with the same settings (the reference the tests compare against);
* ``rnnkit (no cache)``: :func:`rnnkit.data.audio.extract_features` with
  ``use_cache=False``: read, resample, featurise in torch, one clip at a time;
* ``rnnkit (cold cache)``: the same, writing each clip's ``.npy`` (a first run);
* ``rnnkit (cached)``: a second run that hashes each file and loads its ``.npy``;
* ``rnnkit batched (features only)``: the torch module on a padded batch of all the
  clips' samples already in memory (what a GPU-side front end costs per clip).

Needs the FSDD recordings (``RNNKIT_MIRROR`` or a network) and librosa (the dev extra)::

    RNNKIT_MIRROR=/path/to/mirror python benchmarks/audio_features.py --clips 500 --threads 1
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

from rnnkit.data import audio, sources
from rnnkit.data.audio import AudioFeatures, FeatureSettings

logger = logging.getLogger(__name__)


def librosa_features(paths: list[str], settings: FeatureSettings) -> list[np.ndarray]:
    import librosa

    out = []
    for path in paths:
        wave = audio.load_audio(path, settings.sample_rate)
        power = librosa.feature.melspectrogram(
            y=wave,
            sr=settings.sample_rate,
            n_fft=settings.n_fft,
            hop_length=settings.hop_length,
            center=False,
            n_mels=settings.n_mels,
            fmin=settings.f_min,
            fmax=settings.f_max,
        )
        db = librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=None)
        if settings.kind == "mfcc":
            db = librosa.feature.mfcc(S=db, n_mfcc=settings.n_mfcc)
        out.append(db.T)
    return out


def batched(paths: list[str], settings: FeatureSettings) -> Callable[[], object]:
    waves = [torch.from_numpy(audio.load_audio(p, settings.sample_rate)) for p in paths]
    lengths = torch.tensor([len(w) for w in waves])
    batch = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)  # (B, N)
    module = AudioFeatures(settings)

    def run() -> object:
        with torch.no_grad():
            return module(batch, lengths)

    return run


def clips_per_second(run: Callable[[], object], clips: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return clips / statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--features", choices=["log_mel", "mfcc"], default="mfcc")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(args.threads)

    paths = list(sources.load("fsdd").splits["train"]["path"][: args.clips])
    settings = FeatureSettings(kind=args.features, sample_rate=8000, n_mels=40, n_mfcc=13)
    reference = librosa_features(paths[:20], settings)
    ours = audio.extract_features(paths[:20], settings, use_cache=False)
    gap = max(float(np.abs(a - b).max()) for a, b in zip(reference, ours, strict=True))

    rows = {}
    n = len(paths)
    rows["librosa"] = clips_per_second(lambda: librosa_features(paths, settings), n, args.repeats)
    rows["rnnkit (no cache)"] = clips_per_second(
        lambda: audio.extract_features(paths, settings, use_cache=False), n, args.repeats
    )
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        audio.extract_features(paths, settings, cache_dir=cache)
        rows["rnnkit (cold cache)"] = n / (time.perf_counter() - start)
        rows["rnnkit (cached)"] = clips_per_second(
            lambda: audio.extract_features(paths, settings, cache_dir=cache), n, args.repeats
        )
    rows["rnnkit batched (features only)"] = clips_per_second(
        batched(paths, settings), n, args.repeats
    )

    print(
        f"{n} FSDD clips, {args.features}, 8 kHz, 25 ms / 10 ms frames, "
        f"{args.threads} thread(s); largest |rnnkit - librosa| over 20 clips: {gap:.2e}"
    )
    width = max(len(name) for name in rows)
    base = rows["librosa"]
    print(f"{'':{width}}  clips/s  vs librosa")
    for name, rate in rows.items():
        print(f"{name:{width}}  {rate:7.0f}  {rate / base:9.2f}x")


if __name__ == "__main__":
    main()
