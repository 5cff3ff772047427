// Debian's Chromium, headless, opens the report `f1ai report` wrote: every chart
// must have drawn (a visible inline SVG with marks in it), the page must not
// reach for the network, and a full-page screenshot is written for the caller
// to check.
// Usage: node report.mjs REPORT.html SCREENSHOT.png
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [report, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  const external = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("request", (r) => {
    if (!/^(file|data|about):/.test(r.url())) external.push(r.url());
  });
  await page.goto(pathToFileURL(report).href, { waitUntil: "load" });
  const seen = await page.evaluate(() => ({
    title: document.title,
    findings: [...document.querySelectorAll("#findings p")].map((p) => p.textContent),
    tables: [...document.querySelectorAll("section.table")].map((s) => s.id),
    charts: [...document.querySelectorAll("section.chart")].map((section) => {
      const svg = section.querySelector("svg");
      const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
      return {
        id: section.id,
        width: Math.round(box.width),
        height: Math.round(box.height),
        marks: svg ? svg.querySelectorAll("rect, path, polyline, line, circle, text").length : 0,
      };
    }),
  }));
  // Point labels (and every other text) of the scatter charts must not overlap.
  const labelled = ["quality-vs-time", "quality-vs-memory", "learning-vs-forgetting"];
  const texts = await page.evaluate((ids) => {
    const found = {};
    for (const id of ids) {
      const svg = document.getElementById("chart-" + id)?.querySelector("svg");
      if (!svg) continue;
      found[id] = [...svg.querySelectorAll("text")]
        .filter((t) => t.textContent.trim())
        .map((t) => {
          const r = t.getBoundingClientRect();
          return { text: t.textContent.trim(), left: r.left, right: r.right, top: r.top, bottom: r.bottom };
        });
    }
    return found;
  }, labelled);
  const overlapping = [];
  for (const [id, boxes] of Object.entries(texts)) {
    boxes.forEach((a, i) =>
      boxes.slice(i + 1).forEach((b) => {
        const dx = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const dy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (dx > 1 && dy > 1) overlapping.push(`${id}: "${a.text}" and "${b.text}"`);
      }),
    );
  }
  seen.labels = Object.fromEntries(Object.entries(texts).map(([id, boxes]) => [id, boxes.map((b) => b.text)]));
  await page.screenshot({ path: screenshot, fullPage: true });
  const broken = seen.charts.filter((c) => c.width < 100 || c.height < 50 || c.marks < 10);
  if (seen.charts.length === 0) throw new Error("the report has no charts");
  if (broken.length) throw new Error("charts that did not draw: " + JSON.stringify(broken));
  if (external.length) throw new Error("the report reached for the network: " + external.join(", "));
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
  if (overlapping.length) throw new Error("chart texts overlap: " + overlapping.join("; "));
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
