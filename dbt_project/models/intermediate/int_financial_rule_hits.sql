-- Every financial rule that fires for a customer account: the band each measure falls in and its
-- points. New customers (no contract a year ago) count as 0 % expansion.
with financials as (
    select * from {{ ref('int_account_financials') }}
),

financial_points as (
    select * from {{ ref('financial_points') }}
),

measures as (
    select
        account_id,
        'annual_contract_value' as measure,
        annual_contract_value as measure_value
    from financials
    union all
    select
        account_id,
        'lifetime_value' as measure,
        lifetime_value as measure_value
    from financials
    union all
    select
        account_id,
        'expansion_rate' as measure,
        coalesce(expansion_rate, 0) as measure_value
    from financials
    union all
    select
        account_id,
        'avg_days_late' as measure,
        avg_days_late as measure_value
    from financials
    union all
    select
        account_id,
        'tickets_per_10k_acv' as measure,
        tickets_per_10k_acv as measure_value
    from financials
    where tickets_per_10k_acv is not null
),

final as (
    select
        measures.account_id,
        measures.measure,
        measures.measure_value,
        financial_points.lower_bound,
        financial_points.upper_bound,
        financial_points.points
    from measures
    inner join financial_points
        on
            measures.measure = financial_points.measure
            and {{ in_band('measures.measure_value', 'financial_points') }}
)

select * from final
