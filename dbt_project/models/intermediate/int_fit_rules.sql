-- The fit rules every segment in use scores with (seed fit_points: the segment's own rows, the
-- default rows for conditions it leaves alone), with the attribute's type and the ends of a
-- between parsed. A bad rule row stops the build here, with a message naming it.
{{ raise_rule_errors('select problem from (' ~ fit_rule_checks() ~ ') as checks where problem is not null') }}

with checked as (
    {{ fit_rule_checks() }}
),

contact_segments as (
    select distinct segment from {{ ref('int_contacts_enriched') }}
    union
    select 'default' as segment
),

typed as (
    select
        segment,
        attribute,
        operator,
        coalesce(value, '') as value,
        contact_points,
        account_points,
        description,
        attribute_type,
        applies_to_accounts,
        -- what explanations show for the rule: the value for '=', else the whole condition
        case
            when operator = '=' then value
            when operator in ('is_known', 'is_unknown') then operator
            else operator || ' ' || value
        end as rule_label,
        {{ between_ends('value', 'attribute_type') }}
    from checked
),

segment_rules as (
    {{ rules_per_segment('typed', 'contact_segments', ['attribute', 'operator', 'value']) }}
),

final as (
    select
        rule_set,
        segment,
        attribute,
        operator,
        value,
        contact_points,
        account_points,
        description,
        attribute_type,
        applies_to_accounts,
        rule_label,
        low_number,
        high_number,
        low_date,
        high_date
    from segment_rules
)

select * from final
