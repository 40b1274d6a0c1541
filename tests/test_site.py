"""The docs site in a real browser: every page opens in headless Chromium with no network beyond 127.0.0.1, with no
console error, no failed or external request, every chart drawn, and at least the charts and images listed in
`EXPECTED`. Screenshots go to _docs/_screenshots/. A cell that fails while the notebooks are processed fails the
build."""
import html.parser, json, shutil, subprocess, sys, urllib.parse
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
def built():
    "Build _docs/ once as `make docs` does (a failed cell fails its page's test, not all): {notebook: manifest entry}."
    manifest = site.build(ROOT / "_docs", strict=False)
    return {m["source"]: m for m in manifest}

@pytest.fixture(scope="module")
def report(built):
    "The built site, and every page of it opened in the browser."
    pytest.importorskip("selenium", reason="selenium is a dev requirement: pip install -e '.[dev]'")
    out = ROOT / "_docs"
    shots = out / "_screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    return built, check.check_site(out, shots)

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

class _Refs(html.parser.HTMLParser):
    "The `src` of every <script> and the `href` of every <link> of a page."
    def __init__(self):
        super().__init__(); self.refs = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and "src" in a: self.refs.append(("script", a["src"]))
        if tag == "link" and "href" in a: self.refs.append(("link", a["href"]))

def asset_problems(page:str, # the page's path in the site, e.g. 'results/default.html'
                   text:str, # its HTML
                   site_dir:Path, # the built site
                  )->tuple[list, list]:
    """The scripts and stylesheets `text` loads, as files of the site, and what is wrong with them: a reference with a
    scheme or a host (http://, https://, //cdn...), a path from the root, or a file that is not in the site."""
    p = _Refs(); p.feed(text)
    files, problems = [], []
    for tag, ref in p.refs:
        if ref.startswith("data:"): continue                                   # inline: loads nothing
        u = urllib.parse.urlsplit(ref)
        if u.scheme or u.netloc or ref.startswith("/"):
            problems.append(f"{page}: <{tag}> loads {ref}, not a file of the site"); continue
        f = (site_dir / page).parent / urllib.parse.unquote(u.path)
        if site_dir.resolve() not in f.resolve().parents or not f.is_file():
            problems.append(f"{page}: <{tag}> loads {ref}, which is not in the site")
        else: files.append(f.resolve())
    return files, problems

def test_the_asset_check_catches_cdns_and_missing_files(tmp_path):
    "A script or stylesheet from a CDN, from another host, by an absolute path or missing is reported; local ones not."
    (tmp_path / "_assets").mkdir(); (tmp_path / "_assets" / "a.js").write_text("1"); (tmp_path / "sub").mkdir()
    good = ('<link rel="icon" href="data:,"><link rel="stylesheet" href="../_assets/a.js">'
            '<script src="../_assets/a.js"></script>')
    assert asset_problems("sub/p.html", good, tmp_path) == ([(tmp_path / "_assets" / "a.js").resolve()] * 2, [])
    for bad in ('<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>', '<script src="http://x.org/v.js">',
                '<link rel="stylesheet" href="//fonts.googleapis.com/css">', '<script src="/_assets/a.js"></script>',
                '<script src="../_assets/b.js"></script>', '<link href="../../outside.css" rel="stylesheet">'):
        assert len(asset_problems("sub/p.html", good + bad, tmp_path)[1]) == 1, bad

def test_vendored_scripts_only(built):
    """Pages load scripts from the site itself, never from a CDN: every <script src> and <link href> of every built
    page is a file of the site, and a page with charts loads the vendored Vega scripts, shipped with their licences."""
    out, loaded, problems = ROOT / "_docs", {}, []
    for m in built.values():
        files, bad = asset_problems(m["page"], (out / m["page"]).read_text(), out)
        loaded[m["page"]] = {f.name for f in files}; problems += bad
    assert not problems, "\n".join(problems)
    for m in built.values():
        names = loaded[m["page"]]
        assert "site.js" in names and (not m["charts"] or set(site.VENDORED) <= names), (m["page"], names)
    assert len(built) == len(PAGES) and any(m["charts"] for m in built.values())
    for f in site.VENDORED: assert (out / "_assets" / f).stat().st_size > 10_000
    for f in ("LICENSE-vega", "LICENSE-vega-lite", "LICENSE-vega-embed"):
        assert (ROOT / "tools" / "site_assets" / f).exists() and (out / "_assets" / f).exists()

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
