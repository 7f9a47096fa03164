{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='event_id',
        on_schema_change='fail',
    )
}}

with source as (
    select * from {{ source('web', 'web__events') }}
    {% if is_incremental() %}
        -- only what landed since the last build: cost follows the day's delta
        where _loaded_at > (select max(this_model._loaded_at) from {{ this }} as this_model)
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
    from source
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
