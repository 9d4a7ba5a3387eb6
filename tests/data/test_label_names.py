"""``data.label_names`` as a list (integer labels index it) or as a mapping from raw labels to names."""

from __future__ import annotations

import pytest
import yaml

from tuneforge import api
from tuneforge.config import build_config, load_config
from tuneforge.errors import ConfigError, DataError

from ..conftest import NEGATIVE, POSITIVE, write_jsonl

NEUTRAL = ["a film", "it is a movie", "the film has a plot", "there is music"]


def star_rows() -> list[dict]:
    """Reviews rated 1, 3 and 5 (integer labels that are not 0..N-1)."""
    return ([{"text": t, "stars": 5} for t in POSITIVE] + [{"text": t, "stars": 1} for t in NEGATIVE]
            + [{"text": t, "stars": 3} for t in NEUTRAL])


def config(data, tiny_model_dir, tmp_path, **data_options):
    return {"data": {"train": str(data), "label_column": "stars", "split": {"validation": 0.2, "test": 0.2, "seed": 0},
                     **data_options},
            "model": {"name": str(tiny_model_dir), "max_length": 32},
            "train": {"epochs": 1, "batch_size": 8, "report_to": []}, "output": {"dir": str(tmp_path / "run")}}


def test_a_mapping_names_integer_labels_that_are_not_indexes(tiny_model_dir, tmp_path):
    data = write_jsonl(tmp_path / "stars.jsonl", star_rows())
    path = tmp_path / "stars.yaml"
    path.write_text("data:\n  label_names: {1: terrible, 3: ok, 5: great}\n")
    assert load_config(path, [f"data.train={data}"]).data.label_names == {"1": "terrible", "3": "ok", "5": "great"}
    result = api.train(build_config(config(data, tiny_model_dir, tmp_path,
                                           label_names={1: "terrible", 3: "ok", 5: "great"})))
    assert result.predictor.label_names == ["terrible", "ok", "great"]
    assert {p["label"] for p in result.predictor.predict_texts(["a great movie", "an awful movie"])} <= \
        {"terrible", "ok", "great"}
    labelled = write_jsonl(tmp_path / "more.jsonl", [{"text": "a fun story", "stars": 5}, {"text": "dull", "stars": 1}])
    assert api.evaluate(result.bundle_dir, labelled)["accuracy"] in (0.0, 0.5, 1.0)  # raw labels read via the bundle


def test_a_list_with_raw_labels_points_to_the_mapping(tiny_model_dir, tmp_path):
    data = write_jsonl(tmp_path / "stars.jsonl", star_rows())
    with pytest.raises(DataError, match=r"outside data.label_names \(0..2\); .*give a mapping"):
        api.train(build_config(config(data, tiny_model_dir, tmp_path, label_names=["terrible", "ok", "great"])))


def test_an_unknown_raw_label_and_bad_mappings_are_clear_errors(tiny_model_dir, tmp_path):
    data = write_jsonl(tmp_path / "stars.jsonl", star_rows() + [{"text": "meh", "stars": 4}])
    with pytest.raises(DataError, match="'4' is not one of the raw labels"):
        api.train(build_config(config(data, tiny_model_dir, tmp_path, label_names={1: "bad", 3: "ok", 5: "good"})))
    for bad in ({1: "same", 2: "same"}, {1: ["a"]}):
        with pytest.raises(ConfigError, match="label_names"):
            build_config(config(data, tiny_model_dir, tmp_path, label_names=bad))
    assert yaml.safe_load("{1: a}") == {1: "a"}  # why the keys are normalised to text
