-- The audit trail of rollout transitions: who moved which route from what to what, why, and on which figures.
-- event_id is given by the edge when the event happens, so a batch retried after a lost reply is written once.
CREATE TABLE rollout_events (
  id          bigserial   PRIMARY KEY,
  at          timestamptz NOT NULL,
  route_id    text        NOT NULL,
  from_phase  text        NOT NULL,
  to_phase    text        NOT NULL,
  from_weight integer     NOT NULL,
  to_weight   integer     NOT NULL,
  actor       text        NOT NULL,
  reason      text        NOT NULL,
  evidence    jsonb,
  config_hash text        NOT NULL,
  event_id    uuid        NOT NULL UNIQUE
);

-- history(route) reads the newest events of one route.
CREATE INDEX rollout_events_route_at ON rollout_events (route_id, at);
