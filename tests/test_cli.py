"""predict and evaluate on a bundle in a fresh process, as a user would run them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from tuneforge import api


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    from .conftest import train_tiny_bundle

    tmp = tmp_path_factory.mktemp("cli")
    result, data = train_tiny_bundle(tiny_model_dir, tmp)
    return result, data, tmp


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "tuneforge", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_predict_in_new_process_matches_memory(trained):
    result, _, tmp = trained
    texts = ["a great movie", "so boring"]
    proc = run_cli("predict", result.bundle_dir, "--text", texts[0], "--text", texts[1])
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    expected = result.predictor.predict_texts(texts)
    assert [line["text"] for line in lines] == texts
    assert [line["label"] for line in lines] == [p["label"] for p in expected]
    for line, exp in zip(lines, expected):
        assert line["scores"]["positive"] == pytest.approx(exp["scores"]["positive"], abs=1e-5)


def test_predict_input_file_to_output(trained):
    result, data, tmp = trained
    texts = tmp / "texts.txt"
    texts.write_text("a great movie\n\nso boring\n", encoding="utf-8")
    out = tmp / "out" / "pred.jsonl"
    proc = run_cli("predict", result.bundle_dir, "--input", texts, "--output", out)
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) == 2
    proc = run_cli("predict", result.bundle_dir, "--input", data)
    assert proc.returncode == 0 and len(proc.stdout.splitlines()) == 24
    if importlib.util.find_spec("presidio_analyzer"):  # --mask-pii: the echoed text masked, the model read it whole
        text = "call me on +44 20 7946 0958, a great movie"
        plain, masked = (api.predict(result.bundle_dir, texts=[text], mask_pii=m)[0] for m in (None, ["phone"]))
        assert masked["text"] == "call me on <PHONE>, a great movie" and masked["scores"] == plain["scores"]


def test_evaluate_in_new_process(trained):
    result, data, tmp = trained
    proc = run_cli("evaluate", result.bundle_dir, "--data", data, "--output", tmp / "eval", "--robustness")
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 24
    assert metrics["accuracy"] == pytest.approx(api.evaluate(result.bundle_dir, data)["accuracy"])
    assert "accuracy" in proc.stdout and "robustness" in proc.stdout and "weakest" in proc.stdout
    # --robustness: each row is the metric on the seeded perturbed copy, as evaluating that copy gives
    from tuneforge.evaluation.perturbations import perturb_examples
    from tuneforge.evaluation.robustness import synonym_source

    rows = {r["perturbation"]: r for r in metrics["robustness"]["rows"]}
    assert rows["clean"]["metric"] == metrics["accuracy"]
    assert {"typos 10%", "typos 20%", "case", "punctuation", "word drop 10%"} <= set(rows)
    examples = api.read_inputs(data, result.predictor.manifest, require_labels=True)
    for kind, rate, name in (("typos", 0.2, "typos 20%"), ("word_drop", 0.1, "word drop 10%")):
        noisy = perturb_examples(examples, kind, rate, 0, synonym_source(result.bundle_dir / "model"))
        expected, predictions = result.predictor.evaluate(noisy)
        assert rows[name]["metric"] == pytest.approx(expected["accuracy"])
        flips = sum(a["label"] != b["label"] for a, b in zip(result.predictor.evaluate(examples)[1], predictions))
        assert rows[name]["flipped"] == pytest.approx(flips / 24, abs=1e-6)
    assert rows["typos 20%"]["inputs_changed"] > 0.5 and rows["case"]["inputs_changed"] > 0.5
    assert "## Robustness" in (tmp / "eval" / "report.md").read_text()
    assert 'id="robustness"' in (tmp / "eval" / "report.html").read_text()


def test_cli_errors_are_one_line(trained, tmp_path):
    result, _, _ = trained
    proc = run_cli("predict", tmp_path / "nowhere", "--text", "x")
    assert proc.returncode == 2 and "bundle folder not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("predict", result.bundle_dir)
    assert proc.returncode == 2 and "nothing to predict" in proc.stderr


@pytest.mark.parametrize("method", [["method.name=lora", "method.r=4", "method.merge=false"],
                                    ["method.name=adapter", "method.bottleneck=8"],
                                    ["method.name=prompt", "method.verbalizer={negative: awful, positive: great}",
                                     "method.adapt={name: lora, r: 4}"]])
def test_switch_method_on_the_cli(trained, tmp_path, method):
    import yaml

    _, data, _ = trained
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"train": str(data)}, "model": {"name": str(trained[0].predictor.manifest.base_model.path)},
        "train": {"epochs": 1, "batch_size": 8}, "output": {"dir": str(tmp_path / "run")},
    }))
    proc = run_cli("train", config, *method)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "run" / "bundle" / "tuneforge.json").read_text())
    assert manifest["method"]["name"] == method[0].split("=")[1]
    assert "parameters trainable" in (tmp_path / "run" / "report.md").read_text()
    if method[0] != "method.name=lora":  # new processes for the unmerged bundle; the others reload in this one
        from tuneforge.predictor import Predictor

        assert Predictor.load(tmp_path / "run" / "bundle").predict_texts(["a great movie"])[0]["label"] in \
            {"positive", "negative"}
        return
    proc = run_cli("predict", tmp_path / "run" / "bundle", "--text", "a great movie")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["label"] in {"positive", "negative"}
    proc = run_cli("evaluate", tmp_path / "run" / "bundle", "--data", data)
    assert proc.returncode == 0 and "accuracy" in proc.stdout, proc.stderr


def test_in_context_on_the_cli_with_a_decoder_folder(trained, tiny_decoder_dir, tmp_path):
    import yaml

    _, data, _ = trained
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({"data": {"train": str(data)}, "output": {"dir": str(tmp_path / "run")}}))
    proc = run_cli("train", config, f"model.name={tiny_decoder_dir}", "method.name=in_context",
                   "method.shots_per_class=2", "method.verbalizer={negative: bad, positive: good}")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "run" / "bundle" / "tuneforge.json").read_text())
    assert manifest["method"]["name"] == "in_context" and manifest["method"]["demonstrations"] == 4
    proc = run_cli("predict", tmp_path / "run" / "bundle", "--text", "a great movie")
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)["scores"]) == {"negative", "positive"}


def test_training_console_has_no_load_and_save_bars(trained, tmp_path):
    cfg_path = trained[0].run_dir / "config.yaml"  # the resolved config of the fixture's run
    result = subprocess.run([sys.executable, "-m", "tuneforge", "train", str(cfg_path), "method.name=bitfit",
                             f"output.dir={tmp_path / 'quiet'}", "train.epochs=1", "train.report_to=[]"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    console = result.stdout + result.stderr
    assert "Writing model shards" not in console and "Loading weights" not in console
    assert "done in" in console  # TuneForge's own summary is still there


def test_predict_and_evaluate_read_other_column_names(trained, tmp_path):
    result, _, _ = trained
    other = tmp_path / "other.csv"
    other.write_text("id,review,sentiment\n1,a great movie,positive\n2,so boring,negative\n", encoding="utf-8")
    refused = run_cli("evaluate", result.bundle_dir, "--data", other)
    assert refused.returncode != 0 and "column 'text' not found" in refused.stderr
    proc = run_cli("evaluate", result.bundle_dir, "--data", other, "--text-column", "review", "--label-column",
                   "sentiment")
    assert proc.returncode == 0 and "accuracy" in proc.stdout, proc.stderr
    proc = run_cli("predict", result.bundle_dir, "--input", other, "--text-column", "review")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["text"] for line in proc.stdout.splitlines()] == ["a great movie", "so boring"]


def test_bad_precision_and_backend_are_one_line_errors(trained):
    result, _, _ = trained
    for flag, value, message in (("--precision", "fp16", "precision must be one of auto, fp32, bf16"),
                                 ("--backend", "bogus", "backend must be torch, onnx or auto")):
        proc = run_cli("predict", result.bundle_dir, "--text", "hi", flag, value)
        assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr
