-- A deal's expected value (amount x win probability) is never more than its amount, nor negative.
select
    deal_id,
    amount,
    win_probability,
    expected_value
from {{ ref('deal_scores') }}
where expected_value > amount or expected_value < 0
