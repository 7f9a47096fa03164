{{ config(materialized='view') }}

-- Daily engagement per CRM contact as known on the score date: email activity is matched to the
-- contact who has that address now, whenever the activity happened (newsletter subscribers who
-- become contacts later bring their history with them).
with daily as (
    select * from {{ ref('int_engagement_daily') }}
),

contacts_by_email as (
    select
        email,
        min(contact_id) as contact_id
    from {{ ref('stg_crm__contacts') }}
    group by email
),

resolved as (
    select
        coalesce(daily.contact_id, contacts_by_email.contact_id) as contact_id,
        daily.activity_date,
        daily.source,
        daily.action,
        daily.topic,
        daily.product_line,
        daily.event_count
    from daily
    left join contacts_by_email
        on daily.email = contacts_by_email.email
),

final as (
    select
        contact_id,
        activity_date,
        source,
        action,
        topic,
        product_line,
        sum(event_count) as event_count
    from resolved
    where contact_id is not null
    group by contact_id, activity_date, source, action, topic, product_line
)

select * from final
