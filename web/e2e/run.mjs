// End-to-end run of the web app in Debian's Chromium (driven by playwright-core), against a
// ferrocast node the Rust test started. Prints what it observed as one JSON object; the Rust
// test (crates/server/tests/web.rs) judges it. Screenshots of each main page at desktop and
// phone widths go to P.shots.
//
//   node e2e/run.mjs '{"url":"http://127.0.0.1:8080","shots":"target/web-shots"}'
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
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
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
});
const timer = setTimeout(() => {
  console.error("e2e timed out");
  process.exit(3);
}, 150000);
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

// Scenarios run on their own (`P.scenario`); without one, the main run below.
const SCENARIOS = { billing, maintenance, oauth, "chat-oauth": chatOauth, seed: creatorEndsAndAdminChangesPlan, studio };

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
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: "Main camera" }).waitFor();
  await page.getByRole("button", { name: "Show" }).click();
  const key = (await page.getByTestId("stream-key").textContent()).trim();
  const ingest = (await page.getByTestId("ingest-url").textContent()).trim();
  out.key = key;
  out.ingest = ingest;
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
