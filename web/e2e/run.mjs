// End-to-end run of the web app in Debian's Chromium (driven by playwright-core), against a
// ferrocast node the Rust test started. Prints what it observed as one JSON object; the Rust
// test (crates/server/tests/web.rs) judges it. Screenshots of each main page at desktop and
// phone widths go to P.shots.
//
//   node e2e/run.mjs '{"url":"http://127.0.0.1:8080","shots":"target/web-shots"}'
import { chromium } from "playwright-core";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";

const P = JSON.parse(process.argv[2]);
const out = { steps: [] };
const step = (s) => out.steps.push(s);
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
mkdirSync(P.shots, { recursive: true });

/** A free port below the kernel's ephemeral range (32768 and up), where no outgoing connection
 * can take it between our check and ffmpeg's bind. */
async function freePort() {
  for (let port = 20000 + (process.pid % 12000); ; port = 20000 + ((port - 19999) % 12000)) {
    const ok = await new Promise((resolve) => {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

async function shot(page, name) {
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150);
    // From the top, as a visitor first sees it (a page may have scrolled itself, e.g. to the
    // chat's newest message), so the header is at the top of the picture.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${P.shots}/${name}-${label}.png`, fullPage: true });
    // Nothing may be wider than the viewport (a phone would scroll sideways).
    const [wide, view] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    if (wide > view) throw new Error(`${name} at ${label} is ${wide} px wide in a ${view} px viewport`);
  }
  await page.setViewportSize(DESKTOP);
}

const children = [];
function ffmpeg(args) {
  const p = spawn("ffmpeg", ["-hide_banner", "-loglevel", "error", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  children.push(p);
  return p;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // A fake camera and microphone (and screen), allowed without a prompt: for going live from the browser.
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
});
const timer = setTimeout(() => {
  console.error("e2e timed out");
  process.exit(3);
}, P.timeoutMs ?? 150000);
/** Clicks a checkbox the server confirms (it changes when the server answers). */
async function setToggle(page, label, on) {
  const box = page.getByLabel(label);
  if ((await box.isChecked()) !== on) await box.click();
  for (let i = 0; i < 100 && (await box.isChecked()) !== on; i++) await page.waitForTimeout(50);
  if ((await box.isChecked()) !== on) throw new Error(`${label} did not turn ${on ? "on" : "off"}`);
}

async function login(ctx, email) {
  const page = await ctx.newPage();
  await page.goto(P.url + "/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("password123");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL("**/dashboard");
  return page;
}

// An administrator puts the site in maintenance: others see the maintenance page, the
// administrator does not; then it is lifted.
async function maintenance() {
  const admin = await login(await browser.newContext({ viewport: DESKTOP }), "creator@example.com");
  await admin.goto(P.url + "/admin");
  await admin.getByRole("heading", { name: "Administration" }).waitFor();
  await admin.getByText("Users").first().waitFor();
  await shot(admin, "admin");
  const viewer = await login(await browser.newContext({ viewport: PHONE }), "viewer@example.com");
  await admin.getByLabel("Maintenance message").fill("Upgrading; back in ten minutes.");
  await admin.getByRole("button", { name: "Save" }).click();
  await setToggle(admin, /Maintenance mode/, true);
  step("maintenance on");
  await viewer.reload();
  await viewer.getByRole("heading", { name: "Down for maintenance" }).waitFor({ timeout: 10000 });
  await viewer.getByText("Upgrading; back in ten minutes.").waitFor();
  await shot(viewer, "maintenance");
  const anon = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  await anon.goto(P.url + "/");
  await anon.getByRole("heading", { name: "Down for maintenance" }).waitFor({ timeout: 10000 });
  step("others see the maintenance page");
  await admin.goto(P.url + "/dashboard");
  await admin.getByRole("heading", { name: "Your streams" }).waitFor();
  await admin.getByRole("heading", { name: "Main camera" }).waitFor();
  step("the administrator does not");
  await admin.goto(P.url + "/admin");
  await setToggle(admin, /Maintenance mode/, false);
  await viewer.waitForTimeout(2500);
  await viewer.reload();
  await viewer.getByRole("heading", { name: "Your streams" }).waitFor({ timeout: 10000 });
  step("maintenance off");
}

// Self-service billing against the gateways' local stand-ins: a creator over the free plan's
// limit follows the refusal's link to the subscription page, picks INR, upgrades through
// Razorpay's hosted Checkout and then Stripe Checkout, ends the plan at the period's end and
// keeps it after all, and opens a receipt.
/** Creates a source from the dashboard's form. */
async function createSource(page, name) {
  await page.getByLabel("New source").fill(name);
  await page.getByRole("button", { name: "Create", exact: true }).click();
}

/** A new creator on the free plan: registers, creates `sources[0]`, is refused `sources[1]` and
 * follows the refusal's link to the plans. The refusal's text. */
async function overTheFreePlan(page, name, email, sources) {
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.goto(P.url + "/register");
  await page.getByLabel("Display name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("password123");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL("**/dashboard");
  await createSource(page, sources[0]);
  await page.getByRole("heading", { name: sources[0] }).waitFor();
  await createSource(page, sources[1]);
  const refusal = page.getByRole("alert").filter({ hasText: "Source limit reached" });
  await refusal.waitFor();
  const text = await refusal.textContent();
  await refusal.getByRole("link", { name: "See plans and upgrade" }).click();
  await page.waitForURL("**/dashboard/subscription");
  await page.getByRole("heading", { name: "Plan and billing" }).waitFor();
  await page.getByTestId("current-plan").filter({ hasText: "Free" }).waitFor();
  return text;
}

async function billing() {
  const ctx = await browser.newContext({ viewport: DESKTOP, locale: "en-US" });
  const page = await ctx.newPage();
  out.refusal = await overTheFreePlan(page, "Payer", "payer@example.com", ["First camera", "Second camera"]);
  step("limit links to the plans");

  // An en-US browser sees dollars until the user picks rupees; the choice is kept.
  const pro = page.getByTestId("plan-Pro");
  const business = page.getByTestId("plan-Business");
  out.usdPrice = await pro.getByTestId("price").textContent();
  // The same account in a browser that prefers Indian English sees rupees until it chooses.
  const indian = await login(await browser.newContext({ viewport: DESKTOP, locale: "en-IN" }), "payer@example.com");
  await indian.goto(P.url + "/dashboard/subscription");
  await indian.getByTestId("plan-Pro").getByTestId("price").waitFor();
  out.hintedPrice = await indian.getByTestId("plan-Pro").getByTestId("price").textContent();
  await indian.context().close();
  await page.getByLabel("Currency").selectOption("INR");
  await pro.getByTestId("price").filter({ hasText: "₹799" }).waitFor();
  await page.reload();
  await pro.getByTestId("price").filter({ hasText: "₹799" }).waitFor();
  out.inrPrice = await pro.getByTestId("price").textContent();
  // ePayco takes dollars only: in rupees it is not offered, and the page says why.
  out.epaycoInInr = await pro.getByRole("button", { name: /ePayco/ }).count();
  out.epaycoNote = await page.getByTestId("gateway-currency-epayco").textContent();
  step("prices in INR");
  await shot(page, "subscription-free");

  // Razorpay: Pro, monthly, in rupees, through its hosted Checkout.
  await pro.getByRole("button", { name: "Upgrade with Razorpay" }).click();
  await page.getByRole("heading", { name: "Razorpay Checkout (test)" }).waitFor();
  out.razorpayPage = await page.locator("body").textContent();
  await page.getByRole("button", { name: /^Pay / }).click();
  await page.waitForURL("**/dashboard/subscription**");
  await page.getByTestId("checkout-notice").filter({ hasText: "Payment received" }).waitFor();
  await page.getByTestId("current-plan").filter({ hasText: "Pro" }).waitFor();
  await page.getByTestId("usage-sources").filter({ hasText: "1 of 3" }).waitFor();
  await pro.getByText("Current plan").waitFor();
  step("razorpay upgrade");
  await page.getByRole("link", { name: "Dashboard", exact: true }).first().click();
  await createSource(page, "Second camera");
  await page.getByRole("heading", { name: "Second camera" }).waitFor();
  step("the refused action succeeds");

  // Stripe: Business, yearly, through Stripe Checkout.
  await page.getByRole("link", { name: "Billing", exact: true }).click();
  await page.getByRole("button", { name: "Yearly" }).click();
  await business.getByTestId("price").filter({ hasText: "₹24,999" }).waitFor();
  await business.getByRole("button", { name: "Upgrade with Stripe" }).click();
  await page.getByRole("heading", { name: "Stripe Checkout (test)" }).waitFor();
  out.stripePage = await page.locator("body").textContent();
  await page.getByRole("button", { name: "Subscribe" }).click();
  await page.waitForURL("**/dashboard/subscription**");
  await page.getByTestId("checkout-notice").filter({ hasText: "Payment received" }).waitFor();
  await page.getByTestId("current-plan").filter({ hasText: "Business" }).waitFor();
  await page.getByTestId("usage-sources").filter({ hasText: "2 of 10" }).waitFor();
  await page.getByTestId("plan-status").filter({ hasText: "Active" }).waitFor();
  // Stripe renews it by itself: no second Checkout for the same plan is offered.
  await business.getByText("Renews automatically through Stripe").waitFor();
  out.businessButtons = await business.getByRole("button").count();
  step("stripe upgrade");
  // Card and invoices are Stripe's Customer Portal, which links back.
  await page.getByRole("button", { name: "Card and invoices at Stripe" }).click();
  await page.getByRole("heading", { name: "Stripe customer portal (test)" }).waitFor();
  await page.getByRole("link", { name: "Return to ferrocast" }).click();
  await page.getByRole("heading", { name: "Plan and billing" }).waitFor();
  out.noticeAfterReturn = await page.getByTestId("checkout-notice").count();
  step("stripe portal");

  // End at the period's end, then keep it after all.
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Cancel at period end" }).click();
  await page.getByTestId("plan-status").filter({ hasText: /^Ends / }).waitFor();
  await page.getByText("nothing is deleted").first().waitFor();
  step("canceled at period end");
  await shot(page, "subscription-ending");
  await page.getByRole("button", { name: "Keep my plan" }).click();
  await page.getByTestId("plan-status").filter({ hasText: "Active" }).waitFor();
  await page.getByRole("button", { name: "Cancel at period end" }).waitFor();
  step("resumed");

  // History: both payments, newest first; a receipt opens.
  await page.getByTestId("payment").nth(1).waitFor();
  out.payments = await page.getByTestId("payment").allTextContents();
  await shot(page, "subscription");
  await page.getByTestId("payment").first().getByRole("link", { name: "Receipt" }).click();
  await page.waitForURL("**/dashboard/subscription/receipts/**");
  await page.getByTestId("receipt-reference").waitFor();
  out.receipt = {
    plan: await page.getByTestId("receipt-plan").textContent(),
    amount: await page.getByTestId("receipt-amount").textContent(),
    gateway: await page.getByTestId("receipt-gateway").textContent(),
    reference: await page.getByTestId("receipt-reference").textContent(),
    date: await page.getByTestId("receipt-date").textContent(),
  };
  await shot(page, "receipt");
  step("receipt");

  // Settings shows the same choice.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Billing" }).waitFor();
  out.settingsCurrency = await page.getByLabel("Currency").inputValue();
  step("settings");
  await epayco();
}

// A creator ends their own live stream from the dashboard and is told why; an administrator
// reads the daily charts and puts a user on another plan. The Rust test made the accounts and
// the source (P.key, P.ingest) and judges what the server holds afterwards.
async function creatorEndsAndAdminChangesPlan() {
  const page = await login(await browser.newContext({ viewport: DESKTOP }), "creator@example.com");
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.getByRole("heading", { name: "Main" }).waitFor();
  const encoder = ffmpeg([
    "-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "96k", "-t", "120", "-f", "flv", `${P.ingest}/${P.key}`,
  ]);
  const exited = new Promise((resolve) => encoder.on("exit", (code) => resolve(code)));
  await page.getByTestId("source-status").filter({ hasText: "Live" }).waitFor({ timeout: 30000 });
  step("live");
  await shot(page, "dashboard-end-stream");
  let asked = "";
  page.once("dialog", (d) => ((asked = d.message()), d.accept()));
  await page.getByTestId("end-stream").click();
  await page.getByTestId("source-status").filter({ hasText: "Offline" }).waitFor({ timeout: 15000 });
  await page.getByTestId("stream-notice").filter({ hasText: "Your stream ended: ended from the dashboard" }).waitFor({ timeout: 15000 });
  if (!asked.startsWith("End the stream on Main?")) throw new Error(`no confirmation asked: ${asked}`);
  // The encoder was cut: it exits long before its 120 s.
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("running"), 15000))]);
  if (code === "running") throw new Error("the encoder is still connected");
  await page.getByTestId("end-stream").waitFor({ state: "detached" });
  await shot(page, "dashboard-stream-ended");
  step("the creator ended the stream and was told why");

  const admin = await login(await browser.newContext({ viewport: DESKTOP }), "admin@example.com");
  admin.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await admin.goto(P.url + "/admin");
  await admin.getByRole("heading", { name: "Figures" }).waitFor();
  await admin.getByTestId("chart").nth(3).waitFor();
  out.charts = await admin.getByTestId("chart").locator("figcaption span").allTextContents();
  out.streamsChart = await admin.getByTestId("chart").nth(1).locator("svg").getAttribute("aria-label");
  await admin.getByLabel("Period").selectOption("7");
  await admin.waitForFunction(() => document.querySelector("[data-testid=chart] svg")?.getAttribute("aria-label")?.split(", ").length === 7, null, { timeout: 10000 });
  step("charts");
  await shot(admin, "admin-charts");
  let confirmText = "";
  admin.once("dialog", (d) => ((confirmText = d.message()), d.accept()));
  await admin.getByLabel("Plan for member@example.com").selectOption({ label: "Pro" });
  await admin.getByTestId("user-done").filter({ hasText: "member@example.com is on Pro." }).waitFor({ timeout: 10000 });
  if (!confirmText.includes("No payment is taken")) throw new Error(`no confirmation asked: ${confirmText}`);
  await admin.getByTestId("user-row").filter({ hasText: "member@example.com" }).getByTestId("user-plan").filter({ hasText: "Pro" }).waitFor();
  await admin.reload();
  await admin.getByTestId("admin-actions").getByText("changed the plan of member@example.com → Pro").waitFor({ timeout: 10000 });
  await shot(admin, "admin-plan-changed");
  step("the administrator put a user on Pro");
}

// ePayco Smart Checkout, in dollars: another creator on the free plan is refused a second
// source, upgrades to Pro through ePayco's (stand-in) script and hosted page, comes back with
// `?ref_payco=`, and can then create the source.
async function epayco() {
  const ctx = await browser.newContext({ viewport: DESKTOP, locale: "es-CO" });
  const page = await ctx.newPage();
  // A script or form the page's Content-Security-Policy blocks is reported on the console.
  page.on("console", (m) => /Content Security Policy|Refused to/.test(m.text()) && (out.cspViolations = [...(out.cspViolations ?? []), m.text()].slice(-10)));
  await overTheFreePlan(page, "Lucía", "lucia@example.com", ["Cámara uno", "Cámara dos"]);
  const pro = page.getByTestId("plan-Pro");
  await pro.getByTestId("price").filter({ hasText: "$9.99" }).waitFor();
  await pro.getByRole("button", { name: "Upgrade with ePayco" }).click();
  await page.getByRole("heading", { name: "ePayco Checkout (test)" }).waitFor();
  out.epaycoPage = await page.locator("body").textContent();
  await page.getByRole("button", { name: /^Pay / }).click();
  await page.waitForURL("**/dashboard/subscription**");
  const notice = page.getByTestId("checkout-notice");
  await notice.filter({ hasText: "Pro is active" }).waitFor();
  out.epaycoNotice = await notice.textContent();
  await page.getByTestId("current-plan").filter({ hasText: "Pro" }).waitFor();
  await page.getByTestId("usage-sources").filter({ hasText: "1 of 3" }).waitFor();
  step("epayco upgrade");
  await shot(page, "subscription-epayco");
  await page.getByRole("link", { name: "Dashboard", exact: true }).first().click();
  await createSource(page, "Cámara dos");
  await page.getByRole("heading", { name: "Cámara dos" }).waitFor();
  step("epayco limits rise");
  await ctx.close();
}

// Sign in with Google and Twitch through the local OpenID stand-ins' consent pages (the Rust
// test points the node at them): sign up with Google, link Twitch in Settings, sign out, sign
// in with either; a forged callback ends on the login page with the reason in words.
async function oauth() {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.goto(P.url + "/register");
  await page.getByRole("link", { name: "Continue with Google" }).waitFor();
  await page.getByRole("link", { name: "Continue with Twitch" }).waitFor();
  await shot(page, "register-providers");
  await page.getByRole("link", { name: "Continue with Google" }).click();
  await page.getByRole("heading", { name: "Google (local stand-in)" }).waitFor();
  await shot(page, "google-consent");
  await page.getByRole("button", { name: "Approve" }).click();
  await page.waitForURL("**/dashboard");
  await page.getByText("No sources yet").waitFor();
  // No token or code is left in the address bar or the history.
  if (page.url().includes("code=")) throw new Error(`the code stayed in the URL: ${page.url()}`);
  step("signed up with google");

  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Sign-in methods" }).waitFor();
  await page.getByTestId("identity").filter({ hasText: "Google" }).waitFor();
  await page.getByRole("button", { name: "Link Twitch" }).click();
  await page.getByRole("heading", { name: "Twitch (local stand-in)" }).waitFor();
  await page.getByRole("button", { name: "Approve" }).click();
  await page.waitForURL("**/settings");
  await page.getByText("Twitch is linked").waitFor();
  await page.getByTestId("identity").filter({ hasText: "Twitch" }).waitFor();
  await shot(page, "settings-sign-in-methods");
  step("linked twitch");

  await page.getByRole("button", { name: "Log out" }).click();
  await page.goto(P.url + "/login");
  await page.getByRole("link", { name: "Continue with Twitch" }).waitFor();
  await shot(page, "login-providers");
  await page.getByRole("link", { name: "Continue with Twitch" }).click();
  await page.getByRole("button", { name: "Approve" }).click();
  await page.waitForURL("**/dashboard");
  out.twitchUser = await page.evaluate(() => JSON.parse(localStorage.getItem("ferrocast.session")).user.id);
  step("signed in with twitch");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.goto(P.url + "/login");
  await page.getByRole("link", { name: "Continue with Google" }).click();
  await page.getByRole("button", { name: "Approve" }).click();
  await page.waitForURL("**/dashboard");
  out.googleUser = await page.evaluate(() => JSON.parse(localStorage.getItem("ferrocast.session")).user.id);
  step("signed in with google");

  // A callback with a forged state: the login page says why, in words.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.goto(P.url + "/api/auth/google/callback?code=stolen&state=forged");
  await page.waitForURL("**/login?**");
  await page.getByText("This sign-in link is not valid or was already used").waitFor();
  await shot(page, "login-oauth-error");
  step("refused with a reason");
}

// Connect YouTube and Twitch chat from the dashboard through the stand-ins' consent pages, see
// both connected on the source, and messages from both in the merged chat (the platform
// stand-ins start talking when the creator's first message reaches them); chat rules saved.
async function chatOauth() {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.goto(P.url + "/register");
  await page.getByLabel("Display name").fill("Host");
  await page.getByLabel("Email").fill("host@example.com");
  await page.getByLabel("Password").fill("password123");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL("**/dashboard");
  await page.getByLabel("New source").fill("Main camera");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await page.getByRole("heading", { name: "Main camera" }).waitFor();
  await page.getByTestId("connector-twitch").getByText("not connected").waitFor();
  for (const [id, name] of [["twitch", "Twitch"], ["youtube", "YouTube"]]) {
    await page.getByRole("button", { name: `Connect ${name} chat` }).click();
    await page.getByRole("heading", { name: /local stand-in/ }).waitFor();
    if (id === "twitch") await shot(page, "twitch-consent");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.waitForURL("**/dashboard");
    await page.getByText(`${name} chat is connected.`).waitFor();
    await page.getByTestId(`connector-${id}`).getByTestId("connector-state").filter({ hasText: "connected" }).waitFor({ timeout: 20000 });
    step(`${id} connected`);
  }
  await page.getByRole("button", { name: "Reconnect Twitch" }).waitFor();
  // The creator says hello; both platforms answer in the one chat.
  await page.getByRole("textbox", { name: "Message" }).fill("ready");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.locator(".message.twitch", { hasText: "t1" }).first().waitFor({ timeout: 20000 });
  await page.locator(".message.youtube", { hasText: "y1" }).first().waitFor({ timeout: 20000 });
  // YouTube's stand-in refuses the first access token midway; the connector refreshes it
  // through the Google stand-in and goes on.
  await page.locator(".message.youtube", { hasText: "y20" }).first().waitFor({ timeout: 30000 });
  step("messages from both");
  // Chat rules.
  await page.getByText("Chat rules").click();
  await page.getByLabel(/Slow mode/).fill("5");
  await page.getByLabel(/Blocked words/).fill("casino, spoiler");
  await page.getByRole("button", { name: "Save rules" }).click();
  await page.getByText("Chat rules saved.").waitFor();
  step("rules saved");
  // A viewer chats on the watch page; the creator makes them a moderator from the rules.
  const watchHref = await page.getByRole("link", { name: /^\/watch\// }).getAttribute("href");
  const viewer = await (await browser.newContext({ viewport: PHONE })).newPage();
  await viewer.goto(P.url + "/register");
  await viewer.getByLabel("Display name").fill("Mod Person");
  await viewer.getByLabel("Email").fill("mod@example.com");
  await viewer.getByLabel("Password").fill("password123");
  await viewer.getByRole("button", { name: "Create account" }).click();
  await viewer.waitForURL("**/dashboard");
  await viewer.goto(P.url + watchHref);
  await viewer.getByLabel("Message").fill("hi from a viewer");
  await viewer.getByRole("button", { name: "Send" }).click();
  await page.getByText("hi from a viewer").waitFor({ timeout: 10000 });
  await page.reload();
  await page.getByText("Chat rules").click();
  await page.getByRole("combobox", { name: /Add a moderator/ }).selectOption({ label: "Mod Person" });
  await page.getByRole("button", { name: "Add", exact: true }).last().click();
  await page.getByText("Mod Person now moderates this chat.").waitFor();
  await page.locator(".chat-rules li", { hasText: "Mod Person" }).waitFor();
  const ytState = await page.getByTestId("connector-youtube").getByTestId("connector-state").textContent();
  if (ytState !== "connected") throw new Error(`YouTube chat reads "${ytState}" after its token was refreshed`);
  await shot(page, "dashboard-platform-chat");
  step("moderator added");
  page.once("dialog", (d) => d.accept());
  await page.getByTestId("connector-youtube").getByRole("button", { name: "Disconnect" }).click();
  await page.getByText("YouTube chat is disconnected.").waitFor();
  await page.getByTestId("connector-youtube").getByText("not connected").waitFor();
  step("youtube disconnected");
}

// ---------------------------------------------------------------------------------------------
// Every page of the app, each as the person who sees it, at 1280 and 390 px (`shot` fails on
// anything wider than the viewport), some in the dark theme too. A new page is one more entry.
//   name:  screenshot name (`<name>-desktop.png`, `<name>-phone.png`, `<name>-dark-*.png`)
//   as:    whose browser: "anon", or an account the Rust test made (P.accounts[as])
//   path:  where to go (a function: worked out from P); `client`: reached by the app's own
//          navigation from the start page, as a link in the app would
//   ready: resolves once the page shows what it is for
//   dark:  also shot with the system set to the dark theme
//   before / after: what the page needs set up around it
// A receipt needs a payment through a gateway: `billing` shoots it (and the checkout states).
const heading = (name) => (page) => page.getByRole("heading", { name }).first().waitFor();
const PAGES = [
  { name: "page-landing", as: "anon", path: "/", ready: heading("Stream once. Reach every platform."), dark: true },
  { name: "page-login", as: "anon", path: "/login", ready: heading("Log in"), dark: true },
  { name: "page-register", as: "anon", path: "/register", ready: heading("Create your account") },
  { name: "page-forgot-password", as: "anon", path: "/forgot-password", ready: heading("Reset your password") },
  { name: "page-auth-complete-error", as: "anon", path: "/auth/complete", ready: heading("Signing in did not work") },
  { name: "page-not-found", as: "anon", path: "/no-such-page", client: true, ready: heading("Page not found"), dark: true },
  { name: "page-watch-offline", as: "anon", path: () => `/watch/${P.playbackId}`, ready: (page) => page.getByText(/offline/i).first().waitFor(), dark: true },
  { name: "page-dashboard-empty", as: "member", path: "/dashboard", ready: (page) => page.getByText("No sources yet").waitFor() },
  { name: "page-dashboard", as: "creator", path: "/dashboard", ready: heading(P.sourceName), dark: true },
  { name: "page-analytics-empty", as: "creator", path: "/dashboard/analytics", ready: (page) => page.getByText("No broadcasts yet").waitFor(), dark: true },
  { name: "page-subscription", as: "creator", path: "/dashboard/subscription", ready: (page) => page.getByTestId("current-plan").waitFor(), dark: true },
  { name: "page-settings", as: "creator", path: "/settings", ready: heading("API keys"), dark: true },
  { name: "page-library", as: "creator", path: "/library", ready: (page) => page.getByTestId("library-empty").waitFor(), dark: true },
  { name: "page-channel", as: "anon", path: () => `/c/${P.channelHandle}`, ready: (page) => page.getByTestId("channel-name").waitFor(), dark: true },
  { name: "page-channel-missing", as: "anon", path: "/c/no_such_channel", ready: heading("This channel does not exist") },
  { name: "page-video-missing", as: "anon", path: "/v/00000000-0000-4000-8000-000000000000", ready: heading("This video does not exist or is private"), dark: true },
  { name: "page-admin", as: "admin", path: "/admin", ready: (page) => page.getByTestId("figures").waitFor(), dark: true },
  { name: "page-browse", as: "anon", path: "/browse", ready: (page) => page.getByTestId("browse-empty").waitFor(), dark: true },
  { name: "page-settings-notifications", as: "creator", path: "/settings/notifications", ready: heading("What you are told, and how"), dark: true },
  { name: "page-unsubscribe", as: "anon", path: "/unsubscribe?token=x", ready: heading("Stop these emails?") },
  { name: "page-shorts", as: "anon", path: "/shorts", ready: (page) => page.getByTestId("shorts-empty").waitFor() },
  { name: "page-radio-studio", as: "creator", path: "/dashboard/radio", ready: heading("Your station"), dark: true },
  { name: "page-radio-missing", as: "anon", path: "/radio/no_such_channel", ready: (page) => page.getByText("No such station or track").waitFor() },
  { name: "page-hangouts", as: "creator", path: "/hangouts", ready: (page) => page.getByText("No hangouts yet").waitFor(), dark: true },
  { name: "page-search", as: "anon", path: "/search?q=zzqqxxyy", ready: (page) => page.getByTestId("search-empty").waitFor(), dark: true },
  {
    name: "page-maintenance",
    as: "anon",
    path: "/",
    before: () => siteSettings({ maintenance_mode: true, maintenance_message: "Upgrading; back in ten minutes." }),
    ready: async (page) => {
      // Every node applies the settings within two seconds.
      for (let i = 0; i < 20 && !(await page.getByRole("heading", { name: "Down for maintenance" }).count()); i++) {
        await page.waitForTimeout(500);
        await page.reload();
      }
      await heading("Down for maintenance")(page);
    },
    after: () => siteSettings({ maintenance_mode: false }),
    dark: true,
  },
];

/** Changes the site's settings as the administrator, through the API. */
async function siteSettings(change) {
  const r = await fetch(P.url + "/api/admin/settings", {
    method: "PUT",
    headers: { authorization: `Bearer ${P.accounts.admin.token}`, "content-type": "application/json" },
    body: JSON.stringify(change),
  });
  if (!r.ok) throw new Error(`site settings: ${r.status} ${await r.text()}`);
}

/** A browser context signed in as `who` ("anon": none), each made once. */
const contexts = {};
async function contextFor(who) {
  if (contexts[who]) return contexts[who];
  const ctx = await browser.newContext({ viewport: DESKTOP, colorScheme: "light" });
  if (who !== "anon") {
    const page = await login(ctx, P.accounts[who].email);
    await page.close();
  }
  return (contexts[who] = ctx);
}

/** The page's background colour, as the theme painted it. */
const background = (page) => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);

async function everyPage() {
  out.shots = [];
  out.themes = {};
  for (const p of PAGES) {
    const page = await (await contextFor(p.as)).newPage();
    page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `${p.name}: ${e}`]));
    if (p.before) await p.before();
    const path = typeof p.path === "function" ? p.path() : p.path;
    if (p.client) {
      await page.goto(P.url + "/");
      await page.evaluate((to) => {
        history.pushState(null, "", to);
        window.dispatchEvent(new PopStateEvent("popstate"));
      }, path);
    } else {
      await page.goto(P.url + path);
    }
    await p.ready(page);
    await shot(page, p.name);
    out.shots.push(p.name);
    if (p.dark) {
      out.themes[p.name] = { light: await background(page) };
      await page.emulateMedia({ colorScheme: "dark" });
      await page.waitForTimeout(100);
      out.themes[p.name].dark = await background(page);
      await shot(page, `${p.name}-dark`);
      out.shots.push(`${p.name}-dark`);
      await page.emulateMedia({ colorScheme: "light" });
    }
    if (p.after) await p.after();
    await page.close();
    step(p.name);
  }
  await twoFactorQr(await contextFor("creator"));
}

/** The two-factor key's QR code, scanned from a screenshot by an independent decoder (zbarimg,
 * as an authenticator app would scan the screen), gives the otpauth URI the API returned; the
 * code made from the scanned key (oathtool) turns two-factor login on. */
async function twoFactorQr(ctx) {
  const page = await ctx.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `2fa: ${e}`]));
  await page.goto(P.url + "/settings");
  await heading("Two-factor login")(page);
  const setup = page.waitForResponse((r) => r.url().endsWith("/api/auth/2fa/setup") && r.request().method() === "POST");
  await page.getByRole("button", { name: "Set up" }).click();
  out.otpauthUri = (await (await setup).json()).otpauth_uri;
  const qr = page.getByTestId("totp-qr");
  await qr.waitFor();
  await shot(page, "page-settings-2fa");
  await page.emulateMedia({ colorScheme: "dark" });
  await shot(page, "page-settings-2fa-dark");
  await qr.screenshot({ path: `${P.shots}/qr-dark.png` });
  await page.emulateMedia({ colorScheme: "light" });
  await qr.screenshot({ path: `${P.shots}/qr-light.png` });
  step("page-settings-2fa");
  const scan = spawnSync("zbarimg", ["--raw", "-q", "-Sdisable", "-Sqrcode.enable", `${P.shots}/qr-light.png`], { encoding: "utf8" });
  if (scan.status !== 0) throw new Error(`zbarimg found no QR code (${scan.status}): ${scan.stderr}`);
  out.scanned = scan.stdout.trim();
  const secret = new URL(out.scanned).searchParams.get("secret");
  const code = spawnSync("oathtool", ["--totp", "-b", secret], { encoding: "utf8" });
  if (code.status !== 0) throw new Error(`oathtool: ${code.stderr}`);
  const form = page.getByRole("form", { name: "Turn two-factor login on" });
  await form.getByLabel("Code from your authenticator app").fill(code.stdout.trim());
  await form.getByLabel("Your password").fill("password123");
  await form.getByRole("button", { name: "Turn on" }).click();
  await page.getByText("Two-factor login is on.").waitFor();
  step("two-factor on with the scanned key");
}

// Sharing and first-visit edges: an unknown path shows the app's not-found page, an unknown
// watch id says the stream does not exist, a watch page shows its title and creator and its
// Share panel copies the embed code; an administrator on a phone changes a user's role,
// suspends them (who is then refused at login, in words) and reactivates them.
async function sharing() {
  const anon = await browser.newContext({ viewport: DESKTOP, permissions: ["clipboard-read", "clipboard-write"] });
  const page = await anon.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.goto(P.url + "/no/such/page");
  await page.getByRole("heading", { name: "Page not found" }).waitFor();
  await shot(page, "not-found");
  step("unknown path shows the not-found page");
  await page.goto(P.url + "/watch/nosuchstream");
  await page.getByRole("heading", { name: "This stream does not exist" }).waitFor();
  if (await page.getByText("offline", { exact: false }).count()) throw new Error("an unknown stream is called offline");
  await shot(page, "watch-missing");
  step("unknown watch id does not exist");
  await page.goto(P.url + `/watch/${P.playbackId}`);
  await page.getByTestId("watch-title").filter({ hasText: P.title }).waitFor();
  out.creator = await page.getByTestId("watch-creator").textContent();
  out.documentTitle = await page.title();
  await page.getByText("Share", { exact: true }).click();
  await page.getByRole("button", { name: "Copy embed code" }).click();
  await page.getByRole("button", { name: "Copied" }).waitFor();
  out.copiedEmbed = await page.evaluate(() => navigator.clipboard.readText());
  out.shownLink = await page.getByTestId("share-link").inputValue();
  await shot(page, "watch-share");
  step("share panel copies the embed code");

  const admin = await login(await browser.newContext({ viewport: PHONE }), "admin@example.com");
  admin.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await admin.goto(P.url + "/admin");
  const row = admin.getByTestId("user-row").filter({ hasText: "member@example.com" });
  await row.waitFor();
  admin.once("dialog", (d) => d.accept());
  await admin.getByLabel("Role of member@example.com").selectOption("moderator");
  await admin.getByTestId("user-done").filter({ hasText: "member@example.com is now moderator." }).waitFor({ timeout: 10000 });
  step("role changed");
  admin.once("dialog", (d) => d.accept());
  await row.getByRole("button", { name: /^Suspend/ }).click();
  await row.getByTestId("user-suspended").waitFor({ timeout: 10000 });
  await admin.setViewportSize(PHONE);
  await shot(admin, "admin-user-suspended");
  step("suspended");
  const member = await (await browser.newContext({ viewport: PHONE })).newPage();
  await member.goto(P.url + "/login");
  await member.getByLabel("Email").fill("member@example.com");
  await member.getByLabel("Password").fill("password123");
  await member.getByRole("button", { name: "Log in" }).click();
  const refusal = member.getByRole("alert").filter({ hasText: "This account is suspended" });
  await refusal.waitFor({ timeout: 10000 });
  out.suspendedLogin = await refusal.textContent();
  await shot(member, "login-suspended");
  step("suspended user refused at login");
  admin.once("dialog", (d) => d.accept());
  await row.getByRole("button", { name: /^Reactivate/ }).click();
  await row.getByTestId("user-suspended").waitFor({ state: "detached", timeout: 10000 });
  await admin.reload();
  await admin.getByTestId("admin-actions").getByText("suspended member@example.com").waitFor({ timeout: 10000 });
  await admin.getByTestId("admin-actions").getByText("changed the role of member@example.com → moderator").waitFor();
  await shot(admin, "admin-actions-phone");
  step("reactivated");
}

// Glass-to-glass latency, measured in the browser. ffmpeg publishes testsrc2 with the wall
// clock burned into every frame: for people as text (UTC, ms), for the page as 24 black or white
// 16×16 blocks (the Unix time in ms modulo 2^24, most significant bit first) above the same
// blocks inverted (a frame read mid-transition or mangled by the encoder fails that check). A
// sampler in the page draws each displayed frame on a canvas (requestVideoFrameCallback), reads
// the blocks and compares them with Date.now() — one machine, one clock. Measured on the watch
// page, on the embed page inside an <iframe> of a page served from another origin, and with
// stock hls.js (`new Hls()`, its default settings) on that other origin; then the dashboard
// refuses to be framed there, and the watch page shows the stream's last frames before it says
// the stream ended. P: url, shots, key, ingest, playbackId; samples (per player, one every
// 250 ms, default 24), warmup (seconds, default 6), gop (keyframe interval in frames, 30).
const CLOCK_BITS = 24;
/** The publisher's filter graph: after `setpts=RTCTIME` a frame's timestamp is the wall clock
 * (µs), which `geq` (T, seconds) draws as blocks and `drawtext` as text; then the timestamps
 * are made 30 fps again for the encoder. */
function clockGraph() {
  const bit = `mod(floor(mod(floor(T*1000)\\,${2 ** CLOCK_BITS})/pow(2\\,${CLOCK_BITS - 1}-floor(X/16)))\\,2)`;
  const font = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf";
  const text = existsSync(font)
    ? `,drawtext=fontfile=${font}:fontsize=36:fontcolor=white:box=1:boxcolor=black@0.7:x=16:y=300:` +
      `text='%{pts\\:gmtime\\:0\\:%T}.%{eif\\:mod(t*1000\\,1000)\\:d\\:3} UTC'`
    : "";
  return (
    "testsrc2=s=640x360:r=30,format=yuv420p,settb=1/1000000,setpts=RTCTIME,split[a][b];" +
    `[b]crop=${16 * CLOCK_BITS}:32:0:0,geq=lum='255*abs(${bit}-gte(Y\\,16))':cb=128:cr=128[bar];` +
    `[a][bar]overlay=16:24${text},settb=1/30,setpts=N`
  );
}

/** Installed in a page (or frame): reads the clock in every displayed frame of its first
 * <video>. `window.__clock`: valid samples (latency ms), reads that failed the check, the last
 * code shown and when the video ended. */
function installSampler(bits) {
  const st = (window.__clock = { samples: [], bad: 0, frames: 0, last: null, ended: null, recording: false, shown: 0, waiting: 0 });
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const read = (v) => {
    const w = v.videoWidth, h = v.videoHeight;
    if (!w || !h) return;
    canvas.width = w;
    canvas.height = h;
    ctx.drawImage(v, 0, 0, w, h);
    const sx = w / 640, sy = h / 360;
    const px = ctx.getImageData(0, 0, w, Math.ceil(64 * sy)).data;
    const lum = (x, y) => {
      const i = (Math.round(y * sy) * w + Math.round(x * sx)) * 4;
      return 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    };
    st.frames++;
    let code = 0;
    for (let b = 0; b < bits; b++) {
      const x = 16 + 16 * b + 8;
      const top = lum(x, 24 + 8), bottom = lum(x, 40 + 8);
      // A bit reads clearly black or white, and its inverse the other way.
      if (Math.abs(top - 128) < 48 || Math.abs(bottom - 128) < 48 || top > 128 === bottom > 128) {
        st.bad++;
        return;
      }
      code = code * 2 + (top > 128 ? 1 : 0);
    }
    const mod = 2 ** bits;
    const latency = (((Date.now() % mod) - code) % mod + mod) % mod;
    const now = Date.now();
    st.last = { code, at: now };
    if (st.recording) st.shown++;
    // One sample every 250 ms: the figures describe a stretch of playback, not a burst.
    if (st.recording && !(now < (st.next ?? 0))) {
      st.samples.push(latency);
      st.next = now + 250;
    }
  };
  const attach = (v) => {
    if (v.__sampled) return;
    v.__sampled = true;
    v.addEventListener("ended", () => (st.ended = Date.now()));
    v.addEventListener("waiting", () => st.recording && st.waiting++);
    const each = () => {
      if (!v.isConnected) return;
      read(v);
      v.requestVideoFrameCallback(each);
    };
    v.requestVideoFrameCallback(each);
  };
  // The player may be replaced (a fresh one after an error): follow whichever is on the page.
  setInterval(() => {
    const v = document.querySelector("video");
    if (v) attach(v);
  }, 100);
}

/** Waits until the sampler in `where` reads frames, lets the player settle for `warmup` s, then
 * records `samples` latencies; their statistics. */
async function measure(where, name) {
  const samples = P.samples ?? 24;
  await where.evaluate(installSampler, CLOCK_BITS);
  await where.waitForFunction(() => window.__clock.last !== null, null, { timeout: 30000 });
  await where.waitForTimeout((P.warmup ?? 6) * 1000);
  const from = await where.evaluate(() => ((window.__clock.recording = true), Date.now()));
  await where
    .waitForFunction((n) => window.__clock.samples.length >= n, samples, { timeout: 60000 + samples * 1000, polling: 250 })
    .catch(async (e) => {
      // Say what the player did meanwhile: frames read, misread, stalls, the last clock shown.
      const st = await where.evaluate(() => {
        const v = document.querySelector("video");
        const { samples, ...rest } = window.__clock;
        return { ...rest, samples: samples.length, now: Date.now(), video: v && { paused: v.paused, readyState: v.readyState, currentTime: v.currentTime, error: v.error?.message ?? null } };
      });
      throw new Error(`${name}: too few clock samples: ${JSON.stringify(st)}: ${e.message}`);
    });
  const st = await where.evaluate(() => ({ ...window.__clock, recording: false, until: Date.now() }));
  const sorted = [...st.samples].sort((a, b) => a - b);
  const q = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  const lowLatency = await where.evaluate(() => document.querySelector("video")?.dataset.lowLatency ?? null);
  out.latency[name] = {
    n: sorted.length, median: q(0.5), p90: q(0.9), min: sorted[0], max: sorted[sorted.length - 1],
    // Frames read (and those that failed the check) over the whole run; while recording, frames
    // shown per second (the source has 30) and how often the video stopped to wait for data.
    frames: st.frames, bad: st.bad, fps: Math.round((st.shown / ((st.until - from) / 1000)) * 10) / 10, waiting: st.waiting, lowLatency,
  };
  step(`measured ${name}`);
}

/** A page on another origin (`localhost` rather than 127.0.0.1: another site too) that frames
 * the embed page or the dashboard, or plays the stream with stock hls.js. */
async function otherOrigin(node, playbackId) {
  const hlsJs = readFileSync(new URL("../node_modules/hls.js/dist/hls.min.js", import.meta.url));
  const page = (title, body) =>
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${title}</title><style>body{margin:0;padding:16px;font:16px system-ui}iframe,video{display:block;width:100%;max-width:960px;aspect-ratio:16/9;border:0;background:#000}</style></head>` +
    `<body><h1>${title}</h1>${body}</body></html>`;
  const routes = {
    "/embed.html": page("A blog post with a live stream", `<iframe src="${node}/embed/${playbackId}" allow="autoplay; fullscreen" allowfullscreen title="Live stream"></iframe>`),
    "/dashboard.html": page("A page framing the dashboard", `<iframe src="${node}/dashboard" title="ferrocast dashboard"></iframe>`),
    "/stock.html": page(
      "Stock hls.js",
      `<video muted autoplay playsinline controls></video><script src="/hls.min.js"></script>` +
        `<script>const v=document.querySelector("video");const h=new Hls();h.loadSource(${JSON.stringify(`${node}/hls/${playbackId}/index.m3u8`)});h.attachMedia(v);v.play().catch(()=>{});window.__hls=h;</script>`,
    ),
  };
  const server = http.createServer((req, res) => {
    if (req.url === "/hls.min.js") {
      res.writeHead(200, { "content-type": "text/javascript" });
      return res.end(hlsJs);
    }
    const html = routes[req.url];
    res.writeHead(html ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
    res.end(html ?? "not found");
  });
  const port = await freePort();
  // `localhost` may resolve to ::1 or 127.0.0.1: listen on both where the machine has IPv6.
  await new Promise((resolve, reject) => {
    server.once("error", () => server.listen(port, "127.0.0.1", resolve).once("error", reject));
    server.listen({ port, host: "::", ipv6Only: false }, resolve);
  });
  return { origin: `http://localhost:${port}`, server };
}

async function latency() {
  out.latency = {};
  // The keyframe interval in frames (30 fps): 1 s unless asked.
  const gop = P.gop ?? 30;
  const encoder = ffmpeg([
    "-re", "-f", "lavfi", "-i", clockGraph(), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", `${gop}`, "-keyint_min", `${gop}`, "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "96k", "-f", "flv", `${P.ingest}/${P.key}`,
  ]);
  let encoderLog = "";
  encoder.stderr.on("data", (d) => (encoderLog = (encoderLog + d).slice(-2000)));
  const encoderExit = new Promise((r) => encoder.on("exit", (code) => r(code)));
  const other = await otherOrigin(P.url, P.playbackId);
  const browserCtx = await browser.newContext({ viewport: DESKTOP });
  const errors = (p) => p.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));

  // The watch page.
  const watch = await browserCtx.newPage();
  errors(watch);
  await watch.goto(`${P.url}/watch/${P.playbackId}`);
  await watch.getByText("Live", { exact: true }).waitFor({ timeout: 30000 }).catch(async () => {
    throw new Error(`the stream did not go live; ffmpeg said: ${encoderLog}`);
  });
  await measure(watch, "watch");
  await shot(watch, "watch-clock");
  await watch.close();

  // The embed page, framed by a page of another origin.
  const host = await browserCtx.newPage();
  errors(host);
  await host.goto(`${other.origin}/embed.html`);
  const frame = await (async () => {
    for (let i = 0; i < 100; i++) {
      const f = host.frames().find((f) => f.url().startsWith(`${P.url}/embed/`));
      if (f) return f;
      await host.waitForTimeout(100);
    }
    throw new Error("the embed frame did not load");
  })();
  await frame.getByRole("link", { name: "Watch on ferrocast" }).waitFor({ timeout: 15000 });
  // The stream's status arrives over Socket.IO once the frame has connected.
  await frame.locator(".badge", { hasText: "Live" }).waitFor({ timeout: 15000 }).catch(() => {});
  out.embed = {
    host: await host.evaluate(() => location.origin),
    frame: await frame.evaluate(() => location.origin),
    watchLink: await frame.getByRole("link", { name: "Watch on ferrocast" }).getAttribute("href"),
    badge: await frame.locator(".badge").textContent(),
  };
  await measure(frame, "embed");
  out.embed.viewers = await frame.getByTestId("viewer-count").textContent();
  await shot(host, "embed-framed");
  await host.close();

  // The embed page alone, as a site's frame shows it.
  const alone = await browserCtx.newPage();
  await alone.goto(`${P.url}/embed/${P.playbackId}`);
  await alone.locator("video").waitFor();
  await alone.waitForFunction(() => (document.querySelector("video")?.currentTime ?? 0) > 0.5, null, { timeout: 30000 });
  await shot(alone, "embed");
  await alone.close();

  // Stock hls.js on the other origin.
  const stock = await browserCtx.newPage();
  errors(stock);
  await stock.goto(`${other.origin}/stock.html`);
  await measure(stock, "stock");
  out.latency.stock.hlsJs = await stock.evaluate(() => window.Hls.version);
  await stock.close();

  // The dashboard refuses to be framed: the browser blocks it (CSP frame-ancestors 'none').
  const framer = await browserCtx.newPage();
  const refusals = [];
  framer.on("console", (m) => /frame-ancestors|X-Frame-Options/.test(m.text()) && refusals.push(m.text()));
  await framer.goto(`${other.origin}/dashboard.html`);
  await framer.waitForTimeout(2000);
  const dash = framer.frames().find((f) => f !== framer.mainFrame());
  out.dashboardFrame = {
    url: dash?.url() ?? null,
    app: dash ? await dash.evaluate(() => !!document.querySelector("#root")).catch(() => false) : false,
    refusals,
  };
  await framer.close();
  step("dashboard refused");

  // The end: the watch page keeps playing after the status says offline, to the playlist's end.
  const last = await browserCtx.newPage();
  errors(last);
  await last.goto(`${P.url}/watch/${P.playbackId}`);
  await last.getByText("Live", { exact: true }).waitFor({ timeout: 30000 });
  await last.evaluate(installSampler, CLOCK_BITS);
  await last.waitForFunction(() => window.__clock.last !== null, null, { timeout: 30000 });
  await last.waitForTimeout(3000);
  // When the page learns the stream is offline, and when the player leaves the page.
  await last.evaluate(() => {
    const st = window.__clock;
    new MutationObserver(() => {
      if (st.offlineAt === undefined && document.querySelector(".badge")?.textContent === "Offline") {
        st.offlineAt = Date.now();
        st.codeAtOffline = st.last?.code ?? null;
      }
      const v = document.querySelector("video");
      if (st.why === undefined && v?.dataset.ended) st.why = v.dataset.ended;
      if (st.goneAt === undefined && !v) st.goneAt = Date.now();
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["data-ended"] });
  });
  const stoppedAt = Date.now();
  encoder.kill("SIGINT");
  await encoderExit;
  await last.getByText("This stream is offline").waitFor({ timeout: 30000 });
  const end = await last.evaluate(() => window.__clock);
  out.end = {
    stoppedCode: stoppedAt % 2 ** CLOCK_BITS,
    codeAtOffline: end.codeAtOffline,
    lastCode: end.last?.code ?? null,
    // Why the player said it ended: "ended" (the video's event) or "endlist" (the playlist
    // ended and the last media stopped a little short of it); "stalled" or "error" would mean
    // it never saw the end, and no reason at all that the page gave up on it.
    why: end.why ?? null,
    videoEnded: end.ended !== null,
    offlineToGoneMs: end.goneAt - end.offlineAt,
  };
  await shot(last, "watch-ended");
  step("the last frames reached the viewer");
  // The embed page says offline too.
  const after = await browserCtx.newPage();
  await after.goto(`${P.url}/embed/${P.playbackId}`);
  await after.getByText("This stream is offline.").waitFor({ timeout: 15000 });
  await shot(after, "embed-offline");
  other.server.close();
}

// The studio while ffmpeg streams a constant-bitrate test stream: the waiting state, then live
// within moments; the stats move (charts get points) and the bitrate read off the studio matches
// what the encoder says it sent; two viewers on watch pages in other browsers make the count 2
// (the creator's own studio is not a viewer); the destination the Rust test pointed at a closed
// port shows its error in words on a phone; preview, health and chat side by side on a desktop
// without scrolling, stacked on a phone; a long keyframe interval is warned about.
async function studio() {
  const page = await login(await browser.newContext({ viewport: DESKTOP }), "creator@example.com");
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.getByRole("heading", { name: "Main" }).waitFor();
  await page.getByTestId("waiting-encoder").filter({ hasText: "Waiting for your encoder" }).waitFor();
  out.waitingUrl = await page.getByTestId("waiting-url").textContent();
  await shot(page, "studio-waiting");
  step("waiting for the encoder");

  // x264 in CBR (filler data pads every second to the rate), 1 s GOP, AAC; `-progress` says
  // how many bytes the encoder has written so far.
  const progress = [];
  const encode = (gop, seconds) => {
    const p = spawn("ffmpeg", [
      "-hide_banner", "-loglevel", "error", "-re",
      "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
      "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
      "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0",
      "-b:v", "1500k", "-maxrate", "1500k", "-bufsize", "750k", "-x264-params", "nal-hrd=cbr",
      "-c:a", "aac", "-b:a", "96k", "-t", String(seconds),
      "-progress", "pipe:1", "-stats_period", "0.25", "-f", "flv", `${P.ingest}/${P.key}`,
    ], { stdio: ["ignore", "pipe", "pipe"] });
    children.push(p);
    let buf = "";
    p.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        const m = /^total_size=(\d+)$/.exec(line);
        if (m) progress.push([Date.now(), Number(m[1])]);
      }
    });
    return p;
  };
  const encoder = encode(30, 100);
  await page.getByTestId("source-status").filter({ hasText: "Live" }).waitFor({ timeout: 30000 });
  step("live");

  // Two viewers, each in a browser of their own.
  const viewers = [];
  for (let i = 0; i < 2; i++) {
    const v = await (await browser.newContext({ viewport: PHONE })).newPage();
    await v.goto(P.url + `/watch/${P.playbackId}`);
    viewers.push(v);
  }
  await page.getByTestId("studio-viewers").filter({ hasText: /^2$/ }).waitFor({ timeout: 30000 });
  // And it stays 2 (the counts of every socket, the studio's own included, have come in).
  await page.waitForTimeout(2500);
  out.viewers = await page.getByTestId("studio-viewers").textContent();
  out.watchCounts = await Promise.all(viewers.map((v) => v.getByTestId("viewer-count").textContent().catch(() => null)));
  step("viewers");

  // The charts fill; the studio's bitrate, read each second for 12 s, against the encoder's.
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="chart-bitrate"]')?.getAttribute("data-points") ?? 0) >= 8, null, { timeout: 30000 });
  const readings = [];
  const from = Date.now();
  let shown = null;
  for (let i = 0; i < 12; i++) {
    await page.waitForTimeout(1000);
    const text = await page.getByTestId("chart-bitrate").locator("figcaption strong").textContent();
    if (text !== shown) readings.push(Number(text.replace(/[^0-9]/g, "")));
    shown = text;
  }
  const to = Date.now();
  const within = progress.filter(([t]) => t >= from - 1000 && t <= to);
  const [t0, b0] = within[0];
  const [t1, b1] = within.at(-1);
  out.bitrate = {
    studio: readings.reduce((a, b) => a + b, 0) / readings.length,
    encoder: ((b1 - b0) * 8) / (t1 - t0),
    readings,
  };
  out.points = Number(await page.getByTestId("chart-bitrate").getAttribute("data-points"));
  out.fpsShown = await page.getByTestId("chart-fps").locator("figcaption strong").textContent();
  out.keyframe = await page.getByTestId("studio-keyframe").textContent();
  out.keyframeWarnings = await page.getByTestId("keyframe-warning").count();
  step("stats move");

  // Rotating the key while live says it cuts the stream (declined here).
  page.once("dialog", (d) => ((out.rotateAsk = d.message()), d.dismiss()));
  await page.getByTestId("rotate-key").click();
  await page.waitForTimeout(300);
  out.stillLive = await page.getByTestId("source-status").textContent();

  // Preview, health and chat side by side, in the window, without scrolling.
  const boxes = async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    return page.evaluate(() =>
      Object.fromEntries(
        ["studio-preview", "studio-health", "studio-chat"].map((c) => {
          const r = document.querySelector(`.${c}`).getBoundingClientRect();
          return [c, { left: r.left, right: r.right, top: r.top, bottom: r.bottom }];
        }),
      ),
    );
  };
  out.layout = { desktop: await boxes(), window: await page.evaluate(() => [innerWidth, innerHeight]) };
  await shot(page, "studio-live");
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(200);
  out.layout.phone = await boxes();
  step("layout");

  // The destination on a closed port: its error, in words, on a phone.
  const dest = page.getByTestId("destination");
  await dest.getByTestId("destination-error").waitFor({ timeout: 30000 });
  await dest.scrollIntoViewIfNeeded();
  out.destination = {
    state: await dest.getByTestId("destination-status").textContent(),
    words: await dest.getByTestId("destination-words").textContent(),
    error: await dest.getByTestId("destination-error").textContent(),
    box: await dest.getByTestId("destination-error").boundingBox(),
  };
  await page.screenshot({ path: `${P.shots}/studio-destination-error-phone.png`, fullPage: false });
  await dest.getByRole("button", { name: "Retry now" }).click();
  await page.waitForTimeout(500);
  out.retryProblems = await page.getByRole("alert").filter({ hasText: /Not live|Destination is off/ }).count();
  await dest.getByTestId("destination-error").waitFor({ timeout: 15000 });
  await page.setViewportSize(DESKTOP);
  step("destination error");

  // An encoder with 4 s between keyframes: the studio says what it costs and what to change.
  encoder.kill("SIGINT");
  await page.getByTestId("source-status").filter({ hasText: "Offline" }).waitFor({ timeout: 30000 });
  await page.getByTestId("waiting-encoder").waitFor({ timeout: 10000 });
  const slow = encode(120, 60);
  await page.getByTestId("source-status").filter({ hasText: "Live" }).waitFor({ timeout: 30000 });
  await page.getByTestId("keyframe-warning").waitFor({ timeout: 30000 });
  out.keyframeWarning = await page.getByTestId("keyframe-warning").textContent();
  await shot(page, "studio-keyframe-warning");
  slow.kill("SIGINT");
  for (const v of viewers) await v.context().close();
  step("keyframe warning");
}

// ---------------------------------------------------------------------------------------------
// A creator's videos (`P.file`: an MP4 the Rust test made, at least three 5 MB chunks): the
// empty library, an upload through the file input that a reload cuts off half-way and that
// continues where it stopped once the file is chosen again, paused and resumed, processing to
// ready, an edit, the video page playing, a seek to 5 s through the seek bar, the preview strip
// on hover, the not-found page of a video, and the delete that empties the library again.
async function videos() {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await login(ctx, P.accounts.creator.email);
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.getByRole("link", { name: "Videos", exact: true }).click();
  await page.waitForURL("**/library");
  await page.getByRole("heading", { name: "Your videos" }).waitFor();
  await page.getByTestId("library-empty").waitFor();
  out.storageEmpty = await page.getByTestId("storage-used").textContent();
  await shot(page, "library-empty");
  step("empty library");

  // Each chunk (a PATCH) waits a moment before it goes, so that the upload is seen under way
  // on loopback. A request the page gave up on (a reload, a pause) is left alone.
  await ctx.route("**/api/uploads/**", async (route) => {
    if (route.request().method() === "PATCH") await new Promise((r) => setTimeout(r, P.chunkDelayMs ?? 2500));
    await route.continue().catch(() => {});
  });
  const percent = async () => Number(await page.getByTestId("upload-progress").getAttribute("aria-valuenow"));
  const pastFirstChunk = () =>
    page.waitForFunction(() => {
      const p = Number(document.querySelector("[data-testid=upload-progress]")?.getAttribute("aria-valuenow") ?? 0);
      return p >= 30 && p < 100;
    }, null, { timeout: 30000 });
  await page.getByTestId("upload-input").setInputFiles(P.file);
  await page.getByTestId("upload-progress").waitFor();
  await pastFirstChunk();
  out.uploading = { percent: await percent(), text: await page.getByTestId("upload").textContent() };
  await shot(page, "library-uploading");
  step("uploading");

  // A reload half-way: the page names the unfinished upload; the same file continues from where
  // it stopped (tus finds it by the file's fingerprint and asks the server for its offset).
  await page.reload();
  await page.getByTestId("unfinished-upload").waitFor();
  out.unfinished = await page.getByTestId("unfinished-upload").textContent();
  await page.getByTestId("upload-input").setInputFiles(P.file);
  await page.getByTestId("upload-resumed").waitFor({ timeout: 30000 });
  out.resumedAt = Number((await page.getByTestId("upload-resumed").textContent()).match(/(\d+) %/)?.[1]);
  step("resumed after a reload");

  // Paused, it stays where it is; resumed, it finishes.
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByText(/^Paused at/).waitFor();
  const paused = await percent();
  await page.waitForTimeout(3000);
  out.pause = { at: paused, after: await percent() };
  await page.getByRole("button", { name: "Resume" }).click();
  step("paused and resumed");

  // Uploaded: the upload's row goes, the video's row is there, processing, then ready.
  await page.getByTestId("upload").waitFor({ state: "detached", timeout: 60000 });
  const row = page.getByTestId("video-row").first();
  await row.waitFor();
  out.statuses = [];
  for (let i = 0; i < 600; i++) {
    const status = await row.getAttribute("data-status");
    const badge = (await row.getByTestId("video-status").textContent()).trim();
    if (out.statuses.at(-1) !== badge) out.statuses.push(badge);
    if (status === "ready" || status === "failed") break;
    await page.waitForTimeout(200);
  }
  const status = await row.getAttribute("data-status");
  if (status !== "ready") {
    const failure = await row.getByTestId("video-failure").textContent({ timeout: 1000 }).catch(() => "");
    throw new Error(`the video did not become ready: ${status} ${failure} (${out.statuses.join(" → ")})`);
  }
  out.storageUsed = await page.getByTestId("storage-used").textContent();
  step("processed");

  // Edited in the dialog.
  await row.getByRole("button", { name: /^Edit / }).click();
  const dialog = page.getByTestId("edit-video");
  await dialog.getByLabel("Title").fill("Test pattern");
  await dialog.getByLabel("Description").fill("Eight seconds of colour bars\nand a tone.");
  await dialog.getByLabel("Tags").fill("test, pattern");
  await dialog.getByLabel("Visibility").selectOption("unlisted");
  await dialog.getByRole("button", { name: "Save", exact: true }).click();
  await dialog.waitFor({ state: "detached" });
  await row.getByTestId("video-title").filter({ hasText: "Test pattern" }).waitFor();
  await shot(page, "library-list");
  step("edited");

  // The video's page: it plays, seeks to 5 s through the seek bar and goes on from there.
  await row.getByTestId("video-title").click();
  await page.waitForURL("**/v/**");
  out.videoPath = new URL(page.url()).pathname;
  await page.getByTestId("video-page-title").filter({ hasText: "Test pattern" }).waitFor();
  const video = page.getByTestId("vod-video");
  await video.waitFor();
  await page.waitForFunction(() => (document.querySelector("[data-testid=vod-video]")?.duration ?? 0) > 7, null, { timeout: 30000 });
  await video.evaluate((v) => v.play());
  await page.waitForFunction(() => (document.querySelector("[data-testid=vod-video]")?.currentTime ?? 0) > 0.3, null, { timeout: 20000 });
  out.duration = await video.evaluate((v) => v.duration);
  const bar = page.getByTestId("seek-bar");
  const box = await bar.boundingBox();
  await page.mouse.click(box.x + (box.width * 5) / out.duration, box.y + box.height / 2);
  await page.waitForFunction(() => !document.querySelector("[data-testid=vod-video]")?.seeking, null, { timeout: 20000 });
  const seeked = await video.evaluate((v) => ({ t: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames }));
  await page.waitForTimeout(1200);
  const later = await video.evaluate((v) => ({ t: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames, paused: v.paused }));
  out.seek = { seeked, later, valuenow: await bar.getAttribute("aria-valuenow") };
  step("plays and seeks");

  // The preview strip's frame for the time under the pointer.
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  const frame = page.getByTestId("seek-preview").locator(".vod-preview-frame");
  await frame.waitFor();
  out.preview = await frame.evaluate((f) => ({ tile: f.dataset.tile, image: getComputedStyle(f).backgroundImage, position: getComputedStyle(f).backgroundPosition, width: f.offsetWidth }));
  out.preview.time = await page.getByTestId("seek-preview").textContent();
  out.strip = await page.evaluate(async (image) => {
    const url = image.match(/url\("?(.*?)"?\)/)?.[1];
    const r = await fetch(url);
    return { status: r.status, type: r.headers.get("content-type") };
  }, out.preview.image);
  await page.screenshot({ path: `${P.shots}/video-preview-desktop.png` });
  step("preview");
  out.download = await page.getByTestId("download-mp4").getAttribute("href");
  await page.mouse.move(0, 0);
  await video.evaluate((v) => v.pause());
  await shot(page, "video");

  // An address no video has.
  await page.goto(P.url + "/v/00000000-0000-4000-8000-000000000000");
  await page.getByRole("heading", { name: "This video does not exist or is private" }).waitFor();
  step("not found");

  // Deleted: the library is empty again and its storage is free.
  await page.goto(P.url + "/library");
  await page.getByTestId("video-row").first().getByRole("button", { name: /^Delete / }).click();
  await page.getByTestId("delete-video").getByRole("button", { name: "Delete video" }).click();
  await page.getByTestId("library-empty").waitFor();
  out.storageAfter = await page.getByTestId("storage-used").textContent();
  step("deleted");

  // The creator's watch page asks for past broadcasts and, with none (an upload is not one),
  // shows no such section.
  const past = page.waitForResponse((r) => r.url().endsWith(`/api/watch/${P.playbackId}/videos`));
  await page.goto(`${P.url}/watch/${P.playbackId}`);
  await page.getByTestId("watch-title").waitFor();
  out.pastBroadcasts = { status: (await past).status(), shown: await page.getByTestId("past-broadcasts").count() };
  step("no past broadcasts");
  await ctx.close();
}

// A past broadcast (the Rust test recorded one with ffmpeg): an anonymous viewer finds it on
// the creator's watch page, with its poster and duration, opens it, and it plays.
async function pastBroadcasts() {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.goto(`${P.url}/watch/${P.playbackId}`);
  const section = page.getByTestId("past-broadcasts");
  await section.waitFor();
  const card = section.getByTestId("video-card").first();
  await card.locator("img").evaluate((i) => i.complete || new Promise((r) => (i.onload = i.onerror = r)));
  out.past = {
    cards: await section.getByTestId("video-card").count(),
    title: (await card.locator(".vod-card-title").textContent()).trim(),
    duration: (await card.locator(".vod-duration").textContent()).trim(),
    poster: await card.locator("img").evaluate((i) => i.naturalWidth),
  };
  await shot(page, "watch-past-broadcasts");
  step("listed");
  await card.click();
  await page.waitForURL("**/v/**");
  out.past.title_on_page = (await page.getByTestId("video-page-title").textContent()).trim();
  const video = page.getByTestId("vod-video");
  await page.waitForFunction(() => (document.querySelector("[data-testid=vod-video]")?.duration ?? 0) > 1, null, { timeout: 30000 });
  await video.evaluate((v) => { v.muted = true; return v.play(); });
  await page.waitForFunction(() => (document.querySelector("[data-testid=vod-video]")?.currentTime ?? 0) > 1, null, { timeout: 20000 });
  out.past.played = await video.evaluate((v) => ({ t: v.currentTime, duration: v.duration, frames: v.getVideoPlaybackQuality().totalVideoFrames }));
  step("plays");
  // The player counted the view; leaving the page sends the time played (a heartbeat), and
  // Browse lists the video among the trending ones.
  await page.getByTestId("view-count").filter({ hasText: "1 view" }).waitFor({ timeout: 10000 });
  out.past.views = (await page.getByTestId("view-count").textContent()).trim();
  await page.waitForTimeout(1500);
  step("counted");
  await page.goto(`${P.url}/browse`);
  const trending = page.getByTestId("trending-card");
  await trending.first().waitFor({ timeout: 10000 });
  out.past.trending = {
    cards: await trending.count(),
    title: (await trending.first().locator(".vod-card-title").textContent()).trim(),
    views: (await trending.first().getByTestId("trending-views").textContent()).trim(),
  };
  step("trending");
  await ctx.close();
}

// Stream info and Browse: the creator gives the stream a title, a category and tags in the
// Dashboard and goes live with ffmpeg; an anonymous viewer opens Browse, sees the card (title,
// a picture of the stream, category), filters by category, clicks through to the watch page,
// which shows the title, category and tags — and follows a new title the creator saves while
// live, without a reload. P: url, shots, accounts.creator.email, ingest, key, title.
/** After a broadcast with an audience, the creator opens the Analytics tab from the studio and
 * reads the broadcast's figures and charts. */
async function analytics() {
  const creator = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.creator.email);
  creator.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `creator: ${e}`]));
  await creator.getByRole("navigation", { name: "Studio" }).getByRole("link", { name: "Analytics" }).click();
  await creator.waitForURL("**/dashboard/analytics");
  const detail = creator.getByTestId("broadcast-detail");
  await detail.waitFor({ timeout: 20000 });
  await detail.getByTestId("analytics-chart").waitFor({ timeout: 20000 });
  step("analytics");
  const text = async (id) => (await creator.getByTestId(id).first().textContent()).trim();
  out.analytics = {
    peak: await text("analytics-peak"),
    unique: await text("analytics-unique"),
    watch: await text("analytics-watch"),
    rows: await creator.getByTestId("broadcast-row").count(),
    charts: await creator.locator("[data-testid=analytics-chart] svg, [data-testid=channel-chart] svg").count(),
    points: await detail.locator("[data-testid=analytics-chart] circle").count(),
    splits: await detail.getByTestId("analytics-split").allTextContents(),
    channelTotals: (await creator.getByTestId("channel-totals").textContent()).trim(),
  };
  await creator.getByTestId("video-figures").waitFor({ timeout: 20000 });
  out.analytics.videos = await creator
    .getByTestId("video-figures-row")
    .evaluateAll((rows) => rows.map((r) => [r.querySelector("th").textContent.trim(), r.querySelector("td").textContent.trim()]));
  const download = creator.waitForEvent("download");
  await creator.getByTestId("csv-download").click();
  const file = await download;
  out.analytics.csvName = file.suggestedFilename();
  out.analytics.csvHead = readFileSync(await file.path(), "utf8").split("\n")[0].trim();
  await shot(creator, "dashboard-analytics");
  step("csv");
}

async function browse() {
  const creator = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.creator.email);
  creator.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `creator: ${e}`]));
  const form = creator.getByRole("form", { name: "Edit stream info" });
  await form.waitFor();
  await form.getByLabel("Title").fill(P.title);
  await form.getByLabel(/^Description/).fill("Three classics back to back.\nViewers pick the order.");
  await form.getByLabel("Category").selectOption("gaming");
  await form.getByLabel("Language").selectOption("en");
  await form.getByLabel(/^Tags/).fill("speedrun, retro");
  await form.getByRole("button", { name: "Update stream info" }).click();
  await creator.getByTestId("stream-info-saved").waitFor({ timeout: 10000 });
  await shot(creator, "dashboard-stream-info");
  step("stream info set");

  const encoder = ffmpeg([
    "-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "96k", "-t", "120", "-f", "flv", `${P.ingest}/${P.key}`,
  ]);
  await creator.getByTestId("source-status").filter({ hasText: "Live" }).waitFor({ timeout: 30000 });
  step("live");

  const viewerCtx = await browser.newContext({ viewport: DESKTOP });
  const viewer = await viewerCtx.newPage();
  viewer.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `viewer: ${e}`]));
  await viewer.goto(P.url + "/");
  await viewer.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Browse" }).click();
  await viewer.waitForURL("**/browse");
  const card = viewer.getByTestId("live-card").filter({ hasText: P.title });
  await card.waitFor({ timeout: 30000 });
  const img = card.getByTestId("live-thumbnail");
  // A picture is made on demand (two at a time, within 5 s): a busy node answers with the app's
  // icon for now, and the page asks again later; here, a few tries a moment apart.
  for (let i = 0; i < 6; i++) {
    await img.evaluate((i) => i.complete || new Promise((r) => (i.onload = i.onerror = r)));
    if ((await img.evaluate((i) => i.naturalWidth)) === 640) break;
    await viewer.waitForTimeout(2000);
    await img.evaluate((i, n) => {
      i.src = i.src.replace(/\?.*$/, `?try=${n}`);
    }, i);
  }
  out.browse = {
    cards: await viewer.getByTestId("live-card").count(),
    title: (await card.getByTestId("live-title").textContent()).trim(),
    category: (await card.getByTestId("live-category").textContent()).trim(),
    viewers: (await card.getByTestId("live-viewers").textContent()).trim(),
    thumbnail: await img.evaluate((i) => [i.naturalWidth, i.naturalHeight]),
    badge: await card.locator(".badge.live").count(),
  };
  await shot(viewer, "browse");
  step("card");

  const chips = viewer.getByRole("group", { name: "Category" });
  await chips.getByRole("button", { name: "Music" }).click();
  await viewer.getByTestId("browse-empty").waitFor({ timeout: 10000 });
  out.browse.emptyUrl = new URL(viewer.url()).search;
  await shot(viewer, "browse-empty-category");
  await chips.getByRole("button", { name: "Gaming" }).click();
  await card.waitFor({ timeout: 10000 });
  out.browse.filteredUrl = new URL(viewer.url()).search;
  step("filtered");

  await card.click();
  await viewer.waitForURL("**/watch/**");
  await viewer.getByTestId("watch-title").filter({ hasText: P.title }).waitFor();
  out.watch = {
    title: (await viewer.getByTestId("watch-title").textContent()).trim(),
    category: (await viewer.getByTestId("watch-category").textContent()).trim(),
    tags: (await viewer.getByTestId("watch-tags").textContent()).trim(),
    description: await viewer.getByTestId("watch-description").locator("p").innerText(),
  };
  await viewer.getByText("Live", { exact: true }).waitFor({ timeout: 20000 });
  await shot(viewer, "watch-stream-info");
  step("watch");

  // A new title while live: the viewer's page follows, without a reload.
  await viewer.evaluate(() => (window.__notReloaded = true));
  await form.getByLabel("Title").fill(`${P.title}, part two`);
  await form.getByRole("button", { name: "Update stream info" }).click();
  await viewer.getByTestId("watch-title").filter({ hasText: `${P.title}, part two` }).waitFor({ timeout: 10000 });
  out.watch.pushed = (await viewer.getByTestId("watch-title").textContent()).trim();
  out.watch.reloaded = !(await viewer.evaluate(() => window.__notReloaded === true));
  step("title pushed");
  encoder.kill("SIGINT");
  await viewerCtx.close();
}

// Profiles and channels: a creator sets a handle (the field says at once that a reserved one
// will not do), a bio, a link, an avatar and a banner in Settings, then opens their channel and
// sees them; the watch page's creator name leads there too; an unknown handle is the channel's
// own not-found page. P: url, shots, avatar and banner (picture files), playbackId, accounts.
async function profile() {
  const page = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.creator.email);
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `profile: ${e}`]));
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Channel" }).waitFor();
  const handle = page.getByLabel("Handle");
  await handle.fill("admin");
  await page.getByTestId("handle-hint").filter({ hasText: "reserved" }).waitFor();
  out.reservedHint = await page.getByTestId("handle-hint").textContent();
  await handle.fill("Bad handle!");
  await page.getByTestId("handle-hint").filter({ hasText: "Only letters" }).waitFor();
  await handle.fill(P.handle);
  await page.getByTestId("handle-hint").filter({ hasText: "is free" }).waitFor();
  step("handle checked as typed");
  await page.getByLabel("Bio").fill(P.bio);
  await page.getByRole("button", { name: "Add a link" }).click();
  await page.getByLabel("Link 1 label").fill("Website");
  await page.getByLabel("Link 1 URL").fill("https://ada.example/code");
  await page.getByTestId("avatar-file").setInputFiles(P.avatar);
  await page.getByTestId("avatar-picture").locator("img[src^='/media/profiles/']").waitFor({ timeout: 20000 });
  await page.getByTestId("banner-file").setInputFiles(P.banner);
  await page.getByTestId("banner-picture").locator("img[src^='/media/profiles/']").waitFor({ timeout: 20000 });
  step("pictures uploaded");
  await page.getByRole("button", { name: "Save profile" }).click();
  await page.getByText("Profile saved.").waitFor();
  await page.getByTestId("my-channel-link").filter({ hasText: `/c/${P.handle.toLowerCase()}` }).waitFor();
  await page.getByTestId("channel-settings").scrollIntoViewIfNeeded();
  await shot(page, "settings-profile");
  step("profile saved");

  await page.getByTestId("my-channel-link").click();
  await page.waitForURL(`**/c/${P.handle.toLowerCase()}`);
  await page.getByTestId("channel-name").waitFor();
  // The pictures have loaded (not just their elements).
  const natural = (sel) => page.locator(sel).first().evaluate(async (img) => {
    if (!img.complete) await new Promise((r) => img.addEventListener("load", r, { once: true }));
    return [img.naturalWidth, img.naturalHeight];
  });
  out.channel = {
    name: await page.getByTestId("channel-name").textContent(),
    handle: await page.getByTestId("channel-handle").textContent(),
    bio: await page.getByTestId("channel-bio").textContent(),
    link: await page.getByRole("link", { name: "Website" }).first().getAttribute("href"),
    avatar: await natural(".channel-avatar"),
    banner: await natural("[data-testid=channel-banner]"),
  };
  await shot(page, "channel");
  await page.getByTestId("channel-tab-about").click();
  await page.getByTestId("channel-about").getByText("Joined").waitFor();
  await shot(page, "channel-about");
  step("channel shows the profile");

  const viewer = await (await browser.newContext({ viewport: PHONE })).newPage();
  await viewer.goto(P.url + `/watch/${P.playbackId}`);
  await viewer.getByTestId("watch-creator-link").click();
  await viewer.waitForURL(`**/c/${P.handle.toLowerCase()}`);
  await viewer.getByTestId("channel-bio").waitFor();
  step("watch page links to the channel");
  await viewer.goto(P.url + "/c/nobody_at_all");
  await viewer.getByRole("heading", { name: "This channel does not exist" }).waitFor();
  await shot(viewer, "channel-missing");
  step("unknown channel");
}

/** A creator announces a stream in the dashboard's schedule editor; a viewer on a phone types
 * the creator's handle with a typo in the top bar's search box, finds and opens the channel,
 * and its Schedule tab shows the stream and the calendar feed's link, which serves the
 * calendar. */
async function searchAndSchedule() {
  const creator = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.creator.email);
  creator.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `creator: ${e}`]));
  const editor = creator.getByTestId("schedule-editor");
  await editor.waitFor();
  // Two days from now at 18:30, typed as the reader's local time.
  const at = new Date(Date.now() + 2 * 86400000);
  at.setHours(18, 30, 0, 0);
  const pad = (n) => String(n).padStart(2, "0");
  const local = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
  await editor.getByLabel("Headline").fill(P.title);
  await editor.getByLabel("Starts").fill(local);
  await editor.getByLabel("Length").selectOption("90");
  await editor.getByLabel("Topic").selectOption("gaming");
  await editor.getByLabel("Reminder").selectOption("30");
  await editor.getByRole("button", { name: "Add to schedule" }).click();
  await editor.getByTestId("my-schedule-item").filter({ hasText: P.title }).waitFor();
  out.startsAt = at.toISOString();
  await editor.scrollIntoViewIfNeeded();
  await shot(creator, "dashboard-schedule");
  step("scheduled in the dashboard");

  const page = await (await browser.newContext({ viewport: PHONE })).newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `viewer: ${e}`]));
  await page.goto(P.url + "/");
  await page.getByTestId("top-search").fill(P.typo);
  await page.getByTestId("top-search").press("Enter");
  await page.waitForURL(/\/search\?q=/);
  const hit = page.getByTestId("search-channel").filter({ hasText: `@${P.handle}` });
  await hit.waitFor();
  out.searchHit = (await hit.textContent()).replace(/\s+/g, " ");
  await shot(page, "search-results");
  step("found the channel by its handle with a typo");
  await hit.click();
  await page.waitForURL(`**/c/${P.handle}`);
  await page.getByTestId("channel-name").waitFor();
  step("opened the channel");
  await page.getByTestId("channel-tab-schedule").click();
  const item = page.getByTestId("schedule-item").filter({ hasText: P.title });
  await item.waitFor();
  out.scheduleItem = (await item.textContent()).replace(/\s+/g, " ");
  out.icsHref = await page.getByTestId("schedule-ics").getAttribute("href");
  await shot(page, "channel-schedule");
  step("the schedule tab shows the stream and the calendar link");
  // The link serves the calendar, as a calendar app fetches it.
  const r = await fetch(out.icsHref);
  out.ics = { status: r.status, type: r.headers.get("content-type"), body: await r.text() };
  step("calendar fetched");
}

// Scenarios run on their own (`P.scenario`); without one, the main run below.
// Engagement on a video's page: a signed-in viewer likes the video (the count goes up and the
// button stays pressed), comments, replies to the comment, and sees every count follow without
// a reload; after a reload the page says the same; deleting the reply brings the count down.
// P: url, shots, accounts.viewer.email, video.
async function engage() {
  const page = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.viewer.email);
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.goto(`${P.url}/v/${P.video}`);
  const like = page.getByTestId("like-button");
  const likes = page.getByTestId("like-count");
  const comments = page.getByTestId("comment-count");
  await like.waitFor();
  out.engage = { before: { likes: (await likes.textContent()).trim(), comments: (await comments.textContent()).trim() } };
  await like.click();
  await page.waitForFunction(() => document.querySelector("[data-testid=like-button]")?.getAttribute("aria-pressed") === "true");
  out.engage.liked = { likes: (await likes.textContent()).trim(), pressed: await like.getAttribute("aria-pressed") };
  step("liked");
  await page.getByRole("textbox", { name: "Add a comment" }).fill("What a great video!\nThe second half especially.");
  await page.getByRole("button", { name: "Comment", exact: true }).click();
  await page.getByTestId("comment").filter({ hasText: "What a great video!" }).waitFor();
  await comments.filter({ hasText: "1" }).waitFor();
  out.engage.commented = (await comments.textContent()).trim();
  step("commented");
  await page.getByRole("button", { name: /^Reply to / }).first().click();
  await page.getByRole("textbox", { name: /^Reply to / }).fill("Agreed, the ending too");
  await page.getByRole("button", { name: "Reply", exact: true }).click();
  await page.getByTestId("reply").filter({ hasText: "Agreed, the ending too" }).waitFor();
  await comments.filter({ hasText: "2" }).waitFor();
  out.engage.replied = { comments: (await comments.textContent()).trim(), replies: await page.getByTestId("reply").count() };
  await shot(page, "video-comments");
  step("replied");
  await page.reload();
  await page.getByTestId("reply").filter({ hasText: "Agreed, the ending too" }).waitFor();
  out.engage.reloaded = {
    likes: (await likes.textContent()).trim(),
    pressed: await like.getAttribute("aria-pressed"),
    comments: (await comments.textContent()).trim(),
    text: (await page.getByTestId("comment").first().getByTestId("comment-text").first().textContent()).trim(),
  };
  step("persisted");
  page.once("dialog", (d) => d.accept());
  await page.getByTestId("reply").getByRole("button", { name: "Delete your comment" }).click();
  await comments.filter({ hasText: "1" }).waitFor();
  out.engage.deleted = { comments: (await comments.textContent()).trim(), replies: await page.getByTestId("reply").count() };
  step("deleted");
}

// Notifications: a creator is live; a viewer finds the stream in Browse ("live now"), opens the
// creator's channel from the watch page, follows it and turns on push in Settings → Notifications
// (permission granted in the context; the browser's push service is the tests' stand-in: Chromium
// would register with Google's, which a test cannot reach, so `pushManager.subscribe` answers
// with the stand-in's subscription and the app stores it as it would a real one). The creator
// goes live again; the viewer's bell shows the notice within 5 s, and opening it leads to the
// stream. P: url, shots, accounts.viewer, ingest, key, playbackId, title, push (the
// subscription).
async function notify() {
  const encode = (seconds) =>
    ffmpeg([
      "-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
      "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
      "-c:a", "aac", "-b:a", "96k", "-t", String(seconds), "-f", "flv", `${P.ingest}/${P.key}`,
    ]);
  const isLive = async () => (await (await fetch(`${P.url}/api/watch/${P.playbackId}`)).json()).live === true;
  const first = encode(120);
  const firstDone = new Promise((r) => first.on("exit", r));

  const ctx = await browser.newContext({ viewport: DESKTOP });
  await ctx.grantPermissions(["notifications"], { origin: P.url });
  await ctx.addInitScript((sub) => {
    if (!("PushManager" in self)) return;
    let current = null;
    const make = () => ({
      endpoint: sub.endpoint,
      expirationTime: null,
      toJSON: () => ({ endpoint: sub.endpoint, expirationTime: null, keys: sub.keys }),
      unsubscribe: async () => ((current = null), true),
    });
    PushManager.prototype.subscribe = async function () {
      return (current = make());
    };
    PushManager.prototype.getSubscription = async function () {
      return current;
    };
  }, P.push);
  const page = await login(ctx, P.accounts.viewer.email);
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `viewer: ${e}`]));
  // First by search: the creator's handle with a typo, in the top bar.
  await page.getByTestId("top-search").fill(P.typo);
  await page.getByTestId("top-search").press("Enter");
  await page.waitForURL("**/search?**");
  const hit = page.getByTestId("search-channel").filter({ hasText: `@${P.handle}` });
  await hit.waitFor({ timeout: 15000 });
  await hit.click();
  await page.waitForURL(`**/c/${P.handle}`);
  out.searched = (await page.getByTestId("channel-handle").textContent()).trim();
  step("found by search");
  // Then in Browse's live now.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Browse" }).click();
  await page.waitForURL("**/browse");
  const card = page.getByTestId("live-card").filter({ hasText: P.title });
  await card.waitFor({ timeout: 30000 });
  step("found live");
  await card.click();
  await page.waitForURL("**/watch/**");
  await page.getByTestId("watch-creator-link").click();
  await page.waitForURL("**/c/**");
  await page.getByTestId("channel-follow").click();
  await page.getByTestId("channel-follow").filter({ hasText: "Following" }).waitFor({ timeout: 10000 });
  step("followed");

  await page.goto(P.url + "/settings/notifications");
  await page.getByRole("heading", { name: "What you are told, and how" }).waitFor();
  await page.getByTestId("push-toggle").click();
  await page.getByTestId("push-toggle").filter({ hasText: "Turn off push" }).waitFor({ timeout: 15000 });
  out.serviceWorker = await page.evaluate(async () => !!(await navigator.serviceWorker.getRegistration("/"))?.active);
  out.permission = await page.evaluate(() => Notification.permission);
  await shot(page, "settings-notifications");
  step("push on");

  // The creator stops, and comes back a little later.
  first.kill("SIGINT");
  await firstDone;
  for (let i = 0; i < 100 && (await isLive()); i++) await page.waitForTimeout(200);
  await page.goto(P.url + "/browse");
  await page.getByTestId("bell").waitFor();
  await page.getByTestId("following-channel").first().waitFor({ timeout: 10000 });
  out.following = await page.getByTestId("following-channel").evaluateAll((links) => links.map((l) => l.getAttribute("href")));
  await shot(page, "browse-following");
  // The page's socket is in the user's room before the creator goes live again.
  await page.waitForTimeout(1000);
  const second = encode(60);
  while (!(await isLive())) await page.waitForTimeout(100);
  const liveAt = Date.now();
  step("live again");
  await page.getByTestId("bell-count").filter({ hasText: "1" }).waitFor({ timeout: 15000 });
  out.bellAfterMs = Date.now() - liveAt;
  await page.getByTestId("bell").click();
  const notice = page.getByTestId("notice").first();
  await notice.waitFor();
  out.notice = (await notice.textContent()).trim();
  await shot(page, "notifications-bell");
  step("bell");
  await notice.click();
  await page.waitForURL(`**/watch/${P.playbackId}`);
  await page.getByTestId("bell-count").waitFor({ state: "detached", timeout: 5000 }).catch(() => {});
  out.unreadAfter = await page.getByTestId("bell-count").count();
  step("opened");
  second.kill("SIGINT");
  await ctx.close();
}

// A creator connects Stripe through the Connect stand-in's onboarding, requests a payout from
// the Earnings page; an administrator approves it on Revenue and payouts (a Stripe transfer);
// the creator's page shows it paid. Screenshots of both pages at both widths.
async function earnings() {
  const creator = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.creator.email);
  creator.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `creator: ${e}`]));
  await creator.getByRole("navigation", { name: "Studio" }).getByRole("link", { name: "Earnings" }).click();
  await creator.waitForURL("**/dashboard/earnings");
  await creator.getByTestId("balance").first().waitFor();
  const figure = async (id) => (await creator.getByTestId(id).first().textContent()).trim();
  out.before = { available: await figure("balance-available"), pending: await figure("balance-pending") };
  step("earnings");
  await creator.getByTestId("connect-stripe").click();
  await creator.getByRole("button", { name: "Agree and submit" }).click();
  await creator.waitForURL("**/dashboard/earnings");
  await creator.getByTestId("stripe-method").getByText("Connected").waitFor({ timeout: 10000 });
  step("connected");
  await creator.getByLabel("Amount").fill("50");
  await creator.getByTestId("request-payout").click();
  await creator.getByTestId("earnings-notice").waitFor();
  await creator.getByTestId("payout-status").first().filter({ hasText: "Waiting for approval" }).waitFor();
  out.requested = { available: await figure("balance-available"), inFlight: await figure("balance-in-flight") };
  await shot(creator, "earnings");
  step("requested");

  const admin = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.admin.email);
  admin.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `admin: ${e}`]));
  admin.on("dialog", (d) => d.accept());
  await admin.goto(P.url + "/admin");
  await admin.getByTestId("revenue-link").click();
  await admin.waitForURL("**/admin/revenue");
  const row = admin.getByTestId("payout-row").first();
  await row.waitFor();
  await admin.getByTestId("revenue-tiles").first().waitFor();
  await shot(admin, "admin-revenue");
  await row.getByTestId("approve-payout").click();
  await admin.getByTestId("payout-done").waitFor({ timeout: 10000 });
  out.approved = (await admin.getByTestId("payout-done").textContent()).trim();
  await admin.getByText("No payouts waiting.").waitFor();
  step("approved");

  await creator.reload();
  await creator.getByTestId("payout-status").first().filter({ hasText: "Paid" }).waitFor();
  out.after = { available: await figure("balance-available"), paid: await figure("balance-paid"), inFlight: await figure("balance-in-flight") };
  await creator.getByTestId("statements").getByRole("link", { name: "View and print" }).first().click();
  await creator.getByTestId("statement-lines").waitFor();
  out.statementRows = await creator.getByTestId("statement-lines").locator("tbody tr").count();
  await shot(creator, "earnings-statement");
  step("paid");
}

// Memberships: the creator's Members studio lists their tiers and member; a viewer who is not a
// member sees the members-only video locked, with what unlocks it and the Join picker; a member
// plays it (hls.js with their playback token).
async function members() {
  const creator = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.creator.email);
  creator.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `creator: ${e}`]));
  await creator.getByRole("navigation", { name: "Studio" }).getByRole("link", { name: "Members" }).click();
  await creator.waitForURL("**/dashboard/members");
  await creator.getByTestId("tier-row").nth(3).waitFor();
  await creator.getByTestId("members-table").waitFor();
  out.members = {
    tiers: await creator.getByTestId("tier-row").count(),
    members: await creator.locator("[data-testid=members-table] tbody tr").count(),
  };
  await shot(creator, "members-studio");
  step("studio");
  const stranger = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.stranger.email);
  stranger.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `stranger: ${e}`]));
  await stranger.goto(`${P.url}/v/${P.videoId}`);
  const locked = stranger.getByTestId("locked-player");
  await locked.waitFor();
  out.members.unlock = (await stranger.getByTestId("locked-unlock").textContent()).trim();
  out.members.strangerVideo = await stranger.getByTestId("vod-video").count();
  await shot(stranger, "video-locked");
  await locked.getByTestId("join-button").click();
  const dialog = stranger.getByTestId("join-dialog");
  await dialog.waitFor();
  out.members.options = await dialog.getByTestId("tier-option").count();
  await shot(stranger, "join-dialog");
  step("locked");
  const member = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.member.email);
  member.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `member: ${e}`]));
  await member.goto(`${P.url}/v/${P.videoId}`);
  const video = member.getByTestId("vod-video");
  await video.waitFor();
  await member.waitForFunction(() => (document.querySelector("[data-testid=vod-video]")?.duration ?? 0) > 1, null, { timeout: 30000 });
  await video.evaluate((v) => { v.muted = true; return v.play(); });
  await member.waitForFunction(() => (document.querySelector("[data-testid=vod-video]")?.currentTime ?? 0) > 1, null, { timeout: 20000 });
  out.members.played = await video.evaluate((v) => v.currentTime);
  out.members.badge = (await member.getByTestId("video-access-badge").textContent()).trim();
  step("member-plays");
}

// Tips: the creator sets a goal and copies the overlay addresses from Tips & goals, and OBS's
// browser sources open them (a context without a session); a viewer tips from the watch page
// through Stripe's stand-in; the alert shows on the overlay, the creator's chat says it, and the
// goal's bar moves, on the overlay and on the channel page.
async function tipsScenario() {
  const creatorCtx = await browser.newContext({ viewport: DESKTOP });
  const creator = await login(creatorCtx, P.accounts.creator.email);
  creator.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `creator: ${e}`]));
  await creator.goto(P.url + "/dashboard/tips");
  await creator.getByRole("heading", { name: "Tips & goals" }).waitFor();
  await creator.getByTestId("goal-title").fill("New microphone");
  await creator.getByTestId("goal-target").fill("50");
  await creator.getByTestId("goal-create").click();
  await creator.getByTestId("my-goals").getByTestId("goal").first().waitFor();
  const alertsUrl = (await creator.getByTestId("overlay-alerts-url").textContent()).trim();
  const goalUrl = (await creator.getByTestId("overlay-goal-url").textContent()).trim();
  out.overlayUrls = [alertsUrl, goalUrl];
  step("goal and overlay addresses");

  // OBS: the two browser sources.
  const obs = await browser.newContext({ viewport: { width: 800, height: 600 } });
  const alerts = await obs.newPage();
  alerts.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `alerts: ${e}`]));
  await alerts.goto(alertsUrl);
  await alerts.locator('[data-testid="overlay-alerts"][data-ready="yes"]').waitFor({ timeout: 15000 });
  out.transparent = await alerts.evaluate(() => [getComputedStyle(document.documentElement).backgroundColor, getComputedStyle(document.body).backgroundColor]);
  const goal = await obs.newPage();
  goal.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `goal: ${e}`]));
  await goal.goto(goalUrl);
  await goal.getByTestId("goal").waitFor({ timeout: 15000 });
  out.goalBefore = await goal.getByTestId("goal").getAttribute("data-raised");
  step("overlays open");

  // The creator's chat, on the dashboard.
  await creator.goto(P.url + "/dashboard");
  await creator.getByRole("heading", { name: "Chat", exact: true }).waitFor();

  // A viewer tips from the watch page.
  const viewerCtx = await browser.newContext({ viewport: DESKTOP });
  const viewer = await login(viewerCtx, P.accounts.viewer.email);
  viewer.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `viewer: ${e}`]));
  await viewer.goto(`${P.url}/watch/${P.playbackId}`);
  await viewer.getByTestId("watch-support").getByTestId("goal").waitFor();
  await viewer.getByTestId("tip-button").click();
  const dialog = viewer.getByTestId("tip-dialog");
  await dialog.getByTestId("tip-send").waitFor();
  await dialog.getByTestId("tip-amount").fill("12.50");
  await dialog.getByTestId("tip-name").fill("Ada's biggest fan");
  await dialog.getByTestId("tip-message").fill("Loved the synth solo!");
  out.sendLabel = (await dialog.getByTestId("tip-send").textContent()).trim();
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await viewer.setViewportSize(size);
    await viewer.waitForTimeout(200);
    await viewer.screenshot({ path: `${P.shots}/tip-dialog-${label}.png` });
  }
  await viewer.setViewportSize(DESKTOP);
  await dialog.getByTestId("tip-send").click();
  await viewer.waitForURL("**/c/pay/**");
  out.stripePage = await viewer.locator("body").innerText();
  step("checkout");
  await viewer.getByRole("button", { name: "Pay" }).click();
  await viewer.waitForURL("**checkout=success**", { timeout: 20000 });
  step("paid");

  const alert = alerts.getByTestId("overlay-alert");
  await alert.waitFor({ timeout: 10000 });
  out.alert = {
    id: await alert.getAttribute("data-alert-id"),
    shownAt: Number(await alert.getAttribute("data-shown-at")),
    name: (await alerts.getByTestId("overlay-alert-name").textContent()).trim(),
    amount: (await alerts.getByTestId("overlay-alert-amount").textContent()).trim(),
    message: (await alerts.getByTestId("overlay-alert-message").textContent()).trim(),
  };
  await alerts.waitForTimeout(900);
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await alerts.setViewportSize(size);
    await alerts.waitForTimeout(150);
    await alerts.screenshot({ path: `${P.shots}/overlay-alert-${label}.png`, omitBackground: true });
  }
  step("overlay alert");

  const said = creator.locator(".message.system").filter({ hasText: "Loved the synth solo!" });
  await said.waitFor({ timeout: 10000 });
  out.chat = (await said.textContent()).trim();
  await said.scrollIntoViewIfNeeded();
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await creator.setViewportSize(size);
    await creator.waitForTimeout(150);
    await said.scrollIntoViewIfNeeded();
    await creator.screenshot({ path: `${P.shots}/tip-chat-${label}.png` });
  }
  await creator.setViewportSize(DESKTOP);
  step("chat");

  await goal.locator('[data-testid="goal"][data-raised="1250"]').waitFor({ timeout: 10000 });
  out.goalAfter = {
    percent: (await goal.getByTestId("goal-percent").textContent()).trim(),
    figures: (await goal.getByTestId("goal-figures").textContent()).trim(),
  };
  await goal.waitForTimeout(1000);
  for (const [label, size] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await goal.setViewportSize(size);
    await goal.waitForTimeout(150);
    await goal.screenshot({ path: `${P.shots}/overlay-goal-${label}.png`, omitBackground: true });
  }
  step("goal moved");

  await viewer.goto(`${P.url}/c/${P.handle}`);
  await viewer.locator('[data-testid="channel-goals"] [data-testid="goal"][data-raised="1250"]').waitFor({ timeout: 10000 });
  await shot(viewer, "channel-tips");
  await creator.goto(P.url + "/dashboard/tips");
  await creator.getByTestId("tips-received").filter({ hasText: "Loved the synth solo!" }).waitFor({ timeout: 10000 });
  await shot(creator, "tips-dashboard");
  step("channel and dashboard");
  await Promise.all([creatorCtx.close(), obs.close(), viewerCtx.close()]);
}

// Trust and safety: a viewer reports a chat message from the watch page; a moderator finds it
// in the queue with the chat around it and removes it; the message leaves the viewer's chat, the
// viewer's bell says what was decided, and "My standing" shows the report's outcome.
async function safety() {
  const viewer = await login(await browser.newContext({ viewport: DESKTOP }), P.viewer);
  viewer.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await viewer.goto(P.url + "/watch/" + P.playbackId);
  const bad = viewer.locator(".message", { hasText: P.message });
  await bad.waitFor({ timeout: 15000 });
  await bad.getByRole("button", { name: `Report what ${P.author} wrote` }).click();
  const dialog = viewer.getByTestId("report-dialog");
  await dialog.waitFor();
  await dialog.getByText("Spam or scam").click();
  await dialog.getByLabel(/Anything the moderators should know/).fill("Posting the same scam link over and over.");
  await viewer.waitForTimeout(200);
  await viewer.screenshot({ path: `${P.shots}/report-dialog-desktop.png` });
  await dialog.getByTestId("report-submit").click();
  await dialog.getByTestId("report-sent").waitFor({ timeout: 10000 });
  await dialog.getByRole("button", { name: "Done" }).click();
  step("reported");

  const mod = await login(await browser.newContext({ viewport: DESKTOP }), P.moderator);
  mod.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await mod.getByTestId("nav-moderation").click();
  await mod.getByRole("heading", { name: "Moderation" }).waitFor();
  const entry = mod.getByTestId("queue-entry").filter({ hasText: P.message });
  await entry.waitFor({ timeout: 10000 });
  out.reportedLine = (await entry.locator('[data-reported="true"]').textContent())?.trim();
  out.contextLines = await entry.getByTestId("queue-context").locator("li").count();
  await shot(mod, "moderation-queue");
  await entry.getByLabel(/Note for the author/).fill("Spam links are not allowed in chat.");
  await entry.getByTestId("decide-remove").click();
  await entry.getByTestId("queue-decided").waitFor({ timeout: 10000 });
  out.decided = (await entry.getByTestId("queue-decided").textContent())?.trim();
  await mod.getByText("The queue is empty").waitFor({ timeout: 10000 });
  step("removed");

  // The message left the chat the viewer has open (pushed over Socket.IO).
  await bad.waitFor({ state: "detached", timeout: 10000 });
  step("gone from chat");
  await viewer.getByTestId("bell-count").waitFor({ timeout: 15000 });
  await viewer.getByTestId("bell").click();
  const notice = viewer.getByTestId("notice").first();
  await notice.waitFor();
  out.notice = (await notice.textContent())?.trim();
  await notice.click();
  await viewer.waitForURL("**/standing");
  const mine = viewer.getByTestId("my-report").first();
  await mine.waitFor({ timeout: 10000 });
  out.outcome = (await mine.getByTestId("report-outcome").textContent())?.trim();
  out.badge = (await mine.locator(".safety-badge").textContent())?.trim();
  await shot(viewer, "standing");
  step("outcome seen");

  // The author sees the decision on their standing page, with the appeal form.
  const author = await login(await browser.newContext({ viewport: PHONE }), P.authorEmail);
  await author.goto(P.url + "/standing");
  await author.getByTestId("decision").first().waitFor({ timeout: 10000 });
  await author.getByTestId("appeal-open").first().click();
  await author.getByTestId("appeal-form").waitFor();
  await shot(author, "standing-author");
  step("author sees it");
}

// Settings → Your data: a user asks for their data, sees the export's progress, then its
// download link, and downloads the ZIP; then deletes the account behind the confirmation (a wrong
// password refused first) and is signed out.
async function yourData() {
  const ctx = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
  const page = await login(ctx, P.email);
  await page.goto(P.url + "/settings");
  const card = page.getByTestId("your-data");
  await card.getByRole("heading", { name: "Your data", exact: true }).waitFor();
  await card.getByRole("button", { name: "Request my data" }).click();
  await card.getByRole("progressbar", { name: "Export progress" }).waitFor({ timeout: 10000 });
  step("progress");
  const link = card.getByRole("link", { name: /Download ZIP/ });
  await link.waitFor({ timeout: 60000 });
  out.linkText = (await link.textContent()).trim();
  await shot(page, "settings-your-data");
  const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
  const path = await download.path();
  const bytes = readFileSync(path);
  out.zip = { name: download.suggestedFilename(), size: bytes.length, magic: bytes.subarray(0, 2).toString("latin1") };
  step("downloaded");
  await card.getByRole("button", { name: "Delete my account…" }).click();
  const dialog = page.getByTestId("delete-account-dialog");
  await dialog.getByLabel("Your password").fill("not-my-password");
  await dialog.getByLabel(/Type DELETE to confirm/).fill("DELETE");
  await shot(page, "settings-delete-account");
  await dialog.getByRole("button", { name: "Delete my account" }).click();
  await dialog.getByText("The password is wrong").waitFor({ timeout: 10000 });
  step("wrong password refused");
  await dialog.getByLabel("Your password").fill("password123");
  await dialog.getByRole("button", { name: "Delete my account" }).click();
  await page.waitForURL((u) => new URL(u).pathname === "/", { timeout: 20000 });
  out.sessionAfter = await page.evaluate(() => localStorage.getItem("ferrocast.session"));
  await page.goto(P.url + "/settings");
  await page.waitForURL("**/login", { timeout: 10000 });
  step("deleted and signed out");
  await ctx.close();
}

// The audit log: an administrator opens it from the administration page, writes a signed
// checkpoint, filters the entries to sign-ins, and opens one whose inclusion proof the page
// checks against the checkpoint's root in the browser.
async function auditLog() {
  const admin = await login(await browser.newContext({ viewport: DESKTOP }), "admin@example.com");
  admin.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await admin.goto(P.url + "/admin");
  await admin.getByTestId("audit-link").click();
  await admin.getByRole("heading", { name: "Audit log" }).waitFor();
  await admin.getByTestId("audit-entries").waitFor();
  step("the audit log opened from the administration page");
  await admin.getByTestId("write-checkpoint").click();
  await admin.getByTestId("checkpoint-signature").filter({ hasText: "✓ valid" }).waitFor({ timeout: 10000 });
  out.checkpointSize = await admin.getByTestId("checkpoint-size").textContent();
  out.auditSize = await admin.getByTestId("audit-size").textContent();
  step("a checkpoint written and its signature valid");
  await admin.getByLabel("Action").fill("auth.login_failed");
  await admin.getByRole("button", { name: "Filter" }).click();
  await admin.getByTestId("audit-entries").locator("tbody tr").first().waitFor();
  await admin.waitForFunction(() => [...document.querySelectorAll("[data-testid=audit-entries] tbody tr")].every((r) => r.textContent.includes("auth.login_failed")), null, { timeout: 10000 });
  out.failedRows = await admin.getByTestId("audit-entries").locator("tbody tr").count();
  await admin.getByTestId("audit-entries").locator("tbody tr").first().getByRole("button", { name: /Details/ }).click();
  const result = admin.getByTestId("inclusion-result");
  await result.waitFor({ timeout: 10000 });
  out.inclusion = await result.textContent();
  out.detail = await admin.getByTestId("audit-detail").textContent();
  await shot(admin, "admin-audit");
  step("an entry's inclusion proof checked in the browser");
}

// The nodes page: the administrator opens it from the administration page and sees every
// registered node with its role and the streams it publishes or relays.
async function nodesPage() {
  const admin = await login(await browser.newContext({ viewport: DESKTOP }), "admin@example.com");
  admin.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await admin.goto(P.url + "/admin");
  await admin.getByTestId("nodes-link").click();
  await admin.getByRole("heading", { name: "Nodes", exact: true }).waitFor();
  await admin.getByTestId("nodes").waitFor();
  step("the nodes page opened from the administration page");
  const rows = admin.getByTestId("node-row");
  out.nodes = await rows.count();
  out.roles = await admin.getByTestId("node-role").allTextContents();
  out.relayed = await admin.locator("[data-testid=node-row][data-role=edge] [data-testid=node-relayed]").textContent();
  out.thisNode = await admin.locator("[data-testid=node-row]", { hasText: "(this node)" }).getByTestId("node-role").textContent();
  out.pulls = await admin.getByTestId("node-pulls").textContent();
  await shot(admin, "admin-nodes");
  step("every node with its role and streams");
}

// The backups page: the administrator opens it from the administration page, sees that
// automatic backups are off and none was taken, presses "Back up now" and watches the backup
// run and end stored, with its size.
async function backupsPage() {
  const admin = await login(await browser.newContext({ viewport: DESKTOP }), "admin@example.com");
  admin.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await admin.goto(P.url + "/admin");
  await admin.getByTestId("backups-link").click();
  await admin.getByRole("heading", { name: "Backups", exact: true }).waitFor();
  await admin.getByTestId("backup-facts").waitFor();
  out.schedule = await admin.getByTestId("backup-schedule").textContent();
  out.lastBefore = await admin.getByTestId("backup-last").textContent();
  out.emptyHistory = await admin.getByText("No backup has been taken yet.").isVisible();
  step("the backups page opened from the administration page");
  await admin.getByTestId("back-up-now").click();
  const stored = admin.locator("[data-testid=backup-row][data-state=stored]");
  await stored.first().waitFor({ timeout: 60000 });
  out.rows = await admin.getByTestId("backup-row").count();
  out.size = await stored.first().getByTestId("backup-size").textContent();
  out.key = await stored.first().getByTestId("backup-key").textContent();
  out.lastAfter = await admin.getByTestId("backup-last").textContent();
  out.buttonAfter = await admin.getByTestId("back-up-now").textContent();
  await shot(admin, "admin-backups");
  step("Back up now: the backup ran and is stored");
}

// Copyright notices: a rights holder (no account) reports a video from its page and files the
// notice on /dmca; the watch page then says the video is unavailable for legal reasons; the
// uploader opens the case from their video's page and files a counter-notice; the operator
// sees the case with its evidence hashes and restores the video, which plays again.
async function dmca() {
  out.dmca = {};
  const errors = (who) => (e) => (out.pageErrors = [...(out.pageErrors ?? []), `${who}: ${e}`]);
  const anon = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  anon.on("pageerror", errors("complainant"));
  await anon.goto(`${P.url}/v/${P.videoId}`);
  await anon.getByTestId("video-page-title").waitFor();
  await anon.getByTestId("report-copyright").click();
  await anon.waitForURL("**/dmca?video=*");
  const form = anon.getByTestId("dmca-form");
  await form.waitFor();
  out.dmca.prefilled = await anon.getByLabel("Address of the video here").inputValue();
  await anon.getByLabel("Full legal name").fill("Rita Rights");
  await anon.getByLabel("Postal address").fill("1 Copyright Way\nNashville, TN 37201");
  await anon.getByLabel("Telephone").fill("+1 615 555 0100");
  await anon.getByLabel("Email").fill("rita@labels.example");
  await anon.getByLabel("The copyrighted work").fill("The sound recording \"Song of the Test\" (2026).");
  for (const name of ["good_faith", "accurate", "authorized"]) await form.locator(`input[name=${name}]`).check();
  await anon.getByLabel("Electronic signature (type your full name)").fill("Rita Rights");
  await shot(anon, "dmca-form");
  await anon.getByTestId("dmca-submit").click();
  await anon.getByTestId("dmca-filed").waitFor();
  await shot(anon, "dmca-filed");
  await anon.getByTestId("dmca-case-link").click();
  await anon.getByTestId("case-status").waitFor();
  out.dmca.caseStatus = await anon.getByTestId("case-status").getAttribute("data-status");
  await shot(anon, "dmca-case");
  step("filed");
  await anon.goto(`${P.url}/v/${P.videoId}`);
  await anon.getByTestId("video-legal").waitFor();
  out.dmca.legal = (await anon.getByTestId("video-legal").getByRole("heading").textContent()).trim();
  out.dmca.mp4 = await anon.evaluate(async (id) => (await fetch(`/vod/${id}/video.mp4`, { cache: "no-store" })).status, P.videoId);
  out.dmca.hls = await anon.evaluate(async (id) => (await fetch(`/vod/${id}/hls/index.m3u8`, { cache: "no-store" })).status, P.videoId);
  await shot(anon, "video-legal");
  step("unavailable");

  const uploader = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.creator.email);
  uploader.on("pageerror", errors("uploader"));
  await uploader.goto(`${P.url}/v/${P.videoId}`);
  await uploader.getByTestId("video-disabled").waitFor();
  await uploader.getByTestId("video-counter-link").click();
  const counter = uploader.getByTestId("counter-form");
  await counter.waitFor();
  await counter.getByLabel("Full legal name").fill("Uma Uploader");
  await counter.getByLabel("Postal address").fill("2 Original St\nPortland, OR 97201");
  await counter.getByLabel("Telephone").fill("503-555-0199");
  await counter.getByLabel("Email").fill("uma@example.com");
  for (const name of ["mistake", "consent"]) await counter.locator(`input[name=${name}]`).check();
  await counter.getByLabel("Electronic signature (type your full name)").fill("Uma Uploader");
  await shot(uploader, "dmca-counter");
  await uploader.getByTestId("counter-submit").click();
  await uploader.getByTestId("counter-filed").waitFor();
  out.dmca.countered = await uploader.getByTestId("case-status").getAttribute("data-status");
  step("countered");

  const admin = await login(await browser.newContext({ viewport: DESKTOP }), P.accounts.admin.email);
  admin.on("pageerror", errors("admin"));
  admin.on("dialog", (d) => d.accept());
  await admin.goto(`${P.url}/admin`);
  await admin.getByTestId("dmca-link").click();
  await admin.getByTestId("dmca-case-row").first().waitFor();
  out.dmca.rows = await admin.getByTestId("dmca-case-row").count();
  await shot(admin, "admin-dmca");
  await admin.getByTestId("dmca-case-row").first().getByRole("link").click();
  await admin.getByTestId("dmca-evidence").waitFor();
  out.dmca.hashes = await admin.getByTestId("evidence-sha256").allTextContents();
  await shot(admin, "admin-dmca-case");
  await admin.getByTestId("dmca-restore").click();
  await admin.getByTestId("dmca-done").waitFor();
  out.dmca.after = await admin.getByTestId("case-status").getAttribute("data-status");
  step("restored");
  await anon.goto(`${P.url}/v/${P.videoId}`);
  await anon.getByTestId("video-page-title").waitFor();
  out.dmca.legalAfter = await anon.getByTestId("video-legal").count();
  out.dmca.mp4After = await anon.evaluate(async (id) => (await fetch(`/vod/${id}/video.mp4`, { cache: "no-store" })).status, P.videoId);
  step("plays");
}

// Adaptive bitrate: a 480p source with a 360p and a 240p rendition. The studio lists the
// renditions; a viewer's player offers them; it plays the source on a fast network, moves to a
// rendition when the network is throttled (Chrome's network emulation), and plays the quality
// the viewer picks.
async function abr() {
  const encoder = ffmpeg([
    "-re", "-f", "lavfi", "-i", "testsrc2=size=854x480:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "30",
    "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "1250k", "-x264-params", "nal-hrd=cbr",
    "-c:a", "aac", "-b:a", "96k", "-t", "150", "-f", "flv", `${P.ingest}/${P.key}`,
  ]);
  const studio = await login(await browser.newContext({ viewport: DESKTOP }), P.email);
  studio.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await studio.getByTestId("source-status").filter({ hasText: "Live" }).waitFor({ timeout: 30000 });
  const renditions = studio.getByTestId("renditions");
  await renditions.filter({ hasText: "428×240" }).waitFor({ timeout: 30000 });
  out.studio = (await renditions.textContent()).trim();
  await shot(studio, "studio-abr");
  step("studio lists the renditions");

  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  // What the player fetched and said, for the message of a failure: each HLS request's rendition
  // (the path's rung, or "source"), kind and seconds taken, and the player's console warnings.
  const fetched = [];
  const said = [];
  page.on("console", (m) => m.type() !== "log" && said.push(m.text().slice(0, 200)));
  page.on("requestfinished", async (r) => {
    const u = new URL(r.url());
    if (!u.pathname.startsWith("/hls/")) return;
    const t = r.timing();
    const res = await r.response().catch(() => null);
    const rung = u.pathname.match(/\/(\d+p)\//)?.[1] ?? "source";
    const kind = u.pathname.endsWith(".m3u8") ? "playlist" : "media";
    fetched.push({ at: Date.now(), rung, kind, status: res?.status(), s: Math.round(t.responseEnd) / 1000 });
  });
  const diagnose = async () => {
    const since = Date.now() - 20000;
    const recent = {};
    for (const f of fetched.filter((f) => f.at >= since)) {
      const k = `${f.rung} ${f.kind}`;
      const e = (recent[k] ??= { n: 0, slowest: 0, statuses: [] });
      e.n += 1;
      e.slowest = Math.max(e.slowest, f.s);
      if (!e.statuses.includes(f.status)) e.statuses.push(f.status);
    }
    const video = await page.evaluate(() => {
      const v = document.querySelector("video");
      const b = v.buffered;
      return { readyState: v.readyState, paused: v.paused, currentTime: v.currentTime, bufferedTo: b.length ? b.end(b.length - 1) : null, ended: v.dataset.ended, status: document.querySelector(".player [role=status]")?.textContent };
    }).catch((e) => String(e));
    // Each playlist's live edge as the server has it now (fetched here, not through the
    // throttled page): a rendition far behind the source is a transcoder behind real time.
    const edges = {};
    try {
      const top = await (await fetch(`${P.url}/hls/${P.playbackId}/index.m3u8`)).text();
      for (const line of top.split("\n").filter((l) => l && !l.startsWith("#"))) {
        const text = await (await fetch(new URL(line, `${P.url}/hls/${P.playbackId}/`))).text();
        const dates = text.split("\n").filter((l) => l.startsWith("#EXT-X-PROGRAM-DATE-TIME:"));
        const last = dates.length ? Date.parse(dates[dates.length - 1].slice(25)) : NaN;
        edges[line.match(/\/(\d+p)\//)?.[1] ?? "source"] = { lastSegmentStartedSecondsAgo: (Date.now() - last) / 1000, tail: text.trim().split("\n").slice(-3) };
      }
    } catch (e) {
      edges.error = String(e);
    }
    const jumps = await page.evaluate(() => window.jumps).catch(() => null);
    return JSON.stringify({ lastTwentySeconds: recent, video, jumps, said: said.slice(-8), edges });
  };
  await page.goto(`${P.url}/watch/${P.playbackId}`);
  const video = page.locator("video").first();
  await page.waitForFunction(() => document.querySelector("video")?.getAttribute("data-levels") === "3", null, { timeout: 30000 });
  out.options = await page.getByTestId("quality").locator("option").allTextContents();
  // The player's jumps to the live edge (seeks it makes itself), counted from here on.
  await video.evaluate((v) => {
    window.jumps = 0;
    v.addEventListener("seeking", () => (window.jumps += 1));
  });
  // Every quality the player played, in order.
  const heights = [];
  const follow = setInterval(async () => {
    const h = await video.getAttribute("data-level-height").catch(() => null);
    if (h && heights[heights.length - 1] !== Number(h)) heights.push(Number(h));
  }, 200);
  const until = async (what, test, ms) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const h = Number(await video.getAttribute("data-level-height"));
      if (test(h)) return h;
      await page.waitForTimeout(250);
    }
    throw new Error(`${what} within ${ms / 1000} s; played ${JSON.stringify(heights)}; ${await diagnose()}`);
  };
  // A fast network: the source.
  await until("the source on a fast network", (h) => h === 480, 40000);
  const t0 = await video.evaluate((v) => v.currentTime);
  await page.waitForTimeout(1500);
  if ((await video.evaluate((v) => v.currentTime)) <= t0) throw new Error("the source does not play");
  step("source on a fast network");

  // 1.2 Mbit/s: far less than the source needs (2.6 Mbit/s); enough for 240p (about 0.6) with
  // room for LL-HLS's many small requests. At 600 kbit/s, as before, 240p itself loaded slower
  // than real time: the player fell out of the four-segment live window and hls.js kept
  // moving it to the live edge, so it never played a rendition.
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 40, downloadThroughput: 1_200_000 / 8, uploadThroughput: 1_200_000 / 8 });
  const throttledAt = Date.now();
  const jumpsBefore = await page.evaluate(() => window.jumps);
  out.throttled = await until("a rendition on a throttled network", (h) => h > 0 && h < 480, 90000);
  out.throttledSwitch = { seconds: (Date.now() - throttledAt) / 1000, jumps: (await page.evaluate(() => window.jumps)) - jumpsBefore };
  const t1 = await video.evaluate((v) => v.currentTime);
  await page.waitForTimeout(3000);
  out.throttledAdvance = (await video.evaluate((v) => v.currentTime)) - t1;
  step("rendition on a throttled network");

  // The network is fast again and the viewer picks 360p: it plays 360p.
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await page.getByTestId("quality").selectOption({ label: "360p" });
  await until("the quality picked", (h) => h === 360, 30000);
  await shot(page, "watch-abr");
  step("quality picked");
  clearInterval(follow);
  out.heights = heights;
  encoder.kill("SIGINT");
  // The plan says what its streams get.
  await studio.goto(P.url + "/dashboard/subscription");
  out.planLadder = (await studio.getByTestId("plan-ladder").first().textContent()).trim();

  // The past broadcast keeps the qualities: its page's player offers them and plays the one
  // picked.
  await studio.goto(P.url + "/library");
  const row = studio.getByTestId("video-row").first();
  await row.waitFor({ timeout: 30000 });
  for (let i = 0; i < 600 && (await row.getAttribute("data-status")) !== "ready"; i++) await studio.waitForTimeout(200);
  if ((await row.getAttribute("data-status")) !== "ready") throw new Error(`the recording did not become ready: ${await row.textContent()}`);
  await row.getByTestId("video-title").click();
  await studio.waitForURL("**/v/**");
  const vod = studio.getByTestId("vod-video");
  await studio.waitForFunction(() => document.querySelector("[data-testid=vod-video]")?.getAttribute("data-levels") === "3", null, { timeout: 30000 });
  out.vodOptions = await studio.getByTestId("quality").locator("option").allTextContents();
  await vod.evaluate((v) => v.play());
  await studio.getByTestId("quality").selectOption({ label: "240p" });
  await studio.waitForFunction(() => document.querySelector("[data-testid=vod-video]")?.getAttribute("data-level-height") === "240", null, { timeout: 30000 });
  const v0 = await vod.evaluate((v) => v.currentTime);
  await studio.waitForTimeout(1500);
  out.vodAdvance = (await vod.evaluate((v) => v.currentTime)) - v0;
  await shot(studio, "video-abr");
  step("past broadcast plays a rendition");
}

// WebRTC playback (WHEP): the watch page's Real-time switch plays the stream over WebRTC; its
// video advances with sound's track attached; the glass-to-glass delay (the publisher's clock
// drawn into the picture, read back in each frame shown) is measured over WHEP and, in the same
// run, over LL-HLS on the same page.
async function webrtcPlay() {
  out.latency = {};
  const encoder = ffmpeg([
    "-re", "-f", "lavfi", "-i", clockGraph(), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-keyint_min", "30", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "96k", "-f", "flv", `${P.ingest}/${P.key}`,
  ]);
  let encoderLog = "";
  encoder.stderr.on("data", (d) => (encoderLog = (encoderLog + d).slice(-2000)));
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.goto(`${P.url}/watch/${P.playbackId}`);
  await page.getByText("Live", { exact: true }).waitFor({ timeout: 30000 }).catch(() => {
    throw new Error(`the stream did not go live; ffmpeg said: ${encoderLog}`);
  });
  await measure(page, "ll-hls");
  // The Real-time switch turns WebRTC on (its state is the page's own)…
  await page.getByTestId("webrtc-toggle").click();
  await page.waitForFunction(() => document.querySelector("video")?.dataset.webrtc === "connected", null, { timeout: 30000 });
  await page.close();
  // … and `?webrtc=1` opens the page with it (a fresh page: one clock sampler per page).
  const page2 = await ctx.newPage();
  page2.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page2.goto(`${P.url}/watch/${P.playbackId}?webrtc=1`);
  await page2.waitForFunction(() => document.querySelector("video")?.dataset.webrtc === "connected", null, { timeout: 30000 }).catch(async (e) => {
    const state = await page2.evaluate(() => ({ webrtc: document.querySelector("video")?.dataset.webrtc, status: document.querySelector(".player [role=status]")?.textContent }));
    throw new Error(`WebRTC did not connect: ${JSON.stringify(state)}: ${e.message}`);
  });
  const video = page2.locator("video").first();
  await page2.waitForFunction(() => (document.querySelector("video")?.currentTime ?? 0) > 0.5, null, { timeout: 20000 });
  const t0 = await video.evaluate((v) => v.currentTime);
  await page2.waitForTimeout(2000);
  out.advance = (await video.evaluate((v) => v.currentTime)) - t0;
  out.tracks = await video.evaluate((v) => ({ video: v.srcObject?.getVideoTracks().length ?? 0, audio: v.srcObject?.getAudioTracks().length ?? 0, width: v.videoWidth, height: v.videoHeight }));
  step("plays over WebRTC");
  await measure(page2, "whep");
  await shot(page2, "watch-webrtc");
  // Leaving the page ends the session (DELETE of its Location).
  await page2.close();
  // A network that blocks UDP, as the node sees it: a WHEP player that drops the answer's UDP
  // candidate reaches the node over ICE-TCP (its passive TCP candidate, RFC 6544) and plays.
  const page3 = await ctx.newPage();
  page3.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page3.goto(`${P.url}/`);
  out.tcp = await page3.evaluate(async (pid) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const video = document.createElement("video");
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    document.body.append(video);
    pc.ontrack = (e) => {
      if (e.track.kind === "video") video.srcObject = new MediaStream([e.track]);
    };
    await pc.setLocalDescription(await pc.createOffer());
    const res = await fetch(`/whep/${pid}`, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
    if (res.status !== 201) return { error: `${res.status} ${await res.text()}` };
    const answer = (await res.text()).split(/\r?\n/);
    const candidates = answer.filter((l) => l.startsWith("a=candidate"));
    const sdp = answer.filter((l) => !(l.startsWith("a=candidate") && / udp /i.test(l))).join("\r\n");
    await pc.setRemoteDescription({ type: "answer", sdp });
    const t0 = Date.now();
    while (Date.now() - t0 < 20000 && video.currentTime < 1.5) await new Promise((r) => setTimeout(r, 200));
    const stats = await pc.getStats();
    let protocol = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) protocol = stats.get(stats.get(s.selectedCandidatePairId)?.remoteCandidateId)?.protocol ?? null;
    });
    const result = { candidates, protocol, state: pc.iceConnectionState, currentTime: video.currentTime, width: video.videoWidth };
    pc.close();
    return result;
  }, P.playbackId);
  if (out.tcp.currentTime >= 1.5) step("plays over ICE-TCP");
  await page3.close();
  encoder.kill("SIGINT");
}

// Going live from the browser (WHIP): the creator opens the fake camera in the studio and goes
// live; ffprobe reads the stream over RTMP play and HLS; a destination (a local ffmpeg) receives
// it; a viewer plays it over WebRTC; Stop ends the stream.
async function whip() {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const studio = await login(ctx, P.email);
  studio.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  const port = await freePort();
  const got = `${P.shots}/whip-destination.flv`;
  const listener = ffmpeg(["-y", "-listen", "1", "-i", `rtmp://127.0.0.1:${port}/live/destkey`, "-c", "copy", "-t", "6", "-f", "flv", got]);
  const listenerDone = new Promise((r) => listener.on("exit", r));
  await studio.getByLabel("Platform").selectOption("custom");
  await studio.getByLabel("Server URL").fill(`rtmp://127.0.0.1:${port}/live`);
  await studio.getByLabel("Stream key", { exact: true }).fill("destkey");
  await studio.getByRole("button", { name: "Add", exact: true }).click();
  await studio.getByTestId("destination").waitFor();

  await studio.getByRole("button", { name: "Camera and microphone" }).click();
  await studio.waitForFunction(() => (document.querySelector('video[aria-label="Your camera or screen"]')?.videoWidth ?? 0) > 0, null, { timeout: 15000 });
  step("camera preview");
  await studio.getByTestId("golive-start").click();
  await studio.getByTestId("source-status").filter({ hasText: "Live" }).waitFor({ timeout: 30000 });
  // The destination connects with the stream (it records 6 s of it, then hangs up).
  await studio.getByTestId("destination-status").filter({ hasText: "live" }).waitFor({ timeout: 30000 });
  step("live from the browser");

  const probe = (url) => {
    const r = spawnSync("ffprobe", ["-v", "error", "-rw_timeout", "10000000", "-show_streams", "-of", "json", url], { encoding: "utf8", timeout: 40000 });
    try {
      return JSON.parse(r.stdout);
    } catch {
      return { error: r.stderr };
    }
  };
  // A moment for the first segment and the audio transcoder.
  await studio.waitForTimeout(3000);
  out.rtmp = probe(P.rtmpPlay);
  // HLS starts with the segments cut so far: the first may hold only audio while the browser's
  // encoder brings its first keyframe; a player reloads the playlist, so the probe does too.
  const both = (p) => ["video", "audio"].every((k) => (p.streams ?? []).some((s) => s.codec_type === k));
  for (let i = 0; i < 8; i++) {
    out.hls = probe(`${P.url}/hls/${P.playbackId}/index.m3u8`);
    if (both(out.hls)) break;
    await studio.waitForTimeout(1000);
  }
  step("probed");
  await Promise.race([listenerDone, new Promise((r) => setTimeout(r, 30000))]);
  out.destination = probe(got);
  step("destination received");

  const viewer = await (await browser.newContext({ viewport: DESKTOP })).newPage();
  viewer.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await viewer.goto(`${P.url}/watch/${P.playbackId}?webrtc=1`);
  await viewer.waitForFunction(() => document.querySelector("video")?.dataset.webrtc === "connected", null, { timeout: 30000 });
  await viewer.waitForFunction(() => (document.querySelector("video")?.currentTime ?? 0) > 0.5, null, { timeout: 20000 });
  const v = viewer.locator("video").first();
  const t0 = await v.evaluate((el) => el.currentTime);
  await viewer.waitForTimeout(2000);
  out.viewerAdvance = (await v.evaluate((el) => el.currentTime)) - t0;
  step("viewer plays over WebRTC");
  await studio.getByRole("region", { name: "Go live from your browser" }).scrollIntoViewIfNeeded();
  await shot(studio, "studio-golive");

  await studio.getByTestId("golive-stop").click();
  await studio.getByTestId("source-status").filter({ hasText: "Offline" }).waitFor({ timeout: 30000 });
  step("stopped");
}

// Brands and campaigns: a brand account creates its brand and a campaign, publishes it and pays
// its budget into escrow through Stripe Checkout (the stand-in); a creator finds it by search,
// applies with a pitch and a rate; the brand hires them and the campaign becomes active; the
// creator hands in one of their videos, the brand asks for a revision, the creator hands in a
// second version with the disclosure, the brand approves (paying the creator from escrow); the
// creator consents to the usage rights the brand proposes, and the brand's embed plays inside
// the licence's territory and says why it does not outside it; the creator's earnings show the
// payment.
async function campaigns() {
  const brand = await login(await browser.newContext({ viewport: DESKTOP }), P.brandEmail);
  brand.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await brand.getByTestId("nav-campaigns").click();
  await brand.waitForURL("**/brands");
  await brand.getByLabel("Name").fill("Acme Outdoors");
  await brand.getByLabel("Website").fill("https://acme.example");
  await brand.getByLabel("About").fill("Trail shoes and packs.");
  await brand.getByRole("button", { name: "Create brand" }).click();
  await brand.getByTestId("brand-page").waitFor();
  out.brandHead = (await brand.locator(".brand-head").textContent()).trim();
  const form = brand.getByTestId("new-campaign");
  await form.getByLabel("Title").fill("Trail shoe review");
  await form.getByLabel("Type").selectOption("product_review");
  await form.getByLabel("Brief").fill("Film a 60-second review of our trail shoes on a real trail.");
  await form.getByLabel("Budget").fill("500");
  await form.getByRole("button", { name: "Save as draft" }).click();
  await brand.getByTestId("campaign-page").waitFor();
  await brand.getByTestId("campaign-status").filter({ hasText: "Draft" }).waitFor();
  await brand.getByTestId("move-PUBLISHED").click();
  await brand.getByTestId("campaign-status").first().filter({ hasText: "Open for applications" }).waitFor();
  out.budget = (await brand.getByTestId("campaign-budget").textContent()).trim();
  step("brand publishes a campaign");

  await brand.getByTestId("fund-escrow").click();
  await brand.waitForURL("**/c/pay/**");
  out.escrowCheckout = await brand.locator("body").innerText();
  await brand.getByRole("button", { name: "Pay" }).click();
  await brand.waitForURL("**escrow=paid**", { timeout: 20000 });
  await brand.getByTestId("escrow-held").filter({ hasText: out.budget }).waitFor({ timeout: 20000 });
  out.escrowHeld = (await brand.getByTestId("escrow-held").textContent()).trim();
  step("brand escrows the budget");

  const creator = await login(await browser.newContext({ viewport: DESKTOP }), P.creatorEmail);
  creator.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await creator.getByTestId("nav-campaigns").click();
  await creator.waitForURL("**/campaigns");
  await creator.getByLabel("Search campaigns").fill("trail");
  await creator.getByLabel("Type").selectOption("product_review");
  await creator.getByRole("button", { name: "Search" }).click();
  const card = creator.getByTestId("campaign-card").filter({ hasText: "Trail shoe review" });
  await card.waitFor();
  await shot(creator, "campaigns-discover");
  await card.click();
  await creator.getByTestId("apply").waitFor();
  await creator.getByLabel("Your pitch").fill("I run trails every week and film in 4K.");
  await creator.getByLabel(/Your rate/).fill("500");
  await creator.getByRole("button", { name: "Send application" }).click();
  await creator.getByTestId("my-application").getByTestId("application-status").filter({ hasText: "Applied" }).waitFor();
  await shot(creator, "campaign-creator");
  step("creator applies");

  await brand.reload();
  const applicant = brand.getByTestId("applicant").first();
  await applicant.waitFor();
  out.applicant = (await applicant.textContent()).trim();
  await applicant.getByTestId("accept").click();
  await applicant.getByTestId("application-status").filter({ hasText: "Hired" }).waitFor();
  await brand.getByTestId("campaign-status").first().filter({ hasText: "Active" }).waitFor();
  out.committed = (await brand.getByTestId("applicants").locator("p.muted").first().textContent()).trim();
  await shot(brand, "campaign-brand");
  await brand.getByRole("link", { name: "Acme Outdoors" }).first().click();
  await brand.getByTestId("brand-campaign").first().waitFor();
  await shot(brand, "brand-page");
  step("brand hires the creator");

  await creator.reload();
  await creator.getByTestId("my-application").getByTestId("application-status").filter({ hasText: "Hired" }).waitFor();
  out.hired = (await creator.getByTestId("my-application").textContent()).trim();
  step("creator sees they are hired");

  const handIn = creator.getByTestId("hand-in");
  await handIn.getByLabel("Title").fill("Trail shoe review");
  await handIn.getByTestId("video-choice").selectOption({ label: "Trail run, first cut" });
  await handIn.getByLabel("Note to the brand").fill("First cut, 20 seconds on the ridge.");
  await shot(creator, "campaign-hand-in");
  await handIn.getByRole("button", { name: "Hand in for review" }).click();
  await creator.getByTestId("deliverable-page").waitFor();
  await creator.getByTestId("deliverable-status").filter({ hasText: "In review" }).waitFor();
  step("creator hands in a video");

  // The brand, on its brand page since hiring, opens the campaign's review queue.
  await brand.getByTestId("brand-campaign").first().click();
  const row = brand.getByTestId("deliverable-row").first();
  await row.waitFor();
  out.queue = (await row.textContent()).trim();
  await shot(brand, "campaign-review-queue");
  await row.click();
  await brand.getByTestId("review").waitFor();
  await brand.getByTestId("vod-video").waitFor();
  await brand.waitForFunction(() => document.querySelector("[data-testid=vod-video]")?.readyState >= 2, null, { timeout: 30000 });
  await brand.getByLabel("Comment").fill("Show the sole's grip on wet rock.");
  await brand.getByTestId("request-revision").click();
  await brand.getByTestId("deliverable-status").filter({ hasText: "Revision requested" }).waitFor();
  step("brand asks for a revision");

  await creator.reload();
  out.revisionNote = (await creator.getByTestId("revision-note").textContent()).trim();
  const revise = creator.getByTestId("revise");
  await revise.getByTestId("video-choice").selectOption({ label: "Trail run, wet rock" });
  await revise.getByLabel(/Disclosure/).fill("#ad Paid partnership with Acme Outdoors");
  await revise.getByLabel("What changed").fill("Added the wet rock.");
  await shot(creator, "deliverable-revise");
  await revise.getByRole("button", { name: "Hand in version 2" }).click();
  await creator.getByTestId("deliverable-status").filter({ hasText: "In review" }).waitFor();
  await creator.getByRole("tab", { name: /v2/ }).waitFor();
  step("creator hands in a revision");

  await brand.reload();
  await brand.getByTestId("approve").waitFor();
  await brand.getByTestId("approve").click();
  await brand.getByTestId("deliverable-status").filter({ hasText: "Approved" }).waitFor();
  const rights = brand.getByTestId("rights");
  await rights.getByLabel("Licence").selectOption("limited");
  await rights.getByLabel("Territories").fill("US, CA");
  await rights.getByRole("button", { name: "Propose rights" }).click();
  await rights.getByTestId("rights-state").filter({ hasText: "Waiting" }).waitFor();
  const hotspots = brand.getByTestId("hotspots");
  await hotspots.getByLabel("Product", { exact: true }).fill("Ridge 2 trail shoe");
  await hotspots.getByLabel("Product link").fill("https://acme.example/ridge-2");
  await hotspots.getByLabel("To (s)").fill("6");
  await hotspots.getByRole("button", { name: "Add hotspot" }).click();
  await hotspots.getByText("Ridge 2 trail shoe").waitFor();
  out.history = await brand.getByTestId("history").locator("li").allInnerTexts();
  await shot(brand, "deliverable-approved");
  step("brand approves");

  await creator.reload();
  await creator.getByTestId("consent").click();
  await creator.getByTestId("rights-state").filter({ hasText: "In force" }).waitFor();
  step("creator consents to the rights");

  const embedUrl = (await brand.getByRole("textbox", { name: "Embed page" }).inputValue()).replace(/\?.*$/, "");
  const viewer = await (await browser.newContext({ viewport: { width: 800, height: 520 } })).newPage();
  viewer.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `embed: ${e}`]));
  const refused = await viewer.goto(embedUrl + "?country=FR");
  out.embedRefused = { status: refused.status(), text: (await viewer.getByTestId("embed-refused").textContent()).trim() };
  await viewer.screenshot({ path: `${P.shots}/deliverable-embed-refused-desktop.png` });
  const shown = await viewer.goto(embedUrl + "?country=US");
  out.embedStatus = shown.status();
  await viewer.getByTestId("deliverable-embed").waitFor();
  await viewer.waitForFunction(() => document.querySelector("[data-testid=vod-video]")?.readyState >= 2, null, { timeout: 30000 });
  out.embedCaption = (await viewer.locator(".embed-caption").textContent()).trim();
  const hotspot = viewer.getByTestId("hotspot");
  await hotspot.waitFor();
  out.hotspot = { text: (await hotspot.textContent()).trim(), href: await hotspot.getAttribute("href") };
  await viewer.screenshot({ path: `${P.shots}/deliverable-embed-desktop.png` });
  const campaignHref = await brand.getByRole("navigation", { name: "Breadcrumb" }).getByRole("link").first().getAttribute("href");
  await viewer.goto(P.url + campaignHref.replace(/^\/campaigns\//, "/embed/campaigns/") + "/gallery?country=US");
  await viewer.getByTestId("gallery-item").first().click();
  await viewer.getByTestId("deliverable-embed").waitFor();
  out.galleryItems = await viewer.getByTestId("gallery-item").count();
  await viewer.screenshot({ path: `${P.shots}/campaign-gallery-desktop.png`, fullPage: true });
  step("the brand's embed follows the licence");

  await creator.goto(P.url + "/dashboard/earnings");
  await creator.getByTestId("balance").first().waitFor();
  out.creatorPending = (await creator.getByTestId("balance-pending").first().textContent()).trim();
  await shot(creator, "campaign-earnings");
  step("creator is paid");

  const admin = await login(await browser.newContext({ viewport: DESKTOP }), P.adminEmail);
  admin.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `admin: ${e}`]));
  await admin.goto(P.url + "/admin");
  await admin.getByLabel("Tier of Acme Outdoors").selectOption("Growth");
  await admin.getByTestId("admin-brands").getByRole("status").filter({ hasText: "Acme Outdoors is on Growth now." }).waitFor();
  await brand.goto(P.url + "/brands");
  out.brandTier = (await brand.getByTestId("brand-row").first().textContent()).trim();
  step("an administrator moves the brand to a larger tier");
}

// nginx guards /members/ with auth_request to /api/auth/verify?plan=Pro (the Rust test set it up
// and runs the node behind it): the browser's session cookie, from the web app's own sign-in,
// is what passes.
async function membersFolder() {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  out.anonymous = (await page.goto(P.url + "/members/")).status();
  await shot(page, "members-anonymous");
  await login(ctx, "free@example.com");
  out.free = (await page.goto(P.url + "/members/")).status();
  await shot(page, "members-under-plan");
  step("401 signed out, 403 under the plan");
  await ctx.clearCookies();
  await page.goto(P.url + "/");
  await page.evaluate(() => localStorage.clear());
  const pro = await login(ctx, "pro@example.com");
  const cookies = await ctx.cookies();
  const session = cookies.find((c) => c.name === "ferrocast_session");
  out.sessionCookie = session && { httpOnly: session.httpOnly, sameSite: session.sameSite, path: session.path };
  out.scriptSees = await pro.evaluate(() => document.cookie.includes("ferrocast_session"));
  out.storedRefresh = await pro.evaluate(() => (localStorage.getItem("ferrocast.session") ?? "").includes("refresh_token"));
  out.pro = (await page.goto(P.url + "/members/")).status();
  out.proHeading = (await page.getByRole("heading").first().textContent()).trim();
  step("the Pro member's cookie passes");
  // An access token gone stale: the app renews it through the cookie and carries on.
  await pro.evaluate(() => {
    const s = JSON.parse(localStorage.getItem("ferrocast.session"));
    localStorage.setItem("ferrocast.session", JSON.stringify({ ...s, access_token: "expired" }));
  });
  await pro.goto(P.url + "/settings");
  await pro.getByRole("heading", { name: "API keys" }).waitFor({ timeout: 15000 });
  out.renewed = await pro.evaluate(() => JSON.parse(localStorage.getItem("ferrocast.session") ?? "{}").access_token !== "expired");
  step("renewed through the cookie");
  await pro.getByRole("button", { name: "Log out" }).click();
  await pro.waitForFunction(() => !localStorage.getItem("ferrocast.session"));
  out.afterLogout = (await page.goto(P.url + "/members/")).status();
  step("logged out: 401");
}

// "Continue with Telegram" on the login page goes through Telegram's sign-in page (a stand-in)
// and back to /auth/telegram; Settings shows the link and connects a channel.
async function telegram() {
  const ctx = await browser.newContext({ viewport: DESKTOP });
  const page = await ctx.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  await page.goto(P.url + "/auth/telegram");
  out.emptyError = (await page.locator(".problem, [role=alert]").first().textContent()).trim();
  await page.goto(P.url + "/login");
  const button = page.getByRole("link", { name: "Continue with Telegram" });
  await button.waitFor();
  await shot(page, "login-telegram");
  await button.click();
  await page.waitForURL("**/dashboard", { timeout: 20000 });
  out.signedInAs = await page.evaluate(() => JSON.parse(localStorage.getItem("ferrocast.session") ?? "{}").user?.display_name);
  out.sessionCookie = (await ctx.cookies()).some((c) => c.name === "ferrocast_session" && c.httpOnly);
  step("signed in with Telegram");
  // A link someone else made (their own Telegram's data) does nothing here: this browser did
  // not start it.
  const forged = await ctx.newPage();
  await forged.goto(P.url + "/auth/telegram#tgAuthResult=" + P.forged);
  out.forgedRefused = (await forged.locator(".problem").first().textContent()).trim();
  await forged.close();
  await page.goto(P.url + "/settings");
  const card = page.getByTestId("telegram-card");
  await card.getByTestId("telegram-linked").waitFor();
  out.linked = (await card.getByTestId("telegram-linked").textContent()).trim();
  await card.getByLabel("Channel or group").fill("@acme_news");
  await card.getByRole("button", { name: "Connect" }).click();
  out.connected = (await card.getByRole("status").textContent({ timeout: 15000 })).trim();
  await card.getByTestId("telegram-chat").waitFor();
  await card.scrollIntoViewIfNeeded();
  await shot(page, "settings-telegram");
  step("a channel connected");
}

// A creator posts text and a picture from the feed; a follower sees it in their feed, likes it
// and comments; the channel's Posts tab shows it.
async function posts() {
  const creatorCtx = await browser.newContext({ viewport: DESKTOP });
  const creator = await login(creatorCtx, "poster@example.com");
  creator.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `creator: ${e}`]));
  await creator.getByRole("link", { name: "Feed" }).click();
  await creator.getByRole("heading", { name: "Your feed" }).waitFor();
  const composer = creator.getByTestId("composer");
  await composer.getByLabel("What's new?").fill("New set tonight at nine!\nBring friends.");
  await composer.locator("input[type=file]").setInputFiles(P.picture);
  await composer.locator(".composer-pictures img").waitFor({ timeout: 20000 });
  await composer.getByRole("button", { name: "Post" }).click();
  const mine = creator.getByTestId("post").first();
  await mine.locator(".post-pictures img").waitFor();
  out.posted = (await mine.locator(".post-body").textContent()).trim();
  out.pictureType = await creator.evaluate(async (src) => (await fetch(src)).headers.get("content-type"), await mine.locator(".post-pictures img").getAttribute("src"));
  step("posted with a picture");

  const fanCtx = await browser.newContext({ viewport: DESKTOP });
  const fan = await login(fanCtx, "fan@example.com");
  fan.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `fan: ${e}`]));
  await fan.goto(P.url + "/feed");
  const post = fan.getByTestId("post").first();
  await post.waitFor();
  out.fanSees = (await post.locator(".post-author").textContent()).trim();
  const img = post.locator(".post-pictures img");
  await img.scrollIntoViewIfNeeded();
  await fan.waitForFunction((el) => el.complete, await img.elementHandle(), { timeout: 15000 });
  out.pictureWidth = await img.evaluate((el) => el.naturalWidth);
  await post.getByTestId("post-like").click();
  await post.getByTestId("post-like").filter({ hasText: "1 like" }).waitFor();
  await post.getByTestId("post-comments-toggle").click();
  await post.getByLabel("Write a comment").fill("See you there!");
  await post.getByRole("button", { name: "Send" }).click();
  await post.getByTestId("post-comment").filter({ hasText: "See you there!" }).waitFor();
  out.commentsLabel = (await post.getByTestId("post-comments-toggle").textContent()).trim();
  await shot(fan, "feed");
  step("the follower likes and comments");

  await creator.goto(P.url + "/c/" + P.handle);
  await creator.getByTestId("channel-tab-posts").click();
  await creator.getByTestId("post").first().waitFor();
  out.channelPosts = await creator.getByTestId("post").count();
  await shot(creator, "channel-posts");
  step("the channel's Posts tab");
}

// Radio: the creator uploads a track in the studio and goes on the air; a listener opens the
// station's page, sees what plays and hears it (the audio element's time advances).
async function radioScenario() {
  const creatorCtx = await browser.newContext({ viewport: DESKTOP });
  const creator = await login(creatorCtx, "radio@example.com");
  creator.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `creator: ${e}`]));
  await creator.goto(P.url + "/dashboard/radio");
  await creator.getByRole("heading", { name: "Your station" }).waitFor();
  await creator.getByTestId("track-file").setInputFiles(P.track);
  const track = creator.getByTestId("track-list").locator("li").first();
  await track.waitFor({ timeout: 30000 });
  out.track = (await track.locator(".track-name").textContent()).trim();
  await creator.getByTestId("station-toggle").click();
  await creator.getByTestId("station-toggle").filter({ hasText: "Take off the air" }).waitFor();
  step("the creator uploads a track and goes on the air");

  const listenerCtx = await browser.newContext({ viewport: DESKTOP });
  const listener = await listenerCtx.newPage();
  listener.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `listener: ${e}`]));
  // From the channel's page, by its "On the radio" badge.
  await listener.goto(P.url + "/c/" + P.handle);
  await listener.getByTestId("channel-radio").click();
  await listener.waitForURL("**/radio/" + P.handle);
  await listener.getByTestId("now-playing").filter({ hasText: "Now playing" }).waitFor({ timeout: 20000 });
  out.nowPlaying = (await listener.getByTestId("now-playing").locator("strong").textContent()).trim();
  await listener.getByTestId("radio-play").click();
  await listener.waitForFunction(() => document.querySelector("[data-testid=radio-audio]")?.currentTime > 2, null, { timeout: 30000 });
  out.audioTime = await listener.evaluate(() => document.querySelector("[data-testid=radio-audio]").currentTime);
  out.icecast = (await listener.getByTestId("icecast-url").textContent()).trim();
  await shot(listener, "radio");
  step("a listener hears the station");

  await creator.reload();
  await creator.getByTestId("station-status").filter({ hasText: "On the air" }).waitFor({ timeout: 15000 });
  await shot(creator, "radio-studio");
  step("the studio shows what plays");
}

/** The loudest RMS level of a video element's stream over `ms` (WebAudio on its MediaStream). */
async function loudness(page, selector, ms = 4000) {
  return page.evaluate(
    async ([selector, ms]) => {
      const v = document.querySelector(selector);
      const ctx = new AudioContext();
      const an = ctx.createAnalyser();
      an.fftSize = 2048;
      ctx.createMediaStreamSource(v.srcObject).connect(an);
      const buf = new Float32Array(an.fftSize);
      let max = 0;
      for (const end = Date.now() + ms; Date.now() < end; ) {
        an.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const x of buf) sum += x * x;
        max = Math.max(max, Math.sqrt(sum / buf.length));
        await new Promise((r) => setTimeout(r, 40));
      }
      await ctx.close();
      return max;
    },
    [selector, ms],
  );
}

/** How far a video element plays on over 1.5 s, and its picture's size. */
async function playsOn(page, selector) {
  await page.waitForFunction((s) => document.querySelector(s)?.currentTime > 0.5 && document.querySelector(s).videoWidth > 0, selector, { timeout: 30000 });
  const t0 = await page.evaluate((s) => document.querySelector(s).currentTime, selector);
  await page.waitForTimeout(1500);
  return page.evaluate(([s, t0]) => ({ advanced: document.querySelector(s).currentTime - t0, width: document.querySelector(s).videoWidth }), [selector, t0]);
}

// A hangout: the host makes a room and joins with the fake camera; a guest joins by the speaker
// link; each sees and hears the other. The host broadcasts the stage to their channel, and the
// room stays open for P.holdMs while the test reads the broadcast over HLS.
async function hangoutScenario() {
  const hostCtx = await browser.newContext({ viewport: DESKTOP });
  const host = await login(hostCtx, "host@example.com");
  host.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `host: ${e}`]));
  await host.goto(P.url + "/hangouts");
  await host.getByLabel("Title").fill("Friday hangout");
  await host.getByRole("button", { name: "New hangout" }).click();
  await host.waitForURL("**/hangout/*");
  await host.getByTestId("hangout-join").click();
  await host.getByTestId("hangout-self").waitFor();
  const speakerLink = await host.getByTestId("copy-speaker-link").getAttribute("data-link");
  step("the host makes a hangout and goes on stage");

  const guestCtx = await browser.newContext({ viewport: DESKTOP });
  const guest = await guestCtx.newPage();
  guest.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), `guest: ${e}`]));
  await guest.goto(P.url + speakerLink);
  await guest.getByLabel("Your name").fill("Sam Speaker");
  await guest.getByTestId("hangout-join").click();
  await guest.getByTestId("hangout-self").waitFor();
  step("a guest joins on stage by the speaker link");

  const hostSees = `[data-testid=hangout-remote][data-peer="Sam Speaker"]`;
  const guestSees = `[data-testid=hangout-remote][data-peer="${P.hostName}"]`;
  out.hostSees = await playsOn(host, hostSees);
  out.guestSees = await playsOn(guest, guestSees);
  step("each sees the other");
  out.hostHears = await loudness(host, hostSees);
  out.guestHears = await loudness(guest, guestSees);
  step("each hears the other");
  await shot(guest, "hangout");

  await host.getByTestId("hangout-broadcast").click();
  await host.getByRole("link", { name: "Watch the broadcast" }).waitFor({ timeout: 15000 });
  out.broadcastUrl = await host.getByRole("link", { name: "Watch the broadcast" }).getAttribute("href");
  step("the host broadcasts the stage");
  await host.waitForTimeout(P.holdMs ?? 20000);
  await host.goto(P.url + "/hangouts");
  await host.getByText("Friday hangout").waitFor();
  await shot(host, "hangouts");
}

const SCENARIOS = { hangout: hangoutScenario, radio: radioScenario, posts, telegram, "members-folder": membersFolder, abr, campaigns, whip, webrtc: webrtcPlay, nodes: nodesPage, backups: backupsPage, audit: auditLog, tips: tipsScenario, billing, maintenance, oauth, "chat-oauth": chatOauth, seed: creatorEndsAndAdminChangesPlan, "every-page": everyPage, sharing, latency, studio, videos, "past-broadcasts": pastBroadcasts, browse, profile, search: searchAndSchedule, engage, notify, analytics, earnings, members, safety, "your-data": yourData, dmca };

try {
  if (P.scenario) {
    if (!SCENARIOS[P.scenario]) throw new Error(`no scenario ${P.scenario}`);
    await SCENARIOS[P.scenario]();
    clearTimeout(timer);
    await browser.close();
    process.stdout.write(JSON.stringify(out));
    process.exit(0);
  }
  // A creator registers.
  const creator = await browser.newContext({ viewport: DESKTOP });
  const page = await creator.newPage();
  page.on("pageerror", (e) => (out.pageErrors = [...(out.pageErrors ?? []), String(e)]));
  page.on("console", (m) => m.type() !== "log" && (out.console = [...(out.console ?? []), m.text()].slice(-20)));
  await page.goto(P.url + "/");
  await page.getByRole("heading", { name: "Stream once. Reach every platform." }).waitFor();
  await shot(page, "landing");
  await page.getByRole("link", { name: "Start streaming" }).first().click();
  await page.getByLabel("Display name").fill("Creator");
  await page.getByLabel("Email").fill("creator@example.com");
  await page.getByLabel("Password").fill("password123");
  await shot(page, "register");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForURL("**/dashboard");
  await page.getByText("No sources yet").waitFor();
  await shot(page, "dashboard-empty");
  step("registered");

  // A source, with the key the page shows.
  await page.getByLabel("New source").fill("Camera one");
  await page.getByRole("button", { name: "Create", exact: true }).click();
  await page.getByRole("heading", { name: "Camera one" }).waitFor();
  await page.getByRole("button", { name: "Rename Camera one" }).click();
  await page.getByLabel("Name", { exact: true }).fill("Main camera");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByRole("heading", { name: "Main camera" }).waitFor();
  await page.getByRole("button", { name: "Show" }).click();
  const key = (await page.getByTestId("stream-key").textContent()).trim();
  const ingest = (await page.getByTestId("ingest-url").textContent()).trim();
  out.key = key;
  out.ingest = ingest;
  // The node listens for SRT too: the OBS card shows the whole SRT server URL with the key.
  const srt = page.getByTestId("srt-url");
  out.srt = (await srt.count()) ? (await srt.textContent()).trim() : null;
  // The fallback slate: two minutes unless the creator chooses otherwise.
  const slate = page.getByLabel("If your encoder drops");
  out.slateDefault = await slate.inputValue();
  await slate.selectOption("30");
  await page.waitForFunction(() => document.querySelector('[data-testid="slate-secs"]')?.value === "30");
  // The slate's picture: the default, then the creator's own (a 4:3 orange picture, shown
  // cropped to 16:9 as the server made it).
  out.slatePreview = (await page.getByTestId("slate-picture").getByRole("img").getAttribute("aria-label")) ?? null;
  const made = spawnSync("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "color=c=0xff8000:s=800x600", "-frames:v", "1", "-f", "image2", "-c:v", "png", "pipe:1"]);
  if (made.status !== 0) throw new Error(`ffmpeg made no picture: ${made.stderr}`);
  await page.getByTestId("slate-file").setInputFiles({ name: "slate.png", mimeType: "image/png", buffer: made.stdout });
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-testid="slate-image"]');
    return img?.getAttribute("src")?.startsWith("/media/profiles/") && img.complete && img.naturalWidth > 0;
  }, null, { timeout: 20000 });
  out.slatePicture = await page.getByTestId("slate-image").evaluate((img) => `${img.naturalWidth}x${img.naturalHeight}`);
  await shot(page, "dashboard-slate-picture");
  step("source");

  // A destination: a local ffmpeg listening for RTMP.
  const port = await freePort();
  const listener = ffmpeg(["-listen", "1", "-i", `rtmp://127.0.0.1:${port}/live/destkey`, "-c", "copy", "-f", "null", "-"]);
  await page.getByLabel("Platform").selectOption("custom");
  await page.getByLabel("Server URL").fill(`rtmp://127.0.0.1:${port}/live`);
  await page.getByLabel("Stream key").fill("destkey");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByTestId("destination").waitFor();
  step("destination");

  // ffmpeg publishes with the key the page showed.
  const encoder = ffmpeg([
    "-re", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
    "-c:a", "aac", "-b:a", "96k", "-t", "120", "-f", "flv", `${ingest}/${key}`,
  ]);
  await page.getByTestId("source-status").filter({ hasText: "Live" }).waitFor({ timeout: 30000 });
  step("live");
  await page.getByTestId("destination-status").filter({ hasText: "live" }).waitFor({ timeout: 30000 });
  step("destination live");

  // The preview plays: its currentTime advances.
  const video = page.locator("video").first();
  await video.waitFor({ timeout: 20000 });
  await page.waitForFunction(() => (document.querySelector("video")?.currentTime ?? 0) > 0.5, null, { timeout: 30000 });
  const t1 = await video.evaluate((v) => v.currentTime);
  await page.waitForTimeout(2500);
  const t2 = await video.evaluate((v) => v.currentTime);
  out.preview = { t1, t2 };
  step("preview plays");
  const watchHref = await page.getByRole("link", { name: /^\/watch\// }).getAttribute("href");
  out.watch = watchHref;

  // A viewer on the watch page (a phone) chats; the creator sees it on the dashboard.
  const viewerCtx = await browser.newContext({ viewport: PHONE });
  const viewer = await viewerCtx.newPage();
  await viewer.goto(P.url + "/register");
  await viewer.getByLabel("Display name").fill("Viewer");
  await viewer.getByLabel("Email").fill("viewer@example.com");
  await viewer.getByLabel("Password").fill("password123");
  await viewer.getByRole("button", { name: "Create account" }).click();
  await viewer.waitForURL("**/dashboard");
  await viewer.goto(P.url + watchHref);
  await viewer.getByText("Live", { exact: true }).waitFor({ timeout: 20000 });
  await viewer.getByLabel("Message").fill("hello from the watch page");
  await viewer.getByRole("button", { name: "Send" }).click();
  await viewer.getByText("hello from the watch page").waitFor();
  await page.getByText("hello from the watch page").waitFor({ timeout: 10000 });
  // The creator answers from the dashboard; viewers see the host badge beside the name.
  await page.getByRole("textbox", { name: "Message" }).fill("welcome in");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await viewer.locator(".message", { hasText: "welcome in" }).locator(".chat-badge.broadcaster", { hasText: "Host" }).waitFor({ timeout: 10000 });
  step("chat");
  // The creator times the viewer out from the dashboard; the viewer is told when sending.
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Time Viewer out for 10 minutes" }).click();
  await page.waitForTimeout(500);
  await viewer.getByLabel("Message").fill("am I muted?");
  await viewer.getByRole("button", { name: "Send" }).click();
  await viewer.getByText("timed out").waitFor({ timeout: 10000 });
  step("timed out");
  await viewer.getByRole("button", { name: "React with heart" }).click();
  await viewer.getByTestId("viewer-count").filter({ hasText: /[1-9] watching/ }).waitFor({ timeout: 30000 });
  await viewer.waitForTimeout(500);
  await viewer.screenshot({ path: `${P.shots}/watch-phone.png`, fullPage: true });
  await viewer.setViewportSize(DESKTOP);
  await viewer.screenshot({ path: `${P.shots}/watch-desktop.png`, fullPage: true });
  await shot(page, "dashboard-live");

  // Stop: the encoder ends; the dashboard shows offline.
  encoder.kill("SIGINT");
  await page.getByTestId("source-status").filter({ hasText: "Offline" }).waitFor({ timeout: 30000 });
  // The owner is told why, pushed over Socket.IO.
  await page.getByTestId("stream-notice").filter({ hasText: "Your stream ended: the encoder disconnected" }).waitFor({ timeout: 30000 });
  // Its pushes stopped with it.
  await page.getByTestId("destination-status").filter({ hasText: "idle" }).waitFor({ timeout: 30000 });
  await shot(page, "dashboard-ended");
  step("stopped");
  listener.kill("SIGKILL");

  // Settings: an API key made in the page is shown once and listed.
  await page.getByRole("link", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "API keys" }).waitFor();
  await page.getByLabel("Name", { exact: true }).fill("stream deck");
  await page.getByLabel("Your password").last().fill("password123");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.getByText("shown once").waitFor();
  await page.getByText("stream deck").waitFor();
  await shot(page, "settings");
  step("api key");

  // The login page, for the screenshots.
  const anon = await browser.newContext({ viewport: DESKTOP });
  const login = await anon.newPage();
  await login.goto(P.url + "/login");
  await login.getByRole("heading", { name: "Log in" }).waitFor();
  await shot(login, "login");
  await login.getByRole("link", { name: "Forgot your password?" }).click();
  await login.getByRole("heading", { name: "Reset your password" }).waitFor();
  await shot(login, "forgot-password");

  clearTimeout(timer);
  await browser.close();
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
} catch (e) {
  out.error = String(e.stack || e);
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    for (const [i, p] of pages.entries()) await p.screenshot({ path: `${P.shots}/failure-${i}.png`, fullPage: true });
  } catch {}
  for (const c of children) c.kill("SIGKILL");
  await browser.close();
  process.stdout.write(JSON.stringify(out));
  process.exit(1);
}
