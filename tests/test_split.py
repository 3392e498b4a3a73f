"""scene-split on the real data and on the three layouts, with every bad-input case."""
import json
import os
import random
import subprocess

import pytest

from scenetools import datasets
from scenetools.cli import split as split_cli
from scenetools.split import make_split
from conftest import ROOT, STUDY, run, write_coco


def records_of(result):
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_real_data_table_matches_the_study(shared):
    res = run(split_cli, [shared, *STUDY])
    assert res.exit_code == 0, res.stderr
    recs = records_of(res)
    assert len(recs) == 2133
    for rec in recs:
        assert {"id", "image", "label", "location", "env", "split"} <= set(rec)
        assert os.path.isfile(rec["image"])
    table = {line.split()[0]: line.split() for line in res.stderr.splitlines() if line[:3] in ("43 ", "46 ", "130")}
    # environment role camera images coyote raccoon always-coyote ...
    assert table["43"][3:7] == ["858", "582", "276", "68%"]
    assert table["46"][3:7] == ["753", "512", "241", "68%"]
    assert table["130"][3:7] == ["522", "144", "378", "28%"]
    by_env = {}
    for rec in recs:
        by_env.setdefault(rec["env"], []).append(rec)
    assert {r["split"] for r in by_env["130"]} == {"test"}
    val = sum(r["split"] == "val" for r in by_env["43"])
    assert val == round(0.2 * 582) + round(0.2 * 276)   # stratified by class


def test_split_is_independent_of_input_order(tmp_path):
    images = [{"id": f"i{n}", "file_name": f"img/{n}.jpg", "location": 1 + n % 2, "seq_id": f"s{n // 3}"}
              for n in range(60)]
    anns = [{"image_id": f"i{n}", "category_id": 1 + (n // 3) % 2} for n in range(60)]
    cats = [{"id": 0, "name": "empty"}, {"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    p1 = write_coco(str(tmp_path / "one"), images, anns, cats)
    shuffled = images[:]
    random.Random(3).shuffle(shuffled)
    p2 = write_coco(str(tmp_path / "two"), shuffled, anns[::-1], cats)
    r1, _ = make_split(datasets.load(p1), None, "1", "2", 0.3, seed=7)
    r2, _ = make_split(datasets.load(p2), None, "1", "2", 0.3, seed=7)
    assert {r["id"]: r["split"] for r in r1} == {r["id"]: r["split"] for r in r2}
    r3, _ = make_split(datasets.load(p1), None, "1", "2", 0.3, seed=8)
    assert {r["id"]: r["split"] for r in r1} != {r["id"]: r["split"] for r in r3}
    # a sequence never straddles train and val
    by_seq = {}
    for img, rec in zip(images, r1):
        if rec["split"] != "test":
            by_seq.setdefault(img["seq_id"], set()).add(rec["split"])
    assert all(len(s) == 1 for s in by_seq.values())
    assert any(s == {"val"} for s in by_seq.values())


def test_coco_exclusions_are_counted(tmp_path):
    images = [{"id": n, "file_name": f"images/{n}.jpg", "location": str(10 + n % 2),
               "datetime": "2019-01-01 00:00:00", "corrupt": n == 5} for n in range(12)]
    anns = [{"image_id": n, "category_id": 1 + n % 2, "bbox": [1, 2, 3, 4]} for n in range(12)]
    anns.append({"image_id": 3, "category_id": 1})     # image 3: two labels
    anns.append({"image_id": 4, "category_id": 1})     # image 4: same label twice (one label)
    anns = [a for a in anns if a["image_id"] != 6]      # image 6: no label
    anns.append({"image_id": 7, "category_id": 0})      # image 7: empty too -> several labels
    cats = [{"id": 0, "name": "empty"}, {"id": 1, "name": "fox"}, {"id": 2, "name": "cat"}]
    path = write_coco(str(tmp_path), images, anns, cats)
    res = run(split_cli, [path, "--classes", "fox,cat", "--train", "10", "--test", "11", "--val-frac", "0"])
    assert res.exit_code == 0, res.stderr
    recs = records_of(res)
    ids = {r["id"] for r in recs}
    assert ids == {"0", "1", "2", "4", "8", "9", "10", "11"}
    assert "2 with several labels" in res.stderr
    assert "1 marked corrupt" in res.stderr and "1 without a label" in res.stderr
    rec0 = next(r for r in recs if r["id"] == "0")
    assert rec0["location"] == "10" and rec0["boxes"] == [{"label": "fox", "bbox": [1, 2, 3, 4]}]
    assert rec0["datetime"] == "2019-01-01 00:00:00"


def test_wilds_layout(tmp_path):
    from PIL import Image
    root = tmp_path / "iwildcam_v2.0"
    (root / "train").mkdir(parents=True)
    rows = ["split,location_remapped,location,sequence_remapped,seq_id,y,category_id,datetime,filename,image_id"]
    for n in range(16):
        name = f"f{n}.jpg"
        Image.new("RGB", (20, 10), (n * 10, 0, 0)).save(root / "train" / name)
        rows.append(f"train,{n % 2},{200 + n % 2},{n // 4},seq{n // 4},{1 + (n // 2) % 2},{7 + (n // 2) % 2},"
                    f"2013-01-01 00:00:00.000,{name},id{n}")
    (root / "metadata.csv").write_text("\n".join(rows) + "\n")
    (root / "categories.csv").write_text("y,category_id,name\n0,0,empty\n1,7,deer\n2,8,boar\n")
    res = run(split_cli, [str(root), "--train", "200", "--test", "201", "--val-frac", "0.5"])
    assert res.exit_code == 0, res.stderr
    recs = records_of(res)
    assert len(recs) == 16
    assert {r["label"] for r in recs} == {"deer", "boar"}
    assert {r["location"] for r in recs} == {"200", "201"}
    assert all(os.path.isfile(r["image"]) for r in recs)
    seqs = {}
    for r in recs:
        if r["env"] == "200":
            seqs.setdefault(r["seq_id"], set()).add(r["split"])
    assert all(len(v) == 1 for v in seqs.values())


def test_folder_tree_layout(tmp_path):
    from PIL import Image
    for loc in ("a", "b"):
        for cls in ("owl", "hare"):
            (tmp_path / loc / cls).mkdir(parents=True)
            for n in range(3):
                Image.new("RGB", (8, 8)).save(tmp_path / loc / cls / f"{n}.png")
    (tmp_path / "a" / "owl" / "notes.txt").write_text("not an image")
    res = run(split_cli, [str(tmp_path), "--train", "a", "--test", "b", "--val-frac", "0"])
    assert res.exit_code == 0, res.stderr
    recs = records_of(res)
    assert len(recs) == 12 and recs[0]["id"] == "a/hare/0"
    assert {r["split"] for r in recs if r["env"] == "b"} == {"test"}


@pytest.fixture
def small_coco(tmp_path):
    images = [{"id": f"x{n}", "file_name": f"images/{n}.jpg", "location": 1 + n % 2} for n in range(8)]
    anns = [{"image_id": f"x{n}", "category_id": 1 + (n // 2) % 2} for n in range(8)]
    cats = [{"id": 1, "name": "coyote"}, {"id": 2, "name": "raccoon"}]
    return write_coco(str(tmp_path / "d"), images, anns, cats), images, anns, cats


def test_error_invalid_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = run(split_cli, [str(bad), "--train", "1", "--test", "2"])
    assert res.exit_code == 1
    assert res.stderr.startswith("scene-split: DataError: ") and "bad.json" in res.stderr and "not valid JSON" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert res.stdout == ""


def test_error_missing_field(tmp_path, small_coco):
    _, images, anns, cats = small_coco
    del images[2]["file_name"]
    path = write_coco(str(tmp_path / "m"), images, anns, cats, make_files=False)
    res = run(split_cli, [path, "--train", "1", "--test", "2"])
    assert res.exit_code == 1 and "images[2]" in res.stderr and "'file_name'" in res.stderr
    path = write_coco(str(tmp_path / "n"), images, [], [], make_files=False)
    os.remove(path)
    with open(path, "w") as fh:
        json.dump({"images": []}, fh)
    res = run(split_cli, [path, "--train", "1", "--test", "2"])
    assert res.exit_code == 1 and "'annotations'" in res.stderr


def test_error_unknown_location_and_class(small_coco):
    path = small_coco[0]
    res = run(split_cli, [path, "--train", "1,9", "--test", "2"])
    assert res.exit_code == 2 and "camera location 9 is not in" in res.stderr and "it has: 1, 2" in res.stderr
    res = run(split_cli, [path, "--classes", "coyote,badger", "--train", "1", "--test", "2"])
    assert res.exit_code == 2 and "badger" in res.stderr and "it has: coyote, raccoon" in res.stderr
    res = run(split_cli, [path, "--train", "1", "--test", "1"])
    assert res.exit_code == 2 and "named twice" in res.stderr


def test_error_missing_image_file_and_skip(small_coco):
    path, images, _, _ = small_coco
    os.remove(os.path.join(os.path.dirname(path), images[3]["file_name"]))
    res = run(split_cli, [path, "--train", "1", "--test", "2"])
    assert res.exit_code == 1 and "3.jpg does not exist" in res.stderr and "id x3" in res.stderr
    assert res.stdout == ""
    res = run(split_cli, [path, "--train", "1", "--test", "2", "--on-error", "skip"])
    assert res.exit_code == 0 and len(records_of(res)) == 7
    assert "skipped 1 record(s): 1 missing image files" in res.stderr


def test_error_empty_result(small_coco):
    res = run(split_cli, [small_coco[0], "--classes", "coyote", "--train", "1", "--test", "2"])
    assert res.exit_code == 0
    res = run(split_cli, [small_coco[0], "--classes", "raccoon", "--train", "1", "--test", "2"])
    assert res.exit_code == 0
    images = [{"id": "z", "file_name": "images/0.jpg", "location": 1}, {"id": "w", "file_name": "images/1.jpg",
                                                                         "location": 2}]
    path = write_coco(os.path.join(os.path.dirname(small_coco[0]), "..", "e"), images,
                      [{"image_id": "z", "category_id": 1}], [{"id": 1, "name": "coyote"}])
    res = run(split_cli, [path, "--train", "1", "--test", "2"])
    assert res.exit_code == 1 and "no usable images" in res.stderr and "environment(s) 2" in res.stderr


def test_error_usage_exit_2(small_coco):
    res = run(split_cli, [small_coco[0], "--train", "1"])
    assert res.exit_code == 2 and "--test" in res.stderr


def test_verbose_gives_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    res = run(split_cli, [str(bad), "--train", "1", "--test", "2", "--verbose"])
    assert res.exit_code == 1 and "Traceback" in res.stderr


def test_output_file_is_atomic_and_pipe_to_head_is_quiet(small_coco, tmp_path):
    out = tmp_path / "s.jsonl"
    res = run(split_cli, [small_coco[0], "--train", "1", "--test", "2", "-o", str(out)])
    assert res.exit_code == 0 and res.stdout == "" and len(out.read_text().splitlines()) == 8
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp")]
    proc = subprocess.run(f"{ROOT}/bin/scene-split {small_coco[0]} --train 1 --test 2 | head -1", shell=True,
                          capture_output=True, text=True)
    assert len(proc.stdout.splitlines()) == 1
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr
