{{ config(materialized='view') }}

-- Email and web events of known contacts in one shape. Email events name an address, so they are
-- matched to the CRM contact with that address; anonymous web visits are left out.
with email_events as (
    select * from {{ ref('stg_email__events') }}
),

campaigns as (
    select * from {{ ref('stg_email__campaigns') }}
),

web_events as (
    select * from {{ ref('stg_web__events') }}
),

contacts_by_email as (
    select
        email,
        min(contact_id) as contact_id
    from {{ ref('stg_crm__contacts') }}
    group by email
),

email_engagement as (
    select
        email_events.event_id,
        contacts_by_email.contact_id,
        'email' as source,
        email_events.event_type as action,
        campaigns.topic,
        campaigns.product_line,
        email_events.occurred_at,
        email_events.event_date as activity_date,
        email_events._loaded_at
    from email_events
    inner join contacts_by_email
        on email_events.email = contacts_by_email.email
    left join campaigns
        on email_events.campaign_id = campaigns.campaign_id
),

web_engagement as (
    select
        event_id,
        contact_id,
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
