-- The engagement rules each segment in use scores with (seed engagement_points: the segment's own
-- rows, the default rows for actions it leaves alone), with the funnel-stage weight and the
-- half-life resolved (the rule's own, else var engagement_half_life_days).
with contacts as (
    select distinct segment from {{ ref('int_contacts_enriched') }}
),

contact_segments as (
    select segment from contacts
    union
    select 'default' as segment
),

engagement_points as (
    select * from {{ ref('engagement_points') }}
),

segment_rules as (
    {{ rules_per_segment('engagement_points', 'contact_segments', ['action']) }}
),

final as (
    select
        segment_rules.rule_set,
        segment_rules.action,
        segment_rules.points,
        segment_rules.max_points,
        segment_rules.decay,
        coalesce(segment_rules.half_life_days, {{ var('engagement_half_life_days') }}) as half_life_days,
        segment_rules.window_days,
        funnel_stage_weights.weight as stage_weight
    from segment_rules
    inner join {{ ref('funnel_stage_weights') }} as funnel_stage_weights
        on segment_rules.funnel_stage = funnel_stage_weights.funnel_stage
)

select * from final
