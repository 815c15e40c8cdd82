"""Speech recognition: transcribe clips with a CTC acoustic model (greedy or prefix beam
search), scored by word and character error rates."""

from rnnkit.tasks.spec import TaskSpec
from rnnkit.tasks.speech_recognition.config import SpeechRecognitionConfig

_HERE = "rnnkit.tasks.speech_recognition"

SPEC = TaskSpec(
    name="speech_recognition",
    summary="transcribe speech with CTC",
    config=SpeechRecognitionConfig,
    metrics={"loss": "min", "wer": "min", "cer": "min", "sentence_accuracy": "max"},
    logged=("loss", "wer"),
    training=f"{_HERE}.task:SpeechRecognitionTask",
    model=f"{_HERE}.model:build_model",
    predictor=f"{_HERE}.predictor:SpeechRecognitionPredictor",
    export=f"{_HERE}.export:signature",
    cli=f"{_HERE}.cli:register",
    fixture=f"{_HERE}.fixture:tiny_config",
    dataset_kinds=("transcribed_audio",),
)
