-- Why each entity has the scores it has on the score date: every rule that fired, its raw points
-- and the points it adds after decay and caps, per score. Two kinds of adjustment rows make the
-- points add up exactly to the published value: limit_0_100 (a subscore is limited to 0-100) and
-- rounding (published scores have one decimal). Combined scores (lead, account) are explained by
-- their weighted subscores.
with ledger as (
    select * from {{ ref('int_score_ledger') }}
),

account_engagement as (
    select * from {{ ref('int_account_engagement_ledger') }}
),

fit as (
    select * from {{ ref('fit_scores') }}
),

engagement as (
    select * from {{ ref('engagement_scores') }}
),

financial as (
    select * from {{ ref('financial_scores') }}
),

leads as (
    select * from {{ ref('lead_scores') }}
),

accounts as (
    select * from {{ ref('account_scores') }}
),

settings as (
    select * from {{ ref('int_segment_settings') }}
),

rules as (
    select
        entity_type,
        entity_id,
        subscore as score_name,
        rule,
        rule_value,
        raw_points,
        points
    from ledger
    union all
    select
        'account' as entity_type,
        account_id as entity_id,
        'engagement' as score_name,
        rule,
        rule_value,
        raw_points,
        points
    from account_engagement
    {% for weight, score in [('lead_fit_weight', 'fit_score'), ('lead_engagement_weight', 'engagement_score')] %}
        union all
        select
            'contact' as entity_type,
            leads.contact_id as entity_id,
            'lead' as score_name,
            '{{ score }}' as rule,
            'x ' || cast(settings.{{ weight }} as {{ dbt.type_string() }}) as rule_value,
            cast(leads.{{ score }} as {{ points_type() }}) as raw_points,
            cast(settings.{{ weight }} * leads.{{ score }} as {{ points_type() }}) as points
        from leads
        inner join settings
            on leads.segment = settings.segment
    {% endfor %}
    {% for weight, score in [
        ('account_fit_weight', 'fit_score'),
        ('account_engagement_weight', 'engagement_score'),
        ('account_financial_weight', 'financial_score'),
    ] %}
        union all
        select
            'account' as entity_type,
            account_id as entity_id,
            'account' as score_name,
            '{{ score }}' as rule,
            case
                when financial_score is not null then 'x {{ var(weight) }}'
                else 'x {{ var(weight) }} / {{ var("account_fit_weight") + var("account_engagement_weight") }}'
            end as rule_value,
            cast({{ score }} as {{ points_type() }}) as raw_points,
            cast(
                case
                    when financial_score is not null then {{ var(weight) }} * {{ score }}
                    else
                        {{ var(weight) }} * {{ score }}
                        / ({{ var('account_fit_weight') }} + {{ var('account_engagement_weight') }})
                end
                as {{ points_type() }}
            ) as points
        from accounts
        {% if score == 'financial_score' %}where financial_score is not null{% endif %}
    {% endfor %}
),

published as (
    select
        entity_type,
        entity_id,
        'fit' as score_name,
        fit_score as score
    from fit
    union all
    select
        'contact' as entity_type,
        contact_id as entity_id,
        'engagement' as score_name,
        engagement_score as score
    from engagement
    union all
    select
        'account' as entity_type,
        account_id as entity_id,
        'financial' as score_name,
        financial_score as score
    from financial
    union all
    select
        'contact' as entity_type,
        contact_id as entity_id,
        'lead' as score_name,
        lead_score as score
    from leads
    union all
    select
        'account' as entity_type,
        account_id as entity_id,
        'engagement' as score_name,
        engagement_score as score
    from accounts
    union all
    select
        'account' as entity_type,
        account_id as entity_id,
        'account' as score_name,
        account_score as score
    from accounts
),

totals as (
    select
        published.entity_type,
        published.entity_id,
        published.score_name,
        cast(published.score as {{ points_type() }}) as score,
        coalesce(sum(rules.points), 0) as rule_points
    from published
    left join rules
        on
            published.entity_type = rules.entity_type
            and published.entity_id = rules.entity_id
            and published.score_name = rules.score_name
    group by published.entity_type, published.entity_id, published.score_name, published.score
),

adjustments as (
    select
        entity_type,
        entity_id,
        score_name,
        'limit_0_100' as rule,
        cast(null as {{ dbt.type_string() }}) as rule_value,
        rule_points as raw_points,
        {{ clamp('rule_points') }} - rule_points as points
    from totals
    where {{ clamp('rule_points') }} != rule_points
    union all
    select
        entity_type,
        entity_id,
        score_name,
        'rounding' as rule,
        cast(null as {{ dbt.type_string() }}) as rule_value,
        {{ clamp('rule_points') }} as raw_points,
        score - {{ clamp('rule_points') }} as points
    from totals
    where score != {{ clamp('rule_points') }}
),

all_rows as (
    select * from rules
    union all
    select * from adjustments
),

final as (
    select
        entity_type,
        entity_id,
        {{ score_date() }} as score_date,
        score_name,
        rule,
        rule_value,
        cast(raw_points as {{ points_type() }}) as raw_points,
        cast(points as {{ points_type() }}) as points
    from all_rows
)

select * from final
