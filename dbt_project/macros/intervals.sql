{#- The Wilson score interval of a rate (positives out of entities) at var('confidence_z') standard
    errors: lower (bound = 'low') or upper (bound = 'high') end. Unlike p +- z se it stays within
    0..1 and is honest for small bands and rates near 0 or 1. -#}
{% macro wilson_bound(positives, entities, bound) -%}
    {%- set z = var('confidence_z') -%}
    {%- set p = '(cast(' ~ positives ~ ' as ' ~ type_double() ~ ') / nullif(' ~ entities ~ ', 0))' -%}
    (
        ({{ p }} + {{ z }} * {{ z }} / (2.0 * {{ entities }}))
        {{ '-' if bound == 'low' else '+' }} {{ z }} * sqrt(
            {{ p }} * (1 - {{ p }}) / {{ entities }} + {{ z }} * {{ z }} / (4.0 * {{ entities }} * {{ entities }})
        )
    ) / (1 + {{ z }} * {{ z }} / {{ entities }})
{%- endmacro %}

{#- A deal probability band's label, e.g. '30-40 %' for band 3 of width 0.1
    (var deal_probability_band_width). -#}
{% macro probability_band_label(band) -%}
    {%- set width = var('deal_probability_band_width') -%}
    cast(cast(round(100 * {{ band }} * {{ width }}) as integer) as {{ dbt.type_string() }})
    || '-' || cast(cast(round(100 * ({{ band }} + 1) * {{ width }}) as integer) as {{ dbt.type_string() }})
    || ' %'
{%- endmacro %}
