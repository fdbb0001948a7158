-- Who may watch a video or a live stream (issue 20): `public` (anyone who may see it),
-- `members` (members of the creator, of at least the tier `access_tier_id` when it is set; a
-- tier that is deleted lowers the bar to any member) or `ppv` (a one-time purchase of
-- `ppv_price_minor` in `ppv_currency`, minor units). The owner always may. Portable SQL, so one
-- file serves SQLite and PostgreSQL.
ALTER TABLE videos ADD COLUMN access TEXT NOT NULL DEFAULT 'public' CHECK (access IN ('public','members','ppv'));
ALTER TABLE videos ADD COLUMN access_tier_id BIGINT REFERENCES membership_tiers(id) ON DELETE SET NULL;
ALTER TABLE videos ADD COLUMN ppv_price_minor BIGINT;
ALTER TABLE videos ADD COLUMN ppv_currency TEXT;
ALTER TABLE stream_sources ADD COLUMN access TEXT NOT NULL DEFAULT 'public' CHECK (access IN ('public','members','ppv'));
ALTER TABLE stream_sources ADD COLUMN access_tier_id BIGINT REFERENCES membership_tiers(id) ON DELETE SET NULL;
ALTER TABLE stream_sources ADD COLUMN ppv_price_minor BIGINT;
ALTER TABLE stream_sources ADD COLUMN ppv_currency TEXT;
-- Entitlement checks run on every gated playlist and segment request.
CREATE INDEX idx_purchases_access_video ON purchases(buyer_id, video_id);
CREATE INDEX idx_purchases_access_source ON purchases(buyer_id, source_id);
