{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
        post_hook="{{ delete_rows_of_reloaded_files() }}",
    )
}}
-- depends_on: {{ source('extract', 'load_log') }}

-- Incremental (macros/reloads.sql): a build reads the events of the files loaded since the last
-- one and rebuilds them from every delivered version; the events of a file loaded again (a rerun)
-- are rebuilt too, and those the corrected file no longer holds are deleted.
with source as (
    select * from {{ source('web', 'web__events') }}
),

{% if is_incremental() %}
    changed_events as (
        {{ keys_to_rebuild(source('web', 'web__events'), 'event_id') }}
    ),
{% endif %}

versions as (
    select * from source
    {% if is_incremental() %}
        where event_id in (select changed_events.event_id from changed_events)
    {% endif %}
),

renamed as (
    select
        -- ids
        event_id,
        contact_id,
        anonymous_id,

        -- attributes
        lower(trim(event_type)) as event_type,
        page_url,
        lower(trim(content_topic)) as content_topic,
        lower(trim(product_line)) as product_line,

        -- measures
        cast(duration_seconds as {{ type_double() }}) as duration_seconds,

        -- timestamps
        {{ parse_utc_timestamp('occurred_at') }} as occurred_at,

        -- custom properties (JSON object of text values)
        _properties,

        -- load metadata
        _source_file,
        _row_number,
        _loaded_at
    from versions
),

ranked as (
    select
        *,
        {{ newest_first('event_id', 'occurred_at desc') }} as version_rank
    from renamed
),

final as (
    select
        event_id,
        contact_id,
        anonymous_id,
        event_type,
        page_url,
        content_topic,
        product_line,
        duration_seconds,
        occurred_at,
        cast(occurred_at as date) as event_date,
        _properties,
        _source_file,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from final
