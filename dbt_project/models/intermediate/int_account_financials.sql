-- Financial measures per customer account on the score date: contract value now and a year ago,
-- revenue paid to date, payment reliability and support load over var('financial_lookback_days').
with accounts as (
    select * from {{ ref('int_accounts_enriched') }}
    where is_customer
),

subscriptions as (
    select * from {{ ref('stg_crm__subscriptions') }}
),

invoices as (
    select * from {{ ref('stg_crm__invoices') }}
    where status != 'void' and issued_date <= {{ score_date() }}
),

tickets as (
    select * from {{ ref('stg_crm__tickets') }}
    where
        cast(created_at as date) <= {{ score_date() }}
        and cast(created_at as date)
        > {{ dbt.dateadd('day', '-' ~ var('financial_lookback_days'), score_date()) }}
),

contract_value as (
    select
        account_id,
        sum(
            case
                when
                    start_date <= {{ score_date() }}
                    and end_date > {{ score_date() }}
                    and (status = 'active' or cast(updated_at as date) > {{ score_date() }})
                    then annual_value
                else 0
            end
        ) as annual_contract_value,
        sum(
            case
                when
                    start_date <= {{ dbt.dateadd('day', -365, score_date()) }}
                    and end_date > {{ dbt.dateadd('day', -365, score_date()) }}
                    then annual_value
                else 0
            end
        ) as annual_contract_value_year_ago
    from subscriptions
    group by account_id
),

revenue as (
    select
        account_id,
        sum(case when paid_date <= {{ score_date() }} then amount else 0 end) as lifetime_value
    from invoices
    group by account_id
),

payments as (
    -- days late per invoice due in the lookback window: paid late, or still open past its due date
    select
        account_id,
        avg({{ days_late('due_date', 'paid_date') }}) as avg_days_late,
        count(*) as invoices_due
    from invoices
    where
        due_date <= {{ score_date() }}
        and due_date > {{ dbt.dateadd('day', '-' ~ var('financial_lookback_days'), score_date()) }}
    group by account_id
),

support as (
    select
        account_id,
        count(*) as tickets,
        sum(case when is_escalated then 1 else 0 end) as escalated_tickets
    from tickets
    group by account_id
),

final as (
    select
        accounts.account_id,
        coalesce(contract_value.annual_contract_value, 0) as annual_contract_value,
        coalesce(contract_value.annual_contract_value_year_ago, 0) as annual_contract_value_year_ago,
        case
            when contract_value.annual_contract_value_year_ago > 0
                then
                    contract_value.annual_contract_value
                    / contract_value.annual_contract_value_year_ago
                    - 1
        end as expansion_rate,
        coalesce(revenue.lifetime_value, 0) as lifetime_value,
        coalesce(payments.avg_days_late, 0) as avg_days_late,
        coalesce(payments.invoices_due, 0) as invoices_due,
        coalesce(support.tickets, 0) as tickets,
        coalesce(support.escalated_tickets, 0) as escalated_tickets,
        case
            when coalesce(contract_value.annual_contract_value, 0) > 0
                then
                    coalesce(support.tickets, 0) * 10000.0
                    / contract_value.annual_contract_value
        end as tickets_per_10k_acv
    from accounts
    left join contract_value
        on accounts.account_id = contract_value.account_id
    left join revenue
        on accounts.account_id = revenue.account_id
    left join payments
        on accounts.account_id = payments.account_id
    left join support
        on accounts.account_id = support.account_id
)

select * from final
