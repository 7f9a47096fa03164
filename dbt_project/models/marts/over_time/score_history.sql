-- One row per contact and per account per score date: every subscore, the combined score, the
-- stage or tier (and a customer account's service level), and the change against the newest score
-- at least 7 and 30 days older. A rerun of a date replaces that date; --full-refresh never drops
-- the history (folder config: over_time).
with leads as (
    select * from {{ ref('lead_scores') }}
),

accounts as (
    select * from {{ ref('account_scores') }}
),

today as (
    select
        'contact' as entity_type,
        contact_id as entity_id,
        account_id,
        score_date,
        fit_score,
        engagement_score,
        cast(null as {{ type_double() }}) as financial_score,
        lead_score as score,
        lifecycle_stage as stage,
        grade,
        cast(null as {{ dbt.type_string() }}) as service_level
    from leads
    union all
    select
        'account' as entity_type,
        account_id as entity_id,
        account_id,
        score_date,
        fit_score,
        engagement_score,
        financial_score,
        account_score as score,
        tier as stage,
        cast(null as {{ dbt.type_string() }}) as grade,
        service_level
    from accounts
),

earlier as (
    -- the history before today ({{ this }}; nothing on the first build)
    select
        entity_type,
        entity_id,
        score_date,
        score
    {% if is_incremental() %}
        from {{ this }}
        where
            score_date < {{ score_date() }}
            and score_date >= {{ dbt.dateadd('day', -2 * 30, score_date()) }}
    {% else %}
        from today
        where 1 = 0
    {% endif %}
),

{% for days in [7, 30] %}
    newest_{{ days }}d as (
        -- the newest score at least {{ days }} days old, looking back at most {{ days }} days more
        select
            entity_type,
            entity_id,
            max(score_date) as score_date
        from earlier
        where
            score_date <= {{ dbt.dateadd('day', -days, score_date()) }}
            and score_date > {{ dbt.dateadd('day', -2 * days, score_date()) }}
        group by entity_type, entity_id
    ),

    before_{{ days }}d as (
        select
            earlier.entity_type,
            earlier.entity_id,
            earlier.score
        from earlier
        inner join newest_{{ days }}d
            on
                earlier.entity_type = newest_{{ days }}d.entity_type
                and earlier.entity_id = newest_{{ days }}d.entity_id
                and earlier.score_date = newest_{{ days }}d.score_date
    ),
{% endfor %}

final as (
    select
        today.entity_type,
        today.entity_id,
        today.account_id,
        today.score_date,
        today.fit_score,
        today.engagement_score,
        today.financial_score,
        today.score,
        today.stage,
        today.grade,
        cast(round(today.score - before_7d.score, 1) as {{ type_double() }}) as score_change_7d,
        cast(round(today.score - before_30d.score, 1) as {{ type_double() }}) as score_change_30d,
        today.service_level
    from today
    left join before_7d
        on today.entity_type = before_7d.entity_type and today.entity_id = before_7d.entity_id
    left join before_30d
        on today.entity_type = before_30d.entity_type and today.entity_id = before_30d.entity_id
)

select * from final
