-- Email and web events in one shape, keyed the way each source knows the person: email events by
-- address, web events by CRM contact id (anonymous web visits are left out). Matching addresses to
-- contacts happens downstream, on the score date, so a person who engaged before they became a CRM
-- contact gets their earlier engagement once they are one.
with email_events as (
    select * from {{ ref('stg_email__events') }}
),

campaigns as (
    select * from {{ ref('stg_email__campaigns') }}
),

web_events as (
    select * from {{ ref('stg_web__events') }}
),

email_engagement as (
    select
        email_events.event_id,
        cast(null as {{ dbt.type_string() }}) as contact_id,
        email_events.email,
        'email' as source,
        email_events.event_type as action,
        campaigns.topic,
        campaigns.product_line,
        email_events.occurred_at,
        email_events.event_date as activity_date,
        email_events._loaded_at
    from email_events
    left join campaigns
        on email_events.campaign_id = campaigns.campaign_id
),

web_engagement as (
    select
        event_id,
        contact_id,
        cast(null as {{ dbt.type_string() }}) as email,
        'web' as source,
        event_type as action,
        content_topic as topic,
        product_line,
        occurred_at,
        event_date as activity_date,
        _loaded_at
    from web_events
    where contact_id is not null
),

final as (
    select * from email_engagement
    union all
    select * from web_engagement
)

select * from final
