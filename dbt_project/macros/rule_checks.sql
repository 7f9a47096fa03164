{#- The rows of the points tables with what is wrong with each (column problem: the whole
    message, null when the row is fine). The scoring models read the rules through these queries
    and stop the build when any row has a problem (raise_rule_errors). -#}

{#- seeds/fit_points.csv, each row with its attribute's type (derived attributes are text). -#}
{% macro fit_rule_checks() -%}
    {%- set contact_attributes = var('fit_contact_attributes') -%}
    {%- set company_attributes = var('fit_company_attributes') -%}
    {%- set derived = (contact_attributes + company_attributes) | unique | list -%}
    select
        fit_points.segment,
        fit_points.attribute,
        coalesce(nullif(trim(fit_points.operator), ''), '=') as operator,
        fit_points.value,
        fit_points.contact_points,
        fit_points.account_points,
        fit_points.description,
        attribute_types.attribute_type,
        attribute_types.applies_to_accounts,
        'seeds/fit_points.csv: row segment=' || fit_points.segment
        || ', attribute=' || coalesce(fit_points.attribute, '')
        || ', operator=' || coalesce(fit_points.operator, '')
        || ', value=' || coalesce(fit_points.value, '') || ': '
        || case
            when attribute_types.attribute is null
                then 'unknown attribute ''' || coalesce(fit_points.attribute, '')
                || '''; use a derived one ({{ derived | join(", ") }}) or contact.<property> / '
                || 'company.<property> declared in seeds/property_catalogue.csv'
            when not attribute_types.applies_to_accounts and coalesce(fit_points.account_points, 0) != 0
                then 'account_points must be empty or 0: accounts have no ' || fit_points.attribute
            else {{ condition_problem(
                "coalesce(nullif(trim(fit_points.operator), ''), '=')", 'fit_points.value',
                'attribute_types.attribute_type', 'attribute_types.allowed_values',
                "'attribute ' || fit_points.attribute"
            ) }}
        end as problem
    from {{ ref('fit_points') }} as fit_points
    left join (
    {%- for attribute in derived %}
            select
                '{{ attribute }}' as attribute,
                'text' as attribute_type,
                cast(null as {{ dbt.type_string() }}) as allowed_values,
                {{ 'true' if attribute in company_attributes else 'false' }} as applies_to_accounts
            union all
    {%- endfor %}
        select
            entity || '.' || property as attribute,
            type as attribute_type,
            allowed_values,
            entity = 'company' as applies_to_accounts
        from {{ ref('property_catalogue') }}
        where entity in ('contact', 'company')
    ) as attribute_types
        on fit_points.attribute = attribute_types.attribute
{%- endmacro %}

{#- seeds/engagement_points.csv, each row with its filter attribute's type. -#}
{% macro engagement_rule_checks() -%}
    {%- set actions = var('engagement_actions') -%}
    {%- set filters = var('engagement_filter_attributes') -%}
    {%- set measures = var('engagement_measures') -%}
    {%- set event_entity = {'crm': 'activity', 'web': 'web_event', 'email': 'email_event'} -%}
    select
        rules.segment,
        coalesce(nullif(trim(rules.rule), ''), rules.action) as rule,
        rules.action,
        rules.source,
        rules.funnel_stage,
        rules.points,
        rules.max_points,
        rules.decay,
        rules.half_life_days,
        rules.window_days,
        nullif(trim(rules.filter_attribute), '') as filter_attribute,
        case
            when nullif(trim(rules.filter_attribute), '') is not null
                then coalesce(nullif(trim(rules.filter_operator), ''), '=')
        end as filter_operator,
        rules.filter_value,
        rules.min_count,
        rules.count_window_days,
        nullif(trim(rules.measure), '') as measure,
        rules.measure_unit,
        rules.description,
        filter_types.attribute_type as filter_type,
        'seeds/engagement_points.csv: row segment=' || rules.segment
        || ', rule=' || coalesce(nullif(trim(rules.rule), ''), rules.action, '') || ': '
        || case
            when rules.source is null or rules.source not in {{ sql_list(actions.keys() | list) }}
                then 'unknown source ''' || coalesce(rules.source, '')
                || '''; use one of {{ actions.keys() | list | join(", ") }}'
    {%- for source, names in actions.items() %}
                when rules.source = '{{ source }}' and (rules.action is null or rules.action not in {{ sql_list(names) }})
                    then 'unknown action ''' || coalesce(rules.action, '') || ''' for source {{ source }}; '
                    || 'use one of {{ names | join(", ") }}'
    {%- endfor %}
            when nullif(trim(rules.filter_attribute), '') is null and nullif(trim(rules.filter_value), '') is not null
                then 'filter_value ''' || rules.filter_value || ''' needs a filter_attribute'
            when nullif(trim(rules.filter_attribute), '') is not null and filter_types.attribute is null
                then 'unknown filter_attribute ''' || rules.filter_attribute || ''' for source '
                || rules.source || '; use one of {{ filters | join(", ") }} or property.<name> '
                || 'declared in seeds/property_catalogue.csv for that source''s events'
            when rules.min_count is not null and rules.min_count < 1
                then 'min_count must be at least 1, not ' || cast(rules.min_count as {{ dbt.type_string() }})
            when rules.count_window_days is not null and rules.min_count is null
                then 'count_window_days needs min_count (a count condition)'
            when rules.count_window_days is not null and rules.count_window_days < 1
                then 'count_window_days must be at least 1'
            when nullif(trim(rules.measure), '') is not null and rules.min_count is not null
                then 'a rule gives points per unit of a measure or once for a count, not both'
            when nullif(trim(rules.measure), '') is not null
                and trim(rules.measure) not in {{ sql_list(measures) }}
                then 'unknown measure ''' || rules.measure || '''; use one of {{ measures | join(", ") }}'
            when nullif(trim(rules.measure), '') is not null and rules.source = 'email'
                then 'email events carry no measure'
            when nullif(trim(rules.measure), '') is not null and coalesce(rules.measure_unit, 1) <= 0
                then 'measure_unit must be above 0'
            when nullif(trim(rules.measure), '') is null and rules.measure_unit is not null
                then 'measure_unit needs a measure'
            when nullif(trim(rules.filter_attribute), '') is not null
                then {{ condition_problem(
                    "coalesce(nullif(trim(rules.filter_operator), ''), '=')", 'rules.filter_value',
                    'filter_types.attribute_type', 'filter_types.allowed_values',
                    "'filter ' || rules.filter_attribute"
                ) }}
        end as problem
    from {{ ref('engagement_points') }} as rules
    left join (
    {%- for attribute in filters %}
            select
                '{{ attribute }}' as attribute,
                cast(null as {{ dbt.type_string() }}) as source,
                'text' as attribute_type,
                cast(null as {{ dbt.type_string() }}) as allowed_values
            union all
    {%- endfor %}
        select
            'property.' || property as attribute,
            case entity
    {%- for source, entity in event_entity.items() %}
                    when '{{ entity }}' then '{{ source }}'
    {%- endfor %}
            end as source,
            type as attribute_type,
            allowed_values
        from {{ ref('property_catalogue') }}
        where entity in {{ sql_list(event_entity.values() | list) }}
    ) as filter_types
        on
            trim(rules.filter_attribute) = filter_types.attribute
            and (filter_types.source is null or filter_types.source = rules.source)
{%- endmacro %}
