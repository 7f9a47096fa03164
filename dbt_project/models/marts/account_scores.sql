-- Account score per company: fit, engagement rolled up from its contacts (top-k mean and
-- buying-group coverage, int_account_engagement) and, for customers, the financial score, combined
-- by weights; the tier comes from the account_tiers seed, and a customer's service level (support
-- tier, customer-success coverage, first-response target) from the service_levels seed.
with accounts as (
    select * from {{ ref('int_accounts_enriched') }}
),

fit as (
    select * from {{ ref('fit_scores') }}
    where entity_type = 'account'
),

financial as (
    select * from {{ ref('financial_scores') }}
),

engagement as (
    select * from {{ ref('int_account_engagement') }}
),

reasons as (
    select * from {{ ref('int_top_reasons') }}
    where entity_type = 'account'
),

tiers as (
    select
        tier,
        min_account_score as lower_bound,
        lead(min_account_score) over (order by min_account_score) as upper_bound
    from {{ ref('account_tiers') }}
),

service_levels as (
    select * from {{ ref('service_levels') }}
),

scored as (
    select
        accounts.account_id,
        accounts.is_customer,
        coalesce(fit.fit_score, 0) as fit_score,
        coalesce(engagement.engagement_score, 0) as engagement_score,
        coalesce(engagement.engaged_contacts, 0) as engaged_contacts,
        coalesce(engagement.decision_makers_engaged, 0) as decision_makers_engaged,
        coalesce(engagement.c_level_engaged, false) as c_level_engaged,
        coalesce(engagement.buying_group_coverage, 0) as buying_group_coverage,
        financial.financial_score
    from accounts
    left join fit
        on accounts.account_id = fit.entity_id
    left join engagement
        on accounts.account_id = engagement.account_id
    left join financial
        on accounts.account_id = financial.account_id
),

combined as (
    select
        *,
        round(
            case
                when financial_score is not null
                    then
                        {{ var('account_fit_weight') }} * fit_score
                        + {{ var('account_engagement_weight') }} * engagement_score
                        + {{ var('account_financial_weight') }} * financial_score
                else
                    (
                        {{ var('account_fit_weight') }} * fit_score
                        + {{ var('account_engagement_weight') }} * engagement_score
                    )
                    / ({{ var('account_fit_weight') }} + {{ var('account_engagement_weight') }})
            end,
            1
        ) as account_score
    from scored
),

final as (
    select
        combined.account_id,
        {{ score_date() }} as score_date,
        combined.is_customer,
        cast(combined.fit_score as {{ type_double() }}) as fit_score,
        cast(combined.engagement_score as {{ type_double() }}) as engagement_score,
        cast(combined.financial_score as {{ type_double() }}) as financial_score,
        cast(combined.account_score as {{ type_double() }}) as account_score,
        tiers.tier,
        cast(combined.engaged_contacts as integer) as engaged_contacts,
        cast(combined.decision_makers_engaged as integer) as decision_makers_engaged,
        combined.c_level_engaged,
        cast(combined.buying_group_coverage as {{ type_double() }}) as buying_group_coverage,
        reasons.top_reasons,
        -- service level: customers only (prospects have no support contract)
        service_levels.service_level,
        service_levels.support_tier,
        service_levels.csm_coverage,
        cast(service_levels.first_response_hours as {{ type_double() }}) as first_response_hours
    from combined
    left join tiers
        on {{ in_band('combined.account_score', 'tiers') }}
    left join service_levels
        on tiers.tier = service_levels.tier and combined.is_customer
    left join reasons
        on combined.account_id = reasons.entity_id
)

select * from final
