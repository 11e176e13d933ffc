import hashlib
import subprocess
import sys
from pathlib import Path

import llama_cpp

from assistant.engine.gguf_file import inspect_gguf
from assistant.testing import write_tiny_model


def test_command_line_writes_a_gguf_that_real_llama_cpp_loads(tmp_path: Path) -> None:
    out = tmp_path / "made.gguf"
    result = subprocess.run(
        [sys.executable, "-m", "assistant.testing", "tiny-model", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote" in result.stdout
    info = inspect_gguf(out)
    assert info.architecture == "llama"
    assert info.has_chat_template
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=128, verbose=False)
    try:
        assert llm.n_vocab() > 256
        assert "<|im_start|>" in llm.metadata["tokenizer.chat_template"]
        tokens = llm.tokenize(b"<|im_start|>user", add_bos=False, special=True)
        assert tokens[0] == 3  # the ChatML control token, not its spelled-out bytes
    finally:
        llm.close()


def test_same_seed_gives_the_same_file_and_another_seed_does_not(tmp_path: Path) -> None:
    def digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    first = write_tiny_model(tmp_path / "a.gguf", seed=3)
    second = write_tiny_model(tmp_path / "b.gguf", seed=3)
    third = write_tiny_model(tmp_path / "c.gguf", seed=4)
    assert digest(first) == digest(second)
    assert digest(first) != digest(third)
