-- Account score per company: fit, engagement rolled up from its most engaged contacts and, for
-- customers, the financial score, combined by weights; the tier comes from the account_tiers seed.
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

contact_engagement as (
    select
        account_id,
        engagement_score,
        row_number() over (
            partition by account_id order by engagement_score desc, contact_id asc
        ) as engagement_rank
    from {{ ref('engagement_scores') }}
),

engagement as (
    -- mean of the top-k contacts: a few engaged people count, a big address book does not
    select
        account_id,
        avg(engagement_score) as engagement_score,
        sum(case when engagement_score > 0 then 1 else 0 end) as engaged_contacts
    from contact_engagement
    where engagement_rank <= {{ var('account_engagement_top_k') }}
    group by account_id
),

tiers as (
    select
        tier,
        min_account_score as lower_bound,
        lead(min_account_score) over (order by min_account_score) as upper_bound
    from {{ ref('account_tiers') }}
),

scored as (
    select
        accounts.account_id,
        accounts.is_customer,
        coalesce(fit.fit_score, 0) as fit_score,
        round(coalesce(engagement.engagement_score, 0), 1) as engagement_score,
        coalesce(engagement.engaged_contacts, 0) as engaged_contacts,
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
        cast(combined.engaged_contacts as integer) as engaged_contacts
    from combined
    left join tiers
        on {{ in_band('combined.account_score', 'tiers') }}
)

select * from final
