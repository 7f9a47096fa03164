with source as (
    select * from {{ source('crm', 'crm__subscriptions') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        subscription_id,
        company_id as account_id,

        -- attributes
        lower(trim(product_line)) as product_line,
        lower(trim(plan)) as plan,
        lower(trim(status)) as status,

        -- numerics
        cast(seats as integer) as seats,
        cast(annual_value as {{ dbt.type_numeric() }}) as annual_value,

        -- timestamps
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        {{ parse_utc_timestamp('updated_at') }} as updated_at,

        -- load metadata
        _source_file,
        _row_number,
        _loaded_at
    from source
),

ranked as (
    select
        *,
        {{ newest_first('subscription_id') }} as version_rank
    from renamed
),

final as (
    select
        subscription_id,
        account_id,
        product_line,
        plan,
        status,
        seats,
        annual_value,
        start_date,
        end_date,
        updated_at,
        _source_file,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from final
