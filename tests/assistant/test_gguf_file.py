from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.engine.gguf_file import inspect_gguf
from assistant.errors import ModelError


def test_reads_facts_of_a_valid_file(tiny_model: Path) -> None:
    info = inspect_gguf(tiny_model)
    assert (info.architecture, info.block_count, info.context_length) == ("llama", 2, 4096)
    assert info.name == "mneme-tiny-random"
    assert info.size_bytes == tiny_model.stat().st_size


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        (b"", "empty or too small"),
        (b"PK\x03\x04 this is a zip", "not a GGUF"),
        (b"GGUF\x63\x00\x00\x00", "version 99"),
    ],
)
def test_bad_files_get_a_clear_reason(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        inspect_gguf(path)


def test_a_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is a folder"):
        inspect_gguf(tmp_path)


def test_every_truncation_point_is_reported_as_truncated(tiny_model: Path, tmp_path: Path) -> None:
    data = tiny_model.read_bytes()
    path = tmp_path / "cut.gguf"
    for cut in (8, 24, 100, 1000, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelError, match="truncated"):
            inspect_gguf(path)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(position=st.integers(min_value=0, max_value=4000), junk=st.binary(min_size=1, max_size=16))
def test_corrupted_headers_fail_cleanly(
    tiny_model: Path, tmp_path: Path, position: int, junk: bytes
) -> None:
    data = bytearray(tiny_model.read_bytes())
    data[position : position + len(junk)] = junk
    path = tmp_path / "corrupt.gguf"
    path.write_bytes(bytes(data))
    try:
        inspect_gguf(path)
    except ModelError as error:
        assert str(error)  # a reason, never an uncaught struct/unicode/memory error
