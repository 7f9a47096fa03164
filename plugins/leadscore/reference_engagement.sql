-- sqlfluff:dialect:duckdb
-- sqlfluff:templater:placeholder:param_style:dollar
-- sqlfluff:templater:placeholder:score_date:date '2026-01-31'
-- sqlfluff:templater:placeholder:half_life_days:90
-- sqlfluff:templater:placeholder:lookback_days:365
-- sqlfluff:templater:placeholder:ignored_mailings_threshold:5
-- sqlfluff:templater:placeholder:deleted_path:'$."hs_archived"'
-- sqlfluff:max_line_length:100
-- The engagement score of every contact on $score_date, in one query straight from the landed
-- events (leadscore/reference.py runs it; docs/performance.md, "The engagement reference").
-- Parameters: $score_date, and the dbt vars $half_life_days (engagement_half_life_days),
-- $lookback_days (engagement_lookback_days), $ignored_mailings_threshold and $deleted_path (the
-- JSON path of var deleted_property). The rules are the warehouse's seed tables (scoring_rules).
-- The arithmetic is docs/rules.md's; what staging does is mirrored: newest version of each
-- record, contacts, companies, campaigns and activities as delivered by the score date, events
-- at any delivery, deleted contacts left out.
with

-- contacts ---------------------------------------------------------------------------------------
contact_versions as (
    select
        contact_id,
        company_id as account_id,
        lower(trim(email)) as email,
        string_split(lower(trim(email)), '@')[2] as email_domain,
        trim(job_title) as job_title,
        trim(department) as department,
        lower(trim(lead_source)) as lead_source,
        cast(replace(replace(created_at, 'T', ' '), 'Z', '') as timestamp) as created_at,
        cast(replace(replace(updated_at, 'T', ' '), 'Z', '') as timestamp) as updated_at,
        _properties,
        _source_file,
        _row_number
    from raw.crm__contacts
    where _file_day <= $score_date
),

newest_contacts as (
    select *
    from contact_versions
    qualify
        row_number() over (
            partition by contact_id
            order by updated_at desc, _source_file desc, _row_number desc
        ) = 1
),

-- not deleted in the CRM (stg_crm__contacts): their addresses match email events
known_contacts as (
    select *
    from newest_contacts
    where coalesce(lower(json_extract_string(_properties, $deleted_path)), 'false') != 'true'
),

-- created by the score date: the contacts scored (int_contacts_enriched)
scored_contacts as (
    select *
    from known_contacts
    where cast(created_at as date) <= $score_date
),

-- an address belongs to the contact that has it now, whenever the email event happened
contacts_by_email as (
    select
        email,
        min(contact_id) as contact_id
    from known_contacts
    group by email
),

-- segments (seeds segment_rules and the lookups it can match on, as int_contacts_enriched):
-- derived only when segment_rules has rows, else everyone is in `default`; seniority and
-- department are matched per distinct title, not per contact --------------------------------------
segmentation as (
    select count(*) > 0 as needed from scoring_rules.segment_rules
),

company_versions as (
    select
        company_id,
        trim(industry) as industry,
        upper(trim(country)) as country,
        cast(replace(replace(created_at, 'T', ' '), 'Z', '') as timestamp) as created_at,
        cast(replace(replace(updated_at, 'T', ' '), 'Z', '') as timestamp) as updated_at,
        _properties,
        _source_file,
        _row_number
    from raw.crm__companies
    where _file_day <= $score_date and (select segmentation.needed from segmentation)
),

companies as (
    select
        newest.company_id,
        newest.industry,
        country_regions.region
    from (
        select *
        from company_versions
        qualify
            row_number() over (
                partition by company_id
                order by updated_at desc, _source_file desc, _row_number desc
            ) = 1
    ) as newest
    left join scoring_rules.country_regions as country_regions
        on newest.country = country_regions.country
    where
        coalesce(lower(json_extract_string(newest._properties, $deleted_path)), 'false') != 'true'
        and cast(newest.created_at as date) <= $score_date
),

segmented_contacts as (
    select * from scored_contacts
    where (select segmentation.needed from segmentation)
),

title_seniorities as (
    select
        titles.title,
        arg_min(seniority_rules.seniority, seniority_rules.priority) as seniority
    from (select distinct lower(job_title) as title from segmented_contacts) as titles
    inner join scoring_rules.title_seniority_rules as seniority_rules
        on regexp_matches(titles.title, seniority_rules.pattern)
    group by titles.title
),

title_departments as (
    select
        titles.title,
        arg_min(department_rules.department, department_rules.priority) as department
    from (
        select distinct lower(coalesce(department, job_title)) as title from segmented_contacts
    ) as titles
    inner join scoring_rules.department_rules as department_rules
        on regexp_matches(titles.title, department_rules.pattern)
    group by titles.title
),

contact_attributes as (
    select
        segmented_contacts.contact_id,
        segmented_contacts.lead_source,
        coalesce(title_seniorities.seniority, 'unknown') as seniority,
        coalesce(title_departments.department, 'unknown') as department,
        case
            when competitor_domains.domain is not null then 'competitor'
            when free_mail_domains.domain is not null then 'free_mail'
            else 'business'
        end as email_domain_type,
        companies.region,
        companies.industry
    from segmented_contacts
    left join title_seniorities
        on lower(segmented_contacts.job_title) = title_seniorities.title
    left join title_departments
        on
            lower(coalesce(segmented_contacts.department, segmented_contacts.job_title))
            = title_departments.title
    left join scoring_rules.free_mail_domains as free_mail_domains
        on segmented_contacts.email_domain = free_mail_domains.domain
    left join scoring_rules.competitor_domains as competitor_domains
        on segmented_contacts.email_domain = competitor_domains.domain
    left join companies
        on segmented_contacts.account_id = companies.company_id
),

contact_segments as (
    select
        scored_contacts.contact_id,
        'default' as segment
    from scored_contacts
    where not (select segmentation.needed from segmentation)
    union all
    select
        contact_attributes.contact_id,
        coalesce(arg_min(segment_rules.segment, segment_rules.priority), 'default') as segment
    from contact_attributes
    left join scoring_rules.segment_rules as segment_rules
        on segment_rules.match_value = case segment_rules.match_column
            when 'lead_source' then contact_attributes.lead_source
            when 'department' then contact_attributes.department
            when 'seniority' then contact_attributes.seniority
            when 'email_domain_type' then contact_attributes.email_domain_type
            when 'region' then contact_attributes.region
            when 'industry' then contact_attributes.industry
        end
    group by contact_attributes.contact_id
),

-- the rules (seeds engagement_points, funnel_stage_weights, property_catalogue; defaults from
-- the vars), per segment in use: its own rows, and the default rows it does not override ---------
points_rows as (
    select
        segment,
        coalesce(nullif(trim(rule), ''), action) as rule,
        action,
        source,
        funnel_stage,
        points,
        max_points,
        decay,
        coalesce(half_life_days, $half_life_days) as half_life_days,
        window_days,
        nullif(trim(filter_attribute), '') as filter_attribute,
        case
            when nullif(trim(filter_attribute), '') is not null
                then coalesce(nullif(trim(filter_operator), ''), '=')
        end as filter_operator,
        filter_value,
        min_count,
        coalesce(count_window_days, $lookback_days) as count_window_days,
        nullif(trim(measure), '') as measure,
        coalesce(measure_unit, 1) as measure_unit
    from scoring_rules.engagement_points
),

typed_rules as (
    select
        points_rows.*,
        -- property.<name>: its catalogue type for the source's events; other attributes are text
        case
            when points_rows.filter_attribute like 'property.%' then catalogue.type
            when points_rows.filter_attribute is not null then 'text'
        end as filter_type,
        -- one key per distinct filter, as int_engagement_rules
        case
            when points_rows.filter_attribute is not null
                then
                    points_rows.filter_attribute || ' ' || points_rows.filter_operator || ' '
                    || coalesce(points_rows.filter_value, '')
        end as filter_key
    from points_rows
    left join scoring_rules.property_catalogue as catalogue
        on
            points_rows.filter_attribute = 'property.' || catalogue.property
            and catalogue.entity = case points_rows.source
                when 'email' then 'email_event'
                when 'web' then 'web_event'
                when 'crm' then 'activity'
            end
),

segments_in_use as (
    select distinct contact_segments.segment from contact_segments
    union
    select 'default' as segment
),

rule_sets as (
    select
        segments_in_use.segment as rule_set,
        own.*
    from segments_in_use
    inner join typed_rules as own
        on segments_in_use.segment = own.segment
    union all
    select
        segments_in_use.segment as rule_set,
        default_rules.*
    from segments_in_use
    inner join typed_rules as default_rules
        on default_rules.segment = 'default'
    where not exists (
        select 1
        from typed_rules as own
        where own.segment = segments_in_use.segment and own.rule = default_rules.rule
    )
),

rules as (
    select
        rule_sets.*,
        weights.weight as stage_weight,
        -- the ends of a `between` value (low..high, either may be empty)
        case when rule_sets.filter_type = 'number' then try_cast(
            nullif(trim(string_split(rule_sets.filter_value, '..')[1]), '') as double
        ) end as low_number,
        case when rule_sets.filter_type = 'number' then try_cast(
            nullif(trim(string_split(rule_sets.filter_value, '..')[2]), '') as double
        ) end as high_number,
        case when rule_sets.filter_type = 'date' then try_cast(
            nullif(trim(string_split(rule_sets.filter_value, '..')[1]), '') as date
        ) end as low_date,
        case when rule_sets.filter_type = 'date' then try_cast(
            nullif(trim(string_split(rule_sets.filter_value, '..')[2]), '') as date
        ) end as high_date
    from rule_sets
    inner join scoring_rules.funnel_stage_weights as weights
        on rule_sets.funnel_stage = weights.funnel_stage
),

-- the events, each at its newest version ----------------------------------------------------------
campaign_versions as (
    select
        campaign_id,
        lower(trim(topic)) as topic,
        lower(trim(product_line)) as product_line,
        cast(replace(replace(sent_at, 'T', ' '), 'Z', '') as timestamp) as sent_at,
        _source_file,
        _row_number
    from raw.email__campaigns
    where _file_day <= $score_date
),

campaigns as (
    select *
    from campaign_versions
    qualify
        row_number() over (
            partition by campaign_id
            order by sent_at desc, _source_file desc, _row_number desc
        ) = 1
),

email_versions as (
    select
        event_id,
        campaign_id,
        lower(trim(event_type)) as action,
        lower(trim(email)) as email,
        url,
        cast(replace(replace(occurred_at, 'T', ' '), 'Z', '') as timestamp) as occurred_at,
        _source_file,
        _row_number
    from raw.email__events
),

email_events as (
    select *
    from email_versions
    qualify
        row_number() over (
            partition by event_id
            order by occurred_at desc, _source_file desc, _row_number desc
        ) = 1
),

web_versions as (
    select
        event_id,
        contact_id,
        lower(trim(event_type)) as action,
        page_url,
        lower(trim(content_topic)) as topic,
        lower(trim(product_line)) as product_line,
        cast(duration_seconds as double) as duration_seconds,
        _properties as properties,
        cast(replace(replace(occurred_at, 'T', ' '), 'Z', '') as timestamp) as occurred_at,
        _source_file,
        _row_number
    from raw.web__events
),

web_events as (
    select *
    from web_versions
    qualify
        row_number() over (
            partition by event_id
            order by occurred_at desc, _source_file desc, _row_number desc
        ) = 1
),

activity_versions as (
    select
        activity_id,
        contact_id,
        lower(trim(activity_type)) as action,
        lower(trim(direction)) as direction,
        lower(trim(outcome)) as outcome,
        cast(duration_seconds as double) as duration_seconds,
        _properties as properties,
        cast(replace(replace(occurred_at, 'T', ' '), 'Z', '') as timestamp) as occurred_at,
        cast(replace(replace(updated_at, 'T', ' '), 'Z', '') as timestamp) as updated_at,
        _source_file,
        _row_number
    from raw.crm__activities
    where _file_day <= $score_date
),

activities as (
    select *
    from activity_versions
    qualify
        row_number() over (
            partition by activity_id
            order by updated_at desc, _source_file desc, _row_number desc
        ) = 1
),

-- one shape; email events belong to the contact with that address now
events as (
    select
        contacts_by_email.contact_id,
        'email' as source,
        email_events.action,
        campaigns.topic,
        campaigns.product_line,
        email_events.campaign_id as campaign,
        email_events.url as page_url,
        null as direction,
        null as outcome,
        cast(null as double) as duration_seconds,
        null as properties,
        cast(email_events.occurred_at as date) as activity_date
    from email_events
    left join campaigns
        on email_events.campaign_id = campaigns.campaign_id
    left join contacts_by_email
        on email_events.email = contacts_by_email.email
    union all
    select
        contact_id,
        'web' as source,
        action,
        topic,
        product_line,
        null as campaign,
        page_url,
        null as direction,
        null as outcome,
        duration_seconds,
        properties,
        cast(occurred_at as date) as activity_date
    from web_events
    union all
    select
        contact_id,
        'crm' as source,
        action,
        null as topic,
        null as product_line,
        null as campaign,
        null as page_url,
        direction,
        outcome,
        duration_seconds,
        properties,
        cast(occurred_at as date) as activity_date
    from activities
),

-- of a contact (anonymous visits and unknown addresses drop out), within the lookback window
window_events as (
    select *
    from events
    where
        contact_id is not null
        and activity_date <= $score_date
        and activity_date > $score_date - cast($lookback_days as integer)
),

-- per contact, day and action (and topic / product line, the grain of int_engagement_daily):
-- what unfiltered rules count
daily as (
    select
        contact_id,
        activity_date,
        source,
        action,
        topic,
        product_line,
        cast(null as varchar) as filter_key,
        count(*) as event_count,
        sum(duration_seconds) as duration_seconds
    from window_events
    group by contact_id, activity_date, source, action, topic, product_line
),

-- per contact, day, action and filter: the events that pass a rule's filter -----------------------
filters as (
    select distinct
        source,
        action,
        filter_attribute,
        filter_operator,
        filter_value,
        filter_type,
        filter_key,
        low_number,
        high_number,
        low_date,
        high_date
    from rules
    where filter_key is not null
),

candidates as (
    select
        window_events.contact_id,
        window_events.activity_date,
        window_events.source,
        window_events.action,
        window_events.duration_seconds,
        filters.filter_key,
        filters.filter_operator,
        filters.filter_value,
        filters.filter_type,
        filters.low_number,
        filters.high_number,
        filters.low_date,
        filters.high_date,
        case filters.filter_attribute
            when 'page_url' then window_events.page_url
            when 'topic' then window_events.topic
            when 'product_line' then window_events.product_line
            when 'campaign' then window_events.campaign
            when 'direction' then window_events.direction
            when 'outcome' then window_events.outcome
            else json_extract_string(
                window_events.properties, '$."' || substr(filters.filter_attribute, 10) || '"'
            )
        end as attribute_value
    from window_events
    inner join filters
        on window_events.source = filters.source and window_events.action = filters.action
),

typed_candidates as (
    select
        *,
        case
            when filter_type = 'number' then try_cast(attribute_value as double)
        end as value_number,
        case
            when filter_type = 'date' then try_cast(substr(attribute_value, 1, 10) as date)
        end as value_date,
        (
            attribute_value is null
            or trim(attribute_value) = ''
            or lower(trim(attribute_value)) = 'unknown'
        ) as value_unknown
    from candidates
),

filtered_daily as (
    select
        contact_id,
        activity_date,
        source,
        action,
        null as topic,
        null as product_line,
        filter_key,
        count(*) as event_count,
        sum(duration_seconds) as duration_seconds
    from typed_candidates
    where
        case filter_operator
            when 'is_unknown' then value_unknown
            when 'is_known' then not value_unknown
            when '='
                then coalesce(
                    case
                        when value_number is not null
                            then value_number = try_cast(trim(filter_value) as double)
                        when value_date is not null
                            then value_date = try_cast(trim(filter_value) as date)
                        else lower(trim(attribute_value)) = lower(trim(filter_value))
                    end,
                    false
                )
            when 'in'
                then coalesce(
                    strpos(
                        '|' || lower(filter_value) || '|',
                        '|' || lower(trim(attribute_value)) || '|'
                    ) > 0,
                    false
                )
            when 'contains'
                then coalesce(strpos(lower(attribute_value), lower(filter_value)) > 0, false)
            when 'matches'
                then coalesce(
                    regexp_matches(lower(attribute_value), filter_value), false
                )
            when 'between'
                then coalesce(
                    (low_number is null or value_number >= low_number)
                    and (high_number is null or value_number <= high_number)
                    and (low_date is null or value_date >= low_date)
                    and (high_date is null or value_date <= high_date),
                    false
                )
            else false
        end
    group by contact_id, activity_date, source, action, filter_key
),

contact_daily as (
    select
        all_days.*,
        contact_segments.segment,
        date_diff('day', all_days.activity_date, $score_date) as age_days
    from (
        select * from daily
        union all
        select * from filtered_daily
    ) as all_days
    inner join contact_segments
        on all_days.contact_id = contact_segments.contact_id
),

-- each rule with the days of the events it counts -------------------------------------------------
rule_daily as (
    select
        contact_daily.contact_id,
        contact_daily.activity_date,
        contact_daily.event_count,
        contact_daily.age_days,
        rules.*,
        case
            when rules.measure is not null
                then coalesce(contact_daily.duration_seconds, 0) / rules.measure_unit
            else contact_daily.event_count
        end as units,
        case
            when rules.decay = 'half_life'
                then power(0.5, cast(contact_daily.age_days as double) / rules.half_life_days)
            when rules.decay = 'window'
                then case when contact_daily.age_days <= rules.window_days then 1 else 0 end
            else 1
        end as decay_factor
    from contact_daily
    inner join rules
        on
            contact_daily.action = rules.action
            and contact_daily.source = rules.source
            and contact_daily.segment = rules.rule_set
            and contact_daily.filter_key is not distinct from rules.filter_key
            and rules.action != 'ignored_mailings'
),

-- per event or per unit: points x weight x units, decayed by each day's age, summed per rule;
-- fixed-point per event day as in the dbt ledger, so both sums are exact and round alike
per_event_hits as (
    select
        contact_id,
        rule_set,
        rule,
        sum(event_count) as event_count,
        sum(points * stage_weight * units) as weighted_points,
        sum(cast(points * stage_weight * units * decay_factor as decimal(18, 6)))
            as decayed_points,
        max(activity_date) as last_activity_date
    from rule_daily
    where min_count is null
    group by contact_id, rule_set, rule
),

-- count rules: once, when min_count events happened within count_window_days, decayed by the
-- age of the newest of them
counted as (
    select
        contact_id,
        rule_set,
        rule,
        any_value(points * stage_weight) as weighted_points,
        any_value(decay) as decay,
        any_value(half_life_days) as half_life_days,
        any_value(window_days) as window_days,
        any_value(min_count) as min_count,
        sum(event_count) as event_count,
        min(age_days) as newest_age_days,
        max(activity_date) as last_activity_date
    from rule_daily
    where min_count is not null and age_days < count_window_days
    group by contact_id, rule_set, rule
),

count_hits as (
    select
        contact_id,
        rule_set,
        rule,
        event_count,
        weighted_points,
        cast(
            weighted_points * case
                when decay = 'half_life'
                    then power(0.5, cast(newest_age_days as double) / half_life_days)
                when decay = 'window'
                    then case when newest_age_days <= window_days then 1 else 0 end
                else 1
            end
            as decimal(18, 6)
        ) as decayed_points,
        last_activity_date
    from counted
    where event_count >= min_count
),

-- ignored_mailings: mailings delivered since the last open or click (or ever), over the threshold
last_engaged as (
    select
        contact_id,
        max(activity_date) as last_engaged_date
    from daily
    where source = 'email' and action in ('open', 'click')
    group by contact_id
),

ignored as (
    select
        contact_daily.contact_id,
        contact_daily.segment,
        sum(contact_daily.event_count) as ignored_mailings,
        max(contact_daily.activity_date) as last_activity_date
    from contact_daily
    left join last_engaged
        on contact_daily.contact_id = last_engaged.contact_id
    where
        contact_daily.source = 'email'
        and contact_daily.action = 'delivered'
        and contact_daily.filter_key is null
        and (
            last_engaged.last_engaged_date is null
            or contact_daily.activity_date > last_engaged.last_engaged_date
        )
    group by contact_daily.contact_id, contact_daily.segment
),

ignored_hits as (
    select
        ignored.contact_id,
        rules.rule_set,
        rules.rule,
        ignored.ignored_mailings as event_count,
        rules.points * rules.stage_weight as weighted_points,
        cast(rules.points * rules.stage_weight as decimal(18, 6)) as decayed_points,
        ignored.last_activity_date
    from ignored
    inner join rules
        on rules.action = 'ignored_mailings' and ignored.segment = rules.rule_set
    where ignored.ignored_mailings >= $ignored_mailings_threshold
),

-- each rule's total capped at max_points (absolute value); rules worth 0 points drop out
hits as (
    select
        all_hits.contact_id,
        rules.action,
        all_hits.event_count,
        all_hits.last_activity_date,
        cast(
            case
                when all_hits.decayed_points >= 0
                    then least(all_hits.decayed_points, rules.max_points)
                else greatest(all_hits.decayed_points, -1 * rules.max_points)
            end
            as decimal(18, 6)
        ) as points
    from (
        select * from per_event_hits
        union all
        select * from count_hits
        union all
        select * from ignored_hits
    ) as all_hits
    inner join rules
        on all_hits.rule = rules.rule and all_hits.rule_set = rules.rule_set
    where all_hits.weighted_points != 0
),

per_contact as (
    select
        contact_id,
        sum(case when points > 0 then points else 0 end) as positive_points,
        sum(case when points < 0 then points else 0 end) as negative_points,
        sum(points) as engagement_points,
        sum(case when action = 'ignored_mailings' then event_count else 0 end) as ignored_mailings,
        max(case when points > 0 then last_activity_date end) as last_engaged_date
    from hits
    group by contact_id
)

-- the score: the sum of the rules, limited to 0-100, one decimal (int_contact_engagement)
select
    scored_contacts.contact_id,
    cast($score_date as date) as score_date,
    cast(coalesce(per_contact.positive_points, 0) as double) as positive_points,
    cast(coalesce(per_contact.negative_points, 0) as double) as negative_points,
    cast(coalesce(per_contact.engagement_points, 0) as double) as engagement_points,
    cast(
        round(least(greatest(coalesce(per_contact.engagement_points, 0), 0), 100), 1) as double
    ) as engagement_score,
    cast(coalesce(per_contact.ignored_mailings, 0) as integer) as ignored_mailings,
    per_contact.last_engaged_date
from scored_contacts
left join per_contact
    on scored_contacts.contact_id = per_contact.contact_id
