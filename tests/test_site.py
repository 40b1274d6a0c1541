"""The docs site in a real browser: every page opens in headless Chromium with no network beyond 127.0.0.1, with no
console error, no failed or external request, every chart drawn, and at least the charts and images listed in
`EXPECTED`. Screenshots go to _docs/_screenshots/. A cell that fails while the notebooks are processed fails the
build."""
import json, shutil, subprocess, sys
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
needs_browser = pytest.mark.skipif(not (BINARY and DRIVER), reason=
    "chromium and chromium-driver are not installed (Debian: apt-get install -y chromium chromium-driver; "
    ".ci/run does this)")
PAGES = [p.as_posix() for p in site.pages(ROOT / "nbs")]

# What a reader must see drawn on a page, at least: the one table of expectations.
EXPECTED = {
    "index.ipynb": {"charts": 2},                    # the verdicts and figure 3
    "00_world.ipynb": {"images": 1},                 # images with their concept masks
    "85_figures.ipynb": {"charts": 6},               # figures 1, 2 and 3, the linked view and two verdict charts
    "results/default.ipynb": {"charts": 10},
}
# Pages that show the verdicts as a chart (`figures.verdict_chart`), which must fit a 1300-px-wide window.
VERDICT_PAGES = ["index.ipynb", "85_figures.ipynb", "results/default.ipynb"]

@pytest.fixture(scope="module")
def report():
    "Build _docs/ once as `make docs` does, and open every page (a failed cell fails its page's test, not all)."
    pytest.importorskip("selenium", reason="selenium is a dev requirement: pip install -e '.[dev]'")
    out = ROOT / "_docs"
    manifest = site.build(out, strict=False)
    by_source = {m["source"]: m for m in manifest}
    shots = out / "_screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    return by_source, check.check_site(out, shots)

@needs_browser
@pytest.mark.parametrize("source", PAGES)
def test_page(report, source):
    by_source, pages = report
    page = by_source[source]["page"]
    r = pages[page]
    failed = by_source[source]["nbdev_problems"]
    assert not failed, f"nbs/{source}: cells that fail while the docs are built (`make docs` fails):\n" + \
        "\n".join(failed)
    assert not r["problems"], f"{page} (from nbs/{source}):\n" + "\n".join(r["problems"])
    assert r["charts"] == by_source[source]["charts"]   # every chart output of the notebook has its container
    for what, least in EXPECTED.get(source, {}).items():
        seen = r["drawn" if what == "charts" else what]
        assert seen >= least, f"{page} (from nbs/{source}) shows {seen} {what}, expected at least {least}"
    shot = ROOT / "_docs" / "_screenshots" / (page.removesuffix(".html").replace("/", "__") + ".png")
    assert shot.stat().st_size > 0

@needs_browser
def test_sidebar_order(report):
    "The sidebar lists every page in notebook order, index first, pages in subfolders after."
    by_source, _ = report
    html = (ROOT / "_docs" / "index.html").read_text()
    nav = html[html.index('<nav class="sidebar">'):html.index("</nav>")]
    hrefs = [nav.index(f'href="{by_source[s]["page"]}"') for s in PAGES]
    assert hrefs == sorted(hrefs) and PAGES[0] == "index.ipynb"

VERDICTS_JS = """
const main = document.querySelector('main').getBoundingClientRect(), out = [];
const page = document.documentElement.scrollWidth <= window.innerWidth;
for (const s of document.querySelectorAll('script.vega-spec')) {
  const spec = JSON.parse(s.textContent);
  if (!spec.usermeta || spec.usermeta.gridablate !== 'verdict_chart') continue;
  const el = document.getElementById(s.dataset.for), svg = el && el.querySelector('svg');
  const r = svg ? svg.getBoundingClientRect() : {width: 0, right: 0};
  out.push({id: s.dataset.for, rows: spec.datasets[spec.data.name].length, width: r.width, right: r.right,
            main_right: main.right, page_fits: page, overflow: el ? el.scrollWidth > el.clientWidth : true,
            cells: svg ? svg.querySelectorAll('.mark-rect path').length : 0,
            texts: svg ? svg.querySelectorAll('.mark-text text').length : 0});
}
return out;
"""

@pytest.fixture(scope="module")
def verdict_charts(report):
    "The verdict charts of each page in `VERDICT_PAGES`, measured in a 1300-px-wide window."
    by_source, _ = report
    srv, base = check.serve(ROOT / "_docs")
    d = check.browser(BINARY, DRIVER, width=1300)
    try:
        out = {}
        for source in VERDICT_PAGES:
            check.check_page(d, base + by_source[source]["page"], base)      # loads the page, waits for its charts
            out[source] = d.execute_script(VERDICTS_JS)
        return out
    finally:
        d.quit(); srv.shutdown(); srv.server_close()

@needs_browser
@pytest.mark.parametrize("source", VERDICT_PAGES)
def test_verdict_chart_fits(verdict_charts, source):
    """Every verdict of the chart is drawn, with its text, and the chart fits the page: at most 760 px wide, with
    nothing on the page wider than the window."""
    charts = verdict_charts[source]
    assert charts, f"nbs/{source} shows no verdict chart"
    for c in charts:
        assert c["cells"] >= c["rows"] > 0 and c["texts"] >= c["rows"], c   # a coloured cell and a text per verdict
        assert 0 < c["width"] <= 760 and c["right"] <= c["main_right"] and not c["overflow"], c
        assert c["page_fits"], f"nbs/{source}: the page is wider than a 1300-px window"

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

def test_expectations_name_pages():
    "Every page in `EXPECTED` exists, so a renamed notebook cannot silently drop its check."
    assert set(EXPECTED) <= set(PAGES), set(EXPECTED) - set(PAGES)

def _code(source):
    return {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": source}

def test_build_fails_on_a_failing_cell(tmp_path):
    "`tools/site.py` exits 1 when a cell nbdev runs fails, naming the page and the cell; a clean folder builds."
    nbs = tmp_path / "nbs"; nbs.mkdir()
    (nbs / "index.ipynb").write_text(json.dumps(_nb("Home", [_code("import math"), _code("x = 1")])))
    good = [sys.executable, str(ROOT / "tools" / "site.py"), str(tmp_path / "site"), f"--nbs={nbs}", "--workers=1"]
    r = subprocess.run(good, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    (nbs / "10_bad.ipynb").write_text(json.dumps(_nb("Bad", [
        _code("import math"), _code("#| export\ndef f(): return 1\ny = undefined_name + 1"),
        _code("#| export\ndef g(): return f()")])))
    r = subprocess.run(good, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "nbs/10_bad.ipynb cell 3 ('def f(): return 1'): NameError: name 'undefined_name'" in r.stderr, r.stderr
    assert "docs build failed" in r.stderr and (tmp_path / "site" / "bad.html").exists()   # pages still written
    with pytest.raises(site.BuildError, match="undefined_name"):                         # the same, from Python
        site.build(tmp_path / "site2", nbs=nbs, proc=tmp_path / "_proc2", workers=1)
    r = subprocess.run(good, capture_output=True, text=True, cwd=ROOT)                    # a failed page is not cached
    assert r.returncode == 1 and "undefined_name" in r.stderr

@needs_browser
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
    assert r["index.html"] == {"problems": [], "charts": 1, "drawn": 1, "images": 0}
    b = r["10_broken.html"]["problems"]
    assert any("chart chart-2 not drawn" in p for p in b) and any(p.startswith("console SEVERE") for p in b), b
    assert not any("chart-1 " in p for p in b), b            # the good chart on the same page drew
    assert r["10_broken.html"]["drawn"] == 1                   # and only it counts towards EXPECTED
    assert any("external request: https://example.com/logo.png" in p for p in r["20_external.html"]["problems"])
    assert any("HTTP 404" in p and "no-such-file.png" in p for p in r["sub/missing.html"]["problems"])
    assert (tmp_path / "shots" / "sub__missing.png").exists()
