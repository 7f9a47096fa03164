with source as (
    select * from {{ source('crm', 'crm__invoices') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        invoice_id,
        company_id as account_id,
        subscription_id,

        -- attributes
        lower(trim(status)) as status,

        -- numerics
        cast(amount as {{ dbt.type_numeric() }}) as amount,

        -- timestamps
        cast(issued_date as date) as issued_date,
        cast(due_date as date) as due_date,
        cast(paid_date as date) as paid_date,
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
        {{ newest_first('invoice_id') }} as version_rank
    from renamed
),

final as (
    select
        invoice_id,
        account_id,
        subscription_id,
        status,
        amount,
        issued_date,
        due_date,
        paid_date,
        updated_at,
        _source_file,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from final
