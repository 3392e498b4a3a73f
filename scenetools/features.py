"""Frozen-backbone features, computed once and cached on disk.

The cache key is (backbone, weights content, preprocessing version, image
content): a changed image hashes differently and is recomputed, never served
stale; two datasets holding the same file share its features.  Each feature
vector is one small ``.npy`` file written atomically as soon as its batch is
done, so an interrupted extraction keeps everything it finished.

Decoding runs in a background thread while the backbone runs on the previous
batch, so that I/O and JPEG decoding hide behind the forward passes.
"""
from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import backbones as bb
from .errors import DataError, Skips


@dataclass
class ExtractStats:
    images: int = 0
    cached: int = 0
    computed: int = 0
    forward_s: float = 0.0
    total_s: float = 0.0
    runner: str = ""
    skips: Skips | None = None

    @property
    def skipped(self) -> int:
        return self.skips.total if self.skips else 0

    def line(self) -> str:
        return (f"features: {self.images} images, {self.cached} from cache, {self.computed} computed "
                f"({self.runner}, forward {self.forward_s:.1f} s of {self.total_s:.1f} s)")


@dataclass
class FeatureCache:
    backbone: bb.Backbone
    weights: str | None = None
    cache_dir: str | None = None
    _folder: str = field(init=False, default="")

    def __post_init__(self):
        root = self.cache_dir or bb.default_cache_dir()
        tag = f"{self.backbone.name}-{self.backbone.weights_id(self.weights)}-{bb.PREPROCESS_VERSION}"
        self._folder = os.path.join(root, "features", tag)

    @property
    def folder(self) -> str:
        return self._folder

    def path(self, key: str) -> str:
        return os.path.join(self._folder, key[:2], key + ".npy")

    def get(self, key: str) -> np.ndarray | None:
        p = self.path(key)
        try:
            arr = np.load(p)
        except (OSError, ValueError):
            return None
        return arr if arr.shape == (self.backbone.feature_dim,) else None

    def put(self, key: str, vec: np.ndarray) -> None:
        p = self.path(key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = f"{p}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, vec.astype(np.float32))
        os.replace(tmp, p)


def file_key(path: str, where: str | None = None) -> str:
    """The content hash of an image file."""
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except FileNotFoundError:
        raise DataError(f"image file {path} does not exist", where=where) from None
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc.strerror}", where=where) from None


def extract(paths: list[str], backbone: bb.Backbone, weights: str | None = None, cache_dir: str | None = None,
            device: str = "cpu", runtime: str = "auto", batch_size: int | None = None, wheres: list[str] | None = None,
            on_error: str = "fail", skips: Skips | None = None, progress=None,
            runners: dict | None = None) -> tuple[np.ndarray, np.ndarray, ExtractStats]:
    """Features for every path: (N x D float32, N bool 'ok' mask, stats).

    With ``on_error='skip'`` unreadable images get ``ok=False`` and are counted;
    with ``'fail'`` the first one raises :class:`DataError` naming its record.
    ``runners``, a dict the caller keeps, reuses one backbone runner across calls.
    """
    start = time.perf_counter()
    wheres = wheres or [None] * len(paths)
    skips = skips if skips is not None else Skips(on_error)
    cache = FeatureCache(backbone, weights, cache_dir)
    stats = ExtractStats(images=len(paths))
    out = np.zeros((len(paths), backbone.feature_dim), np.float32)
    ok = np.ones(len(paths), bool)
    keys: list[str | None] = []
    todo: list[int] = []
    for i, (p, w) in enumerate(zip(paths, wheres)):
        try:
            key = file_key(p, w)
        except DataError as err:
            skips.problem(err, "unreadable images")
            ok[i] = False
            keys.append(None)
            continue
        keys.append(key)
        vec = cache.get(key)
        if vec is None:
            todo.append(i)
        else:
            out[i] = vec
            stats.cached += 1
            if progress:
                progress(1)
    if todo:
        key = (backbone.name, weights, device, runtime)
        runner = runners.get(key) if runners is not None else None
        if runner is None:
            runner = bb.make_runner(backbone, weights, device, runtime, cache_dir)
            if runners is not None:
                runners[key] = runner
        stats.runner = runner.name
        batch_size = batch_size or bb.default_batch(device)

        def decode(batch_idx):
            views, good = [], []
            for i in batch_idx:
                try:
                    views.append(bb.load_view(paths[i], wheres[i]))
                    good.append(i)
                except DataError as err:
                    skips.problem(err, "unreadable images")
                    ok[i] = False
            return good, (backbone.normalize(np.stack(views)) if views else None)

        batches = [todo[k:k + batch_size] for k in range(0, len(todo), batch_size)]
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(decode, batches[0])
            for b in range(len(batches)):
                good, x = pending.result()
                if b + 1 < len(batches):
                    pending = pool.submit(decode, batches[b + 1])
                if x is None:
                    continue
                t0 = time.perf_counter()
                feats = runner(x)
                stats.forward_s += time.perf_counter() - t0
                for i, vec in zip(good, feats):
                    out[i] = vec
                    cache.put(keys[i], vec)
                stats.computed += len(good)
                if progress:
                    progress(len(batches[b]))
    stats.skips = skips
    stats.total_s = time.perf_counter() - start
    return out, ok, stats


def for_records(records: list[dict], backbone: bb.Backbone, sources: list[str] | None = None,
                **kw) -> tuple[np.ndarray, np.ndarray, ExtractStats]:
    """Features for stream records (their ``image`` field), with record-naming error messages.

    ``sources`` names where each record came from (``file:line``); by default ``record N``.
    """
    paths, wheres = [], []
    for n, rec in enumerate(records, 1):
        where = sources[n - 1] if sources else f"record {n}"
        if "image" not in rec:
            raise DataError(f"record {rec.get('id', '?')} has no 'image' field", where=where)
        paths.append(rec["image"])
        wheres.append(f"{where} (id {rec.get('id', '?')})")
    return extract(paths, backbone, wheres=wheres, **kw)
