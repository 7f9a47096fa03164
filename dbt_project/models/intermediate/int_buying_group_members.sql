-- Engaged contacts (engagement score of at least var engaged_contact_min_score) with the
-- buying-group roles they fill (seed buying_group_roles, by seniority or department); a contact
-- filling no role has one row with a null role. Account engagement counts roles and people here.
with engagement as (
    select * from {{ ref('int_contact_engagement') }}
    where engagement_score >= {{ var('engaged_contact_min_score') }}
),

contacts as (
    select * from {{ ref('int_contacts_enriched') }}
),

roles as (
    select * from {{ ref('buying_group_roles') }}
),

final as (
    select distinct
        engagement.account_id,
        engagement.contact_id,
        contacts.seniority,
        roles.role,
        coalesce(roles.decision_maker, false) as decision_maker
    from engagement
    inner join contacts
        on engagement.contact_id = contacts.contact_id
    left join roles
        on
            (roles.match_column = 'seniority' and contacts.seniority = roles.match_value)
            or (roles.match_column = 'department' and contacts.department = roles.match_value)
)

select * from final
