"""scene-synth: a procedurally drawn camera-trap world that tells the Scene story.

The generative story
--------------------
Four cameras stand at four places.  Each place has its own background: sky
and ground colours, a line of hills, a texture, fixed bushes and trees, and a
colour cast of its light.  A camera fires in bursts (sequences of 1-3 frames)
when an animal passes: a *coyote* (tan, long-legged, pointed ears and snout,
bushy low tail) or a *raccoon* (grey, hunched, short legs, black eye mask,
ringed tail).  The animal's pose (facing left or right), size, position and a
foreground bush that may hide part of it vary from burst to burst.

By day the frame is in colour.  At night the camera's infrared flash gives a
grey frame, bright at the centre and dark at the edges, with sensor noise.

The shape of the animal is the *invariant* cue: it tells coyote from raccoon
at every camera, except for the 15% of animals that are look-alikes (drawn
with the other species' build and coat, the label noise of Colored MNIST).
Time of day is the *spurious* cue: at the two training cameras (101, 102)
raccoons come mostly at night and coyotes by day, with a strength that
differs between the two (95% and 70%), and coyotes are the majority (70%,
65%).  At test camera 201 both reverse: mostly raccoons, and raccoons by
day, coyotes by night (as Colored MNIST flips its colours and Waterbirds its
backgrounds).  Camera 202 is neutral: half and half, night independent of
species.  A model that learned "dark frame -> raccoon" at the training
cameras fails at 201; one that learned the animal does not.

Every image gets its ground truth: the class, a ``bbox`` annotation in
pixels and a mask PNG of the visible animal (under ``masks/``), which later
judges whether an explanation's superpixels lie on the animal.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 224
CLASSES = ("coyote", "raccoon")


@dataclass(frozen=True)
class Camera:
    location: str
    p_coyote: float          # share of coyote bursts
    night_if_coyote: float   # P(night | coyote)
    night_if_raccoon: float  # P(night | raccoon)
    share: float = 0.25      # share of all images


CAMERAS = (
    Camera("101", 0.70, 0.05, 0.95, 0.30),
    Camera("102", 0.65, 0.30, 0.70, 0.30),
    Camera("201", 0.30, 0.90, 0.10, 0.25),
    Camera("202", 0.50, 0.50, 0.50, 0.15),
)


def _rng(seed: int, *keys) -> np.random.Generator:
    digest = hashlib.sha256(":".join(map(str, (seed, *keys))).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _background(seed: int, cam: Camera) -> tuple[np.ndarray, list]:
    """The camera's fixed scene (float RGB in [0, 1]) and its foreground bushes."""
    r = _rng(seed, "place", cam.location)
    y = np.linspace(0, 1, SIZE)[:, None, None]
    x = np.linspace(0, 1, SIZE)[None, :, None]
    sky = r.uniform([0.45, 0.55, 0.65], [0.75, 0.85, 0.95])
    ground = r.uniform([0.25, 0.22, 0.12], [0.6, 0.55, 0.35])
    hills = ground * r.uniform(0.5, 0.8)
    horizon = r.uniform(0.2, 0.4)
    wave = horizon + 0.05 * np.sin(2 * np.pi * (x * r.uniform(1, 3) + r.uniform()))
    img = np.where(y < wave, sky, np.where(y < wave + 0.08, hills, ground)) * np.ones((SIZE, SIZE, 3))
    # ground texture: smoothed noise at the camera's own scale
    grain = r.normal(0, 1, (SIZE // 8, SIZE // 8))
    grain = np.array(Image.fromarray(((grain - grain.min()) / np.ptp(grain) * 255).astype(np.uint8))
                     .resize((SIZE, SIZE), Image.BICUBIC)) / 255.0
    img *= (0.8 + 0.35 * grain)[..., None] * (y >= wave)[..., 0][..., None] + (y < wave)[..., 0][..., None]
    canvas = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    leaf = r.uniform([0.1, 0.25, 0.05], [0.35, 0.5, 0.2])
    for _ in range(r.integers(2, 6)):       # trees on the horizon
        cx = r.uniform(0, SIZE)
        top = r.uniform(0.05, 0.25) * SIZE
        base = (horizon + 0.1) * SIZE
        draw.rectangle([cx - 3, top + 20, cx + 3, base], fill=_c(leaf * 0.5))
        w = r.uniform(15, 35)
        draw.ellipse([cx - w, top, cx + w, top + 2 * w], fill=_c(leaf * r.uniform(0.7, 1.2)))
    for _ in range(r.integers(3, 8)):       # background bushes
        cx, cy = r.uniform(0, SIZE), r.uniform(horizon + 0.1, 0.7) * SIZE
        w, h = r.uniform(10, 30), r.uniform(6, 16)
        draw.ellipse([cx - w, cy - h, cx + w, cy + h], fill=_c(leaf * r.uniform(0.6, 1.1)))
    tint = r.uniform([0.9, 0.9, 0.85], [1.1, 1.05, 1.1])
    base_img = np.asarray(canvas, dtype=np.float32) / 255.0 * tint
    bushes = []
    for _ in range(r.integers(1, 3)):       # foreground bushes that can hide the animal
        bushes.append((r.uniform(0, SIZE), r.uniform(0.75, 0.95) * SIZE, r.uniform(20, 45), r.uniform(15, 30),
                       leaf * r.uniform(0.5, 0.9)))
    return base_img, bushes


def _c(rgb) -> tuple:
    return tuple(int(v) for v in np.clip(np.asarray(rgb) * 255, 0, 255))


def _animal(label: str, r: np.random.Generator) -> Image.Image:
    """An RGBA animal facing right, on a transparent 200 x 140 canvas."""
    im = Image.new("RGBA", (200, 140), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    if label == "coyote":
        coat = _c(r.uniform([0.55, 0.42, 0.25], [0.75, 0.6, 0.4]))
        dark = _c(np.array(coat) / 255 * 0.6)
        d.polygon([(20, 70), (5, 105), (15, 108), (35, 75)], fill=dark)                 # low bushy tail
        for lx in (55, 70, 125, 140):                                                   # long legs
            d.rectangle([lx, 78, lx + 8, 130], fill=dark)
        d.ellipse([30, 45, 150, 95], fill=coat)                                         # slim long body
        d.polygon([(135, 60), (160, 30), (195, 48), (190, 56), (150, 72)], fill=coat)   # long snout
        d.polygon([(155, 32), (160, 8), (170, 30)], fill=dark)                          # pointed ears
        d.polygon([(166, 33), (174, 10), (180, 34)], fill=dark)
        d.ellipse([176, 36, 181, 41], fill=(20, 20, 20))
    else:
        coat = _c(r.uniform([0.4, 0.4, 0.4], [0.6, 0.6, 0.62]))
        dark = (30, 30, 30)
        for i in range(5):                                                              # ringed tail
            d.ellipse([8 + i * 9, 70 + i * 3, 28 + i * 9, 92 + i * 3], fill=dark if i % 2 else coat)
        for lx in (60, 80, 115, 132):                                                   # short legs
            d.rectangle([lx, 100, lx + 10, 128], fill=dark)
        d.ellipse([45, 50, 155, 115], fill=coat)                                        # round hunched body
        d.ellipse([130, 45, 185, 95], fill=coat)                                        # round head
        d.ellipse([135, 30, 152, 52], fill=coat)                                        # round ears
        d.ellipse([160, 30, 177, 52], fill=coat)
        d.rectangle([140, 60, 182, 74], fill=dark)                                      # eye mask
        d.ellipse([150, 63, 156, 69], fill=(230, 230, 230))
        d.ellipse([168, 63, 174, 69], fill=(230, 230, 230))
        d.polygon([(180, 70), (195, 76), (180, 82)], fill=(60, 60, 60))                 # short snout
    return im.filter(ImageFilter.GaussianBlur(0.6))


def render_frame(seed: int, cam: Camera, background: np.ndarray, bushes: list, label: str, night: bool,
                 pose: dict, frame: int) -> tuple[Image.Image, np.ndarray]:
    """One frame: (RGB image, boolean mask of the visible animal)."""
    r = _rng(seed, "frame", cam.location, pose["burst"], frame)
    animal = _animal(label, _rng(seed, "animal", cam.location, pose["burst"]))
    if pose["left"]:
        animal = animal.transpose(Image.FLIP_LEFT_RIGHT)
    w = int(200 * pose["scale"])
    animal = animal.resize((w, int(140 * pose["scale"])), Image.BILINEAR)
    x = int(pose["x"] + frame * pose["step"])
    y = int(pose["y"])
    layer = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    layer.paste(animal, (x, y), animal)
    scene = Image.fromarray((np.clip(background, 0, 1) * 255).astype(np.uint8)).convert("RGBA")
    scene.alpha_composite(layer)
    alpha = np.asarray(layer)[..., 3] > 40
    fg = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    fd = ImageDraw.Draw(fg)
    for (bx, by, bw, bh, colour) in bushes:
        fd.ellipse([bx - bw, by - bh, bx + bw, by + bh], fill=_c(colour) + (255,))
    if pose["occlude"]:
        ox, oy = x + w * pose["occ_at"], y + 140 * pose["scale"] * 0.8
        fd.ellipse([ox - 25, oy - 22, ox + 25, oy + 30], fill=_c(bushes[0][4] * 1.1) + (255,))
    scene.alpha_composite(fg)
    mask = alpha & ~(np.asarray(fg)[..., 3] > 0)
    img = np.asarray(scene.convert("RGB"), dtype=np.float32) / 255.0
    if night:
        grey = img @ np.array([0.3, 0.59, 0.11])
        yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
        flash = np.exp(-((xx - 0.5) ** 2 + (yy - 0.55) ** 2) / 0.18)
        grey = grey * (0.25 + 0.9 * flash) + r.normal(0, 0.04, grey.shape)
        img = np.repeat(grey[..., None], 3, axis=2) * np.array([0.95, 1.0, 0.95])
    else:
        light = r.uniform(0.85, 1.15)
        img = img * light + r.normal(0, 0.015, img.shape)
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)), mask


#: share of animals drawn with the other species' build and coat (the label noise of Colored MNIST)
LOOKALIKE = 0.2


def synthesize(out_dir: str, n_images: int = 600, seed: int = 0, cameras=CAMERAS, progress=None,
               lookalike: float = LOOKALIKE) -> dict:
    """Write the demo world (COCO Camera Traps) under ``out_dir``. Returns the annotations document."""
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "masks"), exist_ok=True)
    per_cam = [int(n_images * cam.share) for cam in cameras]
    for i in range(n_images - sum(per_cam)):
        per_cam[i % len(cameras)] += 1
    images, annotations = [], []
    cat_id = {name: i + 1 for i, name in enumerate(CLASSES)}
    for cam, quota in zip(cameras, per_cam):
        background, bushes = _background(seed, cam)
        made, burst = 0, 0
        while made < quota:
            r = _rng(seed, "burst", cam.location, burst)
            label = "coyote" if r.uniform() < cam.p_coyote else "raccoon"
            night = r.uniform() < (cam.night_if_coyote if label == "coyote" else cam.night_if_raccoon)
            looks = label if r.uniform() >= lookalike else ("raccoon" if label == "coyote" else "coyote")
            scale = r.uniform(0.5, 0.95)
            pose = {"burst": burst, "left": bool(r.uniform() < 0.5), "scale": scale,
                    "x": r.uniform(-20, SIZE - 200 * scale + 20), "y": r.uniform(0.35, 0.85) * SIZE - 140 * scale,
                    "step": r.uniform(-12, 12), "occlude": bool(r.uniform() < 0.15), "occ_at": r.uniform(0.2, 0.8)}
            frames = int(min(r.integers(1, 4), quota - made))
            hour = int(r.integers(20, 29)) % 24 if night else int(r.integers(8, 18))
            seq_id = f"synth-{cam.location}-s{burst:04d}"
            for frame in range(frames):
                image_id = f"synth-{cam.location}-{made:03d}"
                img, mask = render_frame(seed, cam, background, bushes, looks, night, pose, frame)
                img.save(os.path.join(out_dir, "images", image_id + ".jpg"), quality=92)
                Image.fromarray(mask.astype(np.uint8) * 255).save(os.path.join(out_dir, "masks", image_id + ".png"))
                images.append({"id": image_id, "file_name": f"images/{image_id}.jpg", "location": cam.location,
                               "width": SIZE, "height": SIZE, "seq_id": seq_id, "frame_num": frame + 1,
                               "seq_num_frames": frames, "datetime": f"2026-06-{1 + burst % 28:02d} "
                               f"{hour:02d}:{(7 * burst + frame) % 60:02d}:00",
                               "mask": f"masks/{image_id}.png", "night": bool(night),
                               "lookalike": looks != label})
                ys, xs = np.nonzero(mask)
                ann = {"id": f"ann-{image_id}", "image_id": image_id, "category_id": cat_id[label]}
                if len(xs):
                    ann["bbox"] = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                                   int(ys.max() - ys.min() + 1)]
                annotations.append(ann)
                made += 1
                if progress:
                    progress(1)
            burst += 1
    doc = {"info": {"description": "scenetools demo world: procedurally drawn camera-trap scenes "
                                   "(scene-synth); see scenetools/synth.py for the generative story",
                    "version": "1", "seed": seed,
                    "cameras": [cam.__dict__ for cam in cameras]},
           "images": images, "annotations": annotations,
           "categories": [{"id": 0, "name": "empty"}] + [{"id": i, "name": n} for n, i in cat_id.items()]}
    from .stream import write_json
    write_json(os.path.join(out_dir, "annotations.json"), doc)
    return doc
