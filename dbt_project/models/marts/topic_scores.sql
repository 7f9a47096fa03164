-- Engagement per contact and topic (the campaign or content topic) and per product line: the
-- positive engagement rules of the contact's segment, weighted, decayed and capped per action as
-- in engagement_scores, but counted per topic. is_strongest marks each contact's top topic and
-- top product line (ties: alphabetical).
with daily as (
    select * from {{ ref('int_engagement_contact_daily') }}
    where
        filter_key is null
        and activity_date <= {{ score_date() }}
        and activity_date > {{ dbt.dateadd('day', '-' ~ var('engagement_lookback_days'), score_date()) }}
),

contacts as (
    select * from {{ ref('int_contacts_enriched') }}
),

rules as (
    -- the per-event rules of an action (filtered, count and per-unit rules have no topic)
    select * from {{ ref('int_engagement_rules') }}
    where points > 0 and filter_key is null and min_count is null and measure is null
),

topical as (
    select
        contact_id,
        activity_date,
        action,
        event_count,
        'topic' as topic_type,
        topic
    from daily
    where topic is not null
    union all
    select
        contact_id,
        activity_date,
        action,
        event_count,
        'product_line' as topic_type,
        product_line as topic
    from daily
    where product_line is not null
),

weighted as (
    select
        topical.contact_id,
        contacts.account_id,
        topical.topic_type,
        topical.topic,
        topical.action,
        rules.max_points,
        topical.event_count,
        cast(
            rules.points * rules.stage_weight * topical.event_count
            * {{ decay_factor(dbt.datediff('topical.activity_date', score_date(), 'day'), 'rules') }}
            as {{ points_type() }}
        ) as decayed_points
    from topical
    inner join contacts
        on topical.contact_id = contacts.contact_id
    inner join rules
        on topical.action = rules.action and contacts.segment = rules.rule_set
),

per_action as (
    select
        contact_id,
        account_id,
        topic_type,
        topic,
        action,
        sum(event_count) as event_count,
        -- fixed point: the sum over actions below is exact whatever the order
        cast(least(sum(decayed_points), max(max_points)) as {{ points_type() }}) as points
    from weighted
    group by contact_id, account_id, topic_type, topic, action
),

per_topic as (
    select
        contact_id,
        account_id,
        topic_type,
        topic,
        sum(event_count) as event_count,
        sum(points) as topic_points
    from per_action
    group by contact_id, account_id, topic_type, topic
),

final as (
    select
        contact_id,
        account_id,
        {{ score_date() }} as score_date,
        topic_type,
        topic,
        cast(event_count as integer) as event_count,
        cast(topic_points as {{ type_double() }}) as topic_points,
        cast(round({{ clamp('topic_points') }}, 1) as {{ type_double() }}) as topic_score,
        row_number() over (
            partition by contact_id, topic_type order by topic_points desc, topic asc
        ) = 1 as is_strongest
    from per_topic
)

select * from final
