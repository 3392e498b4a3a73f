"""scene-render: the site, opened in a real headless Chromium; its figures equal scene-eval's."""
import json
import os
import re
import shutil

import pytest

from scenetools import backbones as bb, datasets, features
from scenetools.cli import lime as lime_cli, predict as predict_cli, render as render_cli, synth as synth_cli
from scenetools.evaluate import evaluate
from scenetools.split import make_split
from scenetools.train import prepare, train
from conftest import run

SECTIONS = ["environments", "training", "results-train", "results-test", "interpretability", "ranking",
            "comparison", "all"]


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("SCENE_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium not found (SCENE_REQUIRE_BROWSER=1); `make browser` installs Debian's chromium")
    pytest.skip("chromium not installed (make browser)")


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory, cache_dir):
    """The demo world through the whole pipeline: synth, split, train, predict, lime (a sample), render."""
    root = tmp_path_factory.mktemp("site")
    world = str(root / "world")
    assert run(synth_cli, ["--out", world, "--images", "48", "--quiet"]).exit_code == 0
    records, _ = make_split(datasets.load(world), ["coyote", "raccoon"], "101,102", "201", 0.2, 0)
    lite = bb.get("tf_efficientnet_lite0")
    X, ok, _ = features.for_records(records, lite, cache_dir=cache_dir)
    data = prepare(records, X)
    split = root / "split.jsonl"
    split.write_text("".join(json.dumps(r) + "\n" for r in records))
    for name in ("erm", "irm"):
        res = train(data, name, {"steps": 60, "anneal_steps": 20} if name == "irm" else {"steps": 60}, seed=0)
        model = res.model("last", lite.name, None, lite.weights_id(None), 0)
        model.save(str(root / f"{name}.pt"))
        with open(root / f"{name}.log.jsonl", "w") as fh:
            fh.writelines(json.dumps(h) + "\n" for h in res.history)
    res = run(predict_cli, [str(split), "-m", str(root / "erm.pt"), "-m", str(root / "irm.pt"), "--quiet",
                            "--cache", cache_dir])
    preds = root / "preds.jsonl"
    preds.write_text(res.stdout)
    explained = root / "explained.jsonl"
    res = run(lime_cli, [str(preds), "--per-env", "2", "--num-samples", "30", "-o", str(explained), "--quiet",
                         "--cache", cache_dir])
    assert res.exit_code == 0, res.stderr
    site = root / "site"
    res = run(render_cli, [str(explained), "--out", str(site)])
    assert res.exit_code == 0, res.stderr
    return site, [json.loads(x) for x in open(explained)], res.stderr


def test_site_files_offline_and_reused(demo_site):
    site, records, log = demo_site
    index = (site / "index.html").read_text()
    for sec in SECTIONS:
        assert f'id="{sec}"' in index
    for page in ("index.html", "all.html"):
        text = (site / page).read_text()
        assert "http://" not in text and "https://" not in text     # no CDN: works offline
        for ref in re.findall(r'(?:src|href)="([^"#]+)"', text):
            assert os.path.exists(site / ref), ref                   # every relative link resolves
    assert (site / "plots" / "curves.png").stat().st_size > 1000
    first = re.search(r"; (\d+) images written, (\d+) reused", log)
    assert int(first.group(1)) > len(records)                       # views, outlines, top-k views, ...
    res = run(render_cli, [str(site.parent / "explained.jsonl"), "--out", str(site)])
    again = re.search(r"; (\d+) images written, (\d+) reused", res.stderr)
    assert again.group(1) == "0" and int(again.group(2)) == int(first.group(1)), res.stderr


def test_site_in_chromium(demo_site, tmp_path):
    exe = chromium()
    from playwright.sync_api import sync_playwright

    site, records, _ = demo_site
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--allow-file-access-from-files"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((site / "index.html").as_uri())
        page.wait_for_load_state("load")
        for sec in SECTIONS:
            assert page.locator(f"section#{sec} h2").count() == 1, sec
        assert page.locator("section#interpretability img").count() >= 6
        assert page.locator("section#ranking img").count() == 8          # top 3, 6, 9, 12 for two models
        page.screenshot(path=str(tmp_path / "tour.png"), full_page=True)
        page.goto((site / "all.html").as_uri())
        page.wait_for_load_state("load")
        assert page.locator(".card").count() == len(records)

        def shown():
            return int(page.locator("#count").get_attribute("data-shown"))

        assert shown() == len(records)
        for env in {r["env"] for r in records}:
            page.select_option('select[data-filter="env"]', env)
            assert shown() == sum(r["env"] == env for r in records)
            assert page.locator(".card:visible").count() == shown()
        page.select_option('select[data-filter="env"]', "")
        for label in ("coyote", "raccoon"):
            page.select_option('select[data-filter="label"]', label)
            assert shown() == sum(r["label"] == label for r in records)
        page.select_option('select[data-filter="label"]', "")
        for model in ("erm", "irm"):
            for value, right in (("1", True), ("0", False)):
                page.select_option(f'select[data-filter="right-{model}"]', value)
                assert shown() == sum((r["pred"][model]["label"] == r["label"]) == right for r in records)
            page.select_option(f'select[data-filter="right-{model}"]', "")
        page.check('input[data-filter="disagree"]')
        assert shown() == sum(r["pred"]["erm"]["label"] != r["pred"]["irm"]["label"] for r in records)
        page.uncheck('input[data-filter="disagree"]')
        page.check('input[data-filter="explained"]')
        assert shown() == sum("lime" in r for r in records) == 6
        page.uncheck('input[data-filter="explained"]')
        page.select_option("#sort", "p-irm:asc")
        first = page.locator("section.group").first.locator(".card").first.get_attribute("data-p-irm")
        env0 = page.locator("section.group").first.get_attribute("data-env")
        assert float(first) == pytest.approx(min(r["pred"]["irm"]["p"] for r in records if r["env"] == env0), abs=1e-4)
        page.screenshot(path=str(tmp_path / "all.png"))
        browser.close()
    assert errors == []
    assert (tmp_path / "tour.png").stat().st_size > 10000 and (tmp_path / "all.png").stat().st_size > 10000


def test_real_site_figures_equal_scene_eval(tmp_path, real_split, real_features, cache_dir):
    data = prepare(real_split, real_features)
    lite = bb.get("tf_efficientnet_lite0")
    models = {}
    for name, hp in (("erm", {"steps": 100}), ("irm", {"steps": 100, "anneal_steps": 20})):
        models[name] = train(data, name, hp, seed=0).model("last", lite.name, None, lite.weights_id(None), 0)
    from scenetools.predict import pred_entry
    probs = {n: m.proba(real_features) for n, m in models.items()}
    recs = [dict(r, pred={n: pred_entry(m, probs[n][i]) for n, m in models.items()}) for i, r in enumerate(real_split)]
    stream = tmp_path / "preds.jsonl"
    stream.write_text("".join(json.dumps(r) + "\n" for r in recs))
    res = run(render_cli, [str(stream), "--out", str(tmp_path / "site"), "--quiet"])
    assert res.exit_code == 0, res.stderr
    index = (tmp_path / "site" / "index.html").read_text()
    cells = re.findall(r'data-model="(\w+)" data-env="([^"]+)" data-metric="accuracy">([^<]+)<', index)
    report = evaluate(recs)
    expected = {(r["model"], r["env"]): f"{100 * r['accuracy']:.1f}%" for r in report["rows"]}
    assert len(cells) >= 8
    for model, env, text in cells:
        assert text == expected[(model, env)]
    assert (tmp_path / "site" / "all.html").read_text().count('class="card"') == 2133
