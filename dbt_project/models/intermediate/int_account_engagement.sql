-- One row per account with contacts: its engagement score (the sum of its ledger rows, limited to
-- 0-100) and the buying-group picture behind it.
with ledger as (
    select * from {{ ref('int_account_engagement_ledger') }}
),

members as (
    select * from {{ ref('int_buying_group_members') }}
),

roles as (
    select * from {{ ref('buying_group_roles') }}
),

points as (
    select
        account_id,
        sum(points) as engagement_points,
        sum(case when rule = 'buying_group_role' then 1 else 0 end) as roles_covered
    from ledger
    group by account_id
),

engaged as (
    select
        account_id,
        count(distinct contact_id) as engaged_contacts,
        count(distinct case when decision_maker then contact_id end) as decision_makers_engaged,
        count(distinct case when seniority = 'c_level' then contact_id end) as c_level_engaged
    from members
    group by account_id
),

final as (
    select
        points.account_id,
        round({{ clamp('points.engagement_points') }}, 1) as engagement_score,
        coalesce(engaged.engaged_contacts, 0) as engaged_contacts,
        coalesce(engaged.decision_makers_engaged, 0) as decision_makers_engaged,
        coalesce(engaged.c_level_engaged, 0) > 0 as c_level_engaged,
        cast(points.roles_covered as {{ type_double() }})
        / (select count(distinct roles.role) from roles) as buying_group_coverage
    from points
    left join engaged
        on points.account_id = engaged.account_id
)

select * from final
