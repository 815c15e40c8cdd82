"""Speech recognition metrics: word and character error rates, sentence accuracy.

``wer`` and ``cer`` are corpus-level rates, computed by ``jiwer``: the total number of
substitutions, deletions and insertions of a minimal alignment between each reference and
its hypothesis, divided by the total number of reference words (characters). They can
exceed 1 when the hypotheses insert much. ``sentence_accuracy`` is the fraction of
utterances transcribed exactly.
"""

from __future__ import annotations

from collections.abc import Sequence


def normalize_text(text: str) -> str:
    """Whitespace collapsed to single spaces, trimmed (the form transcripts are scored in)."""
    return " ".join(text.split())


def transcription_metrics(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """``{"wer", "cer", "sentence_accuracy"}`` of ``hypotheses`` against ``references``."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses: one each")
    if not references:
        raise ValueError("no utterances to score")
    refs = [normalize_text(text) for text in references]
    hyps = [normalize_text(text) for text in hypotheses]
    if not any(refs):
        raise ValueError("every reference transcript is empty: error rates are undefined")
    exact = sum(ref == hyp for ref, hyp in zip(refs, hyps, strict=True))
    return {
        "wer": float(jiwer.wer(refs, hyps)),
        "cer": float(jiwer.cer(refs, hyps)),
        "sentence_accuracy": exact / len(refs),
    }


__all__ = ["normalize_text", "transcription_metrics"]
