with source as (
    select * from {{ source('crm', 'crm__nps_responses') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        response_id,
        company_id as account_id,
        contact_id,

        -- numerics
        cast(score as integer) as nps_score,

        -- timestamps
        {{ parse_utc_timestamp('responded_at') }} as responded_at,

        -- load metadata
        _source_file,
        _row_number,
        _loaded_at
    from source
),

ranked as (
    select
        *,
        {{ newest_first('response_id', 'responded_at desc') }} as version_rank
    from renamed
),

final as (
    select
        response_id,
        account_id,
        contact_id,
        nps_score,
        responded_at,
        _source_file,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from final
