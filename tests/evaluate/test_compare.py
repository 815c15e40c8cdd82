from rnnkit.evaluate.compare import beaten_by, model_split


def test_a_baseline_better_on_a_metric_is_named_with_that_metric() -> None:
    metrics = {
        "val": {"rmse": 1.0},
        "test": {"rmse": 2.0, "mae": 1.0, "accuracy": 0.5},
        "baselines": {
            "holt_winters": {"rmse": 1.5, "mae": 1.2},  # better rmse, worse mae
            "naive": {"rmse": 3.0, "mae": 2.0},
            "majority": {"accuracy": 0.6},  # higher is better
            "unknown_direction": {"novel": 0.0},
        },
    }
    directions = {"rmse": "min", "mae": "min", "accuracy": "max"}
    assert model_split(metrics) == "test"
    assert beaten_by(metrics, directions) == {"holt_winters": ["rmse"], "majority": ["accuracy"]}


def test_without_test_split_the_val_metrics_are_compared() -> None:
    metrics = {"val": {"loss": 1.0}, "baselines": {"unigram": {"loss": 0.5}}}
    assert beaten_by(metrics, {"loss": "min"}) == {"unigram": ["loss"]}
    assert beaten_by({}, {"loss": "min"}) == {}
