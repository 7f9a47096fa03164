-- Every delivered version of each deal (a deal appears when created and again each time its stage
-- changes): one row per deal and updated_at (a redelivered version counts once: the newest
-- delivery wins), typed. stg_crm__deals is the newest version of each deal that is not deleted;
-- deal scoring reads a deal's stage as of any past day from here (joined to stg_crm__deals, so a
-- deleted deal drops out with all its versions).
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
        coalesce(lower(trim(product_line)), 'unknown') as product_line,
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
        {{ newest_first('deal_id, updated_at', order_by=none) }} as delivery_rank
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
        _properties,
        _source_file,
        _row_number,
        _loaded_at
    from ranked
    where delivery_rank = 1
)

select * from final
