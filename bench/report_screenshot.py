"""Render HTML reports from real runs and screenshot them with headless Chromium, to check them by eye.

Classification: the bundle of ``runs/demo`` evaluated on the split its config holds out
(test, or validation if there is none), with ``runs/demo/log_history.json`` for the curves.
Entity tagging (only if ``runs/conll-accept/bundle`` exists): the first 300 sentences of
``../shared/data/conll2003/test.txt``. Writes ``cls.html``/``cls.png`` and ``ner.html``/``ner.png``.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); without it only the HTML is written.
Usage (from the repository root): python bench/report_screenshot.py [OUT_DIR]   (default /tmp/report_check)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
NER_SENTENCES = 300


def _context(run_dir: Path, predictor, sizes: str, split: str) -> dict:
    manifest, saved = predictor.manifest, json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    method = manifest["method"]
    trainable, total = method.get("trainable_parameters"), method.get("total_parameters")
    described = method["name"]
    if trainable and total:
        described += f" ({trainable:,} of {total:,} parameters trainable, {100 * trainable / total:.2f}%)"
    context = {"run": run_dir.name, "model": manifest["base_model"]["name"], "method": described,
               "data": sizes, "evaluated on": split}
    runtime = (saved.get("train") or {}).get("train_runtime")
    if runtime is not None:
        context["training time"] = f"{runtime:.1f}s"
    return context


def _history(run_dir: Path) -> list | None:
    path = run_dir / "log_history.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def classification_report(out: Path) -> Path:
    """Evaluate runs/demo's bundle on its held-out split and write cls.html."""
    from tuneforge.config import load_config
    from tuneforge.data import load_splits
    from tuneforge.evaluation.html_report import write_html_report
    from tuneforge.predictor import Predictor
    from tuneforge.tasks import get_task

    run_dir = ROOT / "runs" / "demo"
    cfg = load_config(run_dir / "config.yaml")
    splits = load_splits(cfg.data, get_task(cfg.task.type))
    split, examples = ("test", splits.test) if splits.test else ("validation", splits.validation)
    predictor = Predictor.load(run_dir / "bundle")
    metrics, predictions = predictor.evaluate(examples)
    sizes = f"{len(splits.train)} train / {len(splits.validation)} validation / {len(examples)} {split}"
    return write_html_report(out / "cls.html", metrics, f"TuneForge report: {run_dir.name}",
                             _context(run_dir, predictor, sizes, split), examples, predictions, _history(run_dir))


def ner_report(out: Path) -> Path | None:
    """Evaluate runs/conll-accept's bundle on the first CoNLL-2003 test sentences and write ner.html."""
    from tuneforge.evaluation.html_report import write_html_report
    from tuneforge.predictor import Predictor
    from tuneforge.tasks import read_examples

    run_dir = ROOT / "runs" / "conll-accept"
    if not (run_dir / "bundle").is_dir():
        print(f"skipping entity tagging: {run_dir / 'bundle'} not found")
        return None
    examples = read_examples(SHARED_DATA / "conll2003" / "test.txt", task_type="token_classification")
    examples = examples[:NER_SENTENCES]
    predictor = Predictor.load(run_dir / "bundle")
    metrics, predictions = predictor.evaluate(examples)
    sizes = f"first {len(examples)} sentences of conll2003/test.txt"
    return write_html_report(out / "ner.html", metrics, f"TuneForge report: {run_dir.name}",
                             _context(run_dir, predictor, sizes, "test (subset)"), examples, predictions,
                             _history(run_dir))


def screenshot(page: Path) -> Path | None:
    """A 1280x4000 PNG of ``page`` next to it, by headless Chromium without network features."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("chromium not found; install it with: apt-get install -y chromium")
        return None
    image = page.with_suffix(".png")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--window-size=1280,4000", f"--screenshot={image}", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )
    return image


def main() -> None:
    import torch

    torch.set_num_threads(2)
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/report_check")
    out.mkdir(parents=True, exist_ok=True)
    for page in (classification_report(out), ner_report(out)):
        if page is not None:
            print(f"wrote {page}; screenshot: {screenshot(page)}")


if __name__ == "__main__":
    main()
