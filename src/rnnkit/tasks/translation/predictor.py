"""Inference for translation runs: ``rnnkit.load(run_dir).translate(texts)``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rnnkit.errors import DataError
from rnnkit.rundir import PREPROCESS_DIR
from rnnkit.tasks.predictor import Predictor


class TranslationPredictor(Predictor):
    _translator = None

    def translator(self):
        """The run's :class:`~rnnkit.tasks.translation.translator.Translator` (built once)."""
        if self._translator is None:
            from rnnkit.tasks.translation.data import cleaning_of, load_pipelines
            from rnnkit.tasks.translation.translator import Translator

            source, target = load_pipelines(self.run_dir / PREPROCESS_DIR)
            batch = self.config.data.eval_batch_size or self.config.data.batch_size
            self._translator = Translator(
                self.model, source, target, cleaning_of(self.config.data), batch
            )
        return self._translator

    def translate(self, texts: str | Sequence[str], beam_size: int | None = None) -> list[str]:
        """One translation per source sentence (a string is one sentence).

        Sentences are cleaned as the training pairs were, then decoded with beam search
        (``beam_size``, default the run's ``model.beam_size``; 1 is greedy). The result
        does not depend on the other sentences of the call.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise DataError("no sentences to translate: give at least one")
        return self.translator().translate(texts, beam_size=beam_size)


def read_sentences(arguments: Sequence[str], file: Path | None) -> list[str]:
    """The sentences of ``rnnkit translate``: the arguments, then the lines of ``file``.

    Every line of the file is a sentence, so an empty line is an error (it would have no
    translation and shift the output against the input).
    """
    sentences = list(arguments)
    if file is not None:
        file = Path(file)
        if not file.is_file():
            raise DataError(f"input file not found: {file}")
        sentences.extend(file.read_text(encoding="utf-8").splitlines())
    if not sentences:
        raise DataError("no sentences to translate: give them as arguments or --file FILE")
    return sentences


def translate_command_lines(
    run_dir: Path,
    arguments: Sequence[str],
    *,
    file: Path | None = None,
    beam_size: int | None = None,
) -> list[str]:
    """One printed line per source sentence: its translation."""
    from rnnkit.predictor import load

    predictor = load(run_dir)
    if not isinstance(predictor, TranslationPredictor):
        raise DataError(f"{run_dir} is a {predictor.task} run; translate needs a translation run")
    return predictor.translate(read_sentences(arguments, file), beam_size=beam_size)
