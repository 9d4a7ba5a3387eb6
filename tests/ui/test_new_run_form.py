"""The new-run form: uploads (limits and checks, messages in the page), the preview, option fieldsets
generated from the registries, and the YAML the choices produce."""

from __future__ import annotations

import re

import yaml

from tuneforge.methods import METHODS
from tuneforge.tasks import TASKS
from tuneforge.ui.forms import option_forms, section_values

from .conftest import make_client


def _message(page: str) -> str:
    found = re.search(r'id="message" role="alert">([^<]*)<', page)
    return found.group(1) if found else ""


def test_a_data_upload_is_stored_under_a_generated_name_and_previewed(client, workdir):
    body = (workdir / "reviews.csv").read_bytes()
    response = client.post("/new/upload", files={"file": ("../../evil name.csv", body, "text/csv")},
                           follow_redirects=False)
    assert response.status_code == 303
    stored = list((workdir / "runs" / ".ui" / "uploads").glob("*.csv"))
    assert len(stored) == 1 and "evil" not in stored[0].name
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert 'id="preview-table"' in page.text and "i really enjoyed this film" in page.text
    assert re.search(r'id="label-column">label<', page.text) and re.search(r'id="text-column">text<', page.text)
    assert "evil name.csv" in client.get("/new").text  # the client's name is shown, never used as a path


def test_bad_uploads_get_a_message_not_a_500(workdir):
    client = make_client(workdir, max_upload_mb=0.01)  # about 10 kB
    cases = [
        (("notes.exe", b"MZ\x90\x00binary", "application/octet-stream"), 415, "not a file type"),
        (("broken.jsonl", b'{"text": "a", "label": \n{{{', "application/json"), 422, "broken.jsonl"),
        (("empty.csv", b"", "text/csv"), 422, "empty"),
        (("big.csv", b"text,label\n" + b"some words,a\n" * 2000, "text/csv"), 413, "over the limit"),
        (("binary.csv", bytes(range(256)) * 10, "text/csv"), 422, "binary.csv"),
    ]
    for upload, code, words in cases:
        response = client.post("/new/upload", files={"file": upload})
        assert response.status_code == code, (upload[0], response.status_code, response.text[-500:])
        assert words in _message(response.text), (upload[0], _message(response.text))
        assert "Traceback" not in response.text
    assert client.post("/new/upload", data={"x": "1"}).status_code == 415  # not even a form upload
    assert not [p for p in (workdir / "runs" / ".ui" / "uploads").glob("*") if p.suffix != ".json"]


def test_a_declared_oversize_body_is_refused_before_reading(workdir):
    client = make_client(workdir, max_upload_mb=0.01)
    response = client.post("/new/upload", content=b"x" * 10, headers={
        "Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(50 * 2**20)})
    assert response.status_code == 413 and "over the limit" in _message(response.text)


def test_option_fields_come_from_the_registry(client, workdir):
    forms = {form.name: form for form in option_forms(METHODS)}
    assert set(forms) == set(METHODS.names())  # the test plugin's method too: nothing is listed by hand
    name, field = next((n, f) for n, form in forms.items() for f in form.fields if f.kind == "int" and f.minimum)
    declared = METHODS.get(name).Options.model_fields[field.key]
    assert field.default == declared.default and field.description == (declared.description or "")
    page = client.get("/new", params={"data": "reviews.csv"}).text
    for method in METHODS.names():
        assert f'data-section="method" data-name="{method}"' in page
    for task in TASKS.names():
        assert f'<option value="{task}"' in page
    assert re.search(rf'name="method\.{field.key}"[^>]*min="{field.minimum}"', page)


def test_changed_options_are_written_into_the_yaml(client, workdir):
    name, field = next((f.name, x) for f in option_forms(METHODS) for x in f.fields if x.kind == "int" and x.minimum)
    value = int(field.default or field.minimum) + 3
    assert section_values(METHODS, name, {field.key: str(value)}) == {field.key: value}
    assert section_values(METHODS, name, {field.key: str(field.default)}) == {}  # defaults stay out
    task = client.get("/new", params={"data": "reviews.csv"}).text
    detected = re.search(r'id="detected-task">([^<]+)<', task).group(1)
    answer = client.post("/api/yaml", json={"data": "reviews.csv", "name": "mine", "task": detected,
                                            "method": name, "model": "tiny-bert",
                                            "method_options": {field.key: str(value)}})
    assert answer.status_code == 200, answer.text
    config = yaml.safe_load(answer.json()["yaml"])
    assert config["method"] == {"name": name, field.key: value}
    assert config["model"]["name"] == "tiny-bert" and config["name"] == "mine"
    assert config["data"]["train"] == str((workdir / "reviews.csv").resolve())
    bad = client.post("/api/yaml", json={"data": "reviews.csv", "method": name,
                                         "method_options": {field.key: "many"}})
    assert bad.status_code == 422 and field.key in bad.json()["error"]


def test_an_invalid_config_comes_back_with_its_message(client, workdir):
    text = "name: bad\ndata: {train: reviews.csv}\ntrain: {batch_size: 0}\n"
    response = client.post("/new/start", data={"yaml": text, "name": "bad", "kind": "train"})
    assert response.status_code == 422
    assert "batch_size" in _message(response.text)
    assert "batch_size: 0" in response.text  # the YAML is kept as typed
    assert not list((workdir / "runs").glob("bad*"))
    broken = client.post("/new/start", data={"yaml": "data: [unclosed", "name": "bad", "kind": "train"})
    assert broken.status_code == 422 and _message(broken.text)
