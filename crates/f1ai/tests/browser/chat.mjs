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

  // Count the updates of the reply's text as they happen, inside the page: a
  // streamed reply is written piece by piece, a whole one at once.
  await page.evaluate(() => {
    window.replyUpdates = 0;
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.target.classList && r.target.classList.contains("text") &&
            r.target.parentElement.classList.contains("assistant")) window.replyUpdates++;
      }
    }).observe(document.getElementById("log"), { childList: true, subtree: true });
  });

  // Markup typed by the user must show as text, as model output does.
  const question = "<b>Who</b> won the 1988 title?";
  await page.fill("#input", question);
  await page.press("#input", "Enter");
  await page.waitForFunction(
    () => (document.querySelector(".stats") || {}).textContent?.includes("tokens/s"),
    null, { timeout: 60000 });
  const steps = await page.evaluate(() => window.replyUpdates);
  const user = await page.$eval(".user .text", (e) => e.textContent);
  const bold = await page.$$eval(".user b", (e) => e.length);
  const reply = await page.$eval(".assistant .text", (e) => e.textContent);
  const stats = await page.$eval(".stats", (e) => e.textContent);
  await page.screenshot({ path: screenshot, fullPage: true });
  if (user !== question || bold !== 0) throw new Error("the user's markup was not escaped: " + user);
  if (!reply.trim()) throw new Error("empty reply");
  if (steps < 3) throw new Error("the reply did not stream: " + steps + " updates");
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
  console.log(JSON.stringify({ models, reply, stats, steps }));
} finally {
  await browser.close();
}
