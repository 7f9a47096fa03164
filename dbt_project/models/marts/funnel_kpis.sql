-- Funnel KPIs by month of lead creation: leads, MQLs, SQLs, opportunities and won deals of the
-- leads created that month (lead_journeys: stages cumulative, as of the score date), their step
-- conversion rates and the median days between stages. Three breakdowns, each adding up to the
-- whole funnel on its own: total (channel 'all'), lead_source (the contact's lead source) and
-- campaign (the campaign of the lead's first email click, '(none)' without one). Recent months are
-- still converting: their rates grow as later stages happen.
with journeys as (
    select * from {{ ref('lead_journeys') }}
),

monthly as (
    select
        cast({{ dbt.date_trunc('month', 'lead_date') }} as date) as lead_month,
        journeys.*
    from journeys
),

channels as (
    select
        'total' as breakdown,
        'all' as channel,
        monthly.*
    from monthly
    union all
    select
        'lead_source' as breakdown,
        lead_source as channel,
        monthly.*
    from monthly
    union all
    select
        'campaign' as breakdown,
        first_touch_campaign as channel,
        monthly.*
    from monthly
),

counted as (
    select
        lead_month,
        breakdown,
        channel,
        count(*) as leads,
        count(case when reached_mql then 1 end) as mqls,
        count(case when reached_sql then 1 end) as sqls,
        count(case when reached_opportunity then 1 end) as opportunities,
        count(case when is_won then 1 end) as won,
        cast(sum(won_amount) as {{ type_double() }}) as won_amount,
        {{ median('days_lead_to_mql') }} as median_days_lead_to_mql,
        {{ median('days_mql_to_sql') }} as median_days_mql_to_sql,
        {{ median('days_sql_to_opportunity') }} as median_days_sql_to_opportunity,
        {{ median('days_opportunity_to_won') }} as median_days_sales_cycle,
        {{ median('days_lead_to_won') }} as median_days_lead_to_won
    from channels
    group by lead_month, breakdown, channel
),

final as (
    select
        -- grain
        {{ score_date() }} as score_date,
        lead_month,
        breakdown,
        channel,

        -- stage counts (cumulative: a later stage counts in every earlier one)
        leads,
        mqls,
        sqls,
        opportunities,
        won,
        won_amount,

        -- conversion rates (null without a lead at the earlier stage)
        cast(mqls as {{ type_double() }}) / nullif(leads, 0) as lead_to_mql_rate,
        cast(sqls as {{ type_double() }}) / nullif(mqls, 0) as mql_to_sql_rate,
        cast(opportunities as {{ type_double() }}) / nullif(sqls, 0) as sql_to_opportunity_rate,
        cast(won as {{ type_double() }}) / nullif(opportunities, 0) as opportunity_to_won_rate,
        cast(won as {{ type_double() }}) / nullif(leads, 0) as lead_to_won_rate,

        -- median days between stages (leads with both dates)
        median_days_lead_to_mql,
        median_days_mql_to_sql,
        median_days_sql_to_opportunity,
        median_days_sales_cycle,
        median_days_lead_to_won
    from counted
)

select * from final
