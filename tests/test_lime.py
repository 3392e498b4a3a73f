"""scene-lime: schema, faithfulness to stock lime, determinism, resume, errors, and the predict pipe."""
import json
import os
import subprocess

import numpy as np
import pytest

from scenetools import backbones as bb, explain
from scenetools.cli import lime as lime_cli, predict as predict_cli
from scenetools.train import prepare, train
from conftest import ROOT, run

IDS = ["scene-1-000", "scene-2-005", "scene-3-433"]
FAST = ["--num-samples", "40", "--quiet"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, real_split, real_features, cache_dir):
    """Two real models (ERM, IRM) and a prediction stream of three real images."""
    folder = tmp_path_factory.mktemp("lime")
    data = prepare(real_split, real_features)
    lite = bb.get("tf_efficientnet_lite0")
    for name, hp in (("erm", {"steps": 100}), ("irm", {"steps": 100, "anneal_steps": 20})):
        res = train(data, name, hp, seed=0)
        res.model("val", lite.name, None, lite.weights_id(None), 0).save(str(folder / f"{name}.pt"))
    split = folder / "split.jsonl"
    split.write_text("".join(json.dumps(r) + "\n" for r in real_split if r["id"] in IDS))
    res = run(predict_cli, [str(split), "-m", str(folder / "erm.pt"), "-m", str(folder / "irm.pt"),
                            "--cache", cache_dir, "--quiet"])
    assert res.exit_code == 0, res.stderr
    preds = folder / "preds.jsonl"
    preds.write_text(res.stdout)
    return folder, preds


def lines(path):
    return [json.loads(x) for x in open(path) if x.strip()]


def test_schema(setup, tmp_path, cache_dir):
    folder, preds = setup
    out = tmp_path / "ex.jsonl"
    res = run(lime_cli, [str(preds), "-o", str(out), "--top-k", "5", "--cache", cache_dir, *FAST])
    assert res.exit_code == 0, res.stderr
    recs = lines(out)
    assert [r["id"] for r in recs] == IDS
    for r in recs:
        sp = r["superpixels"]
        seg = explain.load_segments(sp["map"])
        assert seg.shape == (224, 224) and seg.max() + 1 == sp["count"] and sp["segmenter"] == "quickshift"
        assert sp["params"] == {"kernel_size": 4, "max_dist": 200, "ratio": 0.2} and sp["num_samples"] == 40
        assert set(r["lime"]) == {"erm", "irm"}
        for name, e in r["lime"].items():
            assert e["label"] == r["pred"][name]["label"]
            assert e["model_p"] == pytest.approx(r["pred"][name]["p"], abs=1e-3)
            assert sorted(s for s, _ in e["ranking"]) == list(range(sp["count"]))
            weights = [w for _, w in e["ranking"]]
            assert weights == sorted(weights, reverse=True)
            assert e["top"] == [s for s, w in e["ranking"] if w > 0][:5]
            assert e["gap"] == pytest.approx(abs(e["model_p"] - e["local_pred"]), abs=1e-5)
            assert -1 <= e["score"] <= 1
        assert {k: r[k] for k in ("id", "label", "env", "split", "pred")} == \
            {k: v for k, v in lines(preds)[IDS.index(r["id"])].items() if k in ("id", "label", "env", "split", "pred")}


def test_same_as_stock_lime_with_the_same_seed(setup):
    """scene-lime's explanation equals lime_image's when both draw from the same seed."""
    from lime import lime_image
    from scenetools.model import load
    folder, preds = setup
    rec = lines(preds)[2]
    lite = bb.get("tf_efficientnet_lite0")
    runner = bb.make_runner(lite, runtime="torch")
    models = {n: load(str(folder / f"{n}.pt")) for n in ("erm", "irm")}
    view = bb.load_view(rec["image"])
    settings = explain.Settings(num_samples=60)
    segs, ours = explain.explain_view(view, rec["id"], models, runner, lite, settings)
    seed = explain.image_seed(0, rec["id"])
    for name, m in models.items():
        exp = lime_image.LimeImageExplainer(random_state=seed).explain_instance(
            view, lambda imgs: m.proba(runner(lite.normalize(np.asarray(imgs)))), top_labels=1, hide_color=None,
            num_samples=60, batch_size=10, random_seed=seed)
        assert np.array_equal(exp.segments, segs)
        label = exp.top_labels[0]
        assert m.classes[label] == ours[name]["label"]
        stock = dict(exp.local_exp[label])
        for s, w in ours[name]["ranking"]:
            assert w == pytest.approx(stock[s], abs=1e-5)
        assert ours[name]["score"] == pytest.approx(exp.score, abs=1e-4)


def test_deterministic_across_order_batch_size_and_shards(setup, tmp_path, cache_dir):
    folder, preds = setup
    recs = lines(preds)
    rev = tmp_path / "rev.jsonl"
    rev.write_text("".join(json.dumps(r) + "\n" for r in reversed(recs)))
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert run(lime_cli, [str(preds), "-o", str(a), "--batch-size", "8", "--cache", cache_dir, *FAST]).exit_code == 0
    assert run(lime_cli, [str(rev), "-o", str(b), "--batch-size", "13", "--cache", cache_dir, *FAST]).exit_code == 0
    shards = []
    for i in range(2):
        p = tmp_path / f"s{i}.jsonl"
        assert run(lime_cli, [str(preds), "-o", str(p), "--shard", f"{i}/2", "--cache", cache_dir, *FAST]).exit_code == 0
        shards += lines(p)
    by_a = {r["id"]: r for r in lines(a)}
    for other in (lines(b), shards):
        assert sorted(r["id"] for r in other) == sorted(by_a)
        for r in other:
            ra = by_a[r["id"]]
            assert r["superpixels"]["count"] == ra["superpixels"]["count"]
            for name in ("erm", "irm"):
                assert r["lime"][name]["top"] == ra["lime"][name]["top"]
                np.testing.assert_allclose([w for _, w in r["lime"][name]["ranking"]],
                                           [w for _, w in ra["lime"][name]["ranking"]], atol=1e-5)
    c = tmp_path / "c.jsonl"
    run(lime_cli, [str(preds), "-o", str(c), "--seed", "1", "--cache", cache_dir, *FAST])
    assert [r["lime"]["erm"]["ranking"] for r in lines(c)] != [r["lime"]["erm"]["ranking"] for r in lines(a)]


def test_resume_after_interruption(setup, tmp_path, cache_dir):
    folder, preds = setup
    full = tmp_path / "full.jsonl"
    run(lime_cli, [str(preds), "-o", str(full), "--cache", cache_dir, *FAST])
    text = full.read_text().splitlines(keepends=True)
    part = tmp_path / "part.jsonl"
    part.write_text(text[0] + text[1][: len(text[1]) // 2])       # killed while writing the second record
    res = run(lime_cli, [str(preds), "-o", str(part), "--resume", "--cache", cache_dir, "--num-samples", "40"])
    assert res.exit_code == 0, res.stderr
    assert "explained 2 image(s)" in res.stderr and "1 already done" in res.stderr
    got = lines(part)
    assert [r["id"] for r in got] == IDS
    assert [r["lime"] for r in got] == [r["lime"] for r in lines(full)]
    res = run(lime_cli, [str(preds), "-o", str(part), "--resume", "--cache", cache_dir, "--num-samples", "40"])
    assert "explained 0 image(s)" in res.stderr and len(lines(part)) == 3


def test_bad_records(setup, tmp_path, cache_dir):
    folder, preds = setup
    recs = lines(preds)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"garbage")
    recs[1]["image"] = str(broken)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = run(lime_cli, [str(bad), "--cache", cache_dir, *FAST])
    assert res.exit_code == 1 and "bad.jsonl:2" in res.stderr and "cannot decode image" in res.stderr
    assert "Traceback" not in res.stderr
    res = run(lime_cli, [str(bad), "--cache", cache_dir, "--on-error", "skip", *FAST])
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 2
    assert "skipped 1 record(s): 1 records that could not be explained" in res.stderr
    recs = lines(preds)
    recs[0]["pred"]["erm"]["model"] = str(tmp_path / "gone.pt")
    bad.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = run(lime_cli, [str(bad), "--cache", cache_dir, *FAST])
    assert res.exit_code == 1 and "gone.pt does not exist" in res.stderr and "pred.erm" in res.stderr
    nopred = tmp_path / "nopred.jsonl"
    nopred.write_text(json.dumps({"id": "x", "image": recs[0]["image"]}) + "\n")
    res = run(lime_cli, [str(nopred), *FAST])
    assert res.exit_code == 1 and "has no 'pred'; pipe scene-predict" in res.stderr


def test_predict_piped_into_lime(setup, tmp_path, cache_dir):
    folder, preds = setup
    split = folder / "split.jsonl"
    env = dict(os.environ, SCENE_CACHE=cache_dir)
    cmd = (f"{ROOT}/bin/scene-predict -q -m {folder}/erm.pt -m {folder}/irm.pt {split} | "
           f"{ROOT}/bin/scene-lime -q --top-k 3 --num-samples 30 --maps {tmp_path}/maps | head -2")
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert len(out) == 2 and all(len(r["lime"]["irm"]["top"]) <= 3 for r in out)
    assert "Traceback" not in proc.stderr
