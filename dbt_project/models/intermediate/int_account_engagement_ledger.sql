-- Account engagement, rolled up from its contacts without rewarding a big address book: the mean
-- engagement of its top-k contacts, plus points for each buying-group role an engaged contact
-- fills. One ledger row per contribution: int_account_engagement sums them, score_explanations
-- shows them.
with engagement as (
    select * from {{ ref('int_contact_engagement') }}
),

roles as (
    select * from {{ ref('buying_group_roles') }}
),

ranked as (
    select
        engagement.account_id,
        engagement.contact_id,
        engagement.engagement_score,
        row_number() over (
            partition by engagement.account_id
            order by engagement.engagement_score desc, engagement.contact_id asc
        ) as engagement_rank
    from engagement
    where engagement.account_id is not null
),

top_contacts as (
    select
        account_id,
        contact_id,
        engagement_score,
        count(*) over (partition by account_id) as top_contacts
    from ranked
    where engagement_rank <= {{ var('account_engagement_top_k') }}
),

covered_roles as (
    select distinct
        account_id,
        role
    from {{ ref('int_buying_group_members') }}
    where role is not null
),

role_count as (
    select count(distinct role) as role_total from roles
),

ledger as (
    select
        top_contacts.account_id,
        'top_contact_engagement' as rule,
        top_contacts.contact_id as rule_value,
        cast(top_contacts.engagement_score as {{ points_type() }}) as raw_points,
        cast(
            {{ var('account_topk_weight') }} * top_contacts.engagement_score / top_contacts.top_contacts
            as {{ points_type() }}
        ) as points
    from top_contacts
    union all
    select
        covered_roles.account_id,
        'buying_group_role' as rule,
        covered_roles.role as rule_value,
        cast(100 as {{ points_type() }}) as raw_points,
        cast(
            {{ var('account_coverage_weight') }} * 100.0 / role_count.role_total as {{ points_type() }}
        ) as points
    from covered_roles
    cross join role_count
)

select * from ledger
