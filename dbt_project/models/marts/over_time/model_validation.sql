-- Do the scores predict what happened next? For every validation cut-off in score_history (day
-- var validation_day_of_month of each month, at least var validation_horizon_days before the score
-- date, within var validation_lookback_days before that), the scores as they were published then
-- (no later data) against the outcome in the following validation_horizon_days:
--   lead_conversion:   open leads (not customers, no won deal yet) with a won deal in the window;
--   account_retention: customer accounts still under contract at the end of the window;
--   lead_conversion_fresh: the lead_conversion population and outcome, only contacts created
--     within var validation_fresh_lead_days before the cut-off (the leads sales acts on; long-dead
--     leads are easy negatives that flatter the AUC of all leads).
--   deal_win: deals open at the cut-off (int_deal_predictions: the win probability they had then,
--     learned only from what had closed by then) that have closed by the score date: won or lost.
--     Banded by probability band and stage; predicted_rate (the band's mean predicted
--     probability) beside rate shows the calibration.
--   control_group: leads that crossed the MQL or SQL threshold (lead_handovers, first crossing,
--     at least the horizon before the score date), routed by score or held out (the pilot's
--     control group); positive: a deal of theirs won within the horizon. Per arm and band the rate
--     with its interval and the median days to conversion; band_type difference: routed minus
--     held out, with its interval (lift: routed over held out). The band is the stage crossed.
-- Per band: conversion rate with its Wilson interval (var confidence_z), lift over the base rate
-- of the same model; overall: AUC. Every model is ranked on its own. Kept per run (score date), so
-- a team sees the rules' accuracy drift.
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

handovers as (
    select * from {{ ref('lead_handovers') }}
),

deal_predictions as (
    select * from {{ ref('int_deal_predictions') }}
    where not is_current and is_closed and win_probability is not null
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

deal_outcomes as (
    select
        deal_predictions.cutoff_date,
        deal_predictions.deal_id as entity_id,
        deal_predictions.win_probability as score,
        deal_predictions.stage as band,
        deal_predictions.probability_band,
        deal_predictions.is_won as outcome
    from deal_predictions
    inner join cutoffs
        on deal_predictions.cutoff_date = cutoffs.cutoff_date
),

pilot_crossings as (
    -- each lead's first crossing of each threshold in the validated window (crossed at least the
    -- horizon before the score date): held out (the control group) or not (handed over by score:
    -- intention to treat, whatever capacity then did with it)
    select
        contact_id,
        lifecycle_stage as band,
        crossed_on,
        is_held_out,
        row_number() over (partition by contact_id, lifecycle_stage order by crossed_on) as crossing_rank
    from handovers
    where
        score_date = crossed_on
        and lifecycle_stage in ('MQL', 'SQL')
        and crossed_on <= {{ dbt.dateadd('day', '-' ~ var('validation_horizon_days'), score_date()) }}
        and crossed_on > {{ dbt.dateadd(
            'day', '-' ~ (var('validation_horizon_days') + var('validation_lookback_days')), score_date()
        ) }}
),

pilot as (
    -- converted: a deal of theirs won within the horizon after the crossing (leads that had won
    -- one before are not leads any more)
    select
        case when pilot_crossings.is_held_out then 'held_out' else 'routed' end as arm,
        pilot_crossings.band,
        pilot_crossings.contact_id,
        pilot_crossings.crossed_on,
        min(deals.closed_date) as converted_on
    from pilot_crossings
    left join deals
        on
            pilot_crossings.contact_id = deals.contact_id
            and pilot_crossings.crossed_on < deals.closed_date
            and deals.closed_date
            <= {{ dbt.dateadd('day', var('validation_horizon_days'), 'pilot_crossings.crossed_on') }}
    where
        pilot_crossings.crossing_rank = 1
        and not exists (
            select 1 from deals as earlier
            where pilot_crossings.contact_id = earlier.contact_id and earlier.closed_date <= pilot_crossings.crossed_on
        )
    group by
        pilot_crossings.is_held_out,
        pilot_crossings.band,
        pilot_crossings.contact_id,
        pilot_crossings.crossed_on
),

pilot_arms as (
    {% for band in ['band', "'all'"] %}
        select
            arm,
            {{ band }} as band,
            count(*) as entities,
            sum(case when converted_on is not null then 1 else 0 end) as positives,
            {{ median(dbt.datediff('crossed_on', 'converted_on', 'day')) }} as median_days,
            count(distinct crossed_on) as cutoffs,
            min(crossed_on) as first_cutoff,
            max(crossed_on) as last_cutoff
        from pilot
        group by arm{{ ', band' if band == 'band' }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

pilot_rates as (
    select
        *,
        cast(positives as {{ type_double() }}) / entities as rate,
        {{ wilson_bound('positives', 'entities', 'low') }} as rate_ci_low,
        {{ wilson_bound('positives', 'entities', 'high') }} as rate_ci_high
    from pilot_arms
),

pilot_rows as (
    -- per arm: the rate with its Wilson interval; per band the difference routed minus held out,
    -- with Newcombe's interval, and the lift routed over held out
    select
        'control_group' as model,
        arm as band_type,
        band,
        entities,
        positives,
        rate,
        cast(null as {{ type_double() }}) as lift,
        rate_ci_low,
        rate_ci_high,
        median_days as median_days_to_outcome,
        cutoffs,
        first_cutoff,
        last_cutoff
    from pilot_rates
    union all
    select
        'control_group' as model,
        'difference' as band_type,
        routed.band,
        routed.entities + held_out.entities as entities,
        routed.positives + held_out.positives as positives,
        routed.rate - held_out.rate as rate,
        routed.rate / nullif(held_out.rate, 0) as lift,
        -- Newcombe's interval from the two Wilson intervals (honest for small held-out counts)
        routed.rate - held_out.rate - sqrt(
            (routed.rate - routed.rate_ci_low) * (routed.rate - routed.rate_ci_low)
            + (held_out.rate_ci_high - held_out.rate) * (held_out.rate_ci_high - held_out.rate)
        ) as rate_ci_low,
        routed.rate - held_out.rate + sqrt(
            (routed.rate_ci_high - routed.rate) * (routed.rate_ci_high - routed.rate)
            + (held_out.rate - held_out.rate_ci_low) * (held_out.rate - held_out.rate_ci_low)
        ) as rate_ci_high,
        routed.median_days - held_out.median_days as median_days_to_outcome,
        greatest(routed.cutoffs, held_out.cutoffs) as cutoffs,
        least(routed.first_cutoff, held_out.first_cutoff) as first_cutoff,
        greatest(routed.last_cutoff, held_out.last_cutoff) as last_cutoff
    from pilot_rates as routed
    inner join pilot_rates as held_out
        on routed.band = held_out.band and routed.arm = 'routed' and held_out.arm = 'held_out'
),

observations as (
    select
        'lead_conversion' as model,
        cutoff_date,
        entity_id,
        score,
        band,
        cast(null as integer) as probability_band,
        cast(null as {{ type_double() }}) as predicted,
        outcome
    from leads
    union all
    select
        'lead_conversion_fresh' as model,
        cutoff_date,
        entity_id,
        score,
        band,
        cast(null as integer) as probability_band,
        cast(null as {{ type_double() }}) as predicted,
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
        cast(null as integer) as probability_band,
        cast(null as {{ type_double() }}) as predicted,
        outcome
    from accounts
    union all
    select
        'deal_win' as model,
        cutoff_date,
        entity_id,
        score,
        band,
        probability_band,
        score as predicted,
        outcome
    from deal_outcomes
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
        avg(predicted) as predicted_rate,
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
        sum(case when outcome then 1 else 0 end) as positives,
        avg(predicted) as predicted_rate
    from tie_ranked
    where model != 'deal_win'
    group by model, decile
    union all
    select
        model,
        case when model = 'account_retention' then 'tier' else 'stage' end as band_type,
        band,
        count(*) as entities,
        sum(case when outcome then 1 else 0 end) as positives,
        avg(predicted) as predicted_rate
    from tie_ranked
    group by model, band
    union all
    select
        model,
        'probability' as band_type,
        -- e.g. '30-40 %' (band k holds k x width up to (k + 1) x width)
        {{ probability_band_label('probability_band') }} as band,
        count(*) as entities,
        sum(case when outcome then 1 else 0 end) as positives,
        avg(predicted) as predicted_rate
    from tie_ranked
    where model = 'deal_win'
    group by model, probability_band
    union all
    select
        model,
        'all' as band_type,
        'all' as band,
        entities,
        positives,
        predicted_rate
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
        overall.last_cutoff,
        cast(bands.predicted_rate as {{ type_double() }}) as predicted_rate,
        cast({{ wilson_bound('bands.positives', 'bands.entities', 'low') }} as {{ type_double() }})
            as rate_ci_low,
        cast({{ wilson_bound('bands.positives', 'bands.entities', 'high') }} as {{ type_double() }})
            as rate_ci_high,
        cast(null as {{ type_double() }}) as median_days_to_outcome
    from bands
    inner join overall
        on bands.model = overall.model
    union all
    select
        {{ score_date() }} as score_date,
        model,
        band_type,
        band,
        cast(entities as integer) as entities,
        cast(positives as integer) as positives,
        cast(rate as {{ type_double() }}) as rate,
        cast(lift as {{ type_double() }}) as lift,
        cast(null as {{ type_double() }}) as auc,
        cast(cutoffs as integer) as cutoffs,
        first_cutoff,
        last_cutoff,
        cast(null as {{ type_double() }}) as predicted_rate,
        cast(rate_ci_low as {{ type_double() }}) as rate_ci_low,
        cast(rate_ci_high as {{ type_double() }}) as rate_ci_high,
        cast(median_days_to_outcome as {{ type_double() }}) as median_days_to_outcome
    from pilot_rows
)

select * from final
