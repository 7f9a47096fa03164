-- One row per lead's journey through the funnel as of the score date: lead (created) -> MQL -> SQL
-- -> opportunity -> won, the source that brought the lead and the campaign of its first email click
-- (up to its first deal).
--   Lead: a contact that was not a contact of a customer account when it was created (a
--     subscription running on its creation day that was not cancelled before it, the rule of
--     int_accounts_enriched.is_customer), created on or after the first day of the contact score
--     history: earlier contacts may have been MQLs before the history could see it.
--   MQL / SQL: the first score date in score_history with stage MQL or SQL / SQL (history after the
--     score date is ignored: a backfill can rebuild an earlier date while later rows still exist).
--   Opportunity: the contact's first deal created; won: its first won deal's close date (won_amount
--     sums its won deals).
-- Stages are cumulative: a lead that reached a later stage reached every earlier one. A stage whose
-- own date is missing, or comes after a later stage's date (e.g. a deal opened before the score
-- made the lead an SQL), counts as skipped: reached, but its date is null and it is left out of the
-- medians of days between stages.
with contacts as (
    select * from {{ ref('int_contacts_enriched') }}
),

subscriptions as (
    select * from {{ ref('stg_crm__subscriptions') }}
),

history as (
    select * from {{ ref('score_history') }}
    where entity_type = 'contact' and score_date <= {{ score_date() }}
),

deals as (
    select * from {{ ref('stg_crm__deals') }}
    where cast(created_at as date) <= {{ score_date() }}
),

email_events as (
    select * from {{ ref('stg_email__events') }}
    where event_type = 'click' and event_date <= {{ score_date() }}
),

campaigns as (
    select * from {{ ref('stg_email__campaigns') }}
),

history_start as (
    select min(score_date) as first_score_date
    from history
),

leads as (
    select
        contacts.contact_id,
        contacts.email,
        coalesce(contacts.lead_source, 'unknown') as lead_source,
        cast(contacts.created_at as date) as lead_date
    from contacts
    cross join history_start
    where
        cast(contacts.created_at as date) >= history_start.first_score_date
        and not exists (
            select 1
            from subscriptions
            where
                subscriptions.account_id = contacts.account_id
                and subscriptions.start_date <= cast(contacts.created_at as date)
                and subscriptions.end_date > cast(contacts.created_at as date)
                and (
                    subscriptions.status = 'active'
                    or cast(subscriptions.updated_at as date) > cast(contacts.created_at as date)
                )
        )
),

scored_stages as (
    select
        entity_id as contact_id,
        min(case when stage in ('MQL', 'SQL') then score_date end) as first_mql_date,
        min(case when stage = 'SQL' then score_date end) as first_sql_date
    from history
    where stage in ('MQL', 'SQL')
    group by entity_id
),

deal_stages as (
    select
        contact_id,
        min(cast(created_at as date)) as opportunity_date,
        min(case when is_won and closed_date <= {{ score_date() }} then closed_date end) as won_date,
        sum(case when is_won and closed_date <= {{ score_date() }} then amount end) as won_amount
    from deals
    where contact_id is not null
    group by contact_id
),

lead_clicks as (
    -- first touch: clicks up to the lead's first deal (a click after it brought nothing)
    select
        leads.contact_id,
        email_events.campaign_id,
        email_events.occurred_at,
        email_events.event_id
    from leads
    inner join email_events
        on leads.email = email_events.email
    left join deal_stages
        on leads.contact_id = deal_stages.contact_id
    where email_events.event_date <= coalesce(deal_stages.opportunity_date, {{ score_date() }})
),

ranked_clicks as (
    select
        contact_id,
        campaign_id,
        row_number() over (partition by contact_id order by occurred_at, event_id) as click_rank
    from lead_clicks
),

first_clicks as (
    select
        ranked_clicks.contact_id,
        coalesce(campaigns.campaign_name, ranked_clicks.campaign_id) as campaign
    from ranked_clicks
    left join campaigns
        on ranked_clicks.campaign_id = campaigns.campaign_id
    where ranked_clicks.click_rank = 1
),

journeys as (
    select
        leads.contact_id,
        leads.lead_source,
        coalesce(first_clicks.campaign, '(none)') as first_touch_campaign,
        leads.lead_date,
        scored_stages.first_mql_date,
        scored_stages.first_sql_date,
        deal_stages.opportunity_date,
        deal_stages.won_date,
        deal_stages.won_amount
    from leads
    left join scored_stages
        on leads.contact_id = scored_stages.contact_id
    left join deal_stages
        on leads.contact_id = deal_stages.contact_id
    left join first_clicks
        on leads.contact_id = first_clicks.contact_id
),

reached as (
    select
        *,
        won_date is not null as is_won,
        opportunity_date is not null or won_date is not null as reached_opportunity,
        first_sql_date is not null or opportunity_date is not null or won_date is not null as reached_sql,
        first_mql_date is not null
        or first_sql_date is not null
        or opportunity_date is not null
        or won_date is not null as reached_mql,
        -- a scored stage's date counts only when it is not after the deal stages' dates
        case
            when first_sql_date <= coalesce(opportunity_date, won_date, first_sql_date) then first_sql_date
        end as sql_date
    from journeys
),

dated as (
    select
        *,
        case
            when first_mql_date <= coalesce(sql_date, opportunity_date, won_date, first_mql_date)
                then first_mql_date
        end as mql_date
    from reached
),

final as (
    select
        -- ids
        contact_id,

        -- attributes
        lead_source,
        first_touch_campaign,

        -- stages reached (cumulative)
        reached_mql,
        reached_sql,
        reached_opportunity,
        is_won,

        -- dates (null: not reached, or skipped)
        lead_date,
        mql_date,
        sql_date,
        opportunity_date,
        won_date,

        -- numerics
        coalesce(won_amount, 0) as won_amount,
        {{ dbt.datediff('lead_date', 'mql_date', 'day') }} as days_lead_to_mql,
        {{ dbt.datediff('mql_date', 'sql_date', 'day') }} as days_mql_to_sql,
        {{ dbt.datediff('sql_date', 'opportunity_date', 'day') }} as days_sql_to_opportunity,
        {{ dbt.datediff('opportunity_date', 'won_date', 'day') }} as days_opportunity_to_won,
        {{ dbt.datediff('lead_date', 'won_date', 'day') }} as days_lead_to_won,

        -- the day the journey is seen from
        {{ score_date() }} as score_date
    from dated
)

select * from final
