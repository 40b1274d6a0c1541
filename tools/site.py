"""Build the docs as a static site that works offline: `python tools/site.py [OUT] [--force] [--workers=N]` (default
`_docs/`; `--force` reprocesses every notebook instead of reusing nbdev's `_proc/` cache; notebooks are processed in
N processes at once, default 2).

The notebooks are processed by nbdev's own processors (`nbdev.processors.FilterDefaults`, what `nbdev_proc_nbs` and
`nbdev_docs` use), cached in `_proc/` like nbdev does, so `#| hide`, `#| export`, `#| echo: false` and `show_doc` come
out as on the Quarto site. Each processed notebook is then rendered to one HTML page with a sidebar of every page in
notebook order (the order `nbdev_sidebar` gives Quarto). Altair charts are drawn in the browser by vega-embed, whose
scripts are vendored in tools/site_assets/ and served from the site itself: no page loads anything from the network.

A cell that fails while a notebook is processed (an import, an exported cell or a `show_doc`: the cells nbdev runs)
fails the build: every such cell is listed by page and cell, the pages are still written, and the command exits 1.
`--nbs=DIR` builds the notebooks of another folder (its processing cache then goes to `OUT/../_proc`).
"""
from __future__ import annotations
import html, json, os, re, shutil, sys, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "site_assets"
VENDORED = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
DIRECTIVE = re.compile(r"^\s*#\s*\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
VEGA_MIME = re.compile(r"^application/vnd\.vega(lite)?\.v\d+\+json$")

# ---------------------------------------------------------------- pages and nbdev processing
def pages(nbs:Path=ROOT / "nbs")->list[Path]:
    "Notebooks under `nbs` (relative paths) in sidebar order: per folder `index` first, then by name; subfolders after."
    skip = re.compile(r"^[_.]")
    found = [p.relative_to(nbs) for p in nbs.rglob("*.ipynb")
             if not any(skip.match(part) for part in p.relative_to(nbs).parts) and ".ipynb_checkpoints" not in p.parts]
    return sorted(found, key=lambda p: (p.parent.parts, "00" if p.stem == "index" else p.name))

class BuildError(Exception):
    "Cells that failed while the notebooks were processed: the site is written, but the build has failed."
    def __init__(self, problems:dict): # {notebook: [failed cells]}
        self.problems = problems
        super().__init__("\n".join(f"nbs/{nb}: {x}" for nb, xs in problems.items() for x in xs))

def _filters(problems:list):
    """nbdev's `FilterDefaults`, except that a cell `exec_show_docs` cannot run is recorded in `problems` and the
    notebook's other cells still run (nbdev stops at the first), so one build names every failing cell."""
    from nbdev.processors import FilterDefaults, exec_show_docs
    class recording_exec_show_docs(exec_show_docs):
        def __call__(self, cell):
            try: super().__call__(cell)
            except Exception as e:
                err = e.__cause__ or e
                first = next((l for l in cell.source.splitlines() if l.strip() and not l.startswith("#|")), "")
                problems.append((cell.source, f"({first.strip()[:60]!r}): {type(err).__name__}: {err}"))
                self.k.exc = None
    class Filters(FilterDefaults):
        def base_procs(self):
            return [recording_exec_show_docs if p is exec_show_docs else p for p in super().base_procs()]
    return Filters()

def process_one(src:Path, # a notebook
                dst:Path, # where its processed copy goes
               )->list[str]:
    "Process one notebook as `nbdev_docs` does (cells run from the notebook's folder); returns the cells that failed."
    from execnb.nbio import read_nb, write_nb
    dst.parent.mkdir(parents=True, exist_ok=True)
    nb, cwd, found = read_nb(src), os.getcwd(), []
    sources = [_src(c.get("source")) for c in json.loads(src.read_text())["cells"]]
    os.environ["IN_TEST"] = "1"  # as nbdev's own driver does while processing
    try:
        os.chdir(src.parent)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _filters(found)(nb)
    finally:
        os.chdir(cwd); os.environ.pop("IN_TEST", None)
    write_nb(nb, dst)
    where = lambda code: next((f"cell {i + 1}" for i, c in enumerate(sources)
                               if _directives(c)[1] == _directives(code)[1]), "a cell")
    return [f"{where(code)} {what}" for code, what in found]   # cells counted from 1, as they stand in the notebook

def _worker(todo, done, threads):
    "Forked worker: process notebooks from the `todo` queue until None, reporting (index, problems or error) to `done`."
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"): os.environ.setdefault(v, str(threads))
    if "torch" in sys.modules: sys.modules["torch"].set_num_threads(threads)   # imported before the fork: share cores
    while (job := todo.get()) is not None:
        i, src, dst = job
        try: done.put((i, process_one(src, dst), None))
        except BaseException as e: done.put((i, None, f"{type(e).__name__}: {e}"))

def _in_parallel(jobs:list, workers:int)->list:
    """`process_one` over `jobs` [(src, dst)] in `workers` forked processes, which take the next notebook as they
    finish one (as nbdev's `proc_nbs` shares notebooks among its workers); returns the problems in `jobs` order."""
    import multiprocessing as mp, queue
    ctx = mp.get_context("fork")   # the children inherit this module: nothing needs to be importable by name
    todo, done = ctx.Queue(), ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // workers)
    procs = [ctx.Process(target=_worker, args=(todo, done, threads)) for _ in range(workers)]
    for p in procs: p.start()   # before anything is queued: no queue thread exists yet when they fork
    for i, job in enumerate(jobs): todo.put((i, *job))
    for p in procs: todo.put(None)
    out = [None] * len(jobs)
    try:
        for _ in jobs:
            while True:
                try: i, found, err = done.get(timeout=1); break
                except queue.Empty:
                    if all(p.exitcode is not None for p in procs): raise RuntimeError("the notebook workers died")
            if err: raise RuntimeError(f"processing {jobs[i][0]} failed: {err}")
            out[i] = found
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive(): p.kill()
    return out

def process(nbs:Path, # the notebooks folder
            proc:Path, # where processed notebooks go (nbdev uses `_proc/`)
            force:bool=False, # reprocess even if the cached copy is newer than the notebook
            workers:int|None=None, # processes to run notebooks in (default: 2; 1 without `fork` or with torch loaded)
           )->tuple[list[Path], dict]:
    """Process every page with nbdev's docs processors into `proc`, reusing cached results. Returns the processed
    paths and {notebook: [cells nbdev could not execute]}: `nbdev_docs` stops at the first such cell, this process
    goes on so that `build` can name them all (a cell failing here is often one mixing imports with other code).
    Notebooks are processed `workers` at a time in forked processes, as `nbdev_proc_nbs` spreads them over its own."""
    import multiprocessing as mp
    rels, found = pages(nbs), {}
    log = proc / "_problems.json"
    old = json.loads(log.read_text()) if log.exists() and not force else {}
    jobs = [rel for rel in rels if force or not (proc / rel).exists() or old.get(str(rel))   # failed last time: retry
            or (proc / rel).stat().st_mtime < (nbs / rel).stat().st_mtime]
    found.update({str(rel): old.get(str(rel), []) for rel in rels if rel not in jobs})
    # fork only from a process that has not started torch's threads: a child forked after them can deadlock on a lock
    if workers is None: workers = 2 if "fork" in mp.get_all_start_methods() and "torch" not in sys.modules else 1
    args = [(nbs / rel, proc / rel) for rel in jobs]
    n = min(workers, len(jobs))
    new = _in_parallel(args, n) if n > 1 else [process_one(*a) for a in args]
    found.update({str(rel): f for rel, f in zip(jobs, new)})
    out, problems = [proc / rel for rel in rels], {str(rel): found[str(rel)] for rel in rels if found[str(rel)]}
    proc.mkdir(parents=True, exist_ok=True)
    log.write_text(json.dumps(problems, indent=1) + "\n")
    return out, problems

# ---------------------------------------------------------------- rendering
def _md():
    from markdown_it import MarkdownIt
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

def _highlight(code:str)->str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    return highlight(code, PythonLexer(), HtmlFormatter(nowrap=True))

def altair_spec(h:str)->dict|None:
    """The Vega-Lite spec inside Altair's HTML output (its default renderer, which would load Vega from a CDN),
    or None if `h` is not such output."""
    if 'id="altair-viz-' not in h or "(function(spec, embedOpt)" not in h: return None
    i = h.find("})({", h.find("function displayChart"))
    if i < 0: return None
    try: return json.JSONDecoder().raw_decode(h, i + 3)[0]
    except ValueError: return None

def _src(x)->str: return "".join(x) if isinstance(x, list) else (x or "")

def _directives(source:str)->tuple[dict, str]:
    "Quarto/nbdev `#| key: value` lines at the top of a cell, and the code without them."
    lines, d = source.splitlines(), {}
    while lines and (m := DIRECTIVE.match(lines[0])): d[m[1].lower()] = m[2].lower(); lines.pop(0)
    return d, "\n".join(lines).strip("\n")

class Renderer:
    "Turns one processed notebook into the body of an HTML page; `charts` counts the Vega-Lite charts placed."
    def __init__(self, doc_url:str, # the Quarto site's URL (links to it become relative links)
                 here:Path, # the page's path in the site
                 links:dict|None=None, # notebook path -> page path, for links to notebooks (as Quarto rewrites them)
                ):
        self.md, self.doc_url, self.charts = _md(), doc_url.rstrip("/") + "/", 0
        self.here, self.up, self.links = here, "../" * len(here.parent.parts), links or {}

    def _nb_link(self, m)->str:
        target = os.path.normpath((self.here.parent / m[1]).as_posix() + ".ipynb")
        page = self.links.get(target)
        if page is None: return m[0]
        return f'href="{os.path.relpath(page, self.here.parent.as_posix() or ".")}{m[2] or ""}"'

    def markdown(self, text:str)->str:
        text = "\n".join(l for l in text.splitlines() if not re.match(r"^\s*:::", l))   # Quarto fenced divs
        text = re.sub(r"\)\{[^}\n]*\}", ")", text)                                     # Pandoc link attributes
        out = re.sub(r'href="([^":#?]+)\.ipynb(#[^"]*)?"', self._nb_link, self.md.render(text))
        return out.replace('href="' + self.doc_url, 'href="' + self.up) if self.doc_url != "/" else out

    def chart(self, spec:dict)->str:
        self.charts += 1
        js = json.dumps(spec).replace("</", "<\\/")
        return (f'<div class="vega-chart" id="chart-{self.charts}"></div>'
                f'<script type="application/json" class="vega-spec" data-for="chart-{self.charts}">{js}</script>')

    def output(self, o:dict, asis:bool)->str:
        kind = o.get("output_type")
        if kind == "stream":
            cls = "stderr" if o.get("name") == "stderr" else "stdout"
            return f'<pre class="output {cls}">{html.escape(ANSI.sub("", _src(o.get("text"))))}</pre>'
        if kind == "error":
            return f'<pre class="output error">{html.escape(ANSI.sub("", chr(10).join(o.get("traceback", []))))}</pre>'
        data = o.get("data", {})
        for mime, v in data.items():
            if VEGA_MIME.match(mime):
                spec = v if isinstance(v, dict) else json.loads(_src(v))
                if "vega." in mime and "vegalite" not in mime:
                    spec = {**spec, "$schema": spec.get("$schema", "https://vega.github.io/schema/vega/v6.json")}
                return self.chart(spec)
        if "text/html" in data:
            h = _src(data["text/html"])
            spec = altair_spec(h)
            return self.chart(spec) if spec is not None else f'<div class="output html">{h}</div>'
        for mime in ("image/png", "image/jpeg", "image/gif"):
            if mime in data:
                src = f"data:{mime};base64,{_src(data[mime]).strip()}"
                return f'<div class="output image"><img src="{src}" alt="figure"></div>'
        if "image/svg+xml" in data: return f'<div class="output image">{_src(data["image/svg+xml"])}</div>'
        if "text/markdown" in data:
            md = self.markdown(_src(data["text/markdown"]))
            return f'<div class="output {"asis" if asis else "markdown"}">{md}</div>'
        if "text/plain" in data:
            return f'<pre class="output text">{html.escape(ANSI.sub("", _src(data["text/plain"])))}</pre>'
        return ""

    def cell(self, c:dict)->str:
        if c["cell_type"] == "markdown": return f'<div class="cell markdown">{self.markdown(_src(c["source"]))}</div>'
        if c["cell_type"] != "code": return ""
        d, code = _directives(_src(c["source"]))
        if d.get("include") == "false": return ""
        parts = []
        if code and d.get("echo") != "false":
            parts.append(f'<pre class="source"><code>{_highlight(code)}</code></pre>')
        if d.get("output") != "false":
            parts += [self.output(o, d.get("output") == "asis") for o in c.get("outputs", [])]
        parts = [p for p in parts if p]
        return f'<div class="cell code">{"".join(parts)}</div>' if parts else ""

def frontmatter(nb:dict)->dict:
    "The YAML frontmatter nbdev's `FrontmatterProc` puts in a raw cell (title and description come from the H1)."
    import yaml
    for c in nb["cells"]:
        s = _src(c["source"]).strip()
        if c["cell_type"] == "raw" and s.startswith("---"):
            try: return yaml.safe_load(s.strip("-\n")) or {}
            except yaml.YAMLError: return {}
    return {}

def _title(nb:dict, fm:dict, rel:Path)->str:
    if fm.get("title"): return str(fm["title"])
    for c in nb["cells"]:
        if c["cell_type"] == "markdown" and (m := re.search(r"^#\s+(.+)$", _src(c["source"]), re.M)):
            return m[1].strip()
    return rel.stem

def out_name(rel:Path, fm:dict)->Path:
    "The page's HTML path, as Quarto names it (`output-file` when nbdev sets one)."
    return rel.parent / fm["output-file"] if fm.get("output-file") else rel.with_suffix(".html")

def _sidebar(entries:list, here:Path)->str:
    "Nested list of links; a subfolder becomes a section, its `index` page the section's link."
    up, items, open_dir = "../" * len(here.parent.parts), [], None
    for rel, href, title in entries:
        folder = rel.parent.parts
        if folder and folder != open_dir:
            if open_dir: items.append("</ul></li>")
            name = re.sub(r"^\d+_", "", "/".join(folder))
            items.append(f'<li class="section"><span>{html.escape(name)}</span><ul>')
            open_dir = folder
        cls = ' class="active"' if href == here else ""
        items.append(f'<li{cls}><a href="{up}{href.as_posix()}">{html.escape(title)}</a></li>')
    if open_dir: items.append("</ul></li>")
    return '<nav class="sidebar"><ul>' + "".join(items) + "</ul></nav>"

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – {site}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="{up}_assets/site.css">{extra_css}</head>
<body><header class="top"><a href="{up}index.html">{site}</a></header>
<div class="layout">{sidebar}<main>
<h1 class="title">{title}</h1>{description}
{body}
</main></div>
{scripts}</body></html>
"""

def render(proc_nbs:list[Path], # processed notebooks, in sidebar order
           proc:Path, # the folder they are in
           out:Path, # the site folder to write
           site:str="gridablate", # site title
           doc_url:str="/", # the Quarto site's URL, whose links are made relative
           extra_css:str="", # CSS files (relative to the site root) each page also loads
          )->list[dict]:
    "Write one HTML page per processed notebook; return a manifest of {page, source, title, charts}."
    nbs = [(p, json.loads(p.read_text())) for p in proc_nbs]
    entries = []
    for p, nb in nbs:
        rel, fm = p.relative_to(proc), frontmatter(nb)
        entries.append((rel, out_name(rel, fm), _title(nb, fm, rel)))
    manifest, links = [], {rel.as_posix(): href.as_posix() for rel, href, _ in entries}
    for (p, nb), (rel, href, title) in zip(nbs, entries):
        fm, r = frontmatter(nb), Renderer(doc_url, href, links)
        body = "\n".join(r.cell(c) for c in nb["cells"])
        up = r.up
        scripts = "".join(f'<script src="{up}_assets/{s}"></script>' for s in VENDORED) if r.charts else ""
        scripts += f'<script src="{up}_assets/site.js"></script>'
        desc = f'<p class="description">{html.escape(str(fm["description"]))}</p>' if fm.get("description") else ""
        css = "".join(f'<link rel="stylesheet" href="{up}{c}">' for c in extra_css.split() if c)
        page = PAGE.format(title=html.escape(title), site=html.escape(site), up=up, extra_css=css,
                           sidebar=_sidebar(entries, href),
                           description=desc, body=body, scripts=scripts)
        (out / href).parent.mkdir(parents=True, exist_ok=True)
        (out / href).write_text(page)
        manifest.append(dict(page=href.as_posix(), source=rel.as_posix(), title=title, charts=r.charts))
    return manifest

def copy_assets(out:Path):
    "Vendored Vega scripts (source-map comments dropped, so no page asks for a .map file), licences, CSS and JS."
    from pygments.formatters import HtmlFormatter
    a = out / "_assets"; a.mkdir(parents=True, exist_ok=True)
    for f in VENDORED:
        (a / f).write_text(re.sub(r"\n?//# sourceMappingURL=\S+\s*$", "\n", (ASSETS / f).read_text()))
    for f in ASSETS.glob("LICENSE*"): shutil.copy2(f, a / f.name)
    css = (ASSETS / "site.css").read_text() + "\n" + HtmlFormatter(style="default").get_style_defs(".source")
    (a / "site.css").write_text(css)
    shutil.copy2(ASSETS / "site.js", a / "site.js")

def build(out:Path=ROOT / "_docs", # the site folder (replaced)
          nbs:Path=ROOT / "nbs", # the notebooks
          proc:Path=ROOT / "_proc", # nbdev's processing cache
          force:bool=False, # reprocess every notebook
          workers:int|None=None, # processes to run notebooks in (default: 2 where processes can fork)
          processed:bool=True, # False: render the notebooks as they are, without nbdev's processing (for tests)
          strict:bool=True, # raise `BuildError` (after writing the site) if any cell failed during processing
         )->list[dict]:
    "Process and render the whole site into `out`; writes `out/pages.json` and returns the same manifest."
    cfg = _config()
    files, problems = process(nbs, proc, force, workers) if processed else ([nbs / p for p in pages(nbs)], {})
    keep = out / "_screenshots"
    if out.exists():
        for p in out.iterdir():
            if p != keep: shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    for css in nbs.glob("*.css"): shutil.copy2(css, out / css.name)
    manifest = render(files, proc if processed else nbs, out, cfg.get("title", "docs"), cfg.get("doc_url", "/"),
                      " ".join(c.name for c in nbs.glob("*.css")))
    for m in manifest: m["nbdev_problems"] = problems.get(m["source"], [])
    (out / "pages.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if strict and problems: raise BuildError(problems)
    return manifest

def _config()->dict:
    "Site title and the Quarto site's URL from settings.ini."
    from configparser import ConfigParser
    c = ConfigParser(); c.read(ROOT / "settings.ini")
    d = c["DEFAULT"] if c.has_section("DEFAULT") or c.defaults() else {}
    return {"title": d.get("title", "docs"), "doc_url": d.get("doc_host", "") + d.get("doc_baseurl", "") or "/"}

def main(argv:list[str])->int:
    "The command line: build, report, and return the exit status (1 if any cell failed)."
    args = [a for a in argv if not a.startswith("--")]
    opt = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    out = Path(args[0]) if args else ROOT / "_docs"
    nbs = Path(opt["nbs"]).resolve() if "nbs" in opt else ROOT / "nbs"
    proc = ROOT / "_proc" if "nbs" not in opt else out.resolve().parent / "_proc"
    t0 = time.time()
    try: m = build(out, nbs, proc, force="--force" in argv, workers=int(opt["workers"]) if "workers" in opt else None)
    except BuildError as e:
        for nb, cells in e.problems.items():
            for x in cells: print(f"error: nbs/{nb} {x}", file=sys.stderr)
        n = sum(map(len, e.problems.values()))
        print(f"docs build failed: {n} cell(s) in {len(e.problems)} page(s) did not run;"
              f" the pages were written to {out}", file=sys.stderr)
        return 1
    print(f"{len(m)} pages, {sum(p['charts'] for p in m)} charts -> {out} in {time.time() - t0:.1f} s")
    return 0

if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
