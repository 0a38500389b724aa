-- One row per Kafka record of dds.fact_events, with what it concerns resolved in the DDS:
-- a trigger names its pipeline and stage; a result names only its stage row, resolved
-- through dds.fact_stages (stage_id -> pipeline_id, name). order_id comes from the stage row
-- or, for a trigger, from the pipeline's delivery attempt. is_resolved is false while the
-- row it points at is not in the DDS yet (the ETL loads stages on its own schedule); the
-- resolved columns are NULL then. A view: always current, nothing to refresh.
CREATE VIEW IF NOT EXISTS dds.fact_events_resolved AS
SELECT
    e.event_id AS event_id,
    e.event_type AS event_type,
    e.topic AS topic,
    e.`partition` AS `partition`,
    e.`offset` AS `offset`,
    e.event_timestamp AS event_timestamp,
    e.pipeline_id AS pipeline_id,
    e.stage_name AS stage_name,
    e.stage_id AS stage_id,
    e.status AS status,
    e.message AS message,
    if(e.event_type = 'trigger', e.pipeline_id, s.pipeline_id) AS resolved_pipeline_id,
    if(e.event_type = 'trigger', e.stage_name, s.name) AS resolved_stage_name,
    if(e.event_type = 'trigger', d.order_id, s.order_id) AS order_id,
    if(e.event_type = 'trigger', d.pipeline_id IS NOT NULL, s.stage_id IS NOT NULL)
        AS is_resolved
FROM dds.fact_events AS e FINAL
LEFT JOIN
(
    SELECT stage_id, pipeline_id, order_id, name FROM dds.fact_stages FINAL
) AS s ON s.stage_id = e.stage_id
LEFT JOIN
(
    SELECT pipeline_id, order_id FROM dds.fact_deliveries FINAL
) AS d ON d.pipeline_id = e.pipeline_id
SETTINGS join_use_nulls = 1;
