-- Every deal open at each cut-off: day var validation_day_of_month of every month within
-- var deal_history_days before the score date, and the score date itself (is_current). Each row
-- holds the deal as it stood then (its stage, product line and amount from the newest version
-- updated by the cut-off, how long it had been in that stage and the age band of seed
-- deal_age_bands) and how it ended as known at the score date (won, lost or still open).
-- int_deal_predictions learns win rates from the closed ones and predicts the open ones.
{#- enough months back to cover deal_history_days (no month is shorter than 28 days) #}
{%- set months = (var('deal_history_days') // 28) + 2 %}
with versions as (
    select * from {{ ref('stg_crm__deal_versions') }}
),

deals as (
    select * from {{ ref('stg_crm__deals') }}
),

closes as (
    -- when each closed deal was first recorded as closed
    select
        deal_id,
        min(cast(updated_at as date)) as recorded_date
    from versions
    where is_closed
    group by deal_id
),

age_bands as (
    select
        band,
        min_days_in_stage as lower_bound,
        lead(min_days_in_stage) over (order by min_days_in_stage) as upper_bound
    from {{ ref('deal_age_bands') }}
),

months as (
    select generated_number - 1 as months_back
    from ({{ dbt.generate_series(months) }}) as series
),

monthly_cutoffs as (
    select
        cast(
            {{ dbt.dateadd(
                'day',
                var('validation_day_of_month') - 1,
                dbt.dateadd('month', '-months_back', dbt.date_trunc('month', score_date())),
            ) }} as date
        ) as cutoff_date
    from months
),

cutoffs as (
    select
        cutoff_date,
        false as is_current
    from monthly_cutoffs
    where
        cutoff_date < {{ score_date() }}
        and cutoff_date >= {{ dbt.dateadd('day', '-' ~ var('deal_history_days'), score_date()) }}
    union all
    select
        {{ score_date() }} as cutoff_date,
        true as is_current
),

-- a version starts a stage when it is the deal's first or its stage differs from the one before;
-- each version carries when its deal entered the stage it is in (the newest start up to it)
stage_starts as (
    select
        *,
        coalesce(lag(stage) over (partition by deal_id order by updated_at) != stage, true) as starts_stage
    from versions
),

staged_versions as (
    select
        *,
        max(case when starts_stage then updated_at end) over (
            partition by deal_id
            order by updated_at
            rows between unbounded preceding and current row
        ) as entered_stage_at
    from stage_starts
),

as_of_cutoff as (
    select
        cutoffs.cutoff_date,
        cutoffs.is_current,
        staged_versions.deal_id,
        staged_versions.account_id,
        staged_versions.contact_id,
        staged_versions.deal_name,
        staged_versions.product_line,
        staged_versions.stage,
        staged_versions.amount,
        staged_versions.created_at,
        staged_versions.entered_stage_at,
        row_number() over (
            partition by cutoffs.cutoff_date, staged_versions.deal_id
            order by staged_versions.updated_at desc
        ) as version_rank
    from cutoffs
    inner join staged_versions
        on cast(staged_versions.updated_at as date) <= cutoffs.cutoff_date
),

-- open at the cut-off: created by then, and its newest version by then not closed
open_at_cutoff as (
    select * from as_of_cutoff
    where
        version_rank = 1
        and stage not in ('closed_won', 'closed_lost')
        and cast(created_at as date) <= cutoff_date
),

aged as (
    select
        *,
        {{ dbt.datediff('cast(entered_stage_at as date)', 'cutoff_date', 'day') }} as days_in_stage
    from open_at_cutoff
),

final as (
    select
        -- ids
        aged.cutoff_date,
        aged.deal_id,
        aged.account_id,
        aged.contact_id,

        -- the deal at the cut-off
        aged.is_current,
        aged.deal_name,
        aged.stage,
        aged.product_line,
        aged.amount,
        cast(aged.entered_stage_at as date) as entered_stage_date,
        cast(aged.days_in_stage as integer) as days_in_stage,
        age_bands.band as age_band,

        -- how it ended, as known at the score date
        deals.is_closed,
        deals.is_won,
        -- the day the CRM recorded the close, or the close date if later: a close date edited back
        -- in time must not let a past cut-off learn from an outcome not yet known then
        case
            when deals.is_closed
                then greatest(
                    coalesce(deals.closed_date, closes.recorded_date, cast(deals.updated_at as date)),
                    coalesce(closes.recorded_date, deals.closed_date, cast(deals.updated_at as date))
                )
        end as closed_date
    from aged
    left join age_bands
        on {{ in_band('aged.days_in_stage', 'age_bands') }}
    inner join deals  -- deals deleted in the CRM drop out with all their versions
        on aged.deal_id = deals.deal_id
    left join closes
        on aged.deal_id = closes.deal_id
)

select * from final
