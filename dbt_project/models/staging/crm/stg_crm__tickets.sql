with source as (
    select * from {{ source('crm', 'crm__tickets') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        ticket_id,
        company_id as account_id,
        contact_id,

        -- attributes
        lower(trim(priority)) as priority,
        lower(trim(is_escalated)) = 'true' as is_escalated,

        -- numerics
        cast(satisfaction as integer) as satisfaction,

        -- timestamps
        {{ parse_utc_timestamp('created_at') }} as created_at,
        {{ parse_utc_timestamp('closed_at') }} as closed_at,
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
        {{ newest_first('ticket_id') }} as version_rank
    from renamed
),

final as (
    select
        ticket_id,
        account_id,
        contact_id,
        priority,
        is_escalated,
        satisfaction,
        created_at,
        closed_at,
        updated_at,
        _source_file,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from final
