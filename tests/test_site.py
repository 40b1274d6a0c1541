"""The docs site in a real browser: every page opens in headless Chromium with no network beyond 127.0.0.1, with no
console error, no failed or external request, and every chart drawn. Screenshots go to _docs/_screenshots/."""
import json, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

def _load(name):
    "A module of tools/ by path (`site` would otherwise be the standard library's)."
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"gridablate_tools_{name}", ROOT / "tools" / f"{name}.py")
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m

site, check = _load("site"), _load("sitecheck")
BINARY, DRIVER = check.find_browser()
pytestmark = pytest.mark.skipif(not (BINARY and DRIVER), reason=
    "chromium and chromium-driver are not installed (Debian: apt-get install -y chromium chromium-driver; .ci/run does this)")
PAGES = [p.as_posix() for p in site.pages(ROOT / "nbs")]

@pytest.fixture(scope="module")
def report():
    "Build _docs/ once as `make docs` does, and open every page."
    pytest.importorskip("selenium", reason="selenium is a dev requirement: pip install -e '.[dev]'")
    out = ROOT / "_docs"
    manifest = site.build(out)
    by_source = {m["source"]: m for m in manifest}
    shots = out / "_screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    return by_source, check.check_site(out, shots)

@pytest.mark.parametrize("source", PAGES)
def test_page(report, source):
    by_source, pages = report
    page = by_source[source]["page"]
    r = pages[page]
    assert not r["problems"], f"{page} (from nbs/{source}):\n" + "\n".join(r["problems"])
    assert r["charts"] == by_source[source]["charts"]   # every chart output of the notebook has its container
    assert (ROOT / "_docs" / "_screenshots" / (page.removesuffix(".html").replace("/", "__") + ".png")).stat().st_size > 0

def test_sidebar_order(report):
    "The sidebar lists every page in notebook order, index first, pages in subfolders after."
    by_source, _ = report
    html = (ROOT / "_docs" / "index.html").read_text()
    nav = html[html.index('<nav class="sidebar">'):html.index("</nav>")]
    hrefs = [nav.index(f'href="{by_source[s]["page"]}"') for s in PAGES]
    assert hrefs == sorted(hrefs) and PAGES[0] == "index.ipynb"

def test_vendored_scripts_only():
    "Pages load scripts from the site itself, never from a CDN."
    for f in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js"):
        assert (ROOT / "tools" / "site_assets" / f).stat().st_size > 10_000
    for f in ("LICENSE-vega", "LICENSE-vega-lite", "LICENSE-vega-embed"):
        assert (ROOT / "tools" / "site_assets" / f).exists()

# ---------------------------------------------------------------- the checker itself must catch failures
def _nb(title, cells):
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": f"# {title}\n> a test page"}] + cells,
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

def _chart_cell(spec):
    return {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "chart",
            "outputs": [{"output_type": "execute_result", "execution_count": 1, "metadata": {},
                         "data": {"application/vnd.vegalite.v6+json": spec, "text/plain": "<VegaLite 6 object>"}}]}

def test_checker_reports_failures(tmp_path):
    "A good page passes; a broken chart, an external request and a missing file are each reported."
    pytest.importorskip("selenium")
    import altair as alt, pandas as pd
    good = alt.Chart(pd.DataFrame({"x": ["a", "b"], "y": [1, 2]})).mark_bar().encode(x="x", y="y").to_dict()
    broken = {**good, "mark": "no-such-mark"}
    nbs = tmp_path / "nbs"; (nbs / "sub").mkdir(parents=True)
    pages = {"index.ipynb": _nb("Good", [_chart_cell(good)]),
             "10_broken.ipynb": _nb("Broken chart", [_chart_cell(good), _chart_cell(broken)]),
             "20_external.ipynb": _nb("External", [{"cell_type": "markdown", "metadata": {},
                                                     "source": '<img src="https://example.com/logo.png">'}]),
             "sub/missing.ipynb": _nb("Missing", [{"cell_type": "markdown", "metadata": {},
                                                   "source": '<img src="no-such-file.png">'}])}
    for name, nb in pages.items(): (nbs / name).write_text(json.dumps(nb))
    out = tmp_path / "site"
    manifest = site.build(out, nbs=nbs, processed=False)
    assert [m["page"] for m in manifest] == ["index.html", "10_broken.html", "20_external.html", "sub/missing.html"]
    r = check.check_site(out, tmp_path / "shots")
    assert r["index.html"] == {"problems": [], "charts": 1}
    b = r["10_broken.html"]["problems"]
    assert any("chart chart-2 not drawn" in p for p in b) and any(p.startswith("console SEVERE") for p in b), b
    assert not any("chart-1 " in p for p in b), b            # the good chart on the same page drew
    assert any("external request: https://example.com/logo.png" in p for p in r["20_external.html"]["problems"])
    assert any("HTTP 404" in p and "no-such-file.png" in p for p in r["sub/missing.html"]["problems"])
    assert (tmp_path / "shots" / "sub__missing.png").exists()
