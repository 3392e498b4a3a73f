import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.abspath(os.path.join(ROOT, "..", "shared", "data", "iwildcam-scene"))
STUDY = ["--classes", "coyote,raccoon", "--train", "43,46", "--test", "130"]


def need_shared():
    """Skip when ../shared is absent; fail instead under SCENE_REQUIRE_SHARED=1 (CI)."""
    if os.path.isfile(os.path.join(SHARED_DATA, "annotations.json")):
        return SHARED_DATA
    msg = f"real data not found at {SHARED_DATA}"
    if os.environ.get("SCENE_REQUIRE_SHARED") == "1":
        pytest.fail(msg + " (SCENE_REQUIRE_SHARED=1)")
    pytest.skip(msg)


@pytest.fixture
def shared():
    return need_shared()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """One feature cache for the whole test session (features of the real data are computed once)."""
    path = os.environ.get("SCENE_TEST_CACHE") or str(tmp_path_factory.mktemp("cache"))
    os.environ["SCENE_CACHE"] = path
    return path


def run(cli_main_module, args, input=None):
    """Invoke a command in-process; returns click's Result (stdout, stderr, exit_code)."""
    runner = CliRunner()
    return runner.invoke(cli_main_module.cli, args, input=input, catch_exceptions=False)


def write_coco(folder, images, annotations, categories, make_files=True):
    os.makedirs(folder, exist_ok=True)
    for img in images:
        if make_files and "file_name" in img:
            path = os.path.join(folder, img["file_name"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            rng = np.random.default_rng(abs(hash(img["file_name"])) % 2**32)
            Image.fromarray(rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(path)
    doc = {"info": {}, "images": images, "annotations": annotations, "categories": categories}
    path = os.path.join(folder, "annotations.json")
    with open(path, "w") as fh:
        json.dump(doc, fh)
    return path


@pytest.fixture(scope="session")
def real_split(tmp_path_factory):
    """The study's split of the real data, as records (seed 0, 20% validation)."""
    data = need_shared()
    from scenetools import datasets
    from scenetools.split import make_split

    records, report = make_split(datasets.load(data), ["coyote", "raccoon"], "43,46", "130", 0.2, 0)
    return records


@pytest.fixture(scope="session")
def real_features(real_split, cache_dir):
    from scenetools import backbones as bb, features

    X, ok, stats = features.for_records(real_split, bb.get("tf_efficientnet_lite0"), cache_dir=cache_dir)
    assert ok.all()
    return X
