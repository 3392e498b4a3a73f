"""scene-train, scene-predict, scene-eval: on hand-made examples and on the real cameras."""
import json
import os
import shutil

import numpy as np
import pytest
import torch

from scenetools import algorithms, backbones as bb, features
from scenetools.cli import eval as eval_cli, predict as predict_cli, train as train_cli
from scenetools.evaluate import evaluate, metrics
from scenetools.model import load
from scenetools.train import prepare, train
from conftest import run


def test_irm_penalty_matches_hand_computation():
    z = torch.tensor([[2.0], [-1.0], [0.5], [3.0]])
    y = torch.tensor([1, 0, 0, 1])
    # d/ds mean BCE(s z, y) at s = 1 is mean((sigmoid(z) - y) z)
    sig = 1 / (1 + np.exp(-np.array([2.0, -1.0, 0.5, 3.0])))
    grad = np.mean((sig - np.array([1, 0, 0, 1])) * np.array([2.0, -1.0, 0.5, 3.0]))
    assert float(algorithms.irm_penalty(z, y).detach()) == pytest.approx(grad ** 2, rel=1e-5)
    algo = algorithms.IRM({"penalty_weight": 100.0, "anneal_steps": 2})
    logits, ys = [z[:2], z[2:]], [y[:2], y[2:]]
    loss0, pen0, w0 = algo.objective(logits, ys, step=1)
    loss3, pen3, w3 = algo.objective(logits, ys, step=3)
    assert w0 == 1.0 and w3 == 100.0 and float(pen0) == pytest.approx(float(pen3))
    nll = np.mean([float(algorithms.risk(a, b)) for a, b in zip(logits, ys)])
    assert float(loss0.detach()) == pytest.approx(nll + float(pen0), rel=1e-5)
    assert float(loss3.detach()) == pytest.approx((nll + 100 * float(pen3)) / 100, rel=1e-5)


def toy_data(n=240, seed=0, flip_test=False):
    """Feature 0: the invariant cue (80% reliable); feature 1: spurious, reliable 90/95% in training, reversed in test."""
    rng = np.random.default_rng(seed)
    records, rows = [], []
    for env, split, p_sp in (("a", "train", 0.9), ("b", "train", 0.95), ("a", "val", 0.9), ("b", "val", 0.95),
                             ("t", "test", 0.1)):
        for _ in range(n // 4 if split != "val" else n // 10):
            y = int(rng.uniform() < 0.5)
            inv = (y if rng.uniform() < 0.8 else 1 - y) * 2 - 1
            sp = (y if rng.uniform() < p_sp else 1 - y) * 2 - 1
            rows.append([inv + 0.1 * rng.normal(), sp + 0.1 * rng.normal(), rng.normal()])
            label = ["no", "yes"][y]
            if flip_test and split == "test":
                label = ["yes", "no"][y]
            records.append({"id": str(len(records)), "image": "-", "label": label, "env": env, "split": split})
    return records, np.array(rows, np.float32)


def test_selection_never_reads_test_labels():
    recs, X = toy_data()
    flipped, _ = toy_data(flip_test=True)
    hp = {"anneal_steps": 20, "steps": 150, "lr": 1e-2}
    a = train(prepare(recs, X), "irm", hp, seed=1)
    b = train(prepare(flipped, X), "irm", hp, seed=1)
    for rule in ("val", "val-acc", "last"):
        assert a.checkpoints[rule].step == b.checkpoints[rule].step
        for k in a.checkpoints[rule].state:
            assert torch.equal(a.checkpoints[rule].state[k], b.checkpoints[rule].state[k])
    assert a.history[a.checkpoints["oracle"].step]["test_acc_all"] != b.history[b.checkpoints["oracle"].step]["test_acc_all"]
    assert a.checkpoints["val"].step >= 20   # IRM's checkpoint comes from the penalty phase


def test_irm_prefers_the_invariant_feature_on_toy_data():
    recs, X = toy_data(n=800)
    d = prepare(recs, X)
    hp = {"anneal_steps": 50, "steps": 400, "lr": 1e-2, "l2": 1e-3}
    erm = train(d, "erm", {k: hp[k] for k in ("steps", "lr", "l2")}, seed=0)
    irm = train(d, "irm", hp, seed=0)
    assert irm.history[-1]["test_acc_all"] > erm.history[-1]["test_acc_all"] + 0.2


def test_single_class_environment_and_missing_split_are_errors(tmp_path):
    recs, X = toy_data()
    for r in recs:
        if r["env"] == "a" and r["split"] == "train":
            r["label"] = "yes"
    with pytest.raises(Exception, match="training environment a has only class yes"):
        prepare(recs, X)
    stream = tmp_path / "s.jsonl"
    stream.write_text(json.dumps({"id": "1", "image": "x.jpg", "label": "a", "env": "1"}) + "\n")
    res = run(train_cli, [str(stream), "-o", str(tmp_path / "m.pt")])
    assert res.exit_code == 1 and "s.jsonl:1: record 1 lacks field(s) split" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_model_file_is_a_clear_error(tmp_path):
    stream = tmp_path / "s.jsonl"
    stream.write_text(json.dumps({"id": "1", "image": "x.jpg"}) + "\n")
    res = run(predict_cli, [str(stream), "-m", str(tmp_path / "nope.pt")])
    assert res.exit_code == 1 and "nope.pt does not exist; train one with scene-train" in res.stderr


def test_unavailable_backbone_weights_say_both_ways(monkeypatch):
    import torchvision
    import urllib.error

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline,
                        raising=False)
    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(Exception) as err:
        bb.get("resnet18").build(None)
    assert "--weights FILE" in str(err.value) and "network" in str(err.value)
    with pytest.raises(Exception, match="does not exist"):
        bb.get("resnet18").build("/nonexistent/resnet18.pth")


def test_resnet18_loads_a_local_weights_file(tmp_path):
    import torchvision
    state = torchvision.models.resnet18(weights=None).state_dict()
    path = tmp_path / "r18.pth"
    torch.save(state, path)
    net = bb.get("resnet18").build(str(path))
    out = net(torch.zeros(2, 3, 224, 224))
    assert out.shape == (2, 512)


def test_images_of_every_kind_decode_to_the_view(tmp_path):
    from PIL import Image
    cases = {
        "grey.png": Image.new("L", (300, 200), 128),
        "rgba.png": Image.new("RGBA", (640, 480), (255, 0, 0, 128)),
        "deep.png": Image.fromarray(np.full((50, 70), 40000, np.uint16)),
        "pal.gif": Image.new("P", (100, 100)),
    }
    for name, im in cases.items():
        im.save(tmp_path / name)
    rot = Image.new("RGB", (400, 200), (0, 255, 0))
    exif = rot.getexif()
    exif[0x0112] = 6      # rotated 90 degrees
    rot.save(tmp_path / "rot.jpg", exif=exif)
    assert bb.load_image(str(tmp_path / "rot.jpg")).shape == (400, 200, 3)
    for name in list(cases) + ["rot.jpg"]:
        view = bb.load_view(str(tmp_path / name))
        assert view.shape == (224, 224, 3) and view.dtype == np.uint8
    assert bb.load_image(str(tmp_path / "deep.png"))[0, 0, 0] == int(40000 / 65535 * 255)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(Exception, match="cannot decode image"):
        bb.load_image(str(tmp_path / "broken.jpg"), where="record 3")


def test_feature_cache_reuse_and_invalidation(tmp_path, shared):
    imgs = []
    for n in range(3):
        dst = tmp_path / f"{n}.jpg"
        shutil.copy(os.path.join(shared, "images", f"scene-1-00{n}.jpg"), dst)
        imgs.append(str(dst))
    lite = bb.get("tf_efficientnet_lite0")
    cache = str(tmp_path / "cache")
    X1, ok, s1 = features.extract(imgs, lite, cache_dir=cache)
    assert (s1.computed, s1.cached) == (3, 0) and X1.shape == (3, 1280)
    X2, ok, s2 = features.extract(imgs, lite, cache_dir=cache)
    assert (s2.computed, s2.cached) == (0, 3) and np.array_equal(X1, X2)
    shutil.copy(os.path.join(shared, "images", "scene-3-000.jpg"), imgs[1])   # the file changes
    X3, ok, s3 = features.extract(imgs, lite, cache_dir=cache)
    assert (s3.computed, s3.cached) == (1, 2)
    assert np.array_equal(X3[0], X1[0]) and not np.allclose(X3[1], X1[1])
    # torch and onnxruntime agree
    X4, ok, s4 = features.extract(imgs, lite, cache_dir=str(tmp_path / "c2"), runtime="torch")
    assert s4.runner == "torch-cpu" and np.allclose(X4, X3, atol=1e-3)


def test_eval_metrics_on_a_hand_made_example():
    m = metrics(["a", "a", "a", "b", "b"], ["a", "b", "a", "b", "a"], ["a", "b"], "a")
    assert m["accuracy"] == pytest.approx(3 / 5) and m["majority_baseline"] == pytest.approx(3 / 5)
    assert m["per_class"]["a"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["a"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["b"]["precision"] == pytest.approx(1 / 2)
    assert m["per_class"]["b"]["recall"] == pytest.approx(1 / 2)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert m["confusion"] == {"a": {"a": 2, "b": 1}, "b": {"a": 1, "b": 1}}
    recs = [{"id": str(i), "label": t, "env": e, "split": s, "pred": {"m": {"label": p}}}
            for i, (t, p, e, s) in enumerate([("a", "a", "1", "train"), ("b", "b", "1", "val"),
                                              ("a", "a", "2", "train"), ("b", "a", "2", "train"),
                                              ("a", "b", "3", "test"), ("b", "b", "3", "test")])]
    rep = evaluate(recs)
    rows = {r["env"]: r for r in rep["rows"]}
    assert rows["train (all)"]["images"] == 4 and rows["train (all)"]["accuracy"] == pytest.approx(0.75)
    assert rows["3"]["role"] == "test" and rows["3"]["accuracy"] == pytest.approx(0.5)
    assert rows["val (held out)"]["images"] == 1
    assert rows["3"]["majority_baseline"] == pytest.approx(0.5)


def test_real_cameras_train_predict_eval(tmp_path, real_split, real_features, cache_dir):
    """The study on the real data: IRM beats ERM at camera 130, selected without test labels."""
    split = tmp_path / "split.jsonl"
    split.write_text("".join(json.dumps(r) + "\n" for r in real_split))
    for method, extra in (("erm", []), ("irm", ["-p", "anneal_steps=20", "-p", "l2=0.01"])):
        res = run(train_cli, [str(split), "--method", method, "-o", str(tmp_path / f"{method}.pt"), "--cache",
                              cache_dir, "--quiet", *extra])
        assert res.exit_code == 0, res.stderr
    meta = load(str(tmp_path / "irm.pt")).meta
    for key in ("backbone", "weights_id", "preprocess", "classes", "method", "hparams", "train_envs", "selection",
                "seed", "feature_dim"):
        assert key in meta
    assert meta["classes"] == ["coyote", "raccoon"] and meta["train_envs"] == ["43", "46"]
    assert meta["selection"]["rule"] == "val" and meta["selection"]["peeks_at_test"] is False
    assert meta["selection"]["step"] >= meta["hparams"]["anneal_steps"]
    log = [json.loads(x) for x in open(tmp_path / "irm.log.jsonl")]
    assert len(log) == meta["hparams"]["steps"] + 1
    assert {"loss", "penalty", "train_acc", "val_acc", "test_acc", "val_objective"} <= set(log[0])
    res = run(predict_cli, [str(split), "-m", str(tmp_path / "erm.pt"), "-m", f"irm={tmp_path / 'irm.pt'}",
                            "--cache", cache_dir])
    assert res.exit_code == 0, res.stderr
    preds = [json.loads(x) for x in res.stdout.splitlines()]
    assert len(preds) == 2133
    p = preds[0]["pred"]["irm"]
    assert set(p) == {"label", "p", "probs", "model", "method"} and p["model"].endswith("irm.pt")
    assert p["p"] == max(p["probs"].values()) and sum(p["probs"].values()) == pytest.approx(1, abs=1e-5)
    assert {k: preds[0][k] for k in real_split[0]} == real_split[0]          # nothing lost
    res = run(eval_cli, ["--json"], input=res.stdout)
    rows = {(r["model"], r["env"]): r for r in json.loads(res.stdout)["rows"]}
    assert rows[("erm", "130")]["images"] == 522
    assert rows[("erm", "130")]["majority_baseline"] == pytest.approx(144 / 522)
    erm, irm = rows[("erm", "130")]["accuracy"], rows[("irm", "130")]["accuracy"]
    assert irm > erm + 0.2, (erm, irm)
    assert rows[("irm", "train (all)")]["accuracy"] > 0.8


def test_sweep_chooses_on_validation_only():
    from scenetools.train import sweep
    recs, X = toy_data()
    flipped, _ = toy_data(flip_test=True)
    grid = [{"anneal_steps": 10}, {"anneal_steps": 30}, {"l2": 1e-2}]
    base = {"steps": 80, "lr": 1e-2}
    a, rows_a = sweep(prepare(recs, X), "irm", grid, base, seed=0)
    b, rows_b = sweep(prepare(flipped, X), "irm", grid, base, seed=0)
    assert rows_a == rows_b and len(rows_a) == 3
    best = min(rows_a, key=lambda r: r["val_objective"])
    assert {k: a.algorithm.hparams[k] for k in best["hparams"]} == best["hparams"]
