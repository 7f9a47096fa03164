-- Fit (explicit) score per contact and per account: who they are. Each *_points column is the sum
-- of the fit_points rows that fired for that attribute (other_points: every other attribute, such
-- as lead_source, country and catalogued properties); fit_score is their sum limited to 0-100.
{%- set builtin_attributes = ['industry', 'size_band', 'region', 'icp', 'seniority', 'department', 'email_domain'] %}

with hits as (
    select * from {{ ref('int_fit_rule_hits') }}
),

entities as (
    select
        'account' as entity_type,
        account_id as entity_id,
        account_id
    from {{ ref('int_accounts_enriched') }}
    union all
    select
        'contact' as entity_type,
        contact_id as entity_id,
        account_id
    from {{ ref('int_contacts_enriched') }}
),

points_per_entity as (
    select
        entity_type,
        entity_id,
        {% for attribute in builtin_attributes -%}
            sum(case when attribute = '{{ attribute }}' then points else 0 end) as {{ attribute }}_points,
        {% endfor -%}
        sum(
            case
                when attribute not in {{ sql_list(builtin_attributes) }} then points
                else 0
            end
        ) as other_points,
        sum(points) as fit_points
    from hits
    group by entity_type, entity_id
),

final as (
    select
        entities.entity_type,
        entities.entity_id,
        entities.account_id,
        {{ score_date() }} as score_date,
        {% for attribute in builtin_attributes -%}
            cast(coalesce(points_per_entity.{{ attribute }}_points, 0) as {{ type_double() }})
                as {{ attribute }}_points,
        {% endfor -%}
        cast(coalesce(points_per_entity.other_points, 0) as {{ type_double() }}) as other_points,
        cast(coalesce(points_per_entity.fit_points, 0) as {{ type_double() }}) as fit_points,
        cast(
            round({{ clamp('coalesce(points_per_entity.fit_points, 0)') }}, 1) as {{ type_double() }}
        ) as fit_score
    from entities
    left join points_per_entity
        on
            entities.entity_type = points_per_entity.entity_type
            and entities.entity_id = points_per_entity.entity_id
)

select * from final
