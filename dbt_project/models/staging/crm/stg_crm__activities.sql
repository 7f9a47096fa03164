-- CRM activities (calls, meetings, SMS, chats, notes, logged emails, tasks) at their newest
-- version: what a sales team did with a contact, as HubSpot engagements are.
with source as (
    select * from {{ source('crm', 'crm__activities') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        activity_id,
        contact_id,
        company_id as account_id,

        -- attributes
        lower(trim(activity_type)) as activity_type,
        lower(trim(direction)) as direction,
        lower(trim(outcome)) as outcome,

        -- measures
        cast(duration_seconds as {{ type_double() }}) as duration_seconds,

        -- timestamps
        {{ parse_utc_timestamp('occurred_at') }} as occurred_at,
        {{ parse_utc_timestamp('updated_at') }} as updated_at,

        -- custom properties (JSON object of text values)
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
        {{ newest_first('activity_id') }} as version_rank
    from renamed
),

final as (
    select
        activity_id,
        contact_id,
        account_id,
        activity_type,
        direction,
        outcome,
        duration_seconds,
        occurred_at,
        cast(occurred_at as date) as activity_date,
        updated_at,
        _properties,
        _source_file,
        _loaded_at
    from ranked
    where version_rank = 1
)

select * from final
