-- The day's signals, each with the numbers behind it (value, threshold, previous_value) and a
-- readable reason. Thresholds are vars (dbt_project.yml); handovers are routed by seed lead_routing
-- within seed routing_capacity (lead_handovers).
--   risk:        score_drop, usage_decline, payment_slipping, nps_detractor, ticket_escalations
--   opportunity: engaged_and_growing, seats_near_limit
--   handover:    crossed_mql, crossed_sql: the day's hand-overs of lead_handovers (routed,
--                released from the waiting list, or past capacity to the overflow owner)
--   service:     service_level_changed (a customer account's service level against its previous
--                score date in history)
-- Kept per score date (a rerun replaces its date); is_new marks signals that were not raised on
-- the previous score date, which is what the daily notification sends.
with history as (
    select * from {{ ref('score_history') }}
),

health as (
    select * from {{ ref('int_account_health') }}
),

accounts as (
    select * from {{ ref('account_scores') }}
),

leads as (
    select * from {{ ref('lead_scores') }}
),

best_recent as (
    -- each account's best score in the window before today
    select
        entity_id as account_id,
        max(score) as best_score
    from history
    where
        entity_type = 'account'
        and score_date < {{ score_date() }}
        and score_date >= {{ dbt.dateadd('day', '-' ~ var('risk_score_window_days'), score_date()) }}
    group by entity_id
),

previous_account as (
    -- each account on its previous score date (service level changes)
    select
        entity_id as account_id,
        score,
        stage,
        service_level,
        financial_score is not null as was_customer,
        row_number() over (partition by entity_id order by score_date desc) as recency
    from history
    where entity_type = 'account' and score_date < {{ score_date() }}
),

risk as (
    select
        'risk' as signal_type,
        'score_drop' as signal,
        accounts.account_id as entity_id,
        accounts.account_score as signal_value,
        best_recent.best_score - {{ var('risk_score_drop_points') }} as threshold,
        best_recent.best_score as previous_value,
        'account score fell from ' || cast(best_recent.best_score as {{ dbt.type_string() }})
        || ' to ' || cast(accounts.account_score as {{ dbt.type_string() }})
        || ' within {{ var("risk_score_window_days") }} days' as reason
    from accounts
    inner join best_recent
        on accounts.account_id = best_recent.account_id
    where
        best_recent.best_score - accounts.account_score >= {{ var('risk_score_drop_points') }}
        or best_recent.best_score - accounts.account_score
        >= {{ var('risk_score_drop_share') }} * best_recent.best_score
    union all
    select
        'risk' as signal_type,
        'usage_decline' as signal,
        account_id as entity_id,
        active_users_recent as signal_value,
        (1 - {{ var('usage_decline_share') }}) * active_users_before as threshold,
        active_users_before as previous_value,
        'active users fell ' || cast(round(-100 * usage_change) as {{ dbt.type_string() }})
        || ' % (last {{ var("usage_window_days") }} days against the {{ var("usage_window_days") }} before)' as reason
    from health
    where usage_change <= -{{ var('usage_decline_share') }}
    union all
    select
        'risk' as signal_type,
        'payment_slipping' as signal,
        account_id as entity_id,
        days_late_recent as signal_value,
        coalesce(days_late_before, 0) + {{ var('payment_slip_days') }} as threshold,
        days_late_before as previous_value,
        'invoices paid ' || cast(round(days_late_recent, 1) as {{ dbt.type_string() }})
        || ' days late on average lately, ' || cast(round(coalesce(days_late_before, 0), 1) as {{ dbt.type_string() }})
        || ' before' as reason
    from health
    where days_late_recent >= coalesce(days_late_before, 0) + {{ var('payment_slip_days') }}
    union all
    select
        'risk' as signal_type,
        'nps_detractor' as signal,
        account_id as entity_id,
        latest_nps as signal_value,
        {{ var('nps_detractor_max') }} as threshold,
        cast(null as {{ type_double() }}) as previous_value,
        'NPS answer ' || cast(latest_nps as {{ dbt.type_string() }}) || ' on '
        || cast(latest_nps_date as {{ dbt.type_string() }}) as reason
    from health
    where latest_nps <= {{ var('nps_detractor_max') }}
    union all
    select
        'risk' as signal_type,
        'ticket_escalations' as signal,
        account_id as entity_id,
        escalated_tickets as signal_value,
        {{ var('escalation_min_count') }} as threshold,
        cast(null as {{ type_double() }}) as previous_value,
        cast(escalated_tickets as {{ dbt.type_string() }})
        || ' escalated tickets in {{ var("escalation_window_days") }} days' as reason
    from health
    where escalated_tickets >= {{ var('escalation_min_count') }}
),

opportunity as (
    select
        'opportunity' as signal_type,
        'engaged_and_growing' as signal,
        accounts.account_id as entity_id,
        accounts.engagement_score as signal_value,
        {{ var('opportunity_engagement_min') }} as threshold,
        cast(null as {{ type_double() }}) as previous_value,
        'account engagement ' || cast(accounts.engagement_score as {{ dbt.type_string() }})
        || ' and active users up ' || cast(round(100 * health.usage_change) as {{ dbt.type_string() }})
        || ' %' as reason
    from accounts
    inner join health
        on accounts.account_id = health.account_id
    where
        accounts.engagement_score >= {{ var('opportunity_engagement_min') }}
        and health.usage_change >= {{ var('usage_growth_share') }}
    union all
    select
        'opportunity' as signal_type,
        'seats_near_limit' as signal,
        account_id as entity_id,
        seat_utilization as signal_value,
        {{ var('seat_utilization_min') }} as threshold,
        cast(null as {{ type_double() }}) as previous_value,
        cast(round(active_users_recent) as {{ dbt.type_string() }}) || ' active users on '
        || cast(contracted_seats as {{ dbt.type_string() }}) || ' seats, invoices paid on time' as reason
    from health
    where
        seat_utilization >= {{ var('seat_utilization_min') }}
        and coalesce(days_late_recent, 0) <= {{ var('reliable_payment_max_days_late') }}
),

handovers as (
    select * from {{ ref('lead_handovers') }}
    where score_date = {{ score_date() }} and status in ('routed', 'released', 'overflow')
),

handover as (
    select
        'handover' as signal_type,
        case when handovers.lifecycle_stage = 'SQL' then 'crossed_sql' else 'crossed_mql' end as signal,
        handovers.contact_id as entity_id,
        handovers.account_id,
        handovers.lead_score as signal_value,
        case when handovers.lifecycle_stage = 'SQL' then leads.sql_threshold else leads.mql_threshold end
            as threshold,
        'lead score ' || cast(handovers.lead_score as {{ dbt.type_string() }}) || ' crossed the '
        || handovers.lifecycle_stage || ' threshold (was ' || handovers.previous_stage || ')'
        || case
            when handovers.status = 'released'
                then
                    ', released from the waiting list after '
                    || cast(handovers.days_waited as {{ dbt.type_string() }}) || ' days'
            when handovers.status = 'overflow'
                then
                    ', past the capacity of queue ' || handovers.queue || ' ('
                    || cast(handovers.capacity as {{ dbt.type_string() }}) || ' a '
                    || handovers.capacity_period || ')'
            else ''
        end as reason,
        handovers.owner,
        handovers.queue
    from handovers
    left join leads
        on handovers.contact_id = leads.contact_id
),

service as (
    -- also when an account becomes a customer (none -> a level) or stops being one (a level ->
    -- none); a customer's row kept before service levels existed has none and is skipped
    select
        'service' as signal_type,
        'service_level_changed' as signal,
        accounts.account_id as entity_id,
        accounts.account_score as signal_value,
        cast(null as {{ type_double() }}) as threshold,
        previous_account.score as previous_value,
        'service level ' || coalesce(previous_account.service_level, 'none') || ' -> '
        || coalesce(accounts.service_level, 'none') || ' (tier ' || previous_account.stage || ' -> '
        || accounts.tier || ', account score ' || cast(previous_account.score as {{ dbt.type_string() }})
        || ' -> ' || cast(accounts.account_score as {{ dbt.type_string() }}) || ')' as reason
    from accounts
    inner join previous_account
        on accounts.account_id = previous_account.account_id and previous_account.recency = 1
    where
        coalesce(accounts.service_level, 'none') != coalesce(previous_account.service_level, 'none')
        and not (previous_account.was_customer and previous_account.service_level is null)
),

signals as (
    select
        signal_type,
        signal,
        'account' as entity_type,
        entity_id,
        entity_id as account_id,
        signal_value,
        threshold,
        previous_value,
        reason,
        cast(null as {{ dbt.type_string() }}) as owner,
        cast(null as {{ dbt.type_string() }}) as queue
    from (
        select * from risk
        union all
        select * from opportunity
        union all
        select * from service
    ) as account_signals
    union all
    select
        signal_type,
        signal,
        'contact' as entity_type,
        entity_id,
        account_id,
        signal_value,
        threshold,
        cast(null as {{ type_double() }}) as previous_value,
        reason,
        owner,
        queue
    from handover
),

{% if is_incremental() %}
    raised_before as (
        select
            signal,
            entity_type,
            entity_id
        from {{ this }}
        where score_date = (
            select max(earlier.score_date) from {{ this }} as earlier
            where earlier.score_date < {{ score_date() }}
        )
    ),
{% else %}
    raised_before as (
        select
            signal,
            entity_type,
            entity_id
        from signals
        where 1 = 0
    ),
{% endif %}

final as (
    select
        {{ score_date() }} as score_date,
        signals.signal_type,
        signals.signal,
        signals.entity_type,
        signals.entity_id,
        signals.account_id,
        cast(signals.signal_value as {{ type_double() }}) as signal_value,
        cast(signals.threshold as {{ type_double() }}) as threshold,
        cast(signals.previous_value as {{ type_double() }}) as previous_value,
        signals.reason,
        signals.owner,
        signals.queue,
        raised_before.signal is null as is_new
    from signals
    left join raised_before
        on
            signals.signal = raised_before.signal
            and signals.entity_type = raised_before.entity_type
            and signals.entity_id = raised_before.entity_id
)

select * from final
