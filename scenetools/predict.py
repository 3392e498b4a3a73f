"""Add each model's prediction to the stream.

Models that share a backbone share its features: one forward pass (or one
cache read) per image whatever the number of models.  Records stream through
in chunks, so output starts early and memory stays flat.
"""
from __future__ import annotations

import os
from typing import Iterable, Iterator

import numpy as np

from . import features
from .errors import BadUsage, Skips
from .model import Model, load


def parse_model_specs(specs: Iterable[str]) -> list[tuple[str, str]]:
    """``erm.pt`` -> ("erm", "erm.pt"); ``base=runs/erm.pt`` -> ("base", "runs/erm.pt")."""
    out = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = os.path.splitext(os.path.basename(spec))[0], spec
        if not name or not path:
            raise BadUsage(f"--model {spec!r}: give a path or NAME=PATH")
        out.append((name, path))
    names = [n for n, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise BadUsage(f"two models are named {', '.join(dupes)}; name them apart with NAME=PATH")
    return out


def load_models(specs: Iterable[str]) -> dict[str, Model]:
    models = {}
    for name, path in parse_model_specs(specs):
        m = load(path)
        m.path = path
        models[name] = m
    return models


def pred_entry(model: Model, probs: np.ndarray) -> dict:
    k = int(np.argmax(probs))
    return {"label": model.classes[k], "p": round(float(probs[k]), 6),
            "probs": {c: round(float(p), 6) for c, p in zip(model.classes, probs)},
            "model": model.path, "method": model.meta["method"]}


def predict(records: Iterable[dict], models: dict[str, Model], cache_dir: str | None = None, device: str = "cpu",
            runtime: str = "auto", chunk: int = 256, on_error: str = "fail", skips: Skips | None = None,
            progress=None) -> Iterator[dict]:
    """Yield each record with ``pred[name]`` added for every model (existing ``pred`` entries are kept)."""
    if not models:
        raise BadUsage("give at least one --model")
    skips = skips or Skips(on_error)
    by_backbone: dict[tuple, list[str]] = {}
    for name, m in models.items():
        by_backbone.setdefault((m.meta["backbone"], m.meta.get("weights")), []).append(name)
        m.to(device)
    buf: list[tuple[str, dict]] = []
    runners: dict = {}

    def flush():
        recs = [r for _, r in buf]
        sources = [w for w, _ in buf]
        ok_all = np.ones(len(recs), bool)
        feats = {}
        for (bname, weights), names in by_backbone.items():
            X, ok, st = features.for_records(recs, models[names[0]].backbone, sources=sources, weights=weights,
                                             cache_dir=cache_dir, device=device, runtime=runtime, skips=skips,
                                             runners=runners)
            ok_all &= ok
            feats[(bname, weights)] = X
        probs = {name: models[name].proba(feats[key]) for key, names in by_backbone.items() for name in names}
        for i, r in enumerate(recs):
            if progress:
                progress(1)
            if not ok_all[i]:
                continue
            out = dict(r)
            pred = dict(out.get("pred") or {})
            for name, m in models.items():
                pred[name] = pred_entry(m, probs[name][i])
            out["pred"] = pred
            yield out
        buf.clear()

    for where, rec in records:
        buf.append((where, rec))
        if len(buf) >= chunk:
            yield from flush()
    if buf:
        yield from flush()
