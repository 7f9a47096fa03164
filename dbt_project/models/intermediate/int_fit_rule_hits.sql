-- Every fit rule that fires, one row per entity and rule: the ledger the fit scores add up.
-- Accounts get account_points for their company attributes; contacts get contact_points for their
-- company's attributes plus their own (seniority, department, email domain). Rules worth 0 points
-- are kept: explanations show them, and calibration can learn that such a value deserves points.
with accounts as (
    select * from {{ ref('int_accounts_enriched') }}
),

contacts as (
    select * from {{ ref('int_contacts_enriched') }}
),

fit_points as (
    select * from {{ ref('fit_points') }}
),

contact_segments as (
    select distinct segment from contacts
),

contact_rules as (
    -- each contact segment's rules: its own rows, default rows for the values it leaves alone
    {{ rules_per_segment('fit_points', 'contact_segments', ['attribute', 'value']) }}
),

account_rules as (
    select * from fit_points
    where segment = 'default'
),

account_attributes as (
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
    union all
    select
        account_id,
        'icp' as attribute,
        'match' as attribute_value
    from accounts
    where is_icp
    union all
    select
        account_id,
        'email_domain' as attribute,
        'competitor' as attribute_value
    from accounts
    where is_competitor
),

contact_attributes as (
    select
        contacts.contact_id,
        contacts.account_id,
        contacts.segment,
        account_attributes.attribute,
        account_attributes.attribute_value
    from contacts
    inner join account_attributes
        on contacts.account_id = account_attributes.account_id
    where account_attributes.attribute != 'email_domain'
    union all
    select
        contact_id,
        account_id,
        segment,
        'seniority' as attribute,
        seniority as attribute_value
    from contacts
    union all
    select
        contact_id,
        account_id,
        segment,
        'department' as attribute,
        department as attribute_value
    from contacts
    union all
    select
        contact_id,
        account_id,
        segment,
        'email_domain' as attribute,
        email_domain_type as attribute_value
    from contacts
),

final as (
    select
        'account' as entity_type,
        account_attributes.account_id as entity_id,
        account_attributes.account_id,
        account_attributes.attribute,
        account_attributes.attribute_value,
        account_rules.account_points as points
    from account_attributes
    inner join account_rules
        on
            account_attributes.attribute = account_rules.attribute
            and account_attributes.attribute_value = account_rules.value
    union all
    select
        'contact' as entity_type,
        contact_attributes.contact_id as entity_id,
        contact_attributes.account_id,
        contact_attributes.attribute,
        contact_attributes.attribute_value,
        contact_rules.contact_points as points
    from contact_attributes
    inner join contact_rules
        on
            contact_attributes.segment = contact_rules.rule_set
            and contact_attributes.attribute = contact_rules.attribute
            and contact_attributes.attribute_value = contact_rules.value
)

select * from final
