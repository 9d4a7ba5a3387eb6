import pytest

from tuneforge.errors import ConfigError
from tuneforge.registry import Registry


def test_register_get_names():
    reg = Registry("thing")

    @reg.register("b")
    class B: ...

    reg.register("a")(1)
    assert reg.get("b") is B
    assert reg.names() == ["a", "b"]
    assert "a" in reg and "c" not in reg


def test_duplicate_and_unknown():
    reg = Registry("thing")
    reg.register("alpha")(1)
    with pytest.raises(ValueError):
        reg.register("alpha")(2)
    with pytest.raises(ConfigError, match="did you mean 'alpha'"):
        reg.get("alpah")
