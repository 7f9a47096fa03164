-- Every rule that fired for an entity on the score date, in one shape, for the three subscores:
-- the rule, the value that made it fire, its points before decay and caps (raw_points) and the
-- points it contributes (points). Fit and financial rules add their seed points unchanged;
-- engagement rules add points x funnel weight x events (or units), decayed and capped per rule.
with fit as (
    select * from {{ ref('int_fit_rule_hits') }}
),

engagement as (
    select * from {{ ref('int_engagement_rule_hits') }}
),

financial as (
    select * from {{ ref('int_financial_rule_hits') }}
),

contacts as (
    select * from {{ ref('int_contacts_enriched') }}
),

ledger as (
    select
        fit.entity_type,
        fit.entity_id,
        fit.account_id,
        'fit' as subscore,
        fit.attribute as rule,
        fit.attribute_value as rule_value,
        cast(fit.points as {{ points_type() }}) as raw_points,
        cast(fit.points as {{ points_type() }}) as points
    from fit
    union all
    select
        'contact' as entity_type,
        engagement.contact_id as entity_id,
        contacts.account_id,
        'engagement' as subscore,
        engagement.rule,
        -- how much of it: events (units of the measure for a per-unit rule)
        case
            when engagement.measure is null then cast(engagement.event_count as {{ dbt.type_string() }})
            else cast(round(engagement.units, 1) as {{ dbt.type_string() }})
        end as rule_value,
        cast(engagement.weighted_points as {{ points_type() }}) as raw_points,
        engagement.points
    from engagement
    inner join contacts
        on engagement.contact_id = contacts.contact_id
    union all
    select
        'account' as entity_type,
        financial.account_id as entity_id,
        financial.account_id,
        'financial' as subscore,
        financial.measure as rule,
        cast(round(financial.measure_value, 2) as {{ dbt.type_string() }}) as rule_value,
        cast(financial.points as {{ points_type() }}) as raw_points,
        cast(financial.points as {{ points_type() }}) as points
    from financial
),

final as (
    select
        *,
        -- a short, readable reason: "seniority c_level +25", "demo_request x2 +30"
        rule
        || case
            when subscore = 'engagement' then ' x' || rule_value
            else ' ' || coalesce(rule_value, '')
        end
        || ' '
        || case when points >= 0 then '+' else '' end
        || cast(round(points, 1) as {{ dbt.type_string() }}) as reason
    from ledger
)

select * from final
