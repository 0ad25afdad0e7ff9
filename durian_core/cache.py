"""A bounded, content-addressed LRU cache for everything that depends only on the inputs.

Keys are hashes of the input bytes (plus the parameters that matter), so two users uploading the same portrait
share its landmarks, and a tweak of α or a weight finds everything it does not change. Values are sized in bytes
(numpy arrays and tensors by their buffers) and the least recently used go first once the budget is spent.
Hits and misses are counted per namespace, which is how tests and the app show that a tweak recomputed nothing.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


def content_key(*parts: Any) -> str:
    """A stable hex digest of arrays, bytes, strings, numbers and tuples of them."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()


def _feed(digest, part: Any) -> None:
    if isinstance(part, np.ndarray):
        array = np.ascontiguousarray(part)
        digest.update(f"nd{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))
    elif isinstance(part, bytes | bytearray):
        digest.update(b"b")
        digest.update(part)
    elif isinstance(part, tuple | list):
        digest.update(f"seq{len(part)}".encode())
        for item in part:
            _feed(digest, item)
    elif part is None or isinstance(part, str | int | float | bool):
        digest.update(f"{type(part).__name__}:{part!r};".encode())
    else:
        raise TypeError(f"cannot hash a {type(part).__name__} into a cache key")


def nbytes(value: Any) -> int:
    """Approximate memory held by a cached value."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if hasattr(value, "element_size") and hasattr(value, "nelement"):  # torch tensors, without importing torch
        return int(value.element_size() * value.nelement())
    if isinstance(value, dict):
        return sum(nbytes(item) for item in value.values()) + 64
    if isinstance(value, list | tuple):
        return sum(nbytes(item) for item in value) + 64
    if is_dataclass(value):
        return sum(nbytes(getattr(value, field.name)) for field in fields(value)) + 64
    return sys.getsizeof(value)


class FeatureCache:
    """Thread-safe LRU bounded by bytes, with hit/miss counters per namespace."""

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = {}

    def get_or_compute(self, namespace: str, key: str, compute: Callable[[], T]) -> T:
        """Return the cached value for ``(namespace, key)``, computing and storing it on a miss."""
        found, value = self._lookup(namespace, key)
        if found:
            return value
        # Computed outside the lock so one slow computation never blocks other users; two users racing on the
        # same new key both compute it once, which is harmless.
        value = compute()
        self.put(namespace, key, value)
        return value

    def get(self, namespace: str, key: str) -> Any | None:
        """The cached value for ``(namespace, key)``, or ``None`` (counted as a hit or a miss)."""
        return self._lookup(namespace, key)[1]

    def _lookup(self, namespace: str, key: str) -> tuple[bool, Any]:
        """``(True, value)`` on a hit (now the most recently used), ``(False, None)`` on a miss; counted."""
        item_key = (namespace, key)
        with self._lock:
            counts = self._counts.setdefault(namespace, {"hits": 0, "misses": 0})
            if item_key in self._items:
                self._items.move_to_end(item_key)
                counts["hits"] += 1
                return True, self._items[item_key][0]
            counts["misses"] += 1
            return False, None

    def put(self, namespace: str, key: str, value: Any) -> None:
        size = nbytes(value)
        with self._lock:
            old = self._items.pop((namespace, key), None)
            if old is not None:
                self._bytes -= old[1]
            if size > self.max_bytes:
                return  # larger than the whole budget: never worth evicting everything for
            self._items[(namespace, key)] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted

    def stats(self) -> dict[str, dict[str, int]]:
        """Hits and misses per namespace, plus ``{"total": {"bytes": …, "items": …}}``."""
        with self._lock:
            report = {name: dict(counts) for name, counts in self._counts.items()}
            report["total"] = {"bytes": self._bytes, "items": len(self._items)}
            return report

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self._counts.clear()


_default: FeatureCache | None = None
_default_lock = threading.Lock()


def default_cache() -> FeatureCache:
    """The process-wide cache the app and CLI share (1 GiB, or ``DURIAN_CACHE_MB``)."""
    global _default
    with _default_lock:
        if _default is None:
            import os

            _default = FeatureCache(int(os.environ.get("DURIAN_CACHE_MB", "1024")) * (1 << 20))
        return _default
