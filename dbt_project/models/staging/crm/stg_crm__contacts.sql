with source as (
    select * from {{ source('crm', 'crm__contacts') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        contact_id,
        company_id as account_id,

        -- attributes
        first_name,
        last_name,
        lower(trim(email)) as email,
        {{ dbt.split_part('lower(trim(email))', "'@'", 2) }} as email_domain,
        trim(job_title) as job_title,
        trim(department) as department,
        lower(trim(lead_source)) as lead_source,

        -- timestamps
        {{ parse_utc_timestamp('created_at') }} as created_at,
        {{ parse_utc_timestamp('updated_at') }} as updated_at,

        -- custom properties (JSON object of text values; the property catalogue types them)
        _properties,

        -- load metadata
        _source_file,
        _row_number,
        _loaded_at
    from source
),

ranked as (
    select
        *,
        {{ newest_first('contact_id') }} as version_rank
    from renamed
),

final as (
    select
        contact_id,
        account_id,
        first_name,
        last_name,
        email,
        email_domain,
        job_title,
        department,
        lead_source,
        created_at,
        updated_at,
        _properties,
        _source_file,
        _loaded_at
    from ranked
    where
        version_rank = 1
        and {{ not_deleted() }}
)

select * from final
