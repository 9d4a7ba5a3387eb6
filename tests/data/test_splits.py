from collections import Counter

from tuneforge.config import build_config
from tuneforge.data import DataColumns, load_splits
from tuneforge.tasks import get_task
from tuneforge.data.splits import split_examples

from ..conftest import write_csv


def test_split_is_stratified_and_seeded():
    examples = [{"text": str(i), "label": "a" if i < 80 else "b", "where": ""} for i in range(100)]
    rest, held = split_examples(examples, 0.2, seed=1)
    assert len(held) == 20 and len(rest) == 80
    assert Counter(e["label"] for e in held) == {"a": 16, "b": 4}
    again, _ = split_examples(examples, 0.2, seed=1)
    assert again == rest
    other, _ = split_examples(examples, 0.2, seed=2)
    assert other != rest


def test_one_file_gives_three_disjoint_splits(tmp_path):
    rows = [{"text": f"t{i}", "label": "ab"[i % 2]} for i in range(50)]
    cfg = build_config({"data": {"train": str(write_csv(tmp_path / "d.csv", rows))}})
    splits = load_splits(cfg.data, get_task("classification"))
    sizes = (len(splits.train), len(splits.validation), len(splits.test))
    assert sizes == (40, 5, 5)
    texts = [{e["text"] for e in s} for s in (splits.train, splits.validation, splits.test)]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    assert splits.label_names == ["a", "b"]


def test_given_files_are_used_as_given(tmp_path):
    train = write_csv(tmp_path / "t.csv", [{"text": f"t{i}", "label": "ab"[i % 2]} for i in range(10)])
    dev = write_csv(tmp_path / "v.csv", [{"text": "v", "label": "a"}])
    cfg = build_config({"data": {"train": str(train), "validation": str(dev)}})
    splits = load_splits(cfg.data, get_task("classification"))
    assert len(splits.train) == 10 and len(splits.validation) == 1 and splits.test is None


def test_entity_label_names_put_o_first():
    train = [{"tokens": ["a", "b"], "tags": ["B-PER", "O"]}, {"tokens": ["c"], "tags": ["B-LOC"]}]
    assert get_task("token_classification").label_space(train, DataColumns(), "t") == ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]
