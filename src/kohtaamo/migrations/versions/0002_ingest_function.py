"""PostgreSQL: kohtaamo_ingest(), one round trip for a whole group of tracked batches (ADR 0005)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Arrays in, one row per visit (kind 'v': number) and per newly stored event (kind 'e') out.
# It runs as one statement, so the whole group commits or rolls back together.
FUNCTION = """
CREATE OR REPLACE FUNCTION kohtaamo_ingest(
    v_ws int[], v_key text[], v_first timestamptz[], v_last timestamptz[], v_cust text[],
    s_ws int[], s_vk text[], s_key text[], s_start timestamptz[], s_last timestamptz[],
    s_land text[], s_ref text[], s_src text[], s_med text[], s_camp text[], s_nl text[],
    s_cust text[],
    e_ws int[], e_id uuid[], e_vk text[], e_sk text[], e_type text[], e_ts timestamptz[],
    e_recv timestamptz[], e_props jsonb[], e_clamped bool[], e_source text[]
) RETURNS TABLE (kind text, ws int, k1 text, k2 text, num int)
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
    n int;
BEGIN
    INSERT INTO visitors AS t (workspace_id, key, first_seen_at, last_seen_at, visit_count, customer_id)
    SELECT a, b, c, d, 0, e FROM unnest(v_ws, v_key, v_first, v_last, v_cust) AS u(a, b, c, d, e)
    ON CONFLICT (workspace_id, key) DO UPDATE SET
        first_seen_at = LEAST(t.first_seen_at, EXCLUDED.first_seen_at),
        last_seen_at = GREATEST(t.last_seen_at, EXCLUDED.last_seen_at),
        customer_id = COALESCE(EXCLUDED.customer_id, t.customer_id);

    FOR r IN
        WITH ins AS (
            INSERT INTO visits AS t (workspace_id, visitor_key, key, started_at, last_event_at,
                landing_url, referrer, utm_source, utm_medium, utm_campaign, newsletter_id,
                customer_id)
            SELECT * FROM unnest(s_ws, s_vk, s_key, s_start, s_last, s_land, s_ref, s_src, s_med,
                                 s_camp, s_nl, s_cust)
            ON CONFLICT (workspace_id, visitor_key, key) DO UPDATE SET
                started_at = LEAST(t.started_at, EXCLUDED.started_at),
                last_event_at = GREATEST(t.last_event_at, EXCLUDED.last_event_at),
                customer_id = COALESCE(EXCLUDED.customer_id, t.customer_id),
                landing_url = COALESCE(t.landing_url, EXCLUDED.landing_url),
                referrer = COALESCE(t.referrer, EXCLUDED.referrer),
                utm_source = COALESCE(t.utm_source, EXCLUDED.utm_source),
                utm_medium = COALESCE(t.utm_medium, EXCLUDED.utm_medium),
                utm_campaign = COALESCE(t.utm_campaign, EXCLUDED.utm_campaign),
                newsletter_id = COALESCE(t.newsletter_id, EXCLUDED.newsletter_id)
            RETURNING t.id, t.workspace_id, t.visitor_key, t.key, t.number, t.started_at
        )
        SELECT * FROM ins ORDER BY started_at
    LOOP
        n := r.number;
        IF n IS NULL THEN
            -- A new visit takes the next number from its visitor's row: an atomic increment, so
            -- two workers that see two new visits of one visitor at once number them 1 and 2.
            UPDATE visitors SET visit_count = visit_count + 1
             WHERE workspace_id = r.workspace_id AND key = r.visitor_key
            RETURNING visit_count INTO n;
            UPDATE visits SET number = n WHERE id = r.id;
        END IF;
        kind := 'v'; ws := r.workspace_id; k1 := r.visitor_key; k2 := r.key; num := n;
        RETURN NEXT;
    END LOOP;

    RETURN QUERY
    INSERT INTO events (workspace_id, event_id, visitor_key, visit_key, type, ts, received_at,
                        props, clamped, source)
    SELECT * FROM unnest(e_ws, e_id, e_vk, e_sk, e_type, e_ts, e_recv, e_props, e_clamped,
                         e_source)
    ON CONFLICT (workspace_id, event_id) DO NOTHING
    RETURNING 'e'::text, events.workspace_id, replace(events.event_id::text, '-', ''),
              NULL::text, NULL::int;
END
$fn$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS kohtaamo_ingest")
