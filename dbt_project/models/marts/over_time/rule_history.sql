-- The fit and engagement rules each contact had on validation dates (the var
-- validation_day_of_month of every month): what calibration learns points from. Other days add
-- nothing, so the table grows by one ledger a month.
with ledger as (
    select * from {{ ref('int_score_ledger') }}
),

final as (
    select
        {{ score_date() }} as score_date,
        entity_id as contact_id,
        subscore,
        rule,
        rule_value,
        cast(points as {{ points_type() }}) as points
    from ledger
    where
        entity_type = 'contact'
        and subscore in ('fit', 'engagement')
        and {{ day_of_month(score_date()) }} = {{ var('validation_day_of_month') }}
)

select * from final
