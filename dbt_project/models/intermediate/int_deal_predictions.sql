-- Each deal snapshot's win probability, learned only from what was known at its cut-off: the
-- snapshots at earlier cut-offs whose deals had closed (won or lost) by this cut-off. The current
-- snapshot (the score date) so learns from all closed history; a past one gets the prediction it
-- would have had then, which is what the point-in-time validation checks. Deals still open at
-- the score date are never training outcomes.
-- Estimator (empirical Bayes): the win rate of the cell (stage, product line, age band) shrunk
-- toward its stage's rate, and the stage's rate toward the rate of all closed deals, each by
-- var deal_prior_strength pseudo-deals:
--   stage_rate = (stage won + k x all rate) / (stage closed + k)
--   win_probability = (cell won + k x stage_rate) / (cell closed + k)
-- A cell without closed deals gets its stage's rate; a stage without any, the rate of all. Null
-- while fewer than var deal_min_closed_deals closed snapshots are there to learn from.
{%- set k = var('deal_prior_strength') %}
with snapshots as (
    select * from {{ ref('int_deal_snapshots') }}
),

cutoffs as (
    select distinct cutoff_date from snapshots
),

-- what each cut-off can learn from: snapshots at earlier cut-offs whose deal had closed by it.
-- Of a recent cut-off's snapshots only the deals that closed quickly have an outcome yet, and quick
-- closers need not be a fair sample; var deal_training_lag_days (0: off) keeps the snapshots of
-- the last days before a cut-off out of its training.
training as (
    select
        cutoffs.cutoff_date as learned_at,
        snapshots.stage,
        snapshots.product_line,
        snapshots.age_band,
        case when snapshots.is_won then 1 else 0 end as won
    from cutoffs
    inner join snapshots
        on
            cutoffs.cutoff_date > snapshots.cutoff_date
            and cutoffs.cutoff_date
            >= {{ dbt.dateadd('day', var('deal_training_lag_days'), 'snapshots.cutoff_date') }}
            and cutoffs.cutoff_date >= snapshots.closed_date
            and snapshots.is_closed
),

all_deals as (
    select
        learned_at,
        count(*) as closed_deals,
        sum(won) as won_deals
    from training
    group by learned_at
),

per_stage as (
    select
        learned_at,
        stage,
        count(*) as closed_deals,
        sum(won) as won_deals
    from training
    group by learned_at, stage
),

per_cell as (
    select
        learned_at,
        stage,
        product_line,
        age_band,
        count(*) as closed_deals,
        sum(won) as won_deals
    from training
    group by learned_at, stage, product_line, age_band
),

counted as (
    select
        snapshots.*,
        coalesce(per_cell.closed_deals, 0) as cell_closed_deals,
        coalesce(per_cell.won_deals, 0) as cell_won_deals,
        coalesce(per_stage.closed_deals, 0) as stage_closed_deals,
        coalesce(per_stage.won_deals, 0) as stage_won_deals,
        coalesce(all_deals.closed_deals, 0) as all_closed_deals,
        coalesce(all_deals.won_deals, 0) as all_won_deals,
        case
            when all_deals.closed_deals >= {{ var('deal_min_closed_deals') }}
                then cast(all_deals.won_deals as {{ type_double() }}) / all_deals.closed_deals
        end as all_rate
    from snapshots
    left join all_deals
        on snapshots.cutoff_date = all_deals.learned_at
    left join per_stage
        on
            snapshots.cutoff_date = per_stage.learned_at
            and snapshots.stage = per_stage.stage
    left join per_cell
        on
            snapshots.cutoff_date = per_cell.learned_at
            and snapshots.stage = per_cell.stage
            and snapshots.product_line = per_cell.product_line
            and snapshots.age_band = per_cell.age_band
),

stage_shrunk as (
    select
        *,
        coalesce(
            (stage_won_deals + {{ k }} * all_rate) / nullif(stage_closed_deals + {{ k }}, 0), all_rate
        ) as stage_rate
    from counted
),

cell_shrunk as (
    select
        *,
        coalesce(
            (cell_won_deals + {{ k }} * stage_rate) / nullif(cell_closed_deals + {{ k }}, 0), stage_rate
        ) as win_probability
    from stage_shrunk
),

final as (
    select
        -- ids
        cutoff_date,
        deal_id,
        account_id,
        contact_id,

        -- the deal at the cut-off
        is_current,
        deal_name,
        stage,
        product_line,
        amount,
        entered_stage_date,
        days_in_stage,
        age_band,

        -- the prediction and what it was learned from
        cast(win_probability as {{ type_double() }}) as win_probability,
        -- floor(p / width), as p x (1 / width): 0.6 / 0.1 is 5.999... in floating point, 0.6 x 10 is 6
        cast(floor(win_probability * {{ 1.0 / var('deal_probability_band_width') }}) as integer)
            as probability_band,
        cast(stage_rate as {{ type_double() }}) as stage_rate,
        cast(all_rate as {{ type_double() }}) as all_rate,
        cast(cell_closed_deals as integer) as comparable_deals,
        cast(cell_won_deals as integer) as comparable_won_deals,
        cast(stage_closed_deals as integer) as stage_closed_deals,
        cast(stage_won_deals as integer) as stage_won_deals,
        cast(all_closed_deals as integer) as all_closed_deals,
        cast(all_won_deals as integer) as all_won_deals,

        -- how it ended, as known at the score date
        is_closed,
        is_won,
        closed_date
    from cell_shrunk
)

select * from final
