"""Readers for the layouts camera-trap data is published in.

Each reader yields :class:`Item` objects: one per image, with every label the
image carries.  Choosing classes and cameras is ``split``'s job, not theirs.

1. COCO Camera Traps JSON (LILA, iWildCam 2019-2022)
2. WILDS iWildCam v2.0 (``metadata.csv``, ``categories.csv``, ``train/``)
3. A folder tree ``ROOT/<location>/<class>/<image>``
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from typing import Iterator

from .errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


@dataclass
class Item:
    id: str
    path: str                      # absolute path of the image file
    location: str
    labels: list[str]              # distinct class names annotated on the image
    corrupt: bool = False
    extra: dict = field(default_factory=dict)   # datetime, seq_id, bbox, mask, width, height...
    where: str = ""                # file and record, for messages

    @property
    def group(self) -> str:
        """The unit that must not straddle train and val: the sequence if known."""
        seq = self.extra.get("seq_id")
        return f"seq:{seq}" if seq not in (None, "") else f"img:{self.id}"


@dataclass
class Dataset:
    items: list[Item]
    classes: list[str]             # every class name the data defines
    source: str
    layout: str


def detect_layout(path: str) -> str:
    if os.path.isfile(path):
        if path.endswith(".csv"):
            return "wilds"
        return "coco"
    if not os.path.isdir(path):
        raise DataError("no such file or folder; give a COCO Camera Traps .json, a WILDS iwildcam_v2.0 "
                        "folder, or a ROOT/<location>/<class>/ folder tree", where=path)
    if os.path.isfile(os.path.join(path, "metadata.csv")):
        return "wilds"
    if os.path.isfile(os.path.join(path, "annotations.json")):
        return "coco"
    return "folder"


def load(path: str, layout: str = "auto") -> Dataset:
    if layout == "auto":
        layout = detect_layout(path)
    if layout == "coco":
        if os.path.isdir(path):
            path = os.path.join(path, "annotations.json")
        return read_coco(path)
    if layout == "wilds":
        return read_wilds(os.path.dirname(path) if path.endswith(".csv") else path)
    if layout == "folder":
        return read_folder(path)
    raise DataError(f"unknown layout {layout!r}; use coco, wilds, folder or auto")


def _need(obj: dict, key: str, where: str):
    if key not in obj:
        raise DataError(f"missing required field {key!r}", where=where)
    return obj[key]


def read_coco(json_path: str) -> Dataset:
    try:
        with open(json_path, "r", encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}", where=json_path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON ({exc}); expected a COCO Camera Traps file", where=json_path) from None
    if not isinstance(doc, dict):
        raise DataError("expected a JSON object with images, annotations and categories", where=json_path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise DataError(f"missing required list {key!r}; is this COCO Camera Traps JSON?", where=json_path)
    root = os.path.dirname(os.path.abspath(json_path))
    cats: dict = {}
    for i, cat in enumerate(doc["categories"]):
        where = f"{json_path}: categories[{i}]"
        cats[_need(cat, "id", where)] = str(_need(cat, "name", where))
    # index annotations by image id once (never scan annotations per image)
    by_image: dict = {}
    boxes: dict = {}
    for i, ann in enumerate(doc["annotations"]):
        where = f"{json_path}: annotations[{i}]"
        image_id = _need(ann, "image_id", where)
        cat_id = _need(ann, "category_id", where)
        if cat_id not in cats:
            raise DataError(f"category_id {cat_id!r} is not in categories "
                            f"(known: {', '.join(map(str, cats))})", where=where)
        by_image.setdefault(image_id, []).append(cats[cat_id])
        if ann.get("bbox") is not None:
            boxes.setdefault(image_id, []).append({"label": cats[cat_id], "bbox": ann["bbox"]})
    items = []
    seen = set()
    for i, img in enumerate(doc["images"]):
        where = f"{json_path}: images[{i}]"
        image_id = _need(img, "id", where)
        file_name = _need(img, "file_name", where)
        location = _need(img, "location", where)
        sid = str(image_id)
        if sid in seen:
            raise DataError(f"duplicate image id {sid!r}", where=where)
        seen.add(sid)
        labels = list(dict.fromkeys(by_image.get(image_id, [])))
        extra = {k: img[k] for k in ("datetime", "seq_id", "frame_num", "seq_num_frames", "width", "height",
                                     "sub_location", "mask", "night") if img.get(k) is not None}
        if "mask" in extra:
            extra["mask"] = os.path.join(root, extra["mask"])
        if image_id in boxes:
            extra["boxes"] = boxes[image_id]
        items.append(Item(id=sid, path=os.path.join(root, file_name), location=str(location),
                          labels=labels, corrupt=bool(img.get("corrupt", False)), extra=extra,
                          where=f"{where} (id {sid})"))
    return Dataset(items=items, classes=list(dict.fromkeys(cats.values())), source=json_path, layout="coco")


WILDS_COLUMNS = ("split", "location", "y", "filename", "image_id")


def read_wilds(root: str) -> Dataset:
    meta_path = os.path.join(root, "metadata.csv")
    cat_path = os.path.join(root, "categories.csv")
    names: dict[str, str] = {}
    if os.path.isfile(cat_path):
        with open(cat_path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"y", "name"} <= set(reader.fieldnames):
                raise DataError("categories.csv needs columns y and name", where=cat_path)
            for row in reader:
                names[row["y"].strip()] = row["name"].strip()
    try:
        fh = open(meta_path, newline="", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror}; a WILDS iwildcam_v2.0 folder has metadata.csv",
                        where=meta_path) from None
    items = []
    with fh:
        reader = csv.DictReader(fh)
        missing = [c for c in WILDS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"missing column(s) {', '.join(missing)}; expected WILDS iWildCam v2.0 metadata",
                            where=meta_path)
        for lineno, row in enumerate(reader, 2):
            where = f"{meta_path}:{lineno}"
            y = row["y"].strip()
            label = names.get(y, f"y{y}") if names else f"y{y}"
            extra = {"wilds_split": row["split"]}
            for key in ("seq_id", "datetime"):
                if row.get(key):
                    extra[key] = row[key]
            items.append(Item(id=row["image_id"], path=os.path.join(root, "train", row["filename"]),
                              location=str(row["location"]).strip(), labels=[label], extra=extra,
                              where=f"{where} (id {row['image_id']})"))
    classes = list(dict.fromkeys(names.values())) if names else sorted({i.labels[0] for i in items})
    return Dataset(items=items, classes=classes, source=meta_path, layout="wilds")


def read_folder(root: str) -> Dataset:
    items = []
    classes: list[str] = []
    for location in sorted(os.listdir(root)):
        loc_dir = os.path.join(root, location)
        if not os.path.isdir(loc_dir) or location.startswith("."):
            continue
        for label in sorted(os.listdir(loc_dir)):
            cls_dir = os.path.join(loc_dir, label)
            if not os.path.isdir(cls_dir) or label.startswith("."):
                continue
            if label not in classes:
                classes.append(label)
            for name in sorted(os.listdir(cls_dir)):
                if not name.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                path = os.path.join(cls_dir, name)
                items.append(Item(id=f"{location}/{label}/{os.path.splitext(name)[0]}",
                                  path=os.path.abspath(path), location=location, labels=[label], where=path))
    if not items:
        raise DataError("no images found; a folder tree must look like ROOT/<location>/<class>/*.jpg",
                        where=root)
    return Dataset(items=items, classes=classes, source=root, layout="folder")


def iter_items(ds: Dataset) -> Iterator[Item]:
    return iter(ds.items)
