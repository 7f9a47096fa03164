-- One row per service level (seed service_levels): how many customer accounts it covers today,
-- their annual contract value, and the customer-success managers that book needs at the level's
-- accounts_per_csm, so a team can match each CSM's workload to the value they look after.
with accounts as (
    select * from {{ ref('account_scores') }}
    where service_level is not null
),

financials as (
    select * from {{ ref('financial_scores') }}
),

levels as (
    select * from {{ ref('service_levels') }}
),

per_level as (
    select
        accounts.service_level,
        count(*) as customer_accounts,
        sum(coalesce(financials.annual_contract_value, 0)) as annual_contract_value,
        round(avg(accounts.account_score), 1) as mean_account_score
    from accounts
    left join financials
        on accounts.account_id = financials.account_id
    group by accounts.service_level
),

coverage as (
    select
        {{ score_date() }} as score_date,
        levels.service_level,
        levels.tier,
        levels.support_tier,
        levels.csm_coverage,
        cast(levels.first_response_hours as {{ type_double() }}) as first_response_hours,
        cast(levels.accounts_per_csm as integer) as accounts_per_csm,
        cast(coalesce(per_level.customer_accounts, 0) as integer) as customer_accounts,
        cast(coalesce(per_level.annual_contract_value, 0) as {{ type_double() }}) as annual_contract_value,
        cast(per_level.mean_account_score as {{ type_double() }}) as mean_account_score,
        -- whole managers: a partly filled book still needs one
        cast(
            ceiling(cast(coalesce(per_level.customer_accounts, 0) as {{ type_double() }}) / levels.accounts_per_csm)
            as integer
        ) as csms_needed
    from levels
    left join per_level
        on levels.service_level = per_level.service_level
),

final as (
    select
        *,
        annual_contract_value / nullif(csms_needed, 0) as contract_value_per_csm
    from coverage
)

select * from final
