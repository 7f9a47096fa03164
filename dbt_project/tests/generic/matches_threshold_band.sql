{#- Fails for rows whose label column disagrees with the band its score falls in, where the bands
    come from a seed with one row per label and its inclusive lower bound. -#}
{% test matches_threshold_band(model, column_name, score_column, bands, band_label_column, band_min_column) %}
with bands as (
    select
        {{ band_label_column }} as label,
        {{ band_min_column }} as lower_bound,
        lead({{ band_min_column }}) over (order by {{ band_min_column }}) as upper_bound
    from {{ bands }}
)

select scored.*
from {{ model }} as scored
left join bands
    on scored.{{ score_column }} >= bands.lower_bound
    and (bands.upper_bound is null or scored.{{ score_column }} < bands.upper_bound)
where bands.label is null or bands.label != scored.{{ column_name }}
{% endtest %}
