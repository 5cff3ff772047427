// Debian's Chromium, headless, uses the web chat served by `f1ai serve`: picks the
// model, sends a message, and waits for the streamed reply and its statistics.
// Usage: node chat.mjs URL SCREENSHOT.png
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.querySelector("#model").options.length > 0);
  const models = await page.$$eval("#model option", (options) => options.map((o) => o.value));

  // Markup typed by the user must show as text, as model output does.
  const question = "<b>Who</b> won the 1988 title?";
  await page.fill("#input", question);
  await page.press("#input", "Enter");

  // Streaming: the reply grows in several steps before the statistics appear.
  const lengths = new Set();
  const deadline = Date.now() + 60000;
  for (;;) {
    const state = await page.$eval("#log", (log) => {
      const reply = log.querySelector(".assistant .text, .error .text");
      return {
        text: reply ? reply.textContent : "",
        stats: log.querySelector(".stats") ? log.querySelector(".stats").textContent : "",
      };
    });
    lengths.add(state.text.length);
    if (state.stats.includes("tokens/s")) break;
    if (Date.now() > deadline) throw new Error("no finished reply in 60 s: " + JSON.stringify(state));
    await page.waitForTimeout(5);
  }
  const user = await page.$eval(".user .text", (e) => e.textContent);
  const bold = await page.$$eval(".user b", (e) => e.length);
  const reply = await page.$eval(".assistant .text", (e) => e.textContent);
  const stats = await page.$eval(".stats", (e) => e.textContent);
  await page.screenshot({ path: screenshot, fullPage: true });
  if (user !== question || bold !== 0) throw new Error("the user's markup was not escaped: " + user);
  if (!reply.trim()) throw new Error("empty reply");
  if (lengths.size < 3) throw new Error("the reply did not stream: lengths " + [...lengths]);
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
  console.log(JSON.stringify({ models, reply, stats, steps: lengths.size }));
} finally {
  await browser.close();
}
