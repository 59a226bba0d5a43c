-- The judge's evidence, one row per route and second: both sides' one-second slots as the judge learnt them
-- (core/judge-replay's encoding), so `rf-edge judge replay` can re-run the judge over them under another policy.
-- Bounded: the edge deletes rows older than its retention (7 days by default).
CREATE TABLE judge_slots (
  route_id text   NOT NULL,
  second   bigint NOT NULL,
  record   jsonb  NOT NULL,
  PRIMARY KEY (route_id, second)
);
