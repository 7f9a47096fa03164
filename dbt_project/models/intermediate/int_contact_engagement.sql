-- Engagement (implicit) score per contact: what they did, decayed by age and capped per action.
-- Intermediate so that account roll-ups can use it; marts.engagement_scores publishes it.
with contacts as (
    select * from {{ ref('int_contacts_enriched') }}
),

hits as (
    select * from {{ ref('int_engagement_rule_hits') }}
),

points_per_contact as (
    select
        contact_id,
        sum(case when points > 0 then points else 0 end) as positive_points,
        sum(case when points < 0 then points else 0 end) as negative_points,
        sum(points) as engagement_points,
        sum(case when action = 'ignored_mailings' then event_count else 0 end) as ignored_mailings,
        max(case when points > 0 then last_activity_date end) as last_engaged_date
    from hits
    group by contact_id
),

final as (
    select
        contacts.contact_id,
        contacts.account_id,
        {{ score_date() }} as score_date,
        cast(coalesce(points_per_contact.positive_points, 0) as {{ type_double() }}) as positive_points,
        cast(coalesce(points_per_contact.negative_points, 0) as {{ type_double() }}) as negative_points,
        cast(coalesce(points_per_contact.engagement_points, 0) as {{ type_double() }})
            as engagement_points,
        cast(
            round({{ clamp('coalesce(points_per_contact.engagement_points, 0)') }}, 1)
            as {{ type_double() }}
        ) as engagement_score,
        cast(coalesce(points_per_contact.ignored_mailings, 0) as integer) as ignored_mailings,
        points_per_contact.last_engaged_date
    from contacts
    left join points_per_contact
        on contacts.contact_id = points_per_contact.contact_id
)

select * from final
