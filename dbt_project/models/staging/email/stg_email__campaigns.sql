with source as (
    select * from {{ source('email', 'email__campaigns') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        campaign_id,

        -- attributes
        name as campaign_name,
        lower(trim(topic)) as topic,
        lower(trim(product_line)) as product_line,
        subject,

        -- timestamps
        {{ parse_utc_timestamp('sent_at') }} as sent_at,

        -- load metadata
        _source_file,
        _row_number,
        _loaded_at
    from source
),

ranked as (
    select
        *,
        {{ newest_first('campaign_id', 'sent_at desc') }} as version_rank
    from renamed
),

final as (
    select
        campaign_id,
        campaign_name,
        topic,
        product_line,
        subject,
        sent_at,
        _source_file,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from final
