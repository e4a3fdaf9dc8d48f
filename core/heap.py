"""One-time garbage-collector tuning for Anbu's long-running processes (gateway, worker)."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Exempt everything alive now (modules, SQLAlchemy metadata, numpy/scikit-learn) from cyclic GC.

    Ingest and the nightly refits allocate thousands of objects per batch or refit, so the
    collector runs often, and each full collection walked the whole startup heap (~200 MB): about
    a fifth of ingest CPU in the gateway's profile, and 190–500 ms every ~30 refits in the worker
    (docs/benchmarks.md). Objects created later are collected as usual. Garbage is collected
    first so none of it is pinned; a startup object that later dies inside a reference cycle is
    not reclaimed (a one-time, bounded cost; nearly all of them live as long as the process).
    """
    gc.collect()
    gc.freeze()
