-- Every customer account has the service level of the account-score band it falls in (seeds
-- account_tiers and service_levels, read afresh), with that level's support tier, coverage and
-- first-response target; prospects have none. Returns the accounts that disagree.
with accounts as (
    select * from {{ ref('account_scores') }}
),

bands as (
    select
        tiers.tier,
        tiers.min_account_score as lower_bound,
        lead(tiers.min_account_score) over (order by tiers.min_account_score) as upper_bound
    from {{ ref('account_tiers') }} as tiers
),

expected as (
    select
        accounts.account_id,
        accounts.is_customer,
        accounts.service_level,
        accounts.support_tier,
        accounts.csm_coverage,
        accounts.first_response_hours,
        levels.service_level as expected_service_level,
        levels.support_tier as expected_support_tier,
        levels.csm_coverage as expected_csm_coverage,
        levels.first_response_hours as expected_first_response_hours
    from accounts
    left join bands
        on {{ in_band('accounts.account_score', 'bands') }}
    left join {{ ref('service_levels') }} as levels
        on bands.tier = levels.tier
)

select * from expected
where
    (is_customer and (
        service_level is null
        or service_level != expected_service_level
        or support_tier != expected_support_tier
        or csm_coverage != expected_csm_coverage
        or first_response_hours != expected_first_response_hours
    ))
    or (not is_customer and service_level is not null)
