"""The server predicts on one thread; loading, warm-up and reloads run on threads that end."""

from __future__ import annotations

import threading

import pytest

from tuneforge.serve.passing_thread import in_passing_thread


def test_work_runs_on_a_thread_that_ends_and_its_outcome_comes_back():
    seen = []
    assert in_passing_thread(lambda x, y=1: seen.append(threading.current_thread()) or x + y, 2, y=3) == 5
    assert seen[0] is not threading.current_thread() and not seen[0].is_alive()
    with pytest.raises(ValueError, match="bad input"):
        in_passing_thread(lambda: (_ for _ in ()).throw(ValueError("bad input")))


def test_only_the_batcher_thread_computes_for_long(bundles, monkeypatch):
    from fastapi.testclient import TestClient

    from tuneforge.predictor import Predictor
    from tuneforge.serve.app import ServeSettings, create_app

    computing = []
    original = Predictor.predict

    def predict(self, examples, batch_size=64):
        computing.append(threading.current_thread())
        return original(self, examples, batch_size)

    monkeypatch.setattr(Predictor, "predict", predict)
    app = create_app(ServeSettings(bundle=str(bundles["cls"])))
    with TestClient(app, base_url="http://127.0.0.1:8000") as http:
        for text in ("a great film", "a dull film", "fine"):
            assert http.post("/v1/predict", json={"text": text}).status_code == 200
        reloaded = http.post("/v1/predict", json={"text": "again"})
        assert reloaded.status_code == 200
        alive = {t.name for t in computing if t.is_alive()}
    assert len(computing) >= 4  # the warm-up and the requests
    assert alive == {computing[-1].name} and alive.pop().startswith("tuneforge-infer")
