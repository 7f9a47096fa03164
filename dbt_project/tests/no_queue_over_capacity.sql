-- No queue takes more hand-overs (routed and released) in a run than the capacity it had that run
-- (lead_handovers.run_capacity: the daily capacity times the days the run covers, or what was left
-- of the week's), and no weekly queue takes more than its capacity in an ISO week.
-- Returns the runs and weeks over capacity.
with handovers as (
    select * from {{ ref('lead_handovers') }}
    where status in ('routed', 'released') and capacity is not null
),

per_run as (
    select
        'run' as period,
        queue,
        score_date as period_start,
        count(*) as taken,
        min(run_capacity) as allowed
    from handovers
    group by queue, score_date
),

per_week as (
    select
        'week' as period,
        queue,
        cast({{ dbt.date_trunc('week', 'score_date') }} as date) as period_start,
        count(*) as taken,
        min(capacity) as allowed
    from handovers
    where capacity_period = 'week'
    group by queue, cast({{ dbt.date_trunc('week', 'score_date') }} as date)
)

select * from per_run
where taken > allowed
union all
select * from per_week
where taken > allowed
