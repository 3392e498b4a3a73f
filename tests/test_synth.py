"""scene-synth: the demo world is deterministic, complete and carries its ground truth."""
import hashlib
import json
import os

import numpy as np
from PIL import Image

from scenetools.cli import synth as synth_cli
from scenetools import datasets
from scenetools.split import make_split
from conftest import run


def digest(folder):
    h = hashlib.sha256()
    for sub in ("annotations.json", "images", "masks"):
        path = os.path.join(folder, sub)
        names = [path] if os.path.isfile(path) else [os.path.join(path, n) for n in sorted(os.listdir(path))]
        for name in names:
            h.update(open(name, "rb").read())
    return h.hexdigest()


def test_synth_is_deterministic_and_has_ground_truth(tmp_path):
    a, b, c = (str(tmp_path / x) for x in "abc")
    for out, seed in ((a, 1), (b, 1), (c, 2)):
        res = run(synth_cli, ["--out", out, "--images", "48", "--seed", str(seed), "--quiet"])
        assert res.exit_code == 0, res.stderr
    assert digest(a) == digest(b) != digest(c)
    doc = json.load(open(os.path.join(a, "annotations.json")))
    assert len(doc["images"]) == 48
    assert {img["location"] for img in doc["images"]} == {"101", "102", "201", "202"}
    anns = {x["image_id"]: x for x in doc["annotations"]}
    on_animal = 0
    for img in doc["images"]:
        im = Image.open(os.path.join(a, img["file_name"]))
        assert im.size == (224, 224) and im.mode == "RGB"
        mask = np.asarray(Image.open(os.path.join(a, img["mask"]))) > 0
        if mask.any():
            x, y, w, h = anns[img["id"]]["bbox"]
            ys, xs = np.nonzero(mask)
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x, y, x + w, y + h)
            on_animal += 1
        if img["night"]:   # infrared frames are grey
            arr = np.asarray(im).astype(int)
            assert np.abs(arr[..., 0] - arr[..., 1]).mean() < 8
    assert on_animal >= 40


def test_synth_tells_the_story(tmp_path):
    """Training cameras: raccoons mostly at night, coyotes the majority; test camera 201: reversed."""
    out = str(tmp_path / "w")
    run(synth_cli, ["--out", out, "--images", "400", "--quiet"])
    recs, report = make_split(datasets.load(out), ["coyote", "raccoon"], "101,102", "201", 0.2, 0)
    stats = {}
    for r in recs:
        s = stats.setdefault(r["env"], {"n": 0, "coyote": 0, "night_raccoon": 0, "raccoon": 0})
        s["n"] += 1
        s[r["label"]] = s.get(r["label"], 0) + 1
        s["night_raccoon"] += r["label"] == "raccoon" and r["night"] or r["label"] == "coyote" and not r["night"]
    for env in ("101", "102"):
        assert stats[env]["coyote"] / stats[env]["n"] > 0.5
        assert stats[env]["night_raccoon"] / stats[env]["n"] > 0.6   # time of day agrees with the label
    assert stats["201"]["coyote"] / stats["201"]["n"] < 0.5
    assert stats["201"]["night_raccoon"] / stats["201"]["n"] < 0.3   # ... and disagrees at the test camera
