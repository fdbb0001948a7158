-- Adaptive bitrate (issue 23): a plan's transcode ladder, its rung names comma-separated
-- ("720p,480p,360p"); empty: streams play at the source's bitrate only. Portable SQL.
ALTER TABLE subscription_plans ADD COLUMN transcode_ladder TEXT NOT NULL DEFAULT '';
