-- Every engagement rule that fires for a contact on the score date, with its arithmetic
-- (docs/rules.md):
-- * per-event rules: points x funnel-stage weight x events (or x measure / measure_unit for a
--   per-unit rule), decayed by each day's age, summed per rule;
-- * count rules (min_count): points x funnel-stage weight once, when at least min_count events
--   happened within count_window_days, decayed by the age of the newest of them;
-- then capped at max_points. A rule with a filter counts only the events that pass it.
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

rule_daily as (
    -- each rule with the days of the events it counts: its action's, or those passing its filter
    select
        contact_daily.contact_id,
        contact_daily.segment,
        rules.rule,
        contact_daily.activity_date,
        contact_daily.event_count,
        case
            when rules.measure is not null
                then coalesce(contact_daily.duration_seconds, 0) / rules.measure_unit
            else contact_daily.event_count
        end as units,
        {{ dbt.datediff('contact_daily.activity_date', score_date(), 'day') }} as age_days
    from contact_daily
    inner join rules
        on
            contact_daily.action = rules.action
            and contact_daily.source = rules.source
            and contact_daily.segment = rules.rule_set
            and (
                (contact_daily.filter_key is null and rules.filter_key is null)
                or contact_daily.filter_key = rules.filter_key
            )
            and rules.action != 'ignored_mailings'
),

weighted as (
    select
        rule_daily.contact_id,
        rule_daily.segment,
        rule_daily.rule,
        rule_daily.activity_date,
        rule_daily.event_count,
        rule_daily.units,
        rules.points * rules.stage_weight * rule_daily.units as weighted_points,
        -- fixed-point per event day, so sums are exact and do not depend on summation order
        cast(
            rules.points * rules.stage_weight * rule_daily.units
            * {{ decay_factor('rule_daily.age_days', 'rules') }}
            as {{ points_type() }}
        ) as decayed_points
    from rule_daily
    inner join rules
        on rule_daily.rule = rules.rule and rule_daily.segment = rules.rule_set
    where rules.min_count is null
),

per_rule as (
    select
        contact_id,
        segment,
        rule,
        sum(event_count) as event_count,
        sum(units) as units,
        sum(weighted_points) as weighted_points,
        sum(decayed_points) as decayed_points,
        max(activity_date) as last_activity_date
    from weighted
    group by contact_id, segment, rule
),

counted as (
    select
        rule_daily.contact_id,
        rule_daily.segment,
        rule_daily.rule,
        sum(rule_daily.event_count) as event_count,
        min(rule_daily.age_days) as newest_age_days,
        max(rule_daily.activity_date) as last_activity_date
    from rule_daily
    inner join rules
        on rule_daily.rule = rules.rule and rule_daily.segment = rules.rule_set
    where
        rules.min_count is not null
        and rule_daily.age_days < rules.count_window_days
    group by rule_daily.contact_id, rule_daily.segment, rule_daily.rule
),

count_hits as (
    select
        counted.contact_id,
        counted.segment,
        counted.rule,
        counted.event_count,
        cast(counted.event_count as {{ type_double() }}) as units,
        rules.points * rules.stage_weight as weighted_points,
        cast(
            rules.points * rules.stage_weight * {{ decay_factor('counted.newest_age_days', 'rules') }}
            as {{ points_type() }}
        ) as decayed_points,
        counted.last_activity_date
    from counted
    inner join rules
        on counted.rule = rules.rule and counted.segment = rules.rule_set
    where counted.event_count >= rules.min_count
),

last_engaged as (
    select
        contact_id,
        max(activity_date) as last_engaged_date
    from daily
    where source = 'email' and action in ('open', 'click') and filter_key is null
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
        contact_daily.source = 'email'
        and contact_daily.action = 'delivered'
        and contact_daily.filter_key is null
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
        rules.rule,
        ignored.ignored_mailings as event_count,
        cast(ignored.ignored_mailings as {{ type_double() }}) as units,
        rules.points * rules.stage_weight as weighted_points,
        cast(rules.points * rules.stage_weight as {{ points_type() }}) as decayed_points,
        ignored.last_activity_date
    from ignored
    inner join rules
        on rules.action = 'ignored_mailings' and ignored.segment = rules.rule_set
    where ignored.ignored_mailings >= {{ var('ignored_mailings_threshold') }}
),

all_hits as (
    select * from per_rule
    union all
    select * from count_hits
    union all
    select * from ignored_hits
),

final as (
    select
        all_hits.contact_id,
        all_hits.rule,
        rules.action,
        all_hits.event_count,
        all_hits.units,
        rules.measure,
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
        on all_hits.rule = rules.rule and all_hits.segment = rules.rule_set
    where all_hits.weighted_points != 0
)

select * from final
