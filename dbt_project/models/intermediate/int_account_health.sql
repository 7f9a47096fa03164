-- How each customer account is doing on the score date, for risk and upsell signals: product
-- usage now against the window before, seats in use against seats contracted, payment delay
-- lately against before, its latest NPS answer and recent ticket escalations. Windows are vars.
with accounts as (
    select * from {{ ref('int_accounts_enriched') }}
    where is_customer
),

usage as (
    select * from {{ ref('stg_crm__product_usage') }}
    where
        usage_date <= {{ score_date() }}
        and usage_date > {{ dbt.dateadd('day', '-2 * ' ~ var('usage_window_days'), score_date()) }}
),

subscriptions as (
    select * from {{ ref('stg_crm__subscriptions') }}
),

invoices as (
    select * from {{ ref('stg_crm__invoices') }}
    where status != 'void' and due_date <= {{ score_date() }}
),

nps as (
    select * from {{ ref('stg_crm__nps_responses') }}
    where
        cast(responded_at as date) <= {{ score_date() }}
        and cast(responded_at as date) > {{ dbt.dateadd('day', '-' ~ var('nps_lookback_days'), score_date()) }}
),

tickets as (
    select * from {{ ref('stg_crm__tickets') }}
    where
        cast(created_at as date) <= {{ score_date() }}
        and cast(created_at as date) > {{ dbt.dateadd('day', '-' ~ var('escalation_window_days'), score_date()) }}
),

usage_trend as (
    select
        account_id,
        avg(
            case
                when usage_date > {{ dbt.dateadd('day', '-' ~ var('usage_window_days'), score_date()) }}
                    then active_users
            end
        ) as active_users_recent,
        avg(
            case
                when usage_date <= {{ dbt.dateadd('day', '-' ~ var('usage_window_days'), score_date()) }}
                    then active_users
            end
        ) as active_users_before
    from usage
    group by account_id
),

seats as (
    select
        account_id,
        sum(seats) as contracted_seats
    from subscriptions
    where
        start_date <= {{ score_date() }}
        and end_date > {{ score_date() }}
        and (status = 'active' or cast(updated_at as date) > {{ score_date() }})
    group by account_id
),

payments as (
    select
        account_id,
        avg(
            case
                when due_date > {{ dbt.dateadd('day', '-' ~ var('payment_recent_days'), score_date()) }}
                    then {{ days_late('due_date', 'paid_date') }}
            end
        ) as days_late_recent,
        avg(
            case
                when
                    due_date <= {{ dbt.dateadd('day', '-' ~ var('payment_recent_days'), score_date()) }}
                    and due_date > {{ dbt.dateadd('day', '-' ~ var('financial_lookback_days'), score_date()) }}
                    then {{ days_late('due_date', 'paid_date') }}
            end
        ) as days_late_before
    from invoices
    group by account_id
),

latest_nps as (
    select
        account_id,
        nps_score,
        responded_at,
        row_number() over (partition by account_id order by responded_at desc, response_id desc) as answer_rank
    from nps
),

escalations as (
    select
        account_id,
        sum(case when is_escalated then 1 else 0 end) as escalated_tickets
    from tickets
    group by account_id
),

final as (
    select
        accounts.account_id,
        usage_trend.active_users_recent,
        usage_trend.active_users_before,
        case
            when usage_trend.active_users_before > 0
                then usage_trend.active_users_recent / usage_trend.active_users_before - 1
        end as usage_change,
        seats.contracted_seats,
        case
            when seats.contracted_seats > 0 then usage_trend.active_users_recent / seats.contracted_seats
        end as seat_utilization,
        payments.days_late_recent,
        payments.days_late_before,
        latest_nps.nps_score as latest_nps,
        cast(latest_nps.responded_at as date) as latest_nps_date,
        coalesce(escalations.escalated_tickets, 0) as escalated_tickets
    from accounts
    left join usage_trend
        on accounts.account_id = usage_trend.account_id
    left join seats
        on accounts.account_id = seats.account_id
    left join payments
        on accounts.account_id = payments.account_id
    left join latest_nps
        on accounts.account_id = latest_nps.account_id and latest_nps.answer_rank = 1
    left join escalations
        on accounts.account_id = escalations.account_id
)

select * from final
