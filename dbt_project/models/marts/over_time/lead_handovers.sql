-- Who takes which lead today, within each queue's capacity. A lead that crosses the MQL or SQL
-- threshold (against its previous score date in score_history) is routed by seed lead_routing to
-- an owner and queue; seed routing_capacity caps the hand-overs a queue takes per day or ISO week.
-- A score date that comes N days after the previous one (the backtest's monthly cut-offs, a missed
-- day) covers N days of crossings and gets N days of a daily capacity; a weekly queue gets what is
-- left of the ISO week, whatever the gap: run_capacity, what the queue may take today.
-- The day's candidates of a queue (today's crossings and the waiting list, re-routed by today's
-- stage) are taken highest lead score first:
--   routed:   crossed today and within capacity (a handover signal);
--   released: waited before and within capacity today (a handover signal);
--   overflow: past capacity, to the queue's overflow_owner (a handover signal to that owner);
--   waiting:  past capacity and no overflow owner: on the waiting list (no signal yet);
--   withdrawn: was waiting, no longer at the stage it waits for (dropped back, became a customer,
--              or was deleted): it leaves the list without a hand-over;
--   held_out: in the pilot's control group (lead_scores.is_held_out): scored, never routed.
-- Kept per score date; the counts of routed and released per queue and day are the load.
with leads as (
    select * from {{ ref('lead_scores') }}
),

history as (
    select * from {{ ref('score_history') }}
),

contacts as (
    select * from {{ ref('int_contacts_enriched') }}
),

companies as (
    select * from {{ ref('int_accounts_enriched') }}
),

routing as (
    select * from {{ ref('lead_routing') }}
),

capacity as (
    select * from {{ ref('routing_capacity') }}
),

previous_stage as (
    select
        entity_id as contact_id,
        stage,
        row_number() over (partition by entity_id order by score_date desc) as recency
    from history
    where entity_type = 'contact' and score_date < {{ score_date() }}
),

covered as (
    -- the days since the previous score date (what the crossings are measured against)
    select
        coalesce({{ dbt.datediff('max(score_date)', score_date(), 'day') }}, 1) as days_covered
    from history
    where score_date < {{ score_date() }}
),

crossings as (
    select
        leads.contact_id,
        previous_stage.stage as previous_stage,
        {{ score_date() }} as crossed_on
    from leads
    inner join previous_stage
        on leads.contact_id = previous_stage.contact_id and previous_stage.recency = 1
    where
        (leads.lifecycle_stage = 'SQL' and previous_stage.stage in ('lead', 'MQL'))
        or (leads.lifecycle_stage = 'MQL' and previous_stage.stage = 'lead')
),

{% if is_incremental() %}
    last_run as (
        select max(score_date) as score_date
        from {{ this }}
        where score_date < {{ score_date() }}
    ),

    waiting_before as (
        select
            kept.contact_id,
            kept.previous_stage,
            kept.crossed_on,
            kept.lifecycle_stage as waits_for
        from {{ this }} as kept
        inner join last_run
            on kept.score_date = last_run.score_date
        where kept.status = 'waiting'
    ),

    taken_this_week as (
        -- hand-overs each queue took earlier in the score date's week
        select
            queue,
            count(*) as taken
        from {{ this }}
        where
            status in ('routed', 'released')
            and score_date < {{ score_date() }}
            and score_date >= cast({{ dbt.date_trunc('week', score_date()) }} as date)
        group by queue
    ),
{% else %}
    waiting_before as (
        select
            contact_id,
            previous_stage,
            crossed_on,
            previous_stage as waits_for
        from crossings
        where 1 = 0
    ),

    taken_this_week as (
        select
            queue,
            0 as taken
        from capacity
        where 1 = 0
    ),
{% endif %}

candidates as (
    -- today's crossings, and yesterday's waiting list unless the lead crossed again today
    select
        crossings.contact_id,
        crossings.previous_stage,
        crossings.crossed_on,
        cast(null as {{ dbt.type_string() }}) as waits_for,
        false as was_waiting
    from crossings
    union all
    select
        waiting_before.contact_id,
        waiting_before.previous_stage,
        waiting_before.crossed_on,
        waiting_before.waits_for,
        true as was_waiting
    from waiting_before
    where not exists (
        select 1 from crossings
        where crossings.contact_id = waiting_before.contact_id
    )
),

qualified as (
    select
        candidates.*,
        leads.account_id,
        leads.lead_score,
        leads.lifecycle_stage,
        leads.segment,
        -- a contact deleted since has no lead score: its draw comes from its id all the same
        coalesce(leads.is_held_out, {{ in_control_group('candidates.contact_id') }}) as is_held_out,
        -- a waiting lead still qualifies at the stage it waits for (an SQL that fell back to MQL
        -- does not jump into the MQL queue as if it had crossed)
        coalesce(
            leads.lifecycle_stage in ('MQL', 'SQL')
            and (not candidates.was_waiting or leads.lifecycle_stage = candidates.waits_for),
            false
        ) as is_qualified
    from candidates
    left join leads
        on candidates.contact_id = leads.contact_id
),

matched as (
    select
        qualified.*,
        routing.owner,
        routing.queue,
        row_number() over (partition by qualified.contact_id order by routing.priority) as route_rank
    from qualified
    left join contacts
        on qualified.contact_id = contacts.contact_id
    left join companies
        on qualified.account_id = companies.account_id
    left join routing
        on
            qualified.is_qualified
            and routing.stage in (qualified.lifecycle_stage, '*')
            and (
                routing.match_column = '*'
                or routing.match_value = case routing.match_column
                    when 'region' then companies.region
                    when 'segment' then qualified.segment
                    when 'industry' then companies.industry
                    when 'size_band' then companies.size_band
                    when 'lead_source' then contacts.lead_source
                end
            )
),

queued as (
    -- the leads that compete for a queue's capacity today, best first
    select
        matched.*,
        capacity.capacity,
        capacity.capacity_period,
        capacity.overflow_owner,
        covered.days_covered,
        case
            when capacity.capacity is null then null
            when capacity.capacity_period = 'day' then capacity.capacity * covered.days_covered
            else greatest(capacity.capacity - coalesce(taken_this_week.taken, 0), 0)
        end as run_capacity,
        row_number() over (
            partition by matched.queue, matched.is_held_out, matched.is_qualified
            order by matched.lead_score desc, matched.crossed_on asc, matched.contact_id asc
        ) as queue_rank
    from matched
    cross join covered
    left join capacity
        on matched.queue = capacity.queue
    left join taken_this_week
        on matched.queue = taken_this_week.queue
    where matched.route_rank = 1
),

decided as (
    select
        *,
        case
            when not is_qualified then 'withdrawn'
            when is_held_out then 'held_out'
            when capacity is null or queue_rank <= run_capacity
                then case when was_waiting then 'released' else 'routed' end
            when overflow_owner is not null then 'overflow'
            else 'waiting'
        end as status
    from queued
),

final as (
    select
        {{ score_date() }} as score_date,
        contact_id,
        account_id,
        cast(lead_score as {{ type_double() }}) as lead_score,
        lifecycle_stage,
        previous_stage,
        cast(crossed_on as date) as crossed_on,
        cast({{ dbt.datediff('crossed_on', score_date(), 'day') }} as integer) as days_waited,
        status,
        case
            when status in ('routed', 'released') then owner
            when status = 'overflow' then overflow_owner
        end as owner,
        case when status in ('routed', 'released', 'overflow', 'waiting') then queue end as queue,
        cast(case when status in ('routed', 'released', 'overflow', 'waiting') then capacity end as integer)
            as capacity,
        case when status in ('routed', 'released', 'overflow', 'waiting') then capacity_period end
            as capacity_period,
        cast(days_covered as integer) as days_covered,
        cast(case when status in ('routed', 'released', 'overflow', 'waiting') then run_capacity end as integer)
            as run_capacity,
        cast(case when status in ('routed', 'released', 'overflow', 'waiting') then queue_rank end as integer)
            as queue_rank,
        is_held_out
    from decided
)

select * from final
