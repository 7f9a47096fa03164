-- Events that pass an engagement rule's filter (page URL, topic, product line, campaign,
-- direction, outcome or a catalogued event property), per person, day, action and filter, within
-- the lookback window: what filtered rules count. Rebuilt each run from the window, so an edited
-- filter applies to all of it at once.
{%- set property_name = "substr(filters.filter_attribute, " ~ ('property.' | length + 1) ~ ")" %}

with events as (
    select * from {{ ref('int_engagement_events') }}
    where
        activity_date <= {{ score_date() }}
        and activity_date > {{ dbt.dateadd('day', '-' ~ var('engagement_lookback_days'), score_date()) }}
),

filters as (
    select distinct
        source,
        action,
        filter_attribute,
        filter_operator,
        filter_value as value,
        filter_type,
        filter_key,
        low_number,
        high_number,
        low_date,
        high_date
    from {{ ref('int_engagement_rules') }}
    where filter_key is not null
),

candidates as (
    select
        events.contact_id,
        events.email,
        events.activity_date,
        events.source,
        events.action,
        events.duration_seconds,
        filters.filter_key,
        filters.filter_operator as operator,
        filters.value,
        filters.low_number,
        filters.high_number,
        filters.low_date,
        filters.high_date,
        case filters.filter_attribute
            when 'page_url' then events.page_url
            when 'topic' then events.topic
            when 'product_line' then events.product_line
            when 'campaign' then events.campaign
            when 'direction' then events.direction
            when 'outcome' then events.outcome
            -- property.<name>: the event's custom property
            else {{ json_value_text('events.properties', property_name) }}
        end as attribute_value,
        filters.filter_type
    from events
    inner join filters
        on events.source = filters.source and events.action = filters.action
),

typed as (
    select
        *,
        case when filter_type = 'number' then {{ try_cast_to('attribute_value', type_double()) }} end
            as value_number,
        case when filter_type = 'date' then {{ try_cast_to('substr(attribute_value, 1, 10)', 'date') }} end
            as value_date
    from candidates
),

passed as (
    select candidate.*
    from typed as candidate
    where
        case
            when candidate.operator = 'is_unknown' then {{ value_is_unknown('candidate.attribute_value') }}
            else coalesce(
                {{ rule_matches(
                    'candidate', 'candidate.attribute_value', 'candidate.value_number', 'candidate.value_date'
                ) }},
                false
            )
        end
),

final as (
    select
        contact_id,
        email,
        activity_date,
        source,
        action,
        filter_key,
        count(*) as event_count,
        sum(duration_seconds) as duration_seconds
    from passed
    group by contact_id, email, activity_date, source, action, filter_key
)

select * from final
