-- Engagement (implicit) score per contact on the score date (computed in int_contact_engagement,
-- which the account roll-up reads too).
with engagement as (
    select * from {{ ref('int_contact_engagement') }}
),

final as (
    select
        contact_id,
        account_id,
        score_date,
        positive_points,
        negative_points,
        engagement_points,
        engagement_score,
        ignored_mailings,
        last_engaged_date
    from engagement
)

select * from final
