-- Email events, web events and CRM activities in one shape, keyed the way each source knows the
-- person: email events by address, web events and activities by CRM contact id (anonymous web
-- visits are left out). Matching addresses to contacts happens downstream, on the score date, so a
-- person who engaged before they became a CRM contact gets their earlier engagement once they are
-- one. The attributes engagement rules filter on and the measures they count ride along.
with email_events as (
    select * from {{ ref('stg_email__events') }}
),

campaigns as (
    select * from {{ ref('stg_email__campaigns') }}
),

web_events as (
    select * from {{ ref('stg_web__events') }}
),

activities as (
    select * from {{ ref('stg_crm__activities') }}
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
        email_events.campaign_id as campaign,
        email_events.url as page_url,
        cast(null as {{ dbt.type_string() }}) as direction,
        cast(null as {{ dbt.type_string() }}) as outcome,
        cast(null as {{ type_double() }}) as duration_seconds,
        cast(null as {{ dbt.type_string() }}) as properties,
        email_events.occurred_at,
        email_events.event_date as activity_date,
        email_events._source_file,
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
        cast(null as {{ dbt.type_string() }}) as campaign,
        page_url,
        cast(null as {{ dbt.type_string() }}) as direction,
        cast(null as {{ dbt.type_string() }}) as outcome,
        duration_seconds,
        _properties as properties,
        occurred_at,
        event_date as activity_date,
        _source_file,
        _loaded_at
    from web_events
    where contact_id is not null
),

crm_engagement as (
    select
        activity_id as event_id,
        contact_id,
        cast(null as {{ dbt.type_string() }}) as email,
        'crm' as source,
        activity_type as action,
        cast(null as {{ dbt.type_string() }}) as topic,
        cast(null as {{ dbt.type_string() }}) as product_line,
        cast(null as {{ dbt.type_string() }}) as campaign,
        cast(null as {{ dbt.type_string() }}) as page_url,
        direction,
        outcome,
        duration_seconds,
        _properties as properties,
        occurred_at,
        activity_date,
        _source_file,
        _loaded_at
    from activities
),

final as (
    select * from email_engagement
    union all
    select * from web_engagement
    union all
    select * from crm_engagement
)

select * from final
