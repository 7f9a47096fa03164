-- Thresholds and weights of every segment: the segment_settings row, empty cells filled from the
-- dbt vars. Segments named by segment_rules without a settings row use the vars throughout.
with settings as (
    select * from {{ ref('segment_settings') }}
),

segment_rules as (
    select * from {{ ref('segment_rules') }}
),

segments as (
    select segment from settings
    union
    select segment from segment_rules
    union
    select 'default' as segment
),

final as (
    select
        segments.segment,
        cast(coalesce(settings.mql_threshold, {{ var('mql_threshold') }}) as {{ type_double() }})
            as mql_threshold,
        cast(coalesce(settings.sql_threshold, {{ var('sql_threshold') }}) as {{ type_double() }})
            as sql_threshold,
        cast(coalesce(settings.lead_fit_weight, {{ var('lead_fit_weight') }}) as {{ type_double() }})
            as lead_fit_weight,
        cast(
            coalesce(settings.lead_engagement_weight, {{ var('lead_engagement_weight') }})
            as {{ type_double() }}
        ) as lead_engagement_weight
    from segments
    left join settings
        on segments.segment = settings.segment
)

select * from final
