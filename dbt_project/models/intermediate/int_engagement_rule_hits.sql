-- Every engagement rule that fires for a contact on the score date, with its arithmetic:
-- points x funnel-stage weight x decay, summed per action, then capped at max_points.
-- Plus the ignored_mailings rule: var('ignored_mailings_threshold') deliveries in a row without an
-- open or click.
with daily as (
    select * from {{ ref('int_engagement_contact_daily') }}
    where
        activity_date <= {{ score_date() }}
        and activity_date > {{ dbt.dateadd('day', '-' ~ var('engagement_lookback_days'), score_date()) }}
),

contacts as (
    select
        contact_id,
        segment
    from {{ ref('int_contacts_enriched') }}
),

rules as (
    select * from {{ ref('int_engagement_rules') }}
),

contact_daily as (
    select
        daily.*,
        contacts.segment
    from daily
    inner join contacts
        on daily.contact_id = contacts.contact_id
),

weighted as (
    select
        contact_daily.contact_id,
        contact_daily.segment,
        contact_daily.action,
        contact_daily.activity_date,
        contact_daily.event_count,
        rules.points * rules.stage_weight * contact_daily.event_count as weighted_points,
        -- fixed-point per event day, so sums are exact and do not depend on summation order
        cast(
            rules.points * rules.stage_weight * contact_daily.event_count
            * {{ decay_factor(dbt.datediff('contact_daily.activity_date', score_date(), 'day'), 'rules') }}
            as {{ points_type() }}
        ) as decayed_points
    from contact_daily
    inner join rules
        on contact_daily.action = rules.action and contact_daily.segment = rules.rule_set
),

per_action as (
    select
        contact_id,
        segment,
        action,
        sum(event_count) as event_count,
        sum(weighted_points) as weighted_points,
        sum(decayed_points) as decayed_points,
        max(activity_date) as last_activity_date
    from weighted
    group by contact_id, segment, action
),

last_engaged as (
    select
        contact_id,
        max(activity_date) as last_engaged_date
    from daily
    where action in ('open', 'click')
    group by contact_id
),

ignored as (
    select
        contact_daily.contact_id,
        contact_daily.segment,
        sum(contact_daily.event_count) as ignored_mailings,
        max(contact_daily.activity_date) as last_activity_date
    from contact_daily
    left join last_engaged
        on contact_daily.contact_id = last_engaged.contact_id
    where
        contact_daily.action = 'delivered'
        and (
            last_engaged.last_engaged_date is null
            or contact_daily.activity_date > last_engaged.last_engaged_date
        )
    group by contact_daily.contact_id, contact_daily.segment
),

ignored_hits as (
    select
        ignored.contact_id,
        ignored.segment,
        'ignored_mailings' as action,
        ignored.ignored_mailings as event_count,
        rules.points * rules.stage_weight as weighted_points,
        cast(rules.points * rules.stage_weight as {{ points_type() }}) as decayed_points,
        ignored.last_activity_date
    from ignored
    inner join rules
        on rules.action = 'ignored_mailings' and ignored.segment = rules.rule_set
    where ignored.ignored_mailings >= {{ var('ignored_mailings_threshold') }}
),

all_hits as (
    select * from per_action
    union all
    select * from ignored_hits
),

final as (
    select
        all_hits.contact_id,
        all_hits.action,
        all_hits.event_count,
        all_hits.weighted_points,
        all_hits.decayed_points,
        cast(
            case
                when all_hits.decayed_points >= 0 then least(all_hits.decayed_points, rules.max_points)
                else greatest(all_hits.decayed_points, -1 * rules.max_points)
            end
            as {{ points_type() }}
        ) as points,
        all_hits.last_activity_date
    from all_hits
    inner join rules
        on all_hits.action = rules.action and all_hits.segment = rules.rule_set
    where all_hits.weighted_points != 0
)

select * from final
