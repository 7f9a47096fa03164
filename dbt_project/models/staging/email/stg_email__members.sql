-- Audience members (optional entity email/members) at their newest version per audience and
-- address: subscription status, the platform's star rating and the merge fields as custom
-- properties. Empty when the company's shape does not list email/members.
with source as (
    select * from {{ source('email', 'email__members') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        list_id,
        lower(trim(email)) as email,

        -- attributes
        lower(trim(status)) as status,

        -- measures
        cast(member_rating as integer) as member_rating,

        -- timestamps
        {{ parse_utc_timestamp('last_changed') }} as last_changed,

        -- custom properties: the merge fields (JSON object of text values)
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
        {{ newest_first('list_id, email', 'last_changed desc') }} as version_rank
    from renamed
),

final as (
    select
        list_id,
        email,
        status,
        member_rating,
        last_changed,
        _properties,
        _source_file,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from final
