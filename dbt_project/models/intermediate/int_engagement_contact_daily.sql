{{ config(materialized='view') }}

-- Daily engagement per CRM contact as known on the score date: email activity is matched to the
-- contact who has that address now, whenever the activity happened (newsletter subscribers who
-- become contacts later bring their history with them). Rows with a filter_key count only the
-- events that pass that engagement filter (int_engagement_filtered_daily); rows without one count
-- every event of the action.
with daily as (
    select
        contact_id,
        email,
        activity_date,
        source,
        action,
        topic,
        product_line,
        cast(null as {{ dbt.type_string() }}) as filter_key,
        event_count,
        duration_seconds
    from {{ ref('int_engagement_daily') }}
    union all
    select
        contact_id,
        email,
        activity_date,
        source,
        action,
        cast(null as {{ dbt.type_string() }}) as topic,
        cast(null as {{ dbt.type_string() }}) as product_line,
        filter_key,
        event_count,
        duration_seconds
    from {{ ref('int_engagement_filtered_daily') }}
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
        daily.filter_key,
        daily.event_count,
        daily.duration_seconds
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
        filter_key,
        sum(event_count) as event_count,
        sum(duration_seconds) as duration_seconds
    from resolved
    where contact_id is not null
    group by contact_id, activity_date, source, action, topic, product_line, filter_key
)

select * from final
