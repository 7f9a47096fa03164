-- One row per company that exists on the score date, with the attributes fit rules look at.
with companies as (
    select * from {{ ref('stg_crm__companies') }}
),

subscriptions as (
    select * from {{ ref('stg_crm__subscriptions') }}
),

size_bands as (
    select * from {{ ref('employee_size_bands') }}
),

country_regions as (
    select * from {{ ref('country_regions') }}
),

competitor_domains as (
    select * from {{ ref('competitor_domains') }}
),

icp as (
    select * from {{ ref('ideal_customer_profile') }}
),

active_customers as (
    -- a customer has a contract running on the score date that was not cancelled before it
    select distinct account_id
    from subscriptions
    where
        start_date <= {{ score_date() }}
        and end_date > {{ score_date() }}
        and (status = 'active' or cast(updated_at as date) > {{ score_date() }})
),

accounts as (
    select
        companies.company_id as account_id,
        companies.company_name,
        companies.domain,
        companies.industry,
        companies.employees,
        size_bands.size_band,
        companies.country,
        country_regions.region,
        competitor_domains.domain is not null as is_competitor,
        active_customers.account_id is not null as is_customer,
        companies.created_at
    from companies
    left join size_bands
        on {{ in_band('companies.employees', 'size_bands') }}
    left join country_regions
        on companies.country = country_regions.country
    left join competitor_domains
        on companies.domain = competitor_domains.domain
    left join active_customers
        on companies.company_id = active_customers.account_id
    where cast(companies.created_at as date) <= {{ score_date() }}
),

attribute_values as (
    select
        account_id,
        'industry' as attribute,
        industry as attribute_value
    from accounts
    union all
    select
        account_id,
        'size_band' as attribute,
        size_band as attribute_value
    from accounts
    union all
    select
        account_id,
        'region' as attribute,
        region as attribute_value
    from accounts
),

icp_matches as (
    select
        attribute_values.account_id,
        count(distinct attribute_values.attribute) as matched_attributes
    from attribute_values
    inner join icp
        on
            attribute_values.attribute = icp.attribute
            and attribute_values.attribute_value = icp.value
    group by attribute_values.account_id
),

final as (
    select
        accounts.*,
        coalesce(icp_matches.matched_attributes, 0)
        = (select count(distinct icp.attribute) from icp) as is_icp
    from accounts
    left join icp_matches
        on accounts.account_id = icp_matches.account_id
)

select * from final
