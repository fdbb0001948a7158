-- Brands and their campaigns (issue 24). SQLite (postgres/0036 differs only in id columns).
-- Times in Unix ms, amounts in minor units.
--
-- A brand: an organisation that hires creators. Its tier (a `[[brand_plans]]` name of the plans
-- file, or one of the five default tiers) bounds its seats, active campaigns and the creators
-- it accepts per campaign.
CREATE TABLE brands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    website TEXT,
    about TEXT NOT NULL DEFAULT '',
    tier TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Its members: `owner`, `manager` or `viewer`. Every brand keeps at least one owner.
CREATE TABLE brand_members (
    brand_id BIGINT NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (brand_id, user_id)
);
CREATE INDEX idx_brand_members_user ON brand_members(user_id);
-- Invitations to join a brand, by email: the link carries a token whose SHA-256 is kept here.
-- Accepting it (signed in with that email) makes the member; an invitation counts as a seat.
CREATE TABLE brand_invites (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    brand_id BIGINT NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (brand_id, email)
);
-- A campaign: what the brand wants (type, brief, the kind of deliverable), what it pays
-- (budget, in one currency) and by when; its status follows the lifecycle in
-- `ferrocast_domain::campaign`.
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    brand_id BIGINT NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    brief TEXT NOT NULL,
    deliverable TEXT NOT NULL,
    budget_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    apply_by BIGINT,
    due_at BIGINT,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    published_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX idx_campaigns_brand ON campaigns(brand_id, created_at);
CREATE INDEX idx_campaigns_status ON campaigns(status, published_at);
-- A campaign's milestones: each due at a time; a reminder goes to the brand and the accepted
-- creators the day before (`reminded_at` once sent), and `done_at` once the brand ticks it.
CREATE TABLE campaign_milestones (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    due_at BIGINT NOT NULL,
    reminded_at BIGINT,
    done_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX idx_campaign_milestones_due ON campaign_milestones(due_at);
-- Creators' applications (and the brand's invitations): one per creator and campaign, with a
-- pitch and the creator's rate (in the campaign's currency); the status follows
-- `ferrocast_domain::brand::ApplicationStatus`.
CREATE TABLE campaign_applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    creator_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    pitch TEXT NOT NULL,
    rate_minor BIGINT NOT NULL,
    status TEXT NOT NULL,
    invited BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (campaign_id, creator_id)
);
CREATE INDEX idx_campaign_applications_creator ON campaign_applications(creator_id, updated_at);
