import pytest

from tuneforge.tasks import read_examples
from tuneforge.data.readers import read_conll, read_table
from tuneforge.errors import DataError

from ..conftest import write_csv, write_jsonl


def test_csv_quoting_and_line_numbers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"hello, world",a\n\n"multi\nline",b\n', encoding="utf-8")
    columns, rows = read_table(path, ",")
    assert columns == ["text", "label"]
    assert [r.values["text"] for r in rows] == ["hello, world", "multi\nline"]
    assert [r.line for r in rows] == [2, 4]


def test_tsv_with_integer_labels_and_names(tmp_path):
    path = write_csv(tmp_path / "d.tsv", [{"sentence": "nice", "label": "1"}, {"sentence": "bad", "label": "0"}], "\t")
    examples = read_examples(path, task_type="classification", text_column="sentence", label_names=["neg", "pos"])
    assert [e["label"] for e in examples] == ["pos", "neg"]


def test_label_index_out_of_range(tmp_path):
    path = write_csv(tmp_path / "d.tsv", [{"text": "nice", "label": "2"}], "\t")
    with pytest.raises(DataError, match="line 2: label index 2 is outside"):
        read_examples(path, task_type="classification", label_names=["neg", "pos"])


def test_jsonl_multilabel_list_and_delimited(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "x", "label": ["b", "a"]}, {"text": "y", "label": "a|c"}])
    examples = read_examples(path, task_type="multilabel")
    assert [e["label"] for e in examples] == [["a", "b"], ["a", "c"]]


def test_jsonl_integer_labels_become_strings(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "x", "label": 3}])
    assert read_examples(path, task_type="classification")[0]["label"] == "3"


def test_sentence_pairs(tmp_path):
    path = write_csv(tmp_path / "d.csv", [{"premise": "a", "hypothesis": "b", "label": "entail"}])
    example = read_examples(path, task_type="classification", text_column="premise", text_pair_column="hypothesis")[0]
    assert (example["text"], example["text_pair"]) == ("a", "b")


def test_missing_label(tmp_path):
    path = write_csv(tmp_path / "d.csv", [{"text": "a", "label": ""}])
    with pytest.raises(DataError, match="line 2: missing label"):
        read_examples(path, task_type="classification")


def test_conll_skips_docstart_and_keeps_lines(conll_file):
    sentences = read_conll(conll_file)
    assert sentences[0].tokens == ["john", "lives", "in", "paris", "."]
    assert sentences[0].tags == ["B-PER", "O", "O", "B-LOC", "O"]
    assert sentences[0].line == 3
    assert len(sentences) == 12


def test_conll_four_columns_takes_first_and_last(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n", encoding="utf-8")
    sentence = read_conll(path)[0]
    assert sentence.tokens == ["EU", "rejects"] and sentence.tags == ["B-ORG", "O"]


def test_conll_untagged_for_prediction(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text("John\nlives\n\nhere\n", encoding="utf-8")
    sentences = read_conll(path, require_tags=False)
    assert [s.tokens for s in sentences] == [["John", "lives"], ["here"]]
    assert sentences[0].tags is None


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("\ufefftext,label\nhé,a\n".encode("utf-8"))
    assert read_examples(path, task_type="classification")[0]["text"] == "hé"


def test_shared_sst2_reads(tmp_path):
    from ..conftest import SHARED_DATA

    path = SHARED_DATA / "sst2" / "dev.tsv"
    if not path.exists():
        pytest.skip("shared data not present")
    examples = read_examples(path, task_type="classification", text_column="sentence", label_names=["negative", "positive"])
    assert len(examples) == 872
    assert {e["label"] for e in examples} == {"negative", "positive"}


def test_tsv_tolerates_carriage_returns_and_bare_quotes(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_bytes(b'sentence\tlabel\r\nhide new secretions\r\t0\r\n"quoted start\t1\n')
    columns, rows = read_table(path, "\t")
    assert [r.values["sentence"] for r in rows] == ["hide new secretions", '"quoted start']
    assert [r.values["label"] for r in rows] == ["0", "1"]
