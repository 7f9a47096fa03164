-- Lead score per contact: fit and engagement combined by the weights of the contact's segment, a
-- letter grade from fit and a lifecycle stage from the segment's thresholds (int_segment_settings:
-- the dbt vars unless seed segment_settings says otherwise); contacts of customer accounts are
-- "customer".
with contacts as (
    select * from {{ ref('int_contacts_enriched') }}
),

accounts as (
    select * from {{ ref('int_accounts_enriched') }}
),

fit as (
    select * from {{ ref('fit_scores') }}
    where entity_type = 'contact'
),

engagement as (
    select * from {{ ref('engagement_scores') }}
),

reasons as (
    select * from {{ ref('int_top_reasons') }}
    where entity_type = 'contact'
),

settings as (
    select * from {{ ref('int_segment_settings') }}
),

strongest_topics as (
    select * from {{ ref('topic_scores') }}
    where topic_type = 'topic' and is_strongest
),

grades as (
    select
        grade,
        min_fit_score as lower_bound,
        lead(min_fit_score) over (order by min_fit_score) as upper_bound
    from {{ ref('lead_grades') }}
),

scored as (
    select
        contacts.contact_id,
        contacts.account_id,
        contacts.segment,
        settings.mql_threshold,
        settings.sql_threshold,
        coalesce(fit.fit_score, 0) as fit_score,
        coalesce(engagement.engagement_score, 0) as engagement_score,
        round(
            settings.lead_fit_weight * coalesce(fit.fit_score, 0)
            + settings.lead_engagement_weight * coalesce(engagement.engagement_score, 0),
            1
        ) as lead_score,
        coalesce(accounts.is_customer, false) as is_customer
    from contacts
    inner join settings
        on contacts.segment = settings.segment
    left join fit
        on contacts.contact_id = fit.entity_id
    left join engagement
        on contacts.contact_id = engagement.contact_id
    left join accounts
        on contacts.account_id = accounts.account_id
),

final as (
    select
        scored.contact_id,
        scored.account_id,
        {{ score_date() }} as score_date,
        cast(scored.fit_score as {{ type_double() }}) as fit_score,
        cast(scored.engagement_score as {{ type_double() }}) as engagement_score,
        cast(scored.lead_score as {{ type_double() }}) as lead_score,
        grades.grade,
        case
            when scored.is_customer then 'customer'
            when scored.lead_score >= scored.sql_threshold then 'SQL'
            when scored.lead_score >= scored.mql_threshold then 'MQL'
            else 'lead'
        end as lifecycle_stage,
        reasons.top_reasons,
        scored.segment,
        scored.mql_threshold,
        scored.sql_threshold,
        strongest_topics.topic as strongest_topic,
        -- the pilot's control group: scored, never routed by score (lead_handovers)
        {{ in_control_group('scored.contact_id') }} as is_held_out
    from scored
    left join grades
        on {{ in_band('scored.fit_score', 'grades') }}
    left join reasons
        on scored.contact_id = reasons.entity_id
    left join strongest_topics
        on scored.contact_id = strongest_topics.contact_id
)

select * from final
