{#- Incremental models over landed files. Rerunning an interval replaces its files in raw whole
    (extract deletes a file day's rows and loads the file as delivered now), so a corrected
    re-delivery can drop or change rows an earlier build already read. Each such model keeps the
    _source_file and _loaded_at of its rows and, on every build:
      1. rebuilds the keys (or days) of the rows loaded since its last build
         (loaded_since_last_build) and of the rows it holds from files loaded again since
         (files_loaded_since_last_build), from every delivered version of them;
      2. deletes, in a post-hook, its rows of files loaded again that step 1 did not replace:
         what the corrected file no longer holds (delete_rows_of_reloaded_files).
    Then a rerun equals a clean run, and a build rewrites only what the files loaded since the
    last one touch. raw.load_log (source extract.load_log) names every loaded file with its load
    time; a model using these macros declares it with a `-- depends_on:` comment (its incremental
    branch is not rendered when dbt parses the model). -#}

{#- Rows whose `column` is newer than the newest _loaded_at `relation` holds (every row while it
    is empty): what landed since its last build. -#}
{% macro loaded_since_last_build(relation=this, column='_loaded_at') -%}
    (
        {{ column }} > (select max(built._loaded_at) from {{ relation }} as built)
        or not exists (select 1 from {{ relation }} as built)
    )
{%- endmacro %}

{#- The files loaded since `relation` was last built. The rows it holds from them are older than
    the files: a rerun replaced those files in raw, and the rows may be changed or gone. -#}
{% macro files_loaded_since_last_build(relation=this) -%}
    select load_log.source_file
    from {{ source('extract', 'load_log') }} as load_log
    where load_log.loaded_at > (select max(built._loaded_at) from {{ relation }} as built)
{%- endmacro %}

{#- Step 1's keys: `key` of the rows of `delivered` (a source or ref, read again rather than
    through a CTE: a CTE read twice is materialized whole) loaded since the last build, and of the
    rows `relation` holds from files loaded since. Use it inside `{% if is_incremental() %}`. -#}
{% macro keys_to_rebuild(delivered, key, relation=this) -%}
    select delivered.{{ key }}
    from {{ delivered }} as delivered
    where {{ loaded_since_last_build(relation, column='delivered._loaded_at') }}
    union all
    select built.{{ key }}
    from {{ relation }} as built
    where built._source_file in ({{ files_loaded_since_last_build(relation) }})
{%- endmacro %}

{#- Post-hook: delete the rows of files loaded again after them that the build did not replace. -#}
{% macro delete_rows_of_reloaded_files(relation=this) -%}
    {{ return(adapter.dispatch('delete_rows_of_reloaded_files', 'leadscore')(relation)) }}
{%- endmacro %}

{% macro default__delete_rows_of_reloaded_files(relation) -%}
    delete from {{ relation }}
    where exists (
        select 1 from {{ source('extract', 'load_log') }} as load_log
        where
            load_log.source_file = {{ relation.identifier }}._source_file
            and load_log.loaded_at > {{ relation.identifier }}._loaded_at
    )
{%- endmacro %}

{#- DuckDB plans the join form several times faster than the correlated subquery. -#}
{% macro duckdb__delete_rows_of_reloaded_files(relation) -%}
    delete from {{ relation }}
    using {{ source('extract', 'load_log') }} as load_log
    where
        load_log.source_file = {{ relation.identifier }}._source_file
        and load_log.loaded_at > {{ relation.identifier }}._loaded_at
{%- endmacro %}

{#- Pre-hook of the tables kept per score date: a run replaces its date whole, also when it now
    has no rows (a rerun without the signals a wrong delivery raised keeps none of them). -#}
{% macro delete_score_date_rows(relation=this) -%}
    {%- if is_incremental() -%}
        delete from {{ relation }} where score_date = {{ score_date() }}
    {%- endif -%}
{%- endmacro %}

{#- meta.kept_dates: which score date each build of a kept table wrote, and when. Publish copies
    only the dates whose record changed since the last publish (leadscore.publish), so its cost
    follows the day, not the history. The table is created when a dbt command starts
    (on-run-start); the kept tables' post-hooks replace their date's row in the model's own
    transaction, so a build that is killed records nothing and keeps nothing. -#}
{% macro kept_dates_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='meta', identifier='kept_dates')) }}
{%- endmacro %}

{% macro create_kept_dates_schema() -%}
    create schema if not exists {{ kept_dates_relation().without_identifier() }}
{%- endmacro %}

{% macro create_kept_dates_log() -%}
    create table if not exists {{ kept_dates_relation() }} (
        table_name {{ dbt.type_string() }},
        score_date date,
        changed_at {{ dbt.type_timestamp() }}
    )
{%- endmacro %}

{% macro forget_kept_date(relation=this) -%}
    delete from {{ kept_dates_relation() }}
    where table_name = '{{ relation.identifier }}' and score_date = {{ score_date() }}
{%- endmacro %}

{% macro record_kept_date(relation=this) -%}
    insert into {{ kept_dates_relation() }}
    values ('{{ relation.identifier }}', {{ score_date() }}, {{ dbt.current_timestamp() }})
{%- endmacro %}
