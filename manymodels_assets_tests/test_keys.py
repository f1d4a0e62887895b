import pytest
from hypothesis import given
from hypothesis import strategies as st

from manymodels_assets.forecasting.keys import decode_key, encode_key

ids = st.text(min_size=1, max_size=40)


@given(ids, ids)
def test_round_trip(store, item):
    assert decode_key(encode_key(store, item)) == (store, item)


@given(ids, ids)
def test_keys_avoid_what_dagster_gives_meaning_to(store, item):
    key = encode_key(store, item)
    for bad in ("|", ",", "[", "]", "...", "/", " "):
        assert bad not in key
    assert key.count("~") == 1


@given(ids, ids, ids, ids)
def test_distinct_pairs_give_distinct_keys(s1, i1, s2, i2):
    if (s1, i1) != (s2, i2):
        assert encode_key(s1, i1) != encode_key(s2, i2)


def test_readable_for_plain_ids():
    assert encode_key("S0001", "I00042") == "S0001~I00042"
    assert encode_key(12, "a.b") == "12~a%2Eb"


@pytest.mark.parametrize("bad", ["nosep", "a~b~c", "a~b%2", "a~b%zz", "a~b c", "~x"])
def test_malformed_keys_are_named(bad):
    with pytest.raises(ValueError, match="series key"):
        decode_key(bad)


def test_empty_ids_rejected():
    with pytest.raises(ValueError):
        encode_key("", "x")


@given(st.lists(st.tuples(ids, ids), max_size=20))
def test_vectorised_codec_matches_the_scalar_one(pairs):
    from manymodels_assets.forecasting.keys import decode_keys, encode_keys

    stores, items = [p[0] for p in pairs], [p[1] for p in pairs]
    keys = encode_keys(stores, items)
    assert keys == [encode_key(s, i) for s, i in pairs]
    assert decode_keys(keys) == (stores, items)
