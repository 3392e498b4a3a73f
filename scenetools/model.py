"""The model file: a trained head plus everything needed to use it again.

``torch.save`` of a plain dict (loadable with ``weights_only=True``):
``format``, ``meta`` (backbone, weights, preprocessing, classes, method,
hyperparameters, training environments, selection) and ``state_dict``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from . import backbones as bb
from .errors import DataError

FORMAT = "scenetools.model/1"


def make_head(feature_dim: int, n_out: int, kind: str = "linear", hidden: int = 256) -> torch.nn.Module:
    if kind == "linear":
        return torch.nn.Linear(feature_dim, n_out)
    if kind == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(feature_dim, hidden), torch.nn.ReLU(),
                                   torch.nn.Linear(hidden, n_out))
    raise DataError(f"unknown head {kind!r}; use linear or mlp")


@dataclass
class Model:
    head: torch.nn.Module
    meta: dict
    path: str = ""

    @property
    def classes(self) -> list[str]:
        return self.meta["classes"]

    @property
    def backbone(self) -> bb.Backbone:
        return bb.get(self.meta["backbone"])

    @property
    def name(self) -> str:
        return os.path.splitext(os.path.basename(self.path))[0] if self.path else self.meta["method"]

    def scale(self, feats: np.ndarray) -> np.ndarray:
        sc = self.meta.get("feature_scaling")
        if sc:
            return (feats - np.asarray(sc["mean"], np.float32)) / np.asarray(sc["std"], np.float32)
        return feats

    def proba(self, feats: np.ndarray) -> np.ndarray:
        """Class probabilities (N x K) from backbone features (N x D)."""
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(self.scale(feats), dtype=np.float32))
            dev = next(self.head.parameters()).device
            logits = self.head(x.to(dev)).float().cpu()
            if logits.shape[1] == 1:
                p1 = torch.sigmoid(logits[:, 0])
                return torch.stack([1 - p1, p1], 1).numpy()
            return torch.softmax(logits, 1).numpy()

    def to(self, device: str) -> "Model":
        self.head.to(device)
        return self

    def save(self, path: str) -> None:
        from .stream import atomic_write

        with atomic_write(path, "wb") as fh:
            torch.save({"format": FORMAT, "meta": self.meta,
                        "state_dict": {k: v.detach().cpu() for k, v in self.head.state_dict().items()}}, fh)
        self.path = path


def load(path: str, where: str | None = None) -> Model:
    if not os.path.isfile(path):
        raise DataError(f"model file {path} does not exist; train one with scene-train", where=where)
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"{path} is not a scenetools model file ({type(exc).__name__})", where=where) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(f"{path} is not a scenetools model file (format {FORMAT})", where=where)
    meta = doc["meta"]
    n_out = 1 if len(meta["classes"]) == 2 else len(meta["classes"])
    head = make_head(meta["feature_dim"], n_out, meta["hparams"]["head"], meta["hparams"]["hidden"])
    head.load_state_dict(doc["state_dict"])
    return Model(head=head.eval(), meta=meta, path=path)
