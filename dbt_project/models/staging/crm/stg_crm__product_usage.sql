{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['account_id', 'usage_date'],
        on_schema_change='fail',
        post_hook="{{ delete_rows_of_reloaded_files() }}",
    )
}}
-- depends_on: {{ source('extract', 'load_log') }}

-- Incremental (macros/reloads.sql): a build reads the usage rows of the files loaded since the
-- last one and rebuilds them from every delivered version; the rows of a file loaded again (a
-- rerun) are rebuilt too, and those the corrected file no longer holds are deleted.
with source as (
    select * from {{ source('crm', 'crm__product_usage') }}
),

{% if is_incremental() %}
    changed_usage as (
        -- keys as delivered (text), so the raw rows are matched without casting each one; reads
        -- the source again rather than the source CTE: a CTE read twice is materialized whole
        select
            delivered.company_id,
            delivered.usage_date
        from {{ source('crm', 'crm__product_usage') }} as delivered
        where {{ loaded_since_last_build(column='delivered._loaded_at') }}
        union all
        select
            built.account_id as company_id,
            cast(built.usage_date as {{ dbt.type_string() }}) as usage_date
        from {{ this }} as built
        where built._source_file in ({{ files_loaded_since_last_build() }})
    ),
{% endif %}

versions as (
    select * from source
    {% if is_incremental() %}
        where exists (
            select 1 from changed_usage
            where
                changed_usage.company_id = source.company_id
                and changed_usage.usage_date = source.usage_date
        )
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
    from versions
),

ranked as (
    select
        *,
        {{ newest_first('account_id, usage_date', none) }} as version_rank
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
