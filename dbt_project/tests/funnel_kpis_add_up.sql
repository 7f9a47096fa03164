-- Per breakdown of marts.funnel_kpis, the stage counts summed over every month and channel equal
-- the stage counts of the lead journeys (lead_journeys). Returns the breakdowns that differ.
with kpis as (
    select
        breakdown,
        sum(leads) as leads,
        sum(mqls) as mqls,
        sum(sqls) as sqls,
        sum(opportunities) as opportunities,
        sum(won) as won
    from {{ ref('funnel_kpis') }}
    group by breakdown
),

journeys as (
    select
        count(*) as leads,
        count(case when reached_mql then 1 end) as mqls,
        count(case when reached_sql then 1 end) as sqls,
        count(case when reached_opportunity then 1 end) as opportunities,
        count(case when is_won then 1 end) as won
    from {{ ref('lead_journeys') }}
),

breakdowns as (
    select expected.breakdown
    from (values ('total'), ('lead_source'), ('campaign')) as expected (breakdown)
)

select
    breakdowns.breakdown,
    kpis.leads,
    journeys.leads as journey_leads,
    kpis.mqls,
    journeys.mqls as journey_mqls,
    kpis.sqls,
    journeys.sqls as journey_sqls,
    kpis.opportunities,
    journeys.opportunities as journey_opportunities,
    kpis.won,
    journeys.won as journey_won
from breakdowns
cross join journeys
left join kpis
    on breakdowns.breakdown = kpis.breakdown
where
    coalesce(kpis.leads, 0) != journeys.leads
    or coalesce(kpis.mqls, 0) != journeys.mqls
    or coalesce(kpis.sqls, 0) != journeys.sqls
    or coalesce(kpis.opportunities, 0) != journeys.opportunities
    or coalesce(kpis.won, 0) != journeys.won
