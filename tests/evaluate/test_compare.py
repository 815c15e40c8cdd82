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


def test_a_coverage_is_better_when_closer_to_its_nominal_level() -> None:
    metrics = {
        "test": {"coverage_80": 0.6, "crps": 1.0},
        "baselines": {
            "wide": {"coverage_80": 0.99, "crps": 2.0},  # 0.19 from 0.8 beats the model's 0.2
            "close": {"coverage_80": 0.85, "crps": 1.5},  # 0.05 from 0.8: better
            "same_gap": {"coverage_80": 1.0},  # 0.2 from 0.8, as far as the model: not better
        },
    }
    directions = {"coverage_80": "near", "crps": "min"}
    assert beaten_by(metrics, directions, {"coverage_80": 0.8}) == {
        "wide": ["coverage_80"],
        "close": ["coverage_80"],
    }
    # Without its nominal value a "near" metric is not compared.
    assert beaten_by(metrics, directions) == {}
