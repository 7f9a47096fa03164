with source as (
    select * from {{ source('crm', 'crm__companies') }}
    where {{ delivered_by_score_date() }}
),

renamed as (
    select
        -- ids
        company_id,

        -- attributes
        name as company_name,
        lower(trim(domain)) as domain,
        trim(industry) as industry,
        upper(trim(country)) as country,

        -- numerics
        cast(employees as integer) as employees,
        cast(annual_revenue as {{ dbt.type_numeric() }}) as annual_revenue,

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
        {{ newest_first('company_id') }} as version_rank
    from renamed
),

final as (
    select
        company_id,
        company_name,
        domain,
        industry,
        country,
        employees,
        annual_revenue,
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
