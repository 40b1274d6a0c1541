"""Open every page of a built site in headless Chromium with every non-loopback request blocked, and report what
went wrong: console errors, failed or external requests, charts that did not draw. `python tools/sitecheck.py [SITE]`.

The site is served from 127.0.0.1. Chromium resolves every other host to nothing and sends any request that gets
past that to a proxy that does not exist, so nothing leaves the machine; every request to another host is reported
anyway, blocked or not, from the DevTools performance log."""
from __future__ import annotations
import base64, functools, http.server, json, shutil, sys, threading, time
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)

def find_browser()->tuple[str|None, str|None]:
    "Paths of a Chromium binary and its chromedriver, or None where absent."
    b = next((shutil.which(n) for n in CHROMIUM if shutil.which(n)), None)
    d = next((shutil.which(n) for n in DRIVER if shutil.which(n)), None)
    return b, d

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

def serve(site:Path)->tuple[http.server.ThreadingHTTPServer, str]:
    "Serve `site` on 127.0.0.1 at a free port; returns the server and its base URL."
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/"

def browser(binary:str, driver:str, width:int=1280, height:int=1000):
    "Headless Chromium under Selenium with logging on, background networking off and non-loopback hosts unreachable."
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = binary
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--window-size={width},{height}", "--disable-background-networking", "--disable-component-update",
              "--disable-default-apps", "--disable-sync",
              "--disable-extensions", "--disable-domain-reliability", "--disable-client-side-phishing-detection",
              "--no-first-run", "--no-default-browser-check", "--no-pings", "--metrics-recording-only",
              "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,"
              "CertificateTransparencyComponentUpdater",
              '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
              "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    d = webdriver.Chrome(options=o, service=Service(driver))
    d.execute_cdp_cmd("Network.enable", {})
    return d

CHARTS_JS = """
const out = [];
for (const s of document.querySelectorAll('script.vega-spec')) {
  const el = document.getElementById(s.dataset.for);
  let ok = false, why = 'no container';
  if (el) {
    const svg = el.querySelector('svg'), canvas = el.querySelector('canvas');
    if (el.dataset.error) why = 'error: ' + el.dataset.error;
    else if (svg) {
      const r = svg.getBoundingClientRect();
      const marks = svg.querySelectorAll('.mark-rect path, .mark-symbol path, path, rect, line, text').length;
      ok = r.width > 0 && r.height > 0 && marks > 0;
      why = ok ? '' : `empty svg (${r.width}x${r.height}, ${marks} shapes)`;
    } else if (canvas) {
      let px = 0;
      try { const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < d.length; i += 4) if (d[i]) { px++; break; } } catch (e) {}
      ok = canvas.width > 0 && canvas.height > 0 && px > 0; why = ok ? '' : 'empty canvas';
    } else why = 'no svg or canvas';
  }
  out.push({id: s.dataset.for, ok: ok, why: why});
}
return out;
"""

def _network_problems(perf:list, base:str)->list[str]:
    "Failed requests, HTTP errors and requests to anywhere but the site, from DevTools performance-log entries."
    host, urls, out = urlsplit(base).netloc, {}, []
    for e in perf:
        m = json.loads(e["message"])["message"]; meth, p = m.get("method"), m.get("params", {})
        if meth == "Network.requestWillBeSent":
            url = p["request"]["url"]; urls[p["requestId"]] = url
            if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != host:
                out.append(f"external request: {url}")
        elif meth == "Network.loadingFailed":
            blocked = ", blocked" if p.get("blockedReason") else ""
            out.append(f"request failed ({p.get('errorText')}{blocked}): {urls.get(p['requestId'], p['requestId'])}")
        elif meth == "Network.responseReceived" and p["response"].get("status", 200) >= 400:
            out.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
    return list(dict.fromkeys(out))

IMAGES_JS = """
return Array.from(document.querySelectorAll('main img')).filter(i => i.complete && i.naturalWidth > 0).length;
"""

def check_page(d, url:str, base:str, screenshot:Path|None=None, timeout:float=60)->dict:
    "Load one page; return {problems, charts, drawn, images} (`<img>`s shown in the body); screenshot it if asked."
    d.get_log("browser"); d.get_log("performance")  # drop what earlier pages left
    d.get(url)
    t0 = time.time()
    while time.time() - t0 < timeout:
        if d.execute_script("return document.readyState === 'complete' && window.chartsDone !== false"): break
        time.sleep(0.2)
    else: pass
    done = d.execute_script("return document.readyState === 'complete' && window.chartsDone !== false")
    charts = d.execute_script(CHARTS_JS)
    problems = [] if done else [f"page or charts not finished after {timeout:.0f} s"]
    problems += [f"console {e['level']}: {e['message']}" for e in d.get_log("browser") if e["level"] == "SEVERE"]
    problems += _network_problems(d.get_log("performance"), base)
    problems += [f"chart {c['id']} not drawn: {c['why']}" for c in charts if not c["ok"]]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        h = min(int(d.execute_script("return document.documentElement.scrollHeight")), 12000)
        w = int(d.execute_script("return document.documentElement.scrollWidth"))
        clip = {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}
        png = d.execute_cdp_cmd("Page.captureScreenshot",
                                {"format": "png", "captureBeyondViewport": True, "clip": clip})
        screenshot.write_bytes(base64.b64decode(png["data"]))
    return {"problems": problems, "charts": len(charts), "drawn": sum(c["ok"] for c in charts),
            "images": d.execute_script(IMAGES_JS)}

def check_site(site:Path, # a built site with pages.json
               screenshots:Path|None=None, # folder for one PNG per page (None: none)
               binary:str|None=None, driver:str|None=None, # Chromium and chromedriver (default: found on PATH)
              )->dict:
    "{page: {problems, charts, drawn, images}} for every page listed in `site/pages.json`."
    site = Path(site); pages = [p["page"] for p in json.loads((site / "pages.json").read_text())]
    b, dr = find_browser()
    srv, base = serve(site)
    d = browser(binary or b, driver or dr)
    try:
        shot = lambda p: screenshots / (p.removesuffix(".html").replace("/", "__") + ".png") if screenshots else None
        return {p: check_page(d, base + p, base, shot(p)) for p in pages}
    finally:
        d.quit(); srv.shutdown(); srv.server_close()

if __name__ == "__main__":
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "_docs"
    t0 = time.time(); report = check_site(site, site / "_screenshots")
    for p, r in report.items():
        print(f"{p:30s} {r['charts']:3d} charts {r['images']:3d} images  " + ("; ".join(r["problems"]) or "ok"))
    print(f"{len(report)} pages checked in {time.time() - t0:.1f} s")
    sys.exit(1 if any(r["problems"] for r in report.values()) else 0)
