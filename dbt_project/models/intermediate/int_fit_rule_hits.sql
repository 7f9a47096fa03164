-- Every fit rule that fires, one row per entity and rule: the ledger the fit scores add up.
-- Accounts get account_points for their company's attributes; contacts get contact_points for
-- their company's attributes plus their own (seniority, department, email domain, lead source,
-- contact properties). Rules worth 0 points are kept: explanations show them, and calibration
-- can learn that such a value deserves points. A rule fires once per entity, whatever the
-- operator (docs/rules.md): is_unknown fires when the entity has no known value.
with accounts as (
    select * from {{ ref('int_accounts_enriched') }}
),

contacts as (
    select * from {{ ref('int_contacts_enriched') }}
),

properties as (
    select * from {{ ref('int_entity_properties') }}
),

rules as (
    select * from {{ ref('int_fit_rules') }}
),

used_attributes as (
    select distinct attribute from rules
),

account_values as (
    -- every attribute value of a company, typed (derived attributes are text)
    {%- for attribute in ['industry', 'size_band', 'region', 'country'] %}
        select
            account_id,
            '{{ attribute }}' as attribute,
            {{ attribute }} as value_text,
            cast(null as {{ type_double() }}) as value_number,
            cast(null as date) as value_date
        from accounts
        union all
    {%- endfor %}
    select
        account_id,
        'icp' as attribute,
        'match' as value_text,
        cast(null as {{ type_double() }}) as value_number,
        cast(null as date) as value_date
    from accounts
    where is_icp
    union all
    select
        account_id,
        'email_domain' as attribute,
        'competitor' as value_text,
        cast(null as {{ type_double() }}) as value_number,
        cast(null as date) as value_date
    from accounts
    where is_competitor
    union all
    select
        entity_id as account_id,
        'company.' || property as attribute,
        value_text,
        value_number,
        value_date
    from properties
    where entity = 'company'
),

contact_values as (
    -- the company's attributes (its email domain aside: a contact's own address counts) ...
    select
        contacts.contact_id,
        account_values.attribute,
        account_values.value_text,
        account_values.value_number,
        account_values.value_date
    from contacts
    inner join account_values
        on contacts.account_id = account_values.account_id
    where account_values.attribute != 'email_domain'
    union all
    -- ... and the contact's own
    {%- for attribute, column in [
        ('seniority', 'seniority'), ('department', 'department'),
        ('email_domain', 'email_domain_type'), ('lead_source', 'lead_source'),
    ] %}
        select
            contact_id,
            '{{ attribute }}' as attribute,
            {{ column }} as value_text,
            cast(null as {{ type_double() }}) as value_number,
            cast(null as date) as value_date
        from contacts
        union all
    {%- endfor %}
    select
        entity_id as contact_id,
        'contact.' || property as attribute,
        value_text,
        value_number,
        value_date
    from properties
    where entity = 'contact'
),

entity_values as (
    select
        'account' as entity_type,
        account_values.account_id as entity_id,
        account_values.account_id,
        'default' as segment,
        account_values.attribute,
        account_values.value_text,
        account_values.value_number,
        account_values.value_date
    from account_values
    where
        account_values.value_text is not null
        and account_values.attribute in (select used_attributes.attribute from used_attributes)
    union all
    select
        'contact' as entity_type,
        contacts.contact_id as entity_id,
        contacts.account_id,
        contacts.segment,
        contact_values.attribute,
        contact_values.value_text,
        contact_values.value_number,
        contact_values.value_date
    from contact_values
    inner join contacts
        on contact_values.contact_id = contacts.contact_id
    where
        contact_values.value_text is not null
        and contact_values.attribute in (select used_attributes.attribute from used_attributes)
),

entities as (
    select
        'account' as entity_type,
        account_id as entity_id,
        account_id,
        'default' as segment
    from accounts
    union all
    select
        'contact' as entity_type,
        contact_id as entity_id,
        account_id,
        segment
    from contacts
),

value_hits as (
    select
        entity_values.entity_type,
        entity_values.entity_id,
        entity_values.account_id,
        rules.attribute,
        -- the rule's value for =, its condition otherwise: one row per rule that fired
        rules.rule_label as attribute_value,
        case when entity_values.entity_type = 'account' then rules.account_points else rules.contact_points end
            as points
    from entity_values
    inner join rules
        on
            entity_values.segment = rules.rule_set
            and entity_values.attribute = rules.attribute
            and (entity_values.entity_type = 'contact' or rules.applies_to_accounts)
            and {{ rule_matches(
                'rules', 'entity_values.value_text', 'entity_values.value_number', 'entity_values.value_date'
            ) }}
),

unknown_hits as (
    select
        entities.entity_type,
        entities.entity_id,
        entities.account_id,
        rules.attribute,
        rules.rule_label as attribute_value,
        case when entities.entity_type = 'account' then rules.account_points else rules.contact_points end
            as points
    from entities
    inner join rules
        on
            entities.segment = rules.rule_set
            and rules.operator = 'is_unknown'
            and (entities.entity_type = 'contact' or rules.applies_to_accounts)
    where not exists (
        select 1
        from entity_values
        where
            entity_values.entity_type = entities.entity_type
            and entity_values.entity_id = entities.entity_id
            and entity_values.attribute = rules.attribute
            and not {{ value_is_unknown('entity_values.value_text') }}
    )
),

final as (
    select * from value_hits
    where points is not null
    union all
    select * from unknown_hits
    where points is not null
)

select * from final
