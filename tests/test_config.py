import pytest

from tuneforge.config import RunConfig, build_config, load_config, parse_overrides
from tuneforge.errors import ConfigError

from .conftest import ROOT

SHIPPED = sorted((ROOT / "configs").rglob("*.yaml"))


def test_there_are_shipped_configs():
    assert {p.name for p in SHIPPED} >= {"demo.yaml", "sst2.yaml", "conll2003.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)
    assert cfg.name == path.stem
    assert cfg.data.train
    if cfg.tune.space:  # a shipped search space names real options with valid ends
        from tuneforge.tuning.space import resolve_space

        assert set(resolve_space(cfg)) == set(cfg.tune.space)


def test_unknown_key_names_the_key_and_valid_ones():
    with pytest.raises(ConfigError) as err:
        build_config({"data": {"train": "x.csv"}, "train": {"epoch": 3}})
    message = str(err.value)
    assert "'train.epoch'" in message
    assert "did you mean 'epochs'" in message
    assert "learning_rate" in message


def test_unknown_top_level_section():
    with pytest.raises(ConfigError, match="unknown key 'trian'"):
        build_config({"data": {"train": "x.csv"}, "trian": {}})


def test_unknown_method_option_names_it():
    with pytest.raises(ConfigError, match="method.rank"):
        build_config({"data": {"train": "x.csv"}, "method": {"name": "full", "rank": 8}})


def test_unknown_method_name_lists_methods():
    with pytest.raises(ConfigError, match="unknown method 'fulll'.*did you mean 'full'"):
        build_config({"data": {"train": "x.csv"}, "method": {"name": "fulll"}})


def test_bad_value_names_key():
    with pytest.raises(ConfigError, match="train.epochs"):
        build_config({"data": {"train": "x.csv"}}, ["train.epochs=many"])


def test_missing_required_key():
    with pytest.raises(ConfigError, match="missing required key 'data'"):
        build_config({})


def test_dotted_overrides_are_typed_and_nested():
    assert parse_overrides(["train.epochs=3", "method.name=full", "data.label_names=[a, b]"]) == {
        "train": {"epochs": 3}, "method": {"name": "full"}, "data": {"label_names": ["a", "b"]},
    }
    cfg = build_config({"data": {"train": "x.csv"}, "train": {"epochs": 5}}, ["train.epochs=1", "train.learning_rate=3e-5"])
    assert cfg.train.epochs == 1 and cfg.train.learning_rate == pytest.approx(3e-5)


def test_override_without_equals_fails():
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_overrides(["train.epochs"])


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_resolved_config_round_trips(tmp_path):
    from tuneforge.config import dump_config

    cfg = load_config(ROOT / "configs" / "sst2.yaml", ["train.epochs=1"])
    dump_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again.model_dump() == cfg.model_dump()


def test_data_paths_in_a_config_file_resolve_beside_it(tmp_path, monkeypatch):
    from tuneforge.config import load_config

    project = tmp_path / "mydata"
    project.mkdir()
    (project / "reviews.csv").write_text("text,label\na,x\nb,y\n", encoding="utf-8")
    (project / "reviews.yaml").write_text("data: {train: reviews.csv, test: missing.csv}\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config("../mydata/reviews.yaml")
    assert cfg.data.train == (project / "reviews.csv").resolve()
    assert cfg.data.test == (project / "missing.csv").resolve()  # the error will name this absolute path
    # a config written against the current folder (as the shipped ones are) still finds its data
    (elsewhere / "local.csv").write_text("text,label\na,x\nb,y\n", encoding="utf-8")
    (project / "old.yaml").write_text("data: {train: local.csv}\n", encoding="utf-8")
    assert load_config(project / "old.yaml").data.train == (elsewhere / "local.csv").resolve()
    # paths given on the command line are relative to the current folder
    assert load_config(project / "old.yaml", ["data.train=local.csv"]).data.train.name == "local.csv"


def test_an_error_says_whether_the_bad_value_came_from_the_command_line_or_the_file(tmp_path):
    path = tmp_path / "reviews.yaml"
    path.write_text("data: {train: reviews.csv}\ntrain: {epochs: -1}\nmethod: {name: lora, r: many}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, ["train.batch_size=0"])
    message = str(err.value)
    assert f"train.epochs: Input should be greater than 0 (got -1) (in {path})" in message
    assert "method.r: Input should be a valid integer" in message and f"(got 'many') (in {path})" in message
    assert "train.batch_size: Input should be greater than 0 (got 0) (from the command line: train.batch_size=0)" \
        in message
    with pytest.raises(ConfigError, match=r"\(from the command line: method\.r=x\)$"):
        load_config(ROOT / "configs" / "demo.yaml", ["method.name=lora", "method.r=x"])


def test_conll_data_without_task_type_trains_entity_tagging(tmp_path):
    tagged = tmp_path / "ner.txt"
    tagged.write_text("-DOCSTART- -X- O O\n\nEU B-ORG\nrejects O\nGerman B-MISC\n\nPeter B-PER\n")
    plain = tmp_path / "notes.txt"
    plain.write_text("EU rejects German call\nPeter Blackburn\n")
    assert load_config_from(tmp_path, "data: {train: ner.txt}").task.type == "token_classification"
    assert load_config_from(tmp_path, "data: {train: ner.conll}").task.type == "token_classification"
    assert load_config_from(tmp_path, "data: {train: notes.txt, format: conll}").task.type == "token_classification"
    assert load_config_from(tmp_path, "data: {train: notes.txt}").task.type == "classification"
    assert load_config_from(tmp_path, "data: {train: reviews.csv}").task.type == "classification"
    assert load_config_from(tmp_path, "data: {train: ner.txt}\ntask: {type: multilabel}").task.type == "multilabel"


def load_config_from(folder, text):
    path = folder / "run.yaml"
    path.write_text(text)
    return load_config(path)
