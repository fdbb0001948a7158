import { lazy, StrictMode, Suspense, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { api, type Schemas } from "./api";
import { usePath } from "./router";
import { Frame, Loading, useUser } from "./ui";
import "./styles.css";

// Each page is its own chunk: the first load is the frame and the page asked for.
const Landing = lazy(() => import("./pages/Landing"));
const Auth = lazy(() => import("./pages/Auth"));
const Dashboard = lazy(() => import("./pages/Dashboard"));
const Members = lazy(() => import("./pages/Members"));
const Watch = lazy(() => import("./pages/Watch"));
const Pay = lazy(() => import("./pages/Pay"));
const Admin = lazy(() => import("./pages/Admin"));
const Settings = lazy(() => import("./pages/Settings"));
const Recover = lazy(() => import("./pages/Recover"));
const Subscription = lazy(() => import("./pages/Subscription"));
const Receipt = lazy(() => import("./pages/Subscription").then((m) => ({ default: m.Receipt })));
const AuthComplete = lazy(() => import("./pages/AuthComplete"));
const AuthTelegram = lazy(() => import("./pages/AuthTelegram"));
const Feed = lazy(() => import("./pages/Feed"));
const Radio = lazy(() => import("./pages/Radio"));
const Hangouts = lazy(() => import("./pages/Hangout"));
const Hangout = lazy(() => import("./pages/Hangout").then((m) => ({ default: m.Hangout })));
const RadioStudio = lazy(() => import("./pages/Radio").then((m) => ({ default: m.RadioStudio })));
const Embed = lazy(() => import("./pages/Embed"));
const Library = lazy(() => import("./pages/Library"));
const Video = lazy(() => import("./pages/Video"));
const Browse = lazy(() => import("./pages/Browse"));
const Channel = lazy(() => import("./pages/Channel"));
const Analytics = lazy(() => import("./pages/Analytics"));
const Notifications = lazy(() => import("./pages/Notifications"));
const Unsubscribe = lazy(() => import("./pages/Unsubscribe"));
const Search = lazy(() => import("./pages/Search"));
const Shorts = lazy(() => import("./pages/Shorts"));
const Tips = lazy(() => import("./pages/Tips"));
const Overlay = lazy(() => import("./pages/Overlay"));
const Earnings = lazy(() => import("./pages/Earnings"));
const Statement = lazy(() => import("./pages/Earnings").then((m) => ({ default: m.StatementPage })));
const PurchaseReceipt = lazy(() => import("./pages/Earnings").then((m) => ({ default: m.PurchaseReceipt })));
const AdminRevenue = lazy(() => import("./pages/AdminRevenue"));
const AdminAudit = lazy(() => import("./pages/AdminAudit"));
const AdminNodes = lazy(() => import("./pages/AdminNodes"));
const AdminBackups = lazy(() => import("./pages/AdminBackups"));
const DmcaNotice = lazy(() => import("./pages/Dmca"));
const DmcaCase = lazy(() => import("./pages/Dmca").then((m) => ({ default: m.DmcaCase })));
const DmcaCounter = lazy(() => import("./pages/Dmca").then((m) => ({ default: m.DmcaCounter })));
const AdminDmca = lazy(() => import("./pages/Dmca").then((m) => ({ default: m.AdminDmca })));
const AdminDmcaCase = lazy(() => import("./pages/Dmca").then((m) => ({ default: m.AdminDmcaCase })));
const Standing = lazy(() => import("./pages/Standing"));
const Moderation = lazy(() => import("./pages/Moderation"));
const Discover = lazy(() => import("./campaigns").then((m) => ({ default: m.Discover })));
const CampaignPage = lazy(() => import("./campaigns").then((m) => ({ default: m.CampaignPage })));
const Brands = lazy(() => import("./campaigns").then((m) => ({ default: m.Brands })));
const BrandPage = lazy(() => import("./campaigns").then((m) => ({ default: m.BrandPage })));
const JoinBrand = lazy(() => import("./campaigns").then((m) => ({ default: m.JoinBrand })));
const DeliverablePage = lazy(() => import("./deliverables").then((m) => ({ default: m.DeliverablePage })));
const DeliverableEmbed = lazy(() => import("./deliverables").then((m) => ({ default: m.DeliverableEmbed })));
const CampaignGallery = lazy(() => import("./deliverables").then((m) => ({ default: m.CampaignGallery })));

type Site = Schemas["SiteSettings"];

function Maintenance({ message }: { message: string }) {
  return (
    <section className="standalone" aria-labelledby="m-title">
      <span className="icon" aria-hidden="true">
        <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
          <path d="M14.7 6.3a4 4 0 0 0-5.4 5.4L3 18l3 3 6.3-6.3a4 4 0 0 0 5.4-5.4l-2.5 2.5-2.4-.6-.6-2.4z" />
        </svg>
      </span>
      <h1 id="m-title">Down for maintenance</h1>
      <p className="lead">{message || "We will be back shortly."}</p>
      <p className="muted">
        Administrators can still <a href="/login">log in</a>.
      </p>
    </section>
  );
}

function NotFound() {
  return (
    <section className="standalone" aria-labelledby="nf-title">
      <p className="code" aria-hidden="true">404</p>
      <h1 id="nf-title">Page not found</h1>
      <p className="lead">There is nothing at this address. The link may be old, or mistyped.</p>
      <p className="actions">
        <a className="button" href="/">Go to the start page</a>
      </p>
    </section>
  );
}

function App() {
  const path = usePath();
  const user = useUser();
  const [site, setSite] = useState<Site | null>(null);
  useEffect(() => {
    api<Site>("GET", "/api/site").then(setSite, () => setSite(null));
  }, [path]);
  let page;
  if (site?.maintenance_mode && user?.role !== "admin" && path !== "/login" && path !== "/forgot-password" && path !== "/auth/complete") {
    page = <Maintenance message={site.maintenance_message} />;
  } else if (path === "/") page = <Landing />;
  else if (path === "/login") page = <Auth mode="login" />;
  else if (path === "/register") page = <Auth mode="register" registrationOpen={site?.registration_open ?? true} />;
  else if (path === "/dashboard") page = <Dashboard />;
  else if (path === "/dashboard/subscription") page = <Subscription />;
  else if (path === "/dashboard/analytics") page = <Analytics />;
  else if (path === "/dashboard/tips") page = <Tips />;
  else if (path === "/dashboard/members") page = <Members />;
  else if (path.startsWith("/dashboard/subscription/receipts/")) page = <Receipt id={decodeURIComponent(path.slice("/dashboard/subscription/receipts/".length))} />;
  else if (path === "/admin") page = <Admin />;
  else if (path === "/admin/revenue") page = <AdminRevenue />;
  else if (path === "/admin/audit") page = <AdminAudit />;
  else if (path === "/admin/nodes") page = <AdminNodes />;
  else if (path === "/admin/backups") page = <AdminBackups />;
  else if (path === "/dmca") page = <DmcaNotice />;
  else if (/^\/dmca\/case\/\d+$/.test(path)) page = <DmcaCase id={path.slice("/dmca/case/".length)} />;
  else if (/^\/dmca\/counter\/\d+$/.test(path)) page = <DmcaCounter id={path.slice("/dmca/counter/".length)} />;
  else if (path === "/admin/dmca") page = <AdminDmca />;
  else if (/^\/admin\/dmca\/\d+$/.test(path)) page = <AdminDmcaCase id={path.slice("/admin/dmca/".length)} />;
  else if (path === "/admin/reports") page = <Moderation />;
  else if (path === "/standing") page = <Standing />;
  else if (path === "/dashboard/earnings") page = <Earnings />;
  else if (path.startsWith("/dashboard/earnings/statements/")) page = <Statement month={decodeURIComponent(path.slice("/dashboard/earnings/statements/".length))} />;
  else if (path.startsWith("/dashboard/purchases/receipts/")) page = <PurchaseReceipt id={decodeURIComponent(path.slice("/dashboard/purchases/receipts/".length))} />;
  else if (path === "/settings") page = <Settings />;
  else if (path === "/settings/notifications") page = <Notifications />;
  else if (path === "/unsubscribe") page = <Unsubscribe />;
  else if (path === "/forgot-password") page = <Recover />;
  else if (path === "/auth/complete") page = <AuthComplete />;
  else if (path === "/auth/telegram") page = <AuthTelegram />;
  else if (path === "/feed") page = <Feed />;
  else if (path === "/dashboard/radio") page = <RadioStudio />;
  else if (path === "/hangouts") page = <Hangouts />;
  else if (/^\/hangout\/[^/]+$/.test(path)) page = <Hangout id={decodeURIComponent(path.slice("/hangout/".length))} />;
  else if (/^\/radio\/[^/]+$/.test(path)) page = <Radio handle={decodeURIComponent(path.slice("/radio/".length))} />;
  else if (path === "/library") page = <Library />;
  else if (path === "/campaigns") page = <Discover />;
  else if (/^\/campaigns\/[^/]+$/.test(path)) page = <CampaignPage id={decodeURIComponent(path.slice("/campaigns/".length))} />;
  else if (/^\/deliverables\/[^/]+$/.test(path)) page = <DeliverablePage id={decodeURIComponent(path.slice("/deliverables/".length))} />;
  else if (path === "/brands") page = <Brands />;
  else if (path === "/brands/join") page = <JoinBrand />;
  else if (/^\/brands\/[^/]+$/.test(path)) page = <BrandPage id={decodeURIComponent(path.slice("/brands/".length))} />;
  else if (path === "/browse") page = <Browse />;
  else if (path === "/search") page = <Search />;
  else if (path === "/shorts") page = <Shorts />;
  else if (path.startsWith("/v/") && path.length > 3 && !path.slice(3).includes("/")) page = <Video id={decodeURIComponent(path.slice(3))} />;
  else if (path.startsWith("/c/") && path.length > 3 && !path.slice(3).includes("/")) page = <Channel handle={decodeURIComponent(path.slice(3))} />;
  else if (path.startsWith("/watch/")) page = <Watch playbackId={decodeURIComponent(path.slice(7))} />;
  else if (path.startsWith("/pay/") && path.length > 5 && !path.slice(5).includes("/")) page = <Pay id={decodeURIComponent(path.slice(5))} />;
  else page = <NotFound />;
  return (
    <Frame>
      <Suspense fallback={<Loading what="the page" />}>{page}</Suspense>
    </Frame>
  );
}

/** The embeddable player is the player alone: no site header, no frame, no site settings. */
function Root() {
  const path = usePath();
  // OBS's browser source: the overlay alone, on a transparent page.
  const overlay = /^\/overlay\/([^/]+)\/(alerts|goal)$/.exec(path);
  if (overlay) {
    return (
      <Suspense fallback={null}>
        <Overlay token={decodeURIComponent(overlay[1])} kind={overlay[2] as "alerts" | "goal"} />
      </Suspense>
    );
  }
  const gallery = /^\/embed\/campaigns\/([^/]+)\/gallery$/.exec(path);
  if (gallery) {
    return (
      <Suspense fallback={null}>
        <CampaignGallery id={decodeURIComponent(gallery[1])} />
      </Suspense>
    );
  }
  const deliverable = /^\/embed\/deliverables\/([^/]+)$/.exec(path);
  if (deliverable) {
    return (
      <Suspense fallback={null}>
        <DeliverableEmbed id={decodeURIComponent(deliverable[1])} />
      </Suspense>
    );
  }
  if (path.startsWith("/embed/")) {
    return (
      <Suspense fallback={null}>
        <Embed playbackId={decodeURIComponent(path.slice("/embed/".length))} />
      </Suspense>
    );
  }
  return <App />;
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
