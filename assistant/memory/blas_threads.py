"""One BLAS thread for the duration of a recall.

Recall's numpy products are small (the 384×384 adapter and covariances, a few hundred gathered
rows), yet OpenBLAS hands each to its worker threads, and those keep spinning for a while after
the product is done. On two cores the spinning thread takes the core that the ONNX Runtime query
encoder and faiss need next. Measured with `benchmarks/recall_scale.py`, interleaved on the same
machine: at a million memories p95 27.7 and 43.2 ms with the default threads, 24.9 and 25.6 ms
with one; at 100k, 22.1 and 19.1 against 19.1 and 17.8 ms.

Threading: the limit is process-wide while it holds (OpenBLAS has one setting), so it is for code
that owns the CPU-heavy work of the moment: recall runs on the model lane, and training, the other
big numpy user, is never run at the same time (see pool.py). The previous limit is restored after.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@functools.cache
def _controller() -> Any:
    """The threadpoolctl controller, made once (None without threadpoolctl): finding the loaded
    BLAS libraries takes milliseconds, while limiting through a made controller takes
    microseconds."""
    return _new_controller()


def _new_controller() -> Any:
    """A controller over the BLAS libraries loaded now, numpy's and faiss's among them.

    (A library loaded later is not seen: scipy's OpenBLAS, which the encoder's imports bring,
    may miss the limit. Recall's products never run in it.)
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # a broken install: recall still works, only slower
        return None
    # Load what recall uses first: the controller sees only libraries loaded already.
    # (index.py imports numpy, and faiss, which links its own OpenBLAS, when installed.)
    import assistant.memory.index  # noqa: F401

    return ThreadpoolController()


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the body with BLAS libraries limited to one thread, restored after."""
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def blas_limit_report() -> dict[str, Any]:
    """For `mneme doctor`: the BLAS libraries recall limits and whether the limit takes (each
    reports one thread while limited). Uses a controller of its own, so recall's, made at the
    first recall, still sees the libraries loaded until then. Changes nothing once it returns."""
    controller = _new_controller()
    if controller is None:
        return {"works": False, "libraries": [], "note": "threadpoolctl is not installed"}
    blas = controller.select(user_api="blas")
    libraries = [
        {
            "api": info["internal_api"],
            "version": info.get("version"),
            "threads": info["num_threads"],
        }
        for info in blas.info()
    ]
    with controller.limit(limits=1, user_api="blas"):
        inside = [info["num_threads"] for info in blas.info()]  # read live from each library
    return {"works": bool(inside) and set(inside) == {1}, "libraries": libraries}
