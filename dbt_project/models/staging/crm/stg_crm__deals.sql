-- One row per deal: its newest version (stg_crm__deal_versions), unless the CRM deleted it.
with versions as (
    select * from {{ ref('stg_crm__deal_versions') }}
),

ranked as (
    select
        *,
        {{ newest_first('deal_id') }} as version_rank
    from versions
),

final as (
    select
        deal_id,
        account_id,
        contact_id,
        deal_name,
        product_line,
        stage,
        is_closed,
        is_won,
        amount,
        created_at,
        closed_date,
        updated_at,
        _source_file,
        _loaded_at
    from ranked
    where
        version_rank = 1
        and {{ not_deleted() }}
)

select * from final
