-- One row per account with contacts: its engagement score (the sum of its ledger rows, limited to
-- 0-100) and the buying-group picture behind it.
with ledger as (
    select * from {{ ref('int_account_engagement_ledger') }}
),

engagement as (
    select * from {{ ref('int_contact_engagement') }}
),

contacts as (
    select * from {{ ref('int_contacts_enriched') }}
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

engaged_contacts as (
    select
        engagement.account_id,
        engagement.contact_id,
        contacts.seniority,
        contacts.department
    from engagement
    inner join contacts
        on engagement.contact_id = contacts.contact_id
    where engagement.engagement_score >= {{ var('engaged_contact_min_score') }}
),

decision_makers as (
    select distinct
        engaged_contacts.account_id,
        engaged_contacts.contact_id
    from engaged_contacts
    inner join roles
        on
            roles.decision_maker
            and (
                (roles.match_column = 'seniority' and engaged_contacts.seniority = roles.match_value)
                or (roles.match_column = 'department' and engaged_contacts.department = roles.match_value)
            )
),

engaged as (
    select
        engaged_contacts.account_id,
        count(*) as engaged_contacts,
        count(decision_makers.contact_id) as decision_makers_engaged,
        sum(case when engaged_contacts.seniority = 'c_level' then 1 else 0 end) as c_level_engaged
    from engaged_contacts
    left join decision_makers
        on engaged_contacts.contact_id = decision_makers.contact_id
    group by engaged_contacts.account_id
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
