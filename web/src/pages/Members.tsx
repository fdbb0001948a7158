// Studio → Members: the creator's membership tiers (MHC's four as the starting template) and
// who their members are.
import { useEffect } from "react";
import { MembersStudio } from "../memberships";
import { Link } from "../router";
import "../studio.css";

export default function Members() {
  useEffect(() => {
    document.title = "Members · ferrocast";
  }, []);
  return (
    <div className="dashboard studio-page">
      <header className="studio-top">
        <div className="studio-title">
          <h1>Members</h1>
          <nav className="page-tabs" aria-label="Studio">
            <Link href="/dashboard">Streams</Link>
            <Link href="/dashboard/analytics">Analytics</Link>
            <Link href="/dashboard/tips">Tips &amp; goals</Link>
            <Link href="/dashboard/earnings">Earnings</Link>
            <Link href="/dashboard/members" aria-current="page">Members</Link>
          </nav>
        </div>
      </header>
      <MembersStudio />
    </div>
  );
}
