// Studio → Members: the creator's membership tiers (MHC's four as the starting template) and
// who their members are.
import { useEffect } from "react";
import { MembersStudio } from "../memberships";
import { StudioTabs } from "../ui";
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
          <StudioTabs current="/dashboard/members" />
        </div>
      </header>
      <MembersStudio />
    </div>
  );
}
