{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['account_id', 'usage_date'],
        on_schema_change='fail',
    )
}}

with source as (
    select * from {{ source('crm', 'crm__product_usage') }}
    {% if is_incremental() %}
        -- only what landed since the last build: cost follows the day's delta
        where _loaded_at > (select max(this_model._loaded_at) from {{ this }} as this_model)
    {% endif %}
),

renamed as (
    select
        -- ids
        company_id as account_id,

        -- numerics
        cast(active_users as integer) as active_users,
        cast(sessions as integer) as sessions,
        cast(feature_events as integer) as feature_events,

        -- timestamps
        cast(usage_date as date) as usage_date,

        -- load metadata
        _source_file,
        _row_number,
        _loaded_at
    from source
),

ranked as (
    select
        *,
        {{ newest_first('account_id, usage_date', '_loaded_at desc') }} as version_rank
    from renamed
),

final as (
    select
        account_id,
        usage_date,
        active_users,
        sessions,
        feature_events,
        _source_file,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from final
