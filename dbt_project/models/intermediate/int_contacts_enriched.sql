-- One row per contact that exists on the score date, with seniority, department and email domain
-- type derived by the rule seeds.
with contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    where cast(created_at as date) <= {{ score_date() }}
),

seniority_rules as (
    select * from {{ ref('title_seniority_rules') }}
),

department_rules as (
    select * from {{ ref('department_rules') }}
),

free_mail_domains as (
    select * from {{ ref('free_mail_domains') }}
),

competitor_domains as (
    select * from {{ ref('competitor_domains') }}
),

accounts as (
    select * from {{ ref('int_accounts_enriched') }}
),

segment_rules as (
    select * from {{ ref('segment_rules') }}
),

-- Rules are matched against each distinct title (and department text) once, not per contact: a
-- regular expression read from a column is compiled for every row it is tested on, and a million
-- contacts share some thousands of titles.
titles as (
    select distinct job_title
    from contacts
    where job_title is not null
),

department_texts as (
    select distinct coalesce(department, job_title) as department_text
    from contacts
    where coalesce(department, job_title) is not null
),

seniority_candidates as (
    select
        titles.job_title,
        seniority_rules.seniority,
        row_number() over (
            partition by titles.job_title order by seniority_rules.priority
        ) as match_rank
    from titles
    inner join seniority_rules
        on {{ regexp_matches('titles.job_title', 'seniority_rules.pattern') }}
),

department_candidates as (
    select
        department_texts.department_text,
        department_rules.department,
        row_number() over (
            partition by department_texts.department_text order by department_rules.priority
        ) as match_rank
    from department_texts
    inner join department_rules
        on {{ regexp_matches('department_texts.department_text', 'department_rules.pattern') }}
),

enriched as (
    select
        contacts.contact_id,
        contacts.account_id,
        contacts.email,
        contacts.email_domain,
        contacts.job_title,
        coalesce(seniority_candidates.seniority, 'unknown') as seniority,
        coalesce(department_candidates.department, 'unknown') as department,
        case
            when competitor_domains.domain is not null then 'competitor'
            when free_mail_domains.domain is not null then 'free_mail'
            else 'business'
        end as email_domain_type,
        contacts.lead_source,
        contacts.created_at,
        accounts.region,
        accounts.industry
    from contacts
    left join seniority_candidates
        on
            contacts.job_title = seniority_candidates.job_title
            and seniority_candidates.match_rank = 1
    left join department_candidates
        on
            coalesce(contacts.department, contacts.job_title) = department_candidates.department_text
            and department_candidates.match_rank = 1
    left join free_mail_domains
        on contacts.email_domain = free_mail_domains.domain
    left join competitor_domains
        on contacts.email_domain = competitor_domains.domain
    left join accounts
        on contacts.account_id = accounts.account_id
),

segment_candidates as (
    select
        enriched.contact_id,
        segment_rules.segment,
        row_number() over (
            partition by enriched.contact_id order by segment_rules.priority
        ) as match_rank
    from enriched
    inner join segment_rules
        on
            segment_rules.match_value = case segment_rules.match_column
                when 'lead_source' then enriched.lead_source
                when 'department' then enriched.department
                when 'seniority' then enriched.seniority
                when 'email_domain_type' then enriched.email_domain_type
                when 'region' then enriched.region
                when 'industry' then enriched.industry
            end
),

final as (
    select
        enriched.*,
        coalesce(segment_candidates.segment, 'default') as segment
    from enriched
    left join segment_candidates
        on
            enriched.contact_id = segment_candidates.contact_id
            and segment_candidates.match_rank = 1
)

select * from final
