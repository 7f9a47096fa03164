import duckdb
import pytest

pytestmark = pytest.mark.slow


def test_dump(small_world):
    with duckdb.connect(str(small_world.serving / "scores.duckdb"), read_only=True) as con:
        for q in [
            "select table_schema, table_name from information_schema.tables order by all",
            "select score_date, count(*) from marts.lead_scores group by 1",
            "select lifecycle_stage, count(*) from marts.lead_scores group by 1",
            "select tier, is_customer, count(*) from marts.account_scores group by all",
            "select score_date, count(*), count(score_change_7d), count(score_change_30d) from marts.score_history group by 1 order by 1",
            "select score_date, signal_type, signal, count(*), sum(is_new::int) from marts.score_signals group by all",
            "select count(*) from marts.model_validation",
            "select * from meta.publish_log",
        ]:
            print(q)
            con.sql(q).show(max_width=200)
