"""Config sections of speech recognition: ``data:`` (source, audio features, output
symbols) and ``model:`` (convolutional subsampling, recurrent stack, CTC decoder)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rnnkit.config import Config, SourceConfig, StackConfig
from rnnkit.config.audio import AudioConfig


class SpeechData(SourceConfig, AudioConfig):
    """Transcribed clips: a catalog name (fsdd-connected), or a folder with
    ``transcripts.tsv`` (``<file><TAB><text>``) at the top or in train/val/test folders."""

    units: Literal["char", "word"] = "char"  # what the CTC output symbols are


class SpeechModel(StackConfig):
    """features -> stride-2 convolutions -> recurrent stack -> symbols + blank."""

    num_layers: int = Field(2, ge=1)
    bidirectional: bool = True
    subsampling_layers: int = Field(1, ge=0, le=4)  # stride-2 convolutions in front
    conv_channels: int = Field(64, ge=1)
    output_dropout: float = Field(0.0, ge=0.0, lt=1.0)  # before the output layer
    decoder: Literal["greedy", "beam"] = "beam"  # prefix beam search, no language model
    beam_size: int = Field(8, ge=1)


class SpeechRecognitionConfig(Config):
    task: Literal["speech_recognition"] = "speech_recognition"
    data: SpeechData
    model: SpeechModel = Field(default_factory=SpeechModel)


__all__ = ["SpeechData", "SpeechModel", "SpeechRecognitionConfig"]
