"""LIME superpixel explanations for every model from one set of perturbations.

For each image: segment it into superpixels (quickshift with the study's
settings by default), draw ``num_samples`` random on/off masks over the
superpixels (row 0 all on), build the masked images in one vectorised step
(masked superpixels filled with their mean colour, as ``lime`` does with
``hide_color=None``), run them through the shared frozen backbone *once*, and
let every model's head read the same features.  Then ``lime``'s own
``LimeBase.explain_instance_with_data`` fits the kernel-weighted ridge
surrogate per model, exactly as ``lime_image`` does: cosine distance to the
all-on row, kernel ``sqrt(exp(-d^2 / 0.25^2))``, ``Ridge(alpha=1)``,
``feature_selection='auto'``.

Randomness: each image's segmentation seed and perturbation stream derive
from (``--seed``, image id) alone, through a ``numpy.random.RandomState`` used
as ``lime_image`` uses its own, so the output does not depend on order, batch
size or sharding -- and a stock ``LimeImageExplainer(random_state=s)`` with
``random_seed=s`` draws the very same masks.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field

import numpy as np

from . import backbones as bb
from .errors import BadUsage

SEGMENTERS = {
    "quickshift": {"kernel_size": 4, "max_dist": 200, "ratio": 0.2},
    "slic": {"n_segments": 50, "compactness": 10.0, "sigma": 1.0},
    "felzenszwalb": {"scale": 100.0, "sigma": 0.8, "min_size": 50},
}


@dataclass
class Settings:
    segmenter: str = "quickshift"
    seg_params: dict = field(default_factory=dict)
    num_samples: int = 1000
    top_k: int = 9
    batch_size: int = 8
    kernel_width: float = 0.25
    seed: int = 0

    def __post_init__(self):
        if self.segmenter not in SEGMENTERS:
            raise BadUsage(f"unknown segmenter {self.segmenter!r}; use {', '.join(SEGMENTERS)}")
        unknown = set(self.seg_params) - set(SEGMENTERS[self.segmenter])
        if unknown:
            raise BadUsage(f"{self.segmenter} has no parameter(s) {', '.join(sorted(unknown))}; "
                           f"it takes {', '.join(SEGMENTERS[self.segmenter])}")
        self.seg_params = {**SEGMENTERS[self.segmenter], **self.seg_params}
        if self.num_samples < 2:
            raise BadUsage("--num-samples must be at least 2")

    def describe(self) -> dict:
        return {"segmenter": self.segmenter, "params": self.seg_params, "num_samples": self.num_samples,
                "kernel_width": self.kernel_width, "seed": self.seed}


def image_seed(seed: int, image_id: str) -> int:
    """The per-image seed: a function of (seed, id) only."""
    return int.from_bytes(hashlib.sha256(f"scene-lime:{seed}:{image_id}".encode()).digest()[:4], "big") % (2**31)


def segment(view: np.ndarray, settings: Settings, rseed: int) -> np.ndarray:
    """Superpixel labels 0..n-1 (H x W int32)."""
    if settings.segmenter == "quickshift":
        from lime.wrappers.scikit_image import SegmentationAlgorithm

        seg = SegmentationAlgorithm("quickshift", random_seed=rseed, **settings.seg_params)(view)
    elif settings.segmenter == "slic":
        from skimage.segmentation import slic

        seg = slic(view, start_label=0, **settings.seg_params)
    else:
        from skimage.segmentation import felzenszwalb

        seg = felzenszwalb(view, **settings.seg_params)
    _, inverse = np.unique(seg, return_inverse=True)      # lime assumes labels 0..n-1
    return inverse.reshape(seg.shape).astype(np.int32)


def mean_colour_image(view: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Each superpixel filled with its mean colour (truncated to the image's dtype, as lime does)."""
    n = int(segments.max()) + 1
    flat = segments.ravel()
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    means = np.stack([np.bincount(flat, weights=view[..., c].ravel().astype(np.float64), minlength=n) / counts
                      for c in range(3)], 1)
    return means.astype(view.dtype)[segments]


def perturbations(n_segments: int, num_samples: int, rseed: int) -> np.ndarray:
    """num_samples x n_segments 0/1 masks, row 0 all ones, drawn as lime_image draws them."""
    rs = np.random.RandomState(rseed)
    data = rs.randint(0, 2, num_samples * n_segments).reshape((num_samples, n_segments))
    data[0, :] = 1
    return data


def masked_images(view: np.ndarray, fudged: np.ndarray, segments: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The perturbed images for mask ``rows`` (B x n_segments): B x H x W x 3, in one vectorised step."""
    keep = rows.astype(bool)[:, segments]                  # B x H x W
    return np.where(keep[..., None], view[None], fudged[None])


def masked_batch(view_n: np.ndarray, fudged_n: np.ndarray, segments: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Like :func:`masked_images` but on the already normalised 3 x H x W view and fill: the backbone's
    input directly (normalising once per image instead of once per perturbed image is 12x faster)."""
    keep = rows.astype(bool)[:, segments]                  # B x H x W
    return np.where(keep[:, None], view_n[None], fudged_n[None])


@dataclass
class Timing:
    segment_s: float = 0.0
    build_s: float = 0.0
    forward_s: float = 0.0
    fit_s: float = 0.0
    total_s: float = 0.0

    def add(self, other: "Timing"):
        for k in self.__dict__:
            setattr(self, k, getattr(self, k) + getattr(other, k))


def explain_view(view: np.ndarray, image_id: str, models: dict, runner: bb.Runner, backbone: bb.Backbone,
                 settings: Settings, timing: Timing | None = None) -> tuple[np.ndarray, dict]:
    """Explain one 224 x 224 view for every model. Returns (segments, {model name: explanation})."""
    from functools import partial

    import sklearn.metrics
    from lime import lime_base

    t = Timing()
    t0 = time.perf_counter()
    rseed = image_seed(settings.seed, image_id)
    segments = segment(view, settings, rseed)
    n_seg = int(segments.max()) + 1
    t.segment_s = time.perf_counter() - t0
    fudged = mean_colour_image(view, segments)
    view_n, fudged_n = backbone.normalize(np.stack([view, fudged]))
    data = perturbations(n_seg, settings.num_samples, rseed)
    feats = np.empty((settings.num_samples, backbone.feature_dim), np.float32)
    for start in range(0, settings.num_samples, settings.batch_size):
        t1 = time.perf_counter()
        x = masked_batch(view_n, fudged_n, segments, data[start:start + settings.batch_size])
        t2 = time.perf_counter()
        feats[start:start + len(x)] = runner(x)
        t3 = time.perf_counter()
        t.build_s += t2 - t1
        t.forward_s += t3 - t2
    t4 = time.perf_counter()
    distances = sklearn.metrics.pairwise_distances(data, data[0].reshape(1, -1), metric="cosine").ravel()

    def kernel(d, kernel_width):
        return np.sqrt(np.exp(-(d ** 2) / kernel_width ** 2))

    out = {}
    for name, model in models.items():
        probs = model.proba(feats)
        label = int(np.argmax(probs[0]))
        base = lime_base.LimeBase(partial(kernel, kernel_width=settings.kernel_width), False,
                                  random_state=np.random.RandomState(rseed))
        intercept, exp, score, local_pred = base.explain_instance_with_data(
            data, probs, distances, label, 100000, feature_selection="auto")
        ranking = sorted(((int(s), float(w)) for s, w in exp), key=lambda sw: (-sw[1], sw[0]))
        top = [s for s, w in ranking if w > 0][:settings.top_k]
        model_p = float(probs[0, label])
        lp = float(np.ravel(local_pred)[0])
        out[name] = {"label": model.classes[label], "model_p": round(model_p, 6), "local_pred": round(lp, 6),
                     "gap": round(abs(model_p - lp), 6), "intercept": round(float(intercept), 6),
                     "score": round(float(score), 6), "top": top,
                     "ranking": [[s, round(w, 8)] for s, w in ranking]}
    t.fit_s = time.perf_counter() - t4
    t.total_s = time.perf_counter() - t0
    if timing is not None:
        timing.add(t)
    return segments, out


def save_segments(path: str, segments: np.ndarray) -> None:
    """The superpixel map, compressed, written atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez_compressed(tmp, segments=segments.astype(np.uint16))
    os.replace(tmp, path)


def load_segments(path: str) -> np.ndarray:
    with np.load(path) as z:
        return z["segments"].astype(np.int32)


def in_shard(image_id: str, shard: tuple[int, int] | None) -> bool:
    if not shard:
        return True
    i, n = shard
    return int.from_bytes(hashlib.sha256(str(image_id).encode()).digest()[:4], "big") % n == i


def safe_name(image_id: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(image_id))
    return f"{keep}-{hashlib.sha256(str(image_id).encode()).hexdigest()[:8]}" if keep != str(image_id) else keep
