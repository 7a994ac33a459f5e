// Drives the OAuth consent page in Debian's Chromium the way the owner does: opens the
// authorization URL, types the connection key into "Connection key", clicks Allow, and
// returns the URL the browser was sent back to (the client's redirect URI with the code).
//
// As a command (used by tests/python/test_oauth.py): node consent.mjs AUTHORIZE_URL KEY
// [read] prints the redirect URL on stdout; with `read` the owner unticks "allow changes".
import { chromium } from "playwright-core";

export const BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: BROWSER_ARGS });
}

// Opens `url` in `page` and resolves with the first URL under `redirectPrefix` the browser
// is sent to, after `act(page)` ran on the consent page. The browser really goes there (the
// client's callback gets the code, as with a person); where nothing listens the navigation
// just fails, and the URL is known all the same.
export async function answerConsent(page, url, redirectPrefix, act) {
  let resolveRedirect;
  const redirected = new Promise((r) => { resolveRedirect = r; });
  page.on("request", (request) => {
    if (request.isNavigationRequest() && request.url().startsWith(redirectPrefix)) resolveRedirect(request.url());
  });
  await page.goto(url);
  await act(page);
  return redirected;
}

export async function allowWithKey(page, key, { write = true } = {}) {
  await page.getByLabel("Connection key").fill(key);
  const box = page.locator('input[name="write"]');
  if (await box.count()) await box.setChecked(write);
  await page.getByRole("button", { name: "Allow" }).click();
}

if (process.argv[1] && process.argv[1].endsWith("consent.mjs") && process.argv.length >= 4) {
  const [url, key, only] = process.argv.slice(2);
  const redirectUri = new URL(url).searchParams.get("redirect_uri");
  const browser = await launch();
  try {
    const page = await (await browser.newContext()).newPage();
    const landed = await Promise.race([
      answerConsent(page, url, redirectUri, (p) => allowWithKey(p, key, { write: only !== "read" })),
      // unref: the timer must not keep the process alive once the redirect came.
      new Promise((_, reject) => setTimeout(() => reject(new Error("no redirect within 30 s")), 30000).unref()),
    ]);
    process.stdout.write(landed + "\n");
  } finally {
    await browser.close();
  }
}
