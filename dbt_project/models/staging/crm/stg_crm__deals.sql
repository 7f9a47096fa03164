with source as (
    select * from {{ source('crm', 'crm__deals') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        deal_id,
        company_id as account_id,
        contact_id,

        -- attributes
        deal_name,
        lower(trim(product_line)) as product_line,
        lower(trim(stage)) as stage,

        -- numerics
        cast(amount as {{ dbt.type_numeric() }}) as amount,

        -- timestamps
        {{ parse_utc_timestamp('created_at') }} as created_at,
        cast(close_date as date) as closed_date,
        {{ parse_utc_timestamp('updated_at') }} as updated_at,

        -- custom properties (only read for the deleted flag)
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
        {{ newest_first('deal_id') }} as version_rank
    from renamed
),

final as (
    select
        deal_id,
        account_id,
        contact_id,
        deal_name,
        product_line,
        stage,
        stage in ('closed_won', 'closed_lost') as is_closed,
        stage = 'closed_won' as is_won,
        amount,
        created_at,
        closed_date,
        updated_at,
        _source_file,
        _loaded_at
    from ranked
    where
        version_rank = 1
        and {{ not_deleted() }}
)

select * from final
