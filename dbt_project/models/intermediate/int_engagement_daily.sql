{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        on_schema_change='fail',
        post_hook="{{ delete_rows_of_reloaded_files() }}",
    )
}}
-- depends_on: {{ source('extract', 'load_log') }}

-- Events per person (web and CRM activities: contact id, email: address), day, action and topic /
-- product line, and the file they were delivered in, with their count and summed measures.
-- Addresses are matched to contacts downstream (int_engagement_contact_daily).
-- Incremental (macros/reloads.sql): only the days touched by newly staged events, or holding
-- events of a file loaded again since (a rerun of a corrected delivery), are recomputed and
-- replaced whole, so a daily run costs the day's delta; rows of a file loaded again that no
-- event of it backs any more are deleted. The file is part of the grain for that: each row's
-- _loaded_at is its file's load time.
with events as (
    select * from {{ ref('int_engagement_events') }}
),

{% if is_incremental() %}
    touched_days as (
        {{ keys_to_rebuild(ref('int_engagement_events'), 'activity_date') }}
    ),
{% endif %}

final as (
    select
        events.contact_id,
        events.email,
        events.activity_date,
        events.source,
        events.action,
        events.topic,
        events.product_line,
        count(*) as event_count,
        sum(events.duration_seconds) as duration_seconds,
        events._source_file,
        max(events._loaded_at) as _loaded_at
    from events
    {% if is_incremental() %}
        where events.activity_date in (select touched_days.activity_date from touched_days)
    {% endif %}
    group by
        events.contact_id,
        events.email,
        events.activity_date,
        events.source,
        events.action,
        events.topic,
        events.product_line,
        events._source_file
)

select * from final
