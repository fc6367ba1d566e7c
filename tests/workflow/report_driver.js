// Injected into a copy of a Snakemake report by tests/workflow/report_browser.py: clicks
// through the report as a reader would (Tables, back, Figures, the eye and the info
// button of one figure) and writes what the page showed, as JSON, into the element with
// id "csrbench-check" for Chromium's DOM dump. __FIGURE__ becomes the figure's path.
(() => {
  const figure = __FIGURE__;
  const seen = {};
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const labelled = (text) => {
    const node = Array.from(document.querySelectorAll("a, span, td")).find(
      (n) => n.textContent.trim() === text,
    );
    if (!node) throw new Error(`nothing on the page is labelled ${text}`);
    return node;
  };
  const click = (node) => (node.closest("a, button") || node).click();
  const listed = () =>
    Array.from(document.querySelectorAll("nav td:first-child")).map((td) => td.textContent.trim());
  window.addEventListener("load", async () => {
    try {
      await wait(100);
      click(labelled("Tables"));
      await wait(100);
      seen.tables = listed();
      click(document.querySelector("nav ol li a")); // breadcrumb home: back to the menu
      await wait(100);
      click(labelled("Figures"));
      await wait(100);
      seen.figures = listed();
      const row = labelled(figure).closest("tr");
      click(row.querySelector("a[iconname=eye]"));
      await wait(100);
      const img = Array.from(document.querySelectorAll("img")).find((i) =>
        i.src.startsWith("data:image/png"),
      );
      if (!img) throw new Error(`no PNG shown after clicking the eye of ${figure}`);
      for (let i = 0; i < 50 && !(img.complete && img.naturalWidth); i++) await wait(100);
      seen.image = { width: img.naturalWidth, height: img.naturalHeight };
      click(row.querySelector("a[iconname=information-circle]"));
      await wait(100);
      seen.info = document.querySelector("nav").innerText;
    } catch (err) {
      seen.error = String(err);
    }
    const out = document.createElement("pre");
    out.id = "csrbench-check";
    out.textContent = JSON.stringify(seen);
    document.body.appendChild(out);
  });
})();
