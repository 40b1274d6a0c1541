// Draw every Vega-Lite chart of the page with vega-embed (loaded from this site). A chart that fails to draw
// reports a console error and is marked data-error; window.chartsDone is set once every chart has settled.
(function () {
  const containers = Array.from(document.querySelectorAll("script.vega-spec"));
  window.chartsDone = false;
  if (!containers.length) { window.chartsDone = true; return; }
  const jobs = containers.map(function (s) {
    const el = document.getElementById(s.dataset.for);
    let spec;
    try { spec = JSON.parse(s.textContent); } catch (e) { return Promise.reject(e); }
    if (typeof vegaEmbed !== "function") return Promise.reject(new Error("vega-embed is not loaded"));
    return vegaEmbed(el, spec, {actions: false, renderer: "svg"}).catch(function (e) {
      el.dataset.error = String(e); throw e;
    });
  });
  Promise.allSettled(jobs).then(function (rs) {
    rs.forEach(function (r, i) { if (r.status === "rejected") console.error("chart " + (i + 1) + " failed: " + r.reason); });
    window.chartsDone = true;
  });
})();
