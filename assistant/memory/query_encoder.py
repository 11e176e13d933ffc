"""A fast path for encoding one query: the encoder's transformer in ONNX Runtime.

Recall encodes one short query per reply, and on CPU that encoding is most of recall's time.
ONNX Runtime runs MiniLM on a 17-token query in ≈7 ms on one core here (≈5 ms on two), against
≈12 ms for a TorchScript-optimised copy and ≈20 ms through sentence-transformers (measured on
this class of 2-core machine). Documents keep the sentence-transformers path: batches are efficient there.

Only the transformer runs in ONNX Runtime; the model's own pooling and normalisation modules run
after it, so any sentence-transformers pooling is honoured. The export (≈1.5 s) is done once per
model and kept in the cache folder (it holds public model weights, nothing of the user's). A loaded
session is checked against the eager model on a sentence of another length and refused (plain
path) unless they agree to 1e-4, so a stale or broken export never gives wrong vectors.

Threading: a QueryEncoder is not re-entrant; the model lane owns it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
_CHECK_TEXT = "a longer sentence, to check the exported model with another length"


class QueryEncoder:
    def __init__(self, model: Any, session: Any) -> None:
        self._model = model
        self._session = session
        self._inputs = [i.name for i in session.get_inputs()]

    def encode(self, text: str) -> np.ndarray:
        """One unit vector (dim,) for `text`."""
        import torch

        features = _preprocess(self._model, [text])
        feed = {
            "input_ids": features["input_ids"].numpy(),
            "attention_mask": features["attention_mask"].numpy(),
        }
        (tokens,) = self._session.run(None, {name: feed[name] for name in self._inputs})
        with torch.inference_mode():
            features["token_embeddings"] = torch.from_numpy(tokens)
            for module in list(self._model)[1:]:
                features = module(features)
            vector = torch.nn.functional.normalize(features["sentence_embedding"][0], dim=-1)
        return vector.numpy().astype(np.float32, copy=False)


def load_query_encoder(model: Any, name: str, cache_dir: Path) -> QueryEncoder | None:
    """The ONNX Runtime query encoder for a loaded sentence-transformers model, or None (use the
    plain path) when onnxruntime is missing or the model cannot be exported faithfully.

    Side effects: may write `<cache_dir>/<key>.onnx` (atomically).
    """
    try:
        import onnxruntime
        import torch
    except ImportError:
        return None
    try:
        transformer = model[0].auto_model.eval()
        key = hashlib.sha256(f"{name}|{torch.__version__}".encode()).hexdigest()[:16]
        path = cache_dir / f"query-encoder-{key}.onnx"
        for attempt in ("cached", "fresh"):
            if attempt == "fresh" or not path.exists():
                _export(model, transformer, path)
            try:
                encoder = QueryEncoder(model, _session(onnxruntime, path))
            except Exception:  # noqa: BLE001 - a damaged file: export afresh
                continue
            if _agrees(model, encoder):
                return encoder
            log.warning("The exported query encoder disagrees with the model; re-exporting.")
        return None
    except Exception as error:  # noqa: BLE001 - any failure: the plain path is always correct
        log.warning("Fast query encoding is off (%s); using the plain path.", type(error).__name__)
        return None


def _session(onnxruntime: Any, path: Path) -> Any:
    options = onnxruntime.SessionOptions()
    # Two threads, no spinning: 5.2 ms instead of 7.4 on this 2-core machine. Recall runs on the
    # model lane, so llama.cpp is not generating meanwhile; idle threads sleep instead of spinning.
    options.intra_op_num_threads = min(2, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _export(model: Any, transformer: Any, path: Path) -> None:
    import torch

    class _Tokens(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, return_dict=False
            )[0]

    example = _preprocess(model, ["a short query"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    dynamic = {0: "batch", 1: "tokens"}
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Tokens(transformer),
                (example["input_ids"], example["attention_mask"]),
                str(partial),
                input_names=["input_ids", "attention_mask"],
                output_names=["token_embeddings"],
                dynamic_axes={
                    "input_ids": dynamic,
                    "attention_mask": dynamic,
                    "token_embeddings": dynamic,
                },
                opset_version=17,
                dynamo=False,
            )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _agrees(model: Any, encoder: QueryEncoder) -> bool:
    expected = model.encode([_CHECK_TEXT], normalize_embeddings=True, convert_to_numpy=True)[0]
    return bool(np.abs(encoder.encode(_CHECK_TEXT) - expected).max() < 1e-4)


def _preprocess(model: Any, texts: list[str]) -> Any:
    """Tokenised inputs (`preprocess` in sentence-transformers ≥ 6, `tokenize` before)."""
    method = getattr(model, "preprocess", None) or model.tokenize
    return method(texts)
