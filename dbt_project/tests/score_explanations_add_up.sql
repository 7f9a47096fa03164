-- Every published score equals the sum of its explanation rows, exactly. Returns the mismatches.
with published as (
    select
        'contact' as entity_type,
        contact_id as entity_id,
        'lead' as score_name,
        lead_score as score
    from {{ ref('lead_scores') }}
    union all
    select
        'contact' as entity_type,
        contact_id as entity_id,
        'engagement' as score_name,
        engagement_score as score
    from {{ ref('engagement_scores') }}
    union all
    select
        entity_type,
        entity_id,
        'fit' as score_name,
        fit_score as score
    from {{ ref('fit_scores') }}
    union all
    select
        'account' as entity_type,
        account_id as entity_id,
        'financial' as score_name,
        financial_score as score
    from {{ ref('financial_scores') }}
    union all
    select
        'account' as entity_type,
        account_id as entity_id,
        'engagement' as score_name,
        engagement_score as score
    from {{ ref('account_scores') }}
    union all
    select
        'account' as entity_type,
        account_id as entity_id,
        'account' as score_name,
        account_score as score
    from {{ ref('account_scores') }}
),

explained as (
    select
        entity_type,
        entity_id,
        score_name,
        sum(points) as points
    from {{ ref('score_explanations') }}
    group by entity_type, entity_id, score_name
)

select
    published.entity_type,
    published.entity_id,
    published.score_name,
    published.score,
    explained.points
from published
left join explained
    on
        published.entity_type = explained.entity_type
        and published.entity_id = explained.entity_id
        and published.score_name = explained.score_name
where coalesce(explained.points, 0) != cast(published.score as {{ points_type() }})
