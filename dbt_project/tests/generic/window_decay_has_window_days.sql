{#- Rules with decay = window need window_days. Returns the rules that lack it. -#}
{% test window_decay_has_window_days(model) %}
select *
from {{ model }}
where decay = 'window' and window_days is null
{% endtest %}
