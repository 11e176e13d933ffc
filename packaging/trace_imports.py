"""Print (as JSON) the third-party modules that Mneme's lazily imported paths really load.

The PyInstaller spec runs this with the build's Python and adds the result as hidden imports.
transformers and sentence-transformers import the encoder's classes by name at run time (their
"lazy modules"), so static analysis alone misses them; collecting whole packages instead would
analyse thousands of unused model files. Tracing the real path (load the bundled encoder, encode,
export the ONNX query encoder, load llama.cpp, pick a keychain backend, train and load a LoRA
adapter as consolidation does) finds exactly what runs.

Side effects: writes an ONNX file into a temporary folder that it deletes; reads no user data.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import tempfile
from pathlib import Path


def exercise(scratch: Path) -> None:
    os.environ["MNEME_HOME"] = str(scratch / "home")
    os.environ["HF_HUB_OFFLINE"] = "1"
    import keyring

    keyring.get_keyring()
    import llama_cpp

    llama_cpp.llama_print_system_info()
    from assistant.memory.encoder import Encoder

    encoder = Encoder(cache_dir=scratch / "encoders")
    encoder.encode(["a sentence to encode", "another one"])
    encoder.encode_query("a query")
    consolidate_once(scratch)


def consolidate_once(scratch: Path) -> None:
    """Consolidation's path: transformers reads a GGUF (its llama classes load by name), peft
    trains one step, the adapter is exported and loaded by llama.cpp."""
    from assistant.engine.llamacpp import LlamaCppEngine
    from assistant.memory import lora
    from assistant.memory.consolidate import available_memory_mb, model_shape
    from assistant.memory.lora_export import adapter_gguf
    from assistant.testing.tiny_model import write_tiny_model

    path = write_tiny_model(scratch / "tiny.gguf")
    shape = model_shape(path)
    available_memory_mb()
    example = lora.Example(tuple(range(5, 30)), 15)
    settings = lora.TrainingSettings(epochs=1, threads=1)
    _, weights = lora.train(lora.load_base(path), [example], [list(range(40, 50))], settings)
    data = adapter_gguf(
        weights, architecture="llama", n_head=shape["heads"], n_head_kv=shape["heads_kv"]
    )
    engine = LlamaCppEngine(path, n_ctx=128, n_gpu_layers=0)
    engine.set_adapter(data)
    engine.close()


def third_party_modules() -> list[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    own = {"assistant", "ui", "__main__"}
    names = []
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if not origin or name.split(".")[0] in own:
            continue
        path = Path(origin).resolve()
        if path.is_relative_to(stdlib) and "site-packages" not in path.parts:
            continue
        if not _own_file(name, module, path):
            continue
        names.append(name)
    return sorted(names)


def _own_file(name: str, module: object, path: Path) -> bool:
    """Whether `name` is a module PyInstaller can find by that name: not an alias registered
    under another name (transformers maps old module names onto new ones) and not a namespace an
    extension module creates in memory (torch._C._autograd, torch.ops), whose file is another's."""
    if getattr(module, "__name__", None) != name:
        return False
    leaf = name.rsplit(".", 1)[-1]
    stem = path.name.split(".", 1)[0]
    return stem in (leaf, "__init__")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mneme-trace-") as scratch:
        exercise(Path(scratch))
    json.dump(third_party_modules(), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
