"""Integrated-gradients explanations: completeness (the attributions sum to the output difference they
explain, within the reported convergence delta), words merged from pieces, targets, and refusals."""

from __future__ import annotations

import pytest

from tuneforge.errors import ConfigError
from tuneforge.explain.attributions import explain_texts, highlight_html
from tuneforge.predictor import Predictor

from ..conftest import train_tiny_bundle

pytest.importorskip("captum")


@pytest.fixture(scope="module")
def bundle(tiny_model_dir, tmp_path_factory):
    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path_factory.mktemp("explain"))
    return result.bundle_dir


@pytest.fixture(scope="module")
def predictor(bundle):
    return Predictor.load(bundle)


def test_attributions_are_complete_and_merged_to_words(predictor):
    texts = ["a great movie , lovely acting", "so boring", "terrible music and a dull plot"]
    results = explain_texts(predictor, texts, steps=200)
    for text, result in zip(texts, results):
        assert [w["word"] for w in result["words"]] == text.split()
        assert result["words"][0]["start"] == 0 and result["words"][-1]["end"] == len(text)
        total = sum(w["attribution"] for w in result["words"])
        assert total == pytest.approx(result["attribution_sum"], abs=1e-4)  # special tokens attribute nothing
        assert abs(result["attribution_sum"] - result["output_difference"]) <= abs(result["convergence_delta"]) + 1e-4
        assert result["relative_delta"] < 0.05, result
        assert result["target"] == result["label"]


def test_a_target_label_flips_the_sign_of_the_evidence(predictor):
    names = predictor.label_names
    one, other = (explain_texts(predictor, ["a great movie"], target=name, steps=100)[0] for name in names)
    assert one["target"] == names[0] and other["target"] == names[1]
    assert one["output_difference"] != other["output_difference"]
    assert "<span" in highlight_html(one) and "great" in highlight_html(one)


def test_refusals(predictor):
    with pytest.raises(ConfigError, match="not one of the labels"):
        explain_texts(predictor, ["x"], target="nope")
    with pytest.raises(ConfigError, match="steps must be between"):
        explain_texts(predictor, ["x"], steps=0)


def test_the_cli_writes_json_lines_and_html(bundle, tmp_path):
    import json

    from typer.testing import CliRunner

    from tuneforge.cli import app

    from ..conftest import assert_one_error

    bundle = str(bundle)
    result = CliRunner().invoke(app, ["explain", bundle, "-t", "a great movie", "--html", str(tmp_path / "e.html")])
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[-1])
    assert [w["word"] for w in line["words"]] == ["a", "great", "movie"] and "convergence_delta" in line
    assert "great" in (tmp_path / "e.html").read_text()
    assert_one_error(CliRunner().invoke(app, ["explain", bundle, "-t", "x", "--steps", "0"]), "steps must be between")
