-- The catalogued properties of every contact and company on the score date, one row per entity,
-- property and known value: the documented columns the catalogue lists (kind standard) and the
-- custom properties the CRM delivered (kind custom), typed by seeds/property_catalogue.csv.
-- Undeclared extras stay in staging's _properties, never scored.
{#- property name: staging column -#}
{%- set standard = {
    'contact': {
        'lead_source': 'lead_source', 'job_title': 'job_title', 'department': 'department',
        'created_at': 'created_at',
    },
    'company': {
        'name': 'company_name', 'domain': 'domain', 'industry': 'industry', 'country': 'country',
        'employees': 'employees', 'annual_revenue': 'annual_revenue', 'created_at': 'created_at',
    },
} %}

{%- set day_text = dbt.split_part("replace(trim(all_values.property_value), 'T', ' ')", "' '", 1) %}

with contacts as (
    select * from {{ ref('stg_crm__contacts') }}
),

companies as (
    select * from {{ ref('stg_crm__companies') }}
),

catalogue as (
    select * from {{ ref('property_catalogue') }}
),

custom_values as (
    select
        'contact' as entity,
        contact_properties.*
    from ({{ json_object_rows('contacts', 'contact_id', '_properties') }}) as contact_properties
    union all
    select
        'company' as entity,
        company_properties.*
    from ({{ json_object_rows('companies', 'company_id', '_properties') }}) as company_properties
),

standard_values as (
    {%- for entity, columns in standard.items() %}
        {%- for property, column in columns.items() %}
            select
                '{{ entity }}' as entity,
                {{ entity }}_id as entity_id,
                '{{ property }}' as property,
                cast({{ column }} as {{ dbt.type_string() }}) as property_value
            from {{ 'contacts' if entity == 'contact' else 'companies' }}
            {{ 'union all' if not loop.last }}
        {%- endfor %}
        {{ 'union all' if not loop.last }}
    {%- endfor %}
),

all_values as (
    select
        entity,
        entity_id,
        property,
        property_value,
        'custom' as kind
    from custom_values
    union all
    select
        entity,
        entity_id,
        property,
        property_value,
        'standard' as kind
    from standard_values
),

final as (
    select
        all_values.entity,
        all_values.entity_id,
        all_values.property,
        catalogue.type as property_type,
        case
            when catalogue.type = 'boolean'
                then
                    case
                        when lower(trim(all_values.property_value)) in ('true', 'yes', '1') then 'true'
                        else 'false'
                    end
            else trim(all_values.property_value)
        end as value_text,
        case
            when catalogue.type = 'number' then {{ try_cast_to('trim(all_values.property_value)', type_double()) }}
        end as value_number,
        case
            -- a date or a timestamp: its day
            when catalogue.type = 'date'
                then {{ try_cast_to(day_text, 'date') }}
        end as value_date
    from all_values
    inner join catalogue
        on
            all_values.entity = catalogue.entity
            and all_values.property = catalogue.property
            and all_values.kind = catalogue.kind
    where nullif(trim(all_values.property_value), '') is not null
)

select * from final
