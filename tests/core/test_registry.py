import pytest

from tokenizer_bench.core.errors import ConfigError, DuplicateComponentError, UnknownComponentError
from tokenizer_bench.core.registry import Registry


class Widget:
    """A widget for tests."""

    def __init__(self, size: int, colour: str = "red") -> None:
        self.size, self.colour = size, colour


def test_build_passes_constructor_arguments():
    reg = Registry("encoders")
    reg.add("widget", Widget, source="here")
    w = reg.build("widget", size=3, colour="blue")
    assert (w.size, w.colour) == (3, "blue")
    assert reg.get("widget").description == "A widget for tests."


def test_unknown_name_lists_available_and_suggests():
    reg = Registry("encoders")
    reg.add("widget", Widget, source="a")
    reg.add("gadget", Widget, source="a")
    with pytest.raises(UnknownComponentError) as info:
        reg.get("widgit")
    msg = str(info.value)
    assert "'widgit'" in msg and "Did you mean 'widget'" in msg and "gadget, widget" in msg


def test_duplicate_names_both_sources():
    reg = Registry("quantizers")
    reg.add("rvq", Widget, source="pkg-one")
    with pytest.raises(DuplicateComponentError) as info:
        reg.add("rvq", Widget, source="pkg-two")
    assert "pkg-one" in str(info.value) and "pkg-two" in str(info.value)


def test_unknown_and_missing_arguments_are_config_errors():
    reg = Registry("encoders")
    reg.add("widget", Widget, source="a")
    with pytest.raises(ConfigError, match=r"unknown argument\(s\) sise.*Valid arguments: colour, size"):
        reg.build("widget", sise=3)
    with pytest.raises(ConfigError, match="needs argument"):
        reg.build("widget")
