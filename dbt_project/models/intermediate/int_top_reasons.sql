-- The strongest reasons behind each contact's and account's score, for the top_reasons column of
-- lead_scores and account_scores: the var('top_reasons_count') rules adding the most points.
with ledger as (
    select * from {{ ref('int_score_ledger') }}
    where points > 0
),

final as (
    select
        entity_type,
        entity_id,
        {{ dbt.listagg('reason', "'; '", 'order by points desc, reason asc', var('top_reasons_count')) }}
            as top_reasons
    from ledger
    group by entity_type, entity_id
)

select * from final
