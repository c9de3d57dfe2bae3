import datetime as dt
import pandas as pd, sqlalchemy as sa
from customer_classifier.data.generate import generate, GeneratorConfig, MasterData
from customer_classifier.data.database import connect, write_master_data
from customer_classifier.features.aggregates import iter_aggregates

def test_explore(postgres_database, tmp_path):
    data = generate(GeneratorConfig(n_customers=3, seed=3))
    sales = pd.DataFrame({"sale_id": [1, 2, 3], "customer_id": [1, 1, 1],
        "sold_at": pd.to_datetime(["2026-05-01 00:00:00", "2026-06-01 00:00:00", "2026-07-01 00:00:00"]),
        "amount": [1.0, 2.0, 4.0], "quantity": [1, 1, 1], "product_category": ["home"] * 3, "returned": [False] * 3})
    data = MasterData(customers=data.customers, sales=sales)
    pg = connect(postgres_database("boundary"))
    sl = connect(f"sqlite:///{tmp_path/'m.db'}", create_dir=True)
    for e in (pg, sl):
        write_master_data(e, data)
        a = pd.concat(iter_aggregates(e, dt.date(2026,7,1), [(1, 3)], active_window_days=30))
        print(e.dialect.name, a[["orders_30d", "orders_total", "spend_total", "sales_active_window", "last_purchase_at"]].to_dict("records"))
