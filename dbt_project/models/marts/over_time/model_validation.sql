-- Do the scores predict what happened next? For every validation cut-off in score_history (day
-- var validation_day_of_month of each month, at least var validation_horizon_days before the score
-- date, within var validation_lookback_days before that), the scores as they were published then
-- (no later data) against the outcome in the following validation_horizon_days:
--   lead_conversion:   open leads (not customers, no won deal yet) with a won deal in the window;
--   account_retention: customer accounts still under contract at the end of the window;
--   lead_conversion_fresh: the lead_conversion population and outcome, only contacts created
--     within var validation_fresh_lead_days before the cut-off (the leads sales acts on; long-dead
--     leads are easy negatives that flatter the AUC of all leads).
-- Per band: conversion rate, lift over the base rate of the same model; overall: AUC. Every model
-- is ranked on its own. Kept per run (score date), so a team sees the rules' accuracy drift.
with history as (
    select * from {{ ref('score_history') }}
),

deals as (
    select * from {{ ref('stg_crm__deals') }}
    where is_won
),

subscriptions as (
    select * from {{ ref('stg_crm__subscriptions') }}
),

contacts as (
    select
        contact_id,
        cast(created_at as date) as created_date
    from {{ ref('stg_crm__contacts') }}
),

cutoffs as (
    select distinct score_date as cutoff_date
    from history
    where
        {{ day_of_month('score_date') }} = {{ var('validation_day_of_month') }}
        and score_date <= {{ dbt.dateadd('day', '-' ~ var('validation_horizon_days'), score_date()) }}
        and score_date > {{ dbt.dateadd(
            'day', '-' ~ (var('validation_horizon_days') + var('validation_lookback_days')), score_date()
        ) }}
),

leads as (
    select
        history.score_date as cutoff_date,
        history.entity_id,
        history.score,
        history.stage as band,
        exists(
            select 1 from deals
            where
                deals.contact_id = history.entity_id
                and deals.closed_date > history.score_date
                and deals.closed_date
                <= {{ dbt.dateadd('day', var('validation_horizon_days'), 'history.score_date') }}
        ) as outcome,
        -- created within the validation_fresh_lead_days up to and including the cut-off
        coalesce(
            contacts.created_date
            > {{ dbt.dateadd('day', '-' ~ var('validation_fresh_lead_days'), 'history.score_date') }}
            and contacts.created_date <= history.score_date,
            false
        ) as is_fresh
    from history
    inner join cutoffs
        on history.score_date = cutoffs.cutoff_date
    left join contacts
        on history.entity_id = contacts.contact_id
    where
        history.entity_type = 'contact'
        and history.stage != 'customer'
        and not exists (
            select 1 from deals
            where deals.contact_id = history.entity_id and deals.closed_date <= history.score_date
        )
),

accounts as (
    select
        history.score_date as cutoff_date,
        history.entity_id,
        history.score,
        history.stage as band,
        exists(
            select 1 from subscriptions
            where
                subscriptions.account_id = history.entity_id
                and {{ active_on(
                    'subscriptions',
                    dbt.dateadd('day', var('validation_horizon_days'), 'history.score_date')
                ) }}
        ) as outcome
    from history
    inner join cutoffs
        on history.score_date = cutoffs.cutoff_date
    where history.entity_type = 'account' and history.financial_score is not null
),

observations as (
    select
        'lead_conversion' as model,
        cutoff_date,
        entity_id,
        score,
        band,
        outcome
    from leads
    union all
    select
        'lead_conversion_fresh' as model,
        cutoff_date,
        entity_id,
        score,
        band,
        outcome
    from leads
    where is_fresh
    union all
    select
        'account_retention' as model,
        cutoff_date,
        entity_id,
        score,
        band,
        outcome
    from accounts
),

ranked as (
    select
        *,
        ntile(10) over (partition by model order by score desc, entity_id asc, cutoff_date asc) as decile,
        row_number() over (partition by model order by score asc) as score_rank
    from observations
),

tie_ranked as (
    -- ties share their mean rank, as the Mann-Whitney AUC needs
    select
        *,
        avg(score_rank) over (partition by model, score) as mean_rank
    from ranked
),

overall as (
    select
        model,
        count(*) as entities,
        sum(case when outcome then 1 else 0 end) as positives,
        sum(case when outcome then mean_rank else 0 end) as positive_rank_sum,
        count(distinct cutoff_date) as cutoffs,
        min(cutoff_date) as first_cutoff,
        max(cutoff_date) as last_cutoff
    from tie_ranked
    group by model
),

bands as (
    select
        model,
        'decile' as band_type,
        cast(decile as {{ dbt.type_string() }}) as band,
        count(*) as entities,
        sum(case when outcome then 1 else 0 end) as positives
    from tie_ranked
    group by model, decile
    union all
    select
        model,
        case when model = 'account_retention' then 'tier' else 'stage' end as band_type,
        band,
        count(*) as entities,
        sum(case when outcome then 1 else 0 end) as positives
    from tie_ranked
    group by model, band
    union all
    select
        model,
        'all' as band_type,
        'all' as band,
        entities,
        positives
    from overall
),

final as (
    select
        {{ score_date() }} as score_date,
        bands.model,
        bands.band_type,
        bands.band,
        cast(bands.entities as integer) as entities,
        cast(bands.positives as integer) as positives,
        cast(bands.positives as {{ type_double() }}) / bands.entities as rate,
        (cast(bands.positives as {{ type_double() }}) / bands.entities)
        / nullif(cast(overall.positives as {{ type_double() }}) / overall.entities, 0) as lift,
        case
            when bands.band_type = 'all' and overall.positives > 0 and overall.positives < overall.entities
                then
                    (overall.positive_rank_sum - overall.positives * (overall.positives + 1) / 2.0)
                    / (cast(overall.positives as {{ type_double() }}) * (overall.entities - overall.positives))
        end as auc,
        cast(overall.cutoffs as integer) as cutoffs,
        overall.first_cutoff,
        overall.last_cutoff
    from bands
    inner join overall
        on bands.model = overall.model
)

select * from final
