-- The engagement rules each segment in use scores with (seed engagement_points: the segment's own
-- rows, the default rows for rule names it leaves alone), with the funnel-stage weight, the
-- half-life (the rule's own, else var engagement_half_life_days), the count window (the rule's
-- own, else var engagement_lookback_days) and the filter parsed. A bad rule row stops the build
-- here, with a message naming it.
{{ raise_rule_errors('select problem from (' ~ engagement_rule_checks() ~ ') as checks where problem is not null') }}

with checked as (
    {{ engagement_rule_checks() }}
),

contacts as (
    select distinct segment from {{ ref('int_contacts_enriched') }}
),

contact_segments as (
    select segment from contacts
    union
    select 'default' as segment
),

typed as (
    select
        segment,
        rule,
        action,
        source,
        funnel_stage,
        points,
        max_points,
        decay,
        half_life_days,
        window_days,
        filter_attribute,
        filter_operator,
        filter_value,
        filter_type,
        -- one key per distinct filter: the events that pass it are counted once for all its rules
        case
            when filter_attribute is not null
                then filter_attribute || ' ' || filter_operator || ' ' || coalesce(filter_value, '')
        end as filter_key,
        {{ between_ends('filter_value', 'filter_type') }},
        min_count,
        count_window_days,
        measure,
        measure_unit
    from checked
),

segment_rules as (
    {{ rules_per_segment('typed', 'contact_segments', ['rule']) }}
),

final as (
    select
        segment_rules.rule_set,
        segment_rules.rule,
        segment_rules.action,
        segment_rules.source,
        segment_rules.points,
        segment_rules.max_points,
        segment_rules.decay,
        coalesce(segment_rules.half_life_days, {{ var('engagement_half_life_days') }}) as half_life_days,
        segment_rules.window_days,
        segment_rules.filter_attribute,
        segment_rules.filter_operator,
        segment_rules.filter_value,
        segment_rules.filter_type,
        segment_rules.filter_key,
        segment_rules.low_number,
        segment_rules.high_number,
        segment_rules.low_date,
        segment_rules.high_date,
        segment_rules.min_count,
        coalesce(segment_rules.count_window_days, {{ var('engagement_lookback_days') }}) as count_window_days,
        segment_rules.measure,
        coalesce(segment_rules.measure_unit, 1) as measure_unit,
        funnel_stage_weights.weight as stage_weight
    from segment_rules
    inner join {{ ref('funnel_stage_weights') }} as funnel_stage_weights
        on segment_rules.funnel_stage = funnel_stage_weights.funnel_stage
)

select * from final
