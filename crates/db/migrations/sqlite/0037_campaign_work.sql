-- The work of a campaign (issue 24, part 2). SQLite (postgres/0037 differs only in id columns).
-- Times in Unix ms, amounts in minor units.
--
-- The brand's payments into the campaign's escrow (ledger account `escrow:campaign:<id>`),
-- each through a gateway: `created` until the gateway confirms it, then `paid`. What is left
-- in escrow when the campaign is cancelled goes back through the gateway (`refunded_minor`).
CREATE TABLE campaign_fundings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_ref TEXT,
    provider_payment_id TEXT,
    status TEXT NOT NULL,
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    paid_at BIGINT
);
CREATE INDEX idx_campaign_fundings_campaign ON campaign_fundings(campaign_id, id);
-- A deliverable: what an accepted creator hands in for a campaign. Its versions are kept
-- (`current_version` is the one under review); the brand approves, asks for a revision or
-- rejects. Approval needs the FTC disclosure where the type needs it, and releases the
-- creator's rate from escrow (once per application). Usage rights are proposed by the brand
-- and hold once the creator consents (`rights_consented_at`).
CREATE TABLE campaign_deliverables (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    application_id BIGINT NOT NULL REFERENCES campaign_applications(id) ON DELETE CASCADE,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    creator_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    disclosure TEXT,
    rights_kind TEXT,
    rights_until BIGINT,
    rights_territories TEXT,
    rights_proposed_at BIGINT,
    rights_consented_at BIGINT,
    approved_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_campaign_deliverables_campaign ON campaign_deliverables(campaign_id, id);
CREATE INDEX idx_campaign_deliverables_creator ON campaign_deliverables(creator_id, id);
-- Each version handed in: a video of the creator's (its public id kept even if the video
-- goes), text, a link, and the creator's note.
CREATE TABLE deliverable_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deliverable_id BIGINT NOT NULL REFERENCES campaign_deliverables(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    video_id BIGINT REFERENCES videos(id) ON DELETE SET NULL,
    body TEXT NOT NULL DEFAULT '',
    link TEXT,
    note TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (deliverable_id, version)
);
-- What happened to a deliverable, in order: submitted, resubmitted, rolled back, approved,
-- revision requested, rejected, rights proposed, rights consented; with the comment.
CREATE TABLE deliverable_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deliverable_id BIGINT NOT NULL REFERENCES campaign_deliverables(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    actor_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    action TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_deliverable_events ON deliverable_events(deliverable_id, id);
-- Product hotspots on an approved video deliverable: a time range, a position (hundredths of
-- a per cent of the width and height), the product and where it is bought.
CREATE TABLE campaign_hotspots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deliverable_id BIGINT NOT NULL REFERENCES campaign_deliverables(id) ON DELETE CASCADE,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    x_bp INTEGER NOT NULL,
    y_bp INTEGER NOT NULL,
    product TEXT NOT NULL,
    link TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_campaign_hotspots ON campaign_hotspots(deliverable_id, start_ms);
-- Touchpoints: a visitor (an opaque id the embed keeps) viewed a deliverable or clicked one
-- of its hotspots.
CREATE TABLE campaign_touchpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    deliverable_id BIGINT NOT NULL REFERENCES campaign_deliverables(id) ON DELETE CASCADE,
    hotspot_id BIGINT REFERENCES campaign_hotspots(id) ON DELETE SET NULL,
    visitor TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX idx_campaign_touchpoints ON campaign_touchpoints(campaign_id, visitor, at);
-- Conversions the brand reports (signed webhook or pixel): one per order id and campaign.
CREATE TABLE campaign_conversions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    order_id TEXT NOT NULL,
    visitor TEXT NOT NULL,
    value_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    UNIQUE (campaign_id, order_id)
);
CREATE INDEX idx_campaign_conversions ON campaign_conversions(campaign_id, at);
