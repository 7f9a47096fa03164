-- One row per deal open at the score date: its win probability (int_deal_predictions: the win
-- rate of closed deals of the same stage, product line and age band in stage, shrunk toward the
-- stage's and all deals' rates), expected value = amount x probability, the probability band
-- (var deal_probability_band_width), and beside them the contact's lead score and the account's
-- score and tier. top_reasons shows what the probability was learned from, e.g.
-- "negotiation, analytics, 30-59 days in stage: 41 % won of 57 closed comparable deals;
-- stage negotiation: 48 % of 210; all deals 31 % of 1730".
with predictions as (
    select * from {{ ref('int_deal_predictions') }}
    where is_current
),

lead_scores as (
    select * from {{ ref('lead_scores') }}
),

account_scores as (
    select * from {{ ref('account_scores') }}
),

reasoned as (
    select
        *,
        stage || ', ' || product_line || ', ' || age_band || ' days in stage: '
        || case
            when comparable_deals > 0
                then
                    {{ percent_text('comparable_won_deals', 'comparable_deals') }} || ' % won of '
                    || cast(comparable_deals as {{ dbt.type_string() }}) || ' closed comparable deals'
            else 'no closed comparable deals yet'
        end
        || '; stage ' || stage || ': '
        || case
            when stage_closed_deals > 0
                then
                    {{ percent_text('stage_won_deals', 'stage_closed_deals') }} || ' % of '
                    || cast(stage_closed_deals as {{ dbt.type_string() }})
            else 'none closed yet'
        end
        || '; all deals '
        || case
            when all_closed_deals > 0
                then
                    {{ percent_text('all_won_deals', 'all_closed_deals') }} || ' % of '
                    || cast(all_closed_deals as {{ dbt.type_string() }})
            else 'none closed yet'
        end as top_reasons
    from predictions
),

final as (
    select
        -- ids
        reasoned.deal_id,
        reasoned.account_id,
        reasoned.contact_id,
        {{ score_date() }} as score_date,

        -- the deal
        reasoned.deal_name,
        reasoned.stage,
        reasoned.product_line,
        cast(reasoned.amount as {{ type_double() }}) as amount,
        reasoned.days_in_stage,
        reasoned.age_band,

        -- the prediction
        reasoned.win_probability,
        cast(reasoned.amount * reasoned.win_probability as {{ type_double() }}) as expected_value,
        reasoned.probability_band,
        reasoned.comparable_deals,

        -- the scores beside it
        cast(lead_scores.lead_score as {{ type_double() }}) as lead_score,
        cast(account_scores.account_score as {{ type_double() }}) as account_score,
        account_scores.tier,
        reasoned.top_reasons
    from reasoned
    left join lead_scores
        on reasoned.contact_id = lead_scores.contact_id
    left join account_scores
        on reasoned.account_id = account_scores.account_id
)

select * from final
