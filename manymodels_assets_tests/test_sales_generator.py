import pandas as pd

from manymodels_assets.sales_generator import GeneratorConfig, generate, iter_chunks


def test_deterministic_by_seed_and_chunk_independent():
    a = pd.concat(iter_chunks(GeneratorConfig(stores=3, items=4, days=200, seed=1, series_per_part=5)))
    b = pd.concat(iter_chunks(GeneratorConfig(stores=3, items=4, days=200, seed=1, series_per_part=12)))
    c = pd.concat(iter_chunks(GeneratorConfig(stores=3, items=4, days=200, seed=2)))
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert not a["units"].equals(c["units"])


def test_panel_has_the_advertised_shapes():
    cfg = GeneratorConfig(stores=10, items=20, days=730, seed=3, intermittent_share=0.2, late_start_share=0.2,
                          stopped_share=0.2)
    df = pd.concat(iter_chunks(cfg))
    per = df.groupby(["store_id", "item_id"]).agg(n=("units", "size"), zero=("units", lambda u: (u == 0).mean()),
                                                  first=("date", "min"), last=("date", "max"))
    assert len(per) == 200
    assert (per["zero"] > 0.6).sum() >= 10  # intermittent series
    assert (per["first"] > df["date"].min()).sum() >= 10  # late starts
    assert (per["last"] < df["date"].max()).sum() >= 10  # stopped items
    assert (df["units"] >= 0).all() and df["promo"].isin([0, 1]).all()
    # promotions lift sales on average
    assert df.loc[df["promo"] == 1, "units"].mean() > df.loc[df["promo"] == 0, "units"].mean()


def test_writes_one_part_per_chunk_into_the_drop(tmp_path):
    files = generate(GeneratorConfig(stores=2, items=3, days=30, series_per_part=4, late_start_share=0,
                                     stopped_share=0), str(tmp_path), fmt="csv",
                     drop="20250101T000000Z", plan_days=7)
    assert [f.split("/")[-3] + "/" + f.rsplit("/", 1)[-1] for f in files] == [
        "sales/part-00000.csv", "sales/part-00001.csv", "calendar/part-00000.csv"]
    assert len(pd.concat(pd.read_csv(f) for f in files[:2])) == 6 * 30
    plan = pd.read_csv(files[2])
    assert len(plan) == 6 * 7 and plan["date"].min() == "2023-01-31" and (plan["price"] > 0).all()
    assert not list((tmp_path / "sales" / "20250101T000000Z").glob("_tmp*"))
