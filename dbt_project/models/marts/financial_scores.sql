-- Financial score per customer account: contract value, revenue to date, expansion, payment
-- reliability and cost to serve, each banded into points by the financial_points seed.
with financials as (
    select * from {{ ref('int_account_financials') }}
),

hits as (
    select * from {{ ref('int_financial_rule_hits') }}
),

points_per_account as (
    select
        account_id,
        sum(case when measure = 'annual_contract_value' then points else 0 end) as acv_points,
        sum(case when measure = 'lifetime_value' then points else 0 end) as ltv_points,
        sum(case when measure = 'expansion_rate' then points else 0 end) as expansion_points,
        sum(case when measure = 'avg_days_late' then points else 0 end) as payment_points,
        sum(case when measure = 'tickets_per_10k_acv' then points else 0 end) as cost_to_serve_points,
        sum(points) as financial_points
    from hits
    group by account_id
),

final as (
    select
        financials.account_id,
        {{ score_date() }} as score_date,
        cast(financials.annual_contract_value as {{ type_double() }}) as annual_contract_value,
        cast(financials.lifetime_value as {{ type_double() }}) as lifetime_value,
        cast(financials.expansion_rate as {{ type_double() }}) as expansion_rate,
        cast(financials.avg_days_late as {{ type_double() }}) as avg_days_late,
        cast(financials.tickets_per_10k_acv as {{ type_double() }}) as tickets_per_10k_acv,
        {% for column in ['acv_points', 'ltv_points', 'expansion_points', 'payment_points', 'cost_to_serve_points'] -%}
            cast(coalesce(points_per_account.{{ column }}, 0) as {{ type_double() }}) as {{ column }},
        {% endfor -%}
        cast(
            round({{ clamp('coalesce(points_per_account.financial_points, 0)') }}, 1)
            as {{ type_double() }}
        ) as financial_score
    from financials
    left join points_per_account
        on financials.account_id = points_per_account.account_id
)

select * from final
